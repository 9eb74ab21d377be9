//! `ax436.conf`, the supervisor's own configuration: one `name: value` per
//! line, read once at start. Every problem is collected and reported as
//! `ax436.conf:LINE: message` so the operator fixes them all in one go.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{ConfError, ConfErrors};
use crate::file::{decode_lines, read_limited};
use crate::model::Origin;

pub use crate::file::MAX_CONFIG_FILE_BYTES;

/// Default `max_idle:`.
pub const DEFAULT_MAX_IDLE: Duration = Duration::from_secs(180);
/// Default `beacon_interval:`.
pub const DEFAULT_BEACON_INTERVAL: Duration = Duration::from_secs(5);
/// Default `stream_keep:`.
pub const DEFAULT_STREAM_KEEP: usize = 14;
/// Default `log_file:`.
pub const DEFAULT_LOG_FILE: &str = "supervisor.log";

/// Default `history_days:`: events are kept in the history database this
/// many days (metric aggregates 90 days, raw metric values 48 hours,
/// whatever this says).
pub const DEFAULT_HISTORY_DAYS: u32 = 30;
/// Default `history_max_mb:`: the history database is kept under this many
/// megabytes (10^6 bytes) by deleting its oldest events first.
pub const DEFAULT_HISTORY_MAX_MB: u64 = 1024;
/// Longest accepted `history_days:`.
const MAX_HISTORY_DAYS: u32 = 3650;

/// Default `http:`: the status page and API on loopback only.
pub const DEFAULT_HTTP: SocketAddr =
    SocketAddr::V4(std::net::SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9436));

/// Longest accepted `max_idle:` / `beacon_interval:`, one day: larger values
/// are typos, and keeping them bounded keeps time arithmetic from overflowing.
const MAX_SECONDS: u64 = 86_400;

/// `stream_format:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamFormat {
    /// `436`: the classic line format.
    #[default]
    Classic,
    /// `json`: one JSON object a line.
    Json,
}

/// `stream_rotation:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamRotation {
    #[default]
    Daily,
    Hourly,
    Never,
}

/// `http_tls:`: the certificate chain and private key, both PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The parsed `ax436.conf`, relative paths already resolved against the
/// directory holding it.
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisorConfig {
    pub event_stream: PathBuf,
    /// Beacons go to `port`, the supervisor listens on `port + 1`.
    pub port: u16,
    pub broadcast: Vec<Ipv4Addr>,
    pub hosts: PathBuf,
    pub includes: PathBuf,
    /// `None`: open mode.
    pub key_file: Option<PathBuf>,
    pub max_idle: Duration,
    pub beacon_interval: Duration,
    pub stream_format: StreamFormat,
    pub stream_rotation: StreamRotation,
    pub stream_keep: usize,
    pub log_file: PathBuf,
    /// `http:` — where the status page, API and metrics listen; `None` for
    /// `http: off`.
    pub http: Option<SocketAddr>,
    /// `http_users:` — required when `http` is not a loopback address.
    pub http_users: Option<PathBuf>,
    pub http_tls: Option<TlsFiles>,
    /// `notify:` — the notification file (channels and routes), if any.
    pub notify: Option<PathBuf>,
    /// `listen:` — the local address the UDP socket (port + 1, where
    /// observers send) is bound to; 0.0.0.0 (every interface) by default.
    /// IPv4 only: beacons are IPv4 broadcasts and observers speak IPv4.
    pub listen: Ipv4Addr,
    /// `history_days:` — days of events kept in the history database.
    pub history_days: u32,
    /// `history_max_mb:` — the history database's size limit, in MB.
    pub history_max_mb: u64,
    /// `peers:` — base URLs (`http://` or `https://`, no user, password,
    /// query or fragment) of other supervisors' status pages, whose views
    /// are merged into this one's.
    pub peers: Vec<String>,
    /// `peer_user:` + `peer_password_file:` — the viewer credentials sent
    /// to every peer (HTTP basic). The password lives in a file of its own,
    /// never in a URL, so it stays out of logs and error messages.
    pub peer_credentials: Option<PeerCredentials>,
}

/// `peer_user:` and `peer_password_file:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCredentials {
    pub user: String,
    pub password_file: PathBuf,
}

/// Most `peers:` URLs: each one is polled every few seconds.
pub const MAX_PEERS: usize = 16;

/// Checks one `peers:` URL; the error says what is wrong with it.
pub fn check_peer_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("`{url}` must start with `http://` or `https://`"))?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    if authority.contains('@') {
        // The URL is shown on pages and in logs: a password in it would
        // leak, so the error does not repeat it either.
        return Err(
            "a URL with a user or password: no credentials in a peer's URL; use `peer_user:` and `peer_password_file:`"
                .to_string(),
        );
    }
    if rest.contains('?') || rest.contains('#') {
        return Err(format!("`{url}`: a peer's URL takes no query or fragment"));
    }
    if url.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(format!("`{url}` contains a space or control character"));
    }
    Ok(())
}

impl SupervisorConfig {
    /// A supervisor for one machine, for trying the system and for tests
    /// that embed one: `hosts/` and `includes/` under `dir`, the stream in
    /// `dir/stream/events.json` (JSON, never rotated), its own log in
    /// `dir/supervisor.log`, beacons every second to 127.255.255.255 on
    /// `port` (requests on `port + 1`), no key.
    pub fn loopback(dir: &Path, port: u16) -> Result<Self, ConfErrors> {
        let text = format!(
            "event_stream: stream/events.json\nport: {port}\nbroadcast: 127.255.255.255\n\
             hosts: hosts\nincludes: includes\nbeacon_interval: 1\nstream_format: json\n\
             stream_rotation: never\nlog_file: supervisor.log\nhttp: off\n"
        );
        Self::parse(&text, "loopback", dir)
    }

    /// Reads and parses the file; errors are labelled with the path as given.
    pub fn load(path: &Path) -> Result<Self, ConfErrors> {
        let label = path.display().to_string();
        let whole_file = |message: String| {
            ConfErrors(vec![ConfError::new(
                Origin {
                    file: label.clone(),
                    line: 0,
                    included_from: Vec::new(),
                },
                message,
            )])
        };
        let bytes = read_limited(path).map_err(|e| whole_file(e.to_string()))?;
        let base_dir = path.parent().unwrap_or(Path::new(""));
        let (text, mut errors) = decode_lines(&bytes, &label, &[]);
        match Self::parse(&text, &label, base_dir) {
            Ok(config) if errors.is_empty() => Ok(config),
            Ok(_) => Err(ConfErrors(errors)),
            Err(ConfErrors(more)) => {
                errors.extend(more);
                errors.sort_by_key(|e| e.origin.line);
                Err(ConfErrors(errors))
            }
        }
    }

    /// Parses the text of an `ax436.conf`; `file_label` names it in errors,
    /// `base_dir` resolves relative paths.
    pub fn parse(text: &str, file_label: &str, base_dir: &Path) -> Result<Self, ConfErrors> {
        let mut errors = Vec::new();
        let at = |line: usize| Origin {
            file: file_label.to_string(),
            line,
            included_from: Vec::new(),
        };
        if text.len() as u64 > MAX_CONFIG_FILE_BYTES {
            return Err(ConfErrors(vec![ConfError::new(
                at(0),
                format!("file is larger than {MAX_CONFIG_FILE_BYTES} bytes"),
            )]));
        }

        let mut seen: Vec<(Setting, usize)> = Vec::new();
        let mut event_stream = None;
        let mut port = None;
        let mut broadcast: Vec<Ipv4Addr> = Vec::new();
        let mut hosts = None;
        let mut includes = None;
        let mut key_file = None;
        let mut max_idle = DEFAULT_MAX_IDLE;
        let mut beacon_interval = DEFAULT_BEACON_INTERVAL;
        let mut stream_format = StreamFormat::default();
        let mut stream_rotation = StreamRotation::default();
        let mut stream_keep = DEFAULT_STREAM_KEEP;
        // The default is a relative path like any other: beside ax436.conf.
        let mut log_file = base_dir.join(DEFAULT_LOG_FILE);
        let mut http = Some(DEFAULT_HTTP);
        let mut http_line = 0;
        let mut http_users = None;
        let mut http_tls = None;
        let mut notify = None;
        let mut listen = Ipv4Addr::UNSPECIFIED;
        let mut history_days = DEFAULT_HISTORY_DAYS;
        let mut history_max_mb = DEFAULT_HISTORY_MAX_MB;
        let mut peers: Vec<String> = Vec::new();
        let mut peer_user: Option<(String, usize)> = None;
        let mut peer_password_file: Option<(PathBuf, usize)> = None;

        for (i, raw) in text.split('\n').enumerate() {
            let line_no = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                errors.push(ConfError::new(
                    at(line_no),
                    format!("expected `name: value`, found `{line}`"),
                ));
                continue;
            };
            let name = name.trim();
            let value = value.trim();
            let Some(setting) = Setting::from_name(name) else {
                errors.push(ConfError::new(
                    at(line_no),
                    format!("unknown directive `{name}:`"),
                ));
                continue;
            };
            // Only `broadcast:` may repeat; a second `port:` is a mistake
            // whichever of the two the operator meant.
            let directive = setting.name();
            if setting != Setting::Broadcast
                && let Some((_, first)) = seen.iter().find(|(d, _)| *d == setting)
            {
                errors.push(ConfError::new(
                    at(line_no),
                    format!("duplicate `{directive}:` (first at line {first})"),
                ));
                continue;
            }
            seen.push((setting, line_no));
            let mut bad = |message: String| errors.push(ConfError::new(at(line_no), message));
            let path = |v: &str| -> Result<PathBuf, String> {
                if v.is_empty() {
                    Err(format!("`{directive}:` needs a path"))
                } else {
                    Ok(base_dir.join(v))
                }
            };
            match setting {
                Setting::EventStream => match path(value) {
                    Ok(p) => event_stream = Some(p),
                    Err(e) => bad(e),
                },
                Setting::Hosts => match path(value) {
                    Ok(p) => hosts = Some(p),
                    Err(e) => bad(e),
                },
                Setting::Includes => match path(value) {
                    Ok(p) => includes = Some(p),
                    Err(e) => bad(e),
                },
                Setting::KeyFile => match path(value) {
                    Ok(p) => key_file = Some(p),
                    Err(e) => bad(e),
                },
                Setting::LogFile => match path(value) {
                    Ok(p) => log_file = p,
                    Err(e) => bad(e),
                },
                Setting::Notify => match path(value) {
                    Ok(p) => notify = Some(p),
                    Err(e) => bad(e),
                },
                Setting::Port => match value.parse::<u16>() {
                    Ok(p @ 1..=65534) => port = Some(p),
                    _ => bad(format!(
                        "`port:` must be a number from 1 to 65534 (the supervisor listens on port + 1), found `{value}`"
                    )),
                },
                Setting::Broadcast => {
                    let words: Vec<&str> = value
                        .split(|c: char| c == ',' || c.is_whitespace())
                        .filter(|w| !w.is_empty())
                        .collect();
                    if words.is_empty() {
                        bad("`broadcast:` needs at least one IPv4 address".into());
                    }
                    for w in words {
                        match w.parse::<Ipv4Addr>() {
                            Ok(a) => {
                                if !broadcast.contains(&a) {
                                    broadcast.push(a);
                                }
                            }
                            Err(_) => bad(format!("`{w}` is not an IPv4 address")),
                        }
                    }
                }
                Setting::MaxIdle => match seconds(value) {
                    Ok(d) => max_idle = d,
                    Err(e) => bad(format!("`max_idle:` {e}")),
                },
                Setting::BeaconInterval => match seconds(value) {
                    Ok(d) => beacon_interval = d,
                    Err(e) => bad(format!("`beacon_interval:` {e}")),
                },
                Setting::StreamFormat => match value {
                    "436" => stream_format = StreamFormat::Classic,
                    "json" => stream_format = StreamFormat::Json,
                    _ => bad(format!(
                        "`stream_format:` must be `436` or `json`, found `{value}`"
                    )),
                },
                Setting::StreamRotation => match value {
                    "daily" => stream_rotation = StreamRotation::Daily,
                    "hourly" => stream_rotation = StreamRotation::Hourly,
                    "never" => stream_rotation = StreamRotation::Never,
                    _ => bad(format!(
                        "`stream_rotation:` must be `daily`, `hourly` or `never`, found `{value}`"
                    )),
                },
                Setting::StreamKeep => match value.parse::<usize>() {
                    Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) => stream_keep = n,
                    _ => bad(format!(
                        "`stream_keep:` must be a whole number of files, found `{value}`"
                    )),
                },
                Setting::Http => {
                    http_line = line_no;
                    if value == "off" {
                        http = None;
                    } else {
                        match value.parse::<SocketAddr>() {
                            Ok(a) => http = Some(a),
                            Err(_) => bad(format!(
                                "`http:` must be `ADDRESS:PORT` (such as `127.0.0.1:9436` or `[::1]:9436`) or `off`, found `{value}`"
                            )),
                        }
                    }
                }
                Setting::Listen => match value.parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V4(a)) => listen = a,
                    Ok(std::net::IpAddr::V6(_)) => bad(format!(
                        "`listen:` takes an IPv4 address (beacons are IPv4 broadcasts), found `{value}`; \
                         the window's `http:` may be IPv6"
                    )),
                    Err(_) => bad(format!(
                        "`listen:` must be one IPv4 address of this machine (such as `10.0.0.1`, or \
                         `0.0.0.0` for every interface), found `{value}`"
                    )),
                },
                Setting::HistoryDays => match value.parse::<u32>() {
                    Ok(n @ 1..=MAX_HISTORY_DAYS) if value.bytes().all(|b| b.is_ascii_digit()) => {
                        history_days = n
                    }
                    _ => bad(format!(
                        "`history_days:` must be a whole number of days from 1 to {MAX_HISTORY_DAYS}, found `{value}`"
                    )),
                },
                Setting::HistoryMaxMb => match value.parse::<u64>() {
                    Ok(n @ 1..=1_000_000) if value.bytes().all(|b| b.is_ascii_digit()) => {
                        history_max_mb = n
                    }
                    _ => bad(format!(
                        "`history_max_mb:` must be a whole number of megabytes from 1 to 1000000, found `{value}`"
                    )),
                },
                Setting::HttpUsers => match path(value) {
                    Ok(p) => http_users = Some(p),
                    Err(e) => bad(e),
                },
                Setting::Peers => {
                    let words: Vec<&str> = value.split_whitespace().collect();
                    if words.is_empty() {
                        bad(
                            "`peers:` needs at least one URL, such as `http://198.18.0.3:9436`"
                                .into(),
                        );
                    }
                    for w in words {
                        // A trailing slash would double the one before `api/v1`.
                        let url = w.trim_end_matches('/');
                        match check_peer_url(url) {
                            Ok(()) if peers.iter().any(|p| p == url) => {
                                bad(format!("`peers:` names `{url}` twice"))
                            }
                            Ok(()) if peers.len() >= MAX_PEERS => {
                                bad(format!("`peers:` takes at most {MAX_PEERS} URLs"))
                            }
                            Ok(()) => peers.push(url.to_string()),
                            Err(e) => bad(format!("`peers:` {e}")),
                        }
                    }
                }
                Setting::PeerUser => {
                    if value.is_empty()
                        || value.contains(':')
                        || value.chars().any(char::is_control)
                    {
                        bad(format!(
                            "`peer_user:` needs a user name without `:` (HTTP basic), found `{value}`"
                        ));
                    } else {
                        peer_user = Some((value.to_string(), line_no));
                    }
                }
                Setting::PeerPasswordFile => match path(value) {
                    Ok(p) => peer_password_file = Some((p, line_no)),
                    Err(e) => bad(e),
                },
                Setting::HttpTls => {
                    let words: Vec<&str> = value.split_whitespace().collect();
                    match words.as_slice() {
                        [cert, key] => {
                            http_tls = Some(TlsFiles {
                                cert: base_dir.join(cert),
                                key: base_dir.join(key),
                            })
                        }
                        _ => bad(format!(
                            "`http_tls:` needs two paths, `CERTIFICATE KEY` (both PEM), found `{value}`"
                        )),
                    }
                }
            }
        }

        // A missing directive has no line of its own; line 1 points the
        // operator at the file.
        let mut require = |setting: Setting, present: bool| {
            if !present && !seen.iter().any(|(d, _)| *d == setting) {
                errors.push(ConfError::new(
                    at(1),
                    format!("missing required directive `{}:`", setting.name()),
                ));
            }
        };
        require(Setting::EventStream, event_stream.is_some());
        require(Setting::Port, port.is_some());
        require(Setting::Broadcast, !broadcast.is_empty());
        require(Setting::Hosts, hosts.is_some());
        require(Setting::Includes, includes.is_some());
        if let Some(addr) = http
            && !addr.ip().is_loopback()
            && http_users.is_none()
        {
            errors.push(ConfError::new(
                at(http_line.max(1)),
                format!(
                    "`http: {addr}` is reachable from other machines, so `http_users: FILE` is required \
                     (make password hashes with `supervisor hash-password`)"
                ),
            ));
        }

        if http.is_none()
            && let Some((_, line)) = seen.iter().find(|(d, _)| *d == Setting::Peers)
        {
            errors.push(ConfError::new(
                at(*line),
                "`peers:` merges other supervisors into the status page and API, which `http: off` turns off",
            ));
        }
        let peer_credentials = match (peer_user, peer_password_file) {
            (Some((user, _)), Some((password_file, _))) => Some(PeerCredentials {
                user,
                password_file,
            }),
            (None, None) => None,
            (Some((_, line)), None) => {
                errors.push(ConfError::new(
                    at(line),
                    "`peer_user:` needs `peer_password_file:` too",
                ));
                None
            }
            (None, Some((_, line))) => {
                errors.push(ConfError::new(
                    at(line),
                    "`peer_password_file:` needs `peer_user:` too",
                ));
                None
            }
        };

        match (event_stream, port, hosts, includes) {
            (Some(event_stream), Some(port), Some(hosts), Some(includes))
                if errors.is_empty() && !broadcast.is_empty() =>
            {
                Ok(SupervisorConfig {
                    event_stream,
                    port,
                    broadcast,
                    hosts,
                    includes,
                    key_file,
                    max_idle,
                    beacon_interval,
                    stream_format,
                    stream_rotation,
                    stream_keep,
                    log_file,
                    http,
                    http_users,
                    http_tls,
                    notify,
                    listen,
                    history_days,
                    history_max_mb,
                    peers,
                    peer_credentials,
                })
            }
            _ => {
                errors.sort_by_key(|e| e.origin.line);
                Err(ConfErrors(errors))
            }
        }
    }

    /// The port the supervisor listens on: `port + 1` (checked at parse).
    pub fn listen_port(&self) -> u16 {
        self.port.saturating_add(1)
    }

    /// The address and port the supervisor's UDP socket is bound to.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::from((self.listen, self.listen_port()))
    }
}

/// The directives of `ax436.conf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
    EventStream,
    Port,
    Broadcast,
    Hosts,
    Includes,
    KeyFile,
    MaxIdle,
    BeaconInterval,
    StreamFormat,
    StreamRotation,
    StreamKeep,
    LogFile,
    Http,
    HttpUsers,
    HttpTls,
    Notify,
    Listen,
    HistoryDays,
    HistoryMaxMb,
    Peers,
    PeerUser,
    PeerPasswordFile,
}

impl Setting {
    const ALL: [Setting; 22] = [
        Setting::EventStream,
        Setting::Port,
        Setting::Broadcast,
        Setting::Hosts,
        Setting::Includes,
        Setting::KeyFile,
        Setting::MaxIdle,
        Setting::BeaconInterval,
        Setting::StreamFormat,
        Setting::StreamRotation,
        Setting::StreamKeep,
        Setting::LogFile,
        Setting::Http,
        Setting::HttpUsers,
        Setting::HttpTls,
        Setting::Notify,
        Setting::Listen,
        Setting::HistoryDays,
        Setting::HistoryMaxMb,
        Setting::Peers,
        Setting::PeerUser,
        Setting::PeerPasswordFile,
    ];

    fn name(self) -> &'static str {
        match self {
            Setting::EventStream => "event_stream",
            Setting::Port => "port",
            Setting::Broadcast => "broadcast",
            Setting::Hosts => "hosts",
            Setting::Includes => "includes",
            Setting::KeyFile => "key_file",
            Setting::MaxIdle => "max_idle",
            Setting::BeaconInterval => "beacon_interval",
            Setting::StreamFormat => "stream_format",
            Setting::StreamRotation => "stream_rotation",
            Setting::StreamKeep => "stream_keep",
            Setting::LogFile => "log_file",
            Setting::Http => "http",
            Setting::HttpUsers => "http_users",
            Setting::HttpTls => "http_tls",
            Setting::Notify => "notify",
            Setting::Listen => "listen",
            Setting::HistoryDays => "history_days",
            Setting::HistoryMaxMb => "history_max_mb",
            Setting::Peers => "peers",
            Setting::PeerUser => "peer_user",
            Setting::PeerPasswordFile => "peer_password_file",
        }
    }

    fn from_name(name: &str) -> Option<Setting> {
        Setting::ALL.into_iter().find(|s| s.name() == name)
    }
}

fn seconds(value: &str) -> Result<Duration, String> {
    match value.parse::<u64>() {
        Ok(n @ 1..=MAX_SECONDS) if value.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Duration::from_secs(n))
        }
        _ => Err(format!(
            "must be a whole number of seconds from 1 to {MAX_SECONDS}, found `{value}`"
        )),
    }
}
