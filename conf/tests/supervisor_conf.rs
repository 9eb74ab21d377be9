//! `ax436.conf`: values, defaults, relative paths and `ax436.conf:LINE`
//! errors.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use conf::{StreamFormat, StreamRotation, SupervisorConfig};

const MINIMAL: &str = "event_stream: stream/events.436\nport: 9000\nbroadcast: 192.168.1.255\nhosts: hosts_436\nincludes: /etc/436/includes\n";

fn parse(text: &str) -> Result<SupervisorConfig, Vec<String>> {
    SupervisorConfig::parse(text, "ax436.conf", Path::new("/srv/436"))
        .map_err(|e| e.0.iter().map(ToString::to_string).collect())
}

#[test]
fn minimal_file_gets_the_defaults_and_resolved_paths() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.event_stream, PathBuf::from("/srv/436/stream/events.436"));
    assert_eq!(c.port, 9000);
    assert_eq!(c.listen_port(), 9001);
    assert_eq!(c.broadcast, [Ipv4Addr::new(192, 168, 1, 255)]);
    assert_eq!(c.hosts, PathBuf::from("/srv/436/hosts_436"));
    assert_eq!(c.includes, PathBuf::from("/etc/436/includes"));
    assert_eq!(c.key_file, None);
    assert_eq!(c.max_idle, Duration::from_secs(180));
    assert_eq!(c.beacon_interval, Duration::from_secs(5));
    assert_eq!(c.stream_format, StreamFormat::Classic);
    assert_eq!(c.stream_rotation, StreamRotation::Daily);
    assert_eq!(c.stream_keep, 14);
    assert_eq!(c.log_file, PathBuf::from("/srv/436/supervisor.log"));
    assert_eq!(c.notify, None);
}

#[test]
fn every_directive_is_read() {
    let text = format!(
        "# comment\r\n\r\n{MINIMAL}key_file:\t436.key  \r\nmax_idle: 60\nbeacon_interval:2\nstream_format: json\nstream_rotation: hourly\nstream_keep: 0\nlog_file: /var/log/436.log\nnotify: notify.conf\n"
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.key_file, Some(PathBuf::from("/srv/436/436.key")));
    assert_eq!(c.max_idle, Duration::from_secs(60));
    assert_eq!(c.beacon_interval, Duration::from_secs(2));
    assert_eq!(c.stream_format, StreamFormat::Json);
    assert_eq!(c.stream_rotation, StreamRotation::Hourly);
    assert_eq!(c.stream_keep, 0);
    assert_eq!(c.log_file, PathBuf::from("/var/log/436.log"));
    assert_eq!(c.notify, Some(PathBuf::from("/srv/436/notify.conf")));
    let c = parse(&format!(
        "{MINIMAL}stream_rotation: never\nstream_format: 436\n"
    ))
    .unwrap();
    assert_eq!(c.stream_rotation, StreamRotation::Never);
    assert_eq!(c.stream_format, StreamFormat::Classic);
}

#[test]
fn broadcast_accumulates_over_lines_spaces_and_commas() {
    let c = parse(&format!(
        "{MINIMAL}broadcast: 10.0.0.255, 10.0.1.255 10.0.2.255,10.0.3.255\nbroadcast: 192.168.1.255\n"
    ))
    .unwrap();
    let want: Vec<Ipv4Addr> = [
        "192.168.1.255",
        "10.0.0.255",
        "10.0.1.255",
        "10.0.2.255",
        "10.0.3.255",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect();
    assert_eq!(c.broadcast, want);
}

#[test]
fn errors_name_their_line_and_all_are_reported() {
    let text = "event_stream: s\nport: 65535\nbroadcast: 10.0.0.256\nhosts: h\nincludes: i\ncolour: red\nmax_idle: soon\nstream_format: xml\nhosts: again\n";
    assert_eq!(
        parse(text).unwrap_err(),
        [
            "ax436.conf:2: `port:` must be a number from 1 to 65534 (the supervisor listens on port + 1), found `65535`",
            "ax436.conf:3: `10.0.0.256` is not an IPv4 address",
            "ax436.conf:6: unknown directive `colour:`",
            "ax436.conf:7: `max_idle:` must be a whole number of seconds from 1 to 86400, found `soon`",
            "ax436.conf:8: `stream_format:` must be `436` or `json`, found `xml`",
            "ax436.conf:9: duplicate `hosts:` (first at line 4)",
        ]
    );
}

#[test]
fn missing_required_directives_are_each_reported() {
    assert_eq!(
        parse("# nothing\nport: 0\n").unwrap_err(),
        [
            "ax436.conf:1: missing required directive `event_stream:`",
            "ax436.conf:1: missing required directive `broadcast:`",
            "ax436.conf:1: missing required directive `hosts:`",
            "ax436.conf:1: missing required directive `includes:`",
            "ax436.conf:2: `port:` must be a number from 1 to 65534 (the supervisor listens on port + 1), found `0`",
        ]
    );
}

#[test]
fn load_resolves_against_the_files_folder_and_labels_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ax436.conf");
    std::fs::write(&path, MINIMAL).unwrap();
    let c = SupervisorConfig::load(&path).unwrap();
    assert_eq!(c.hosts, dir.path().join("hosts_436"));

    std::fs::write(&path, format!("{MINIMAL}nonsense\n")).unwrap();
    let e = SupervisorConfig::load(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:6: expected `name: value`, found `nonsense`",
            path.display()
        )
    );

    std::fs::write(&path, "#".repeat((1 << 20) + 1)).unwrap();
    let e = SupervisorConfig::load(&path).unwrap_err();
    assert!(e.to_string().contains("at most 1048576"), "{e}");

    let e = SupervisorConfig::load(&dir.path().join("absent.conf")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: no such file", dir.path().join("absent.conf").display())
    );
}

#[test]
fn non_utf8_line_in_ax436_conf_is_an_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ax436.conf");
    let mut bytes = MINIMAL.as_bytes().to_vec();
    bytes.extend_from_slice(b"# caf\xe9\n");
    std::fs::write(&path, bytes).unwrap();
    let e = SupervisorConfig::load(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:6: the line is not UTF-8 text", path.display())
    );
}

#[test]
fn loopback_configuration_keeps_everything_under_its_folder() {
    let c = SupervisorConfig::loopback(Path::new("/srv/try"), 19400).unwrap();
    assert_eq!(c.port, 19400);
    assert_eq!(c.listen_port(), 19401);
    assert_eq!(c.broadcast, [Ipv4Addr::new(127, 255, 255, 255)]);
    assert_eq!(c.beacon_interval, Duration::from_secs(1));
    assert_eq!(c.stream_format, StreamFormat::Json);
    assert_eq!(c.stream_rotation, StreamRotation::Never);
    assert_eq!(c.event_stream, PathBuf::from("/srv/try/stream/events.json"));
    assert_eq!(c.hosts, PathBuf::from("/srv/try/hosts"));
    assert_eq!(c.includes, PathBuf::from("/srv/try/includes"));
    assert_eq!(c.log_file, PathBuf::from("/srv/try/supervisor.log"));
    assert_eq!(c.key_file, None);
    // Tests embed many supervisors at once: none takes the default port.
    assert_eq!(c.http, None);
}

#[test]
fn http_defaults_to_loopback_port_9436() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.http, Some("127.0.0.1:9436".parse().unwrap()));
    assert_eq!(c.http_users, None);
    assert_eq!(c.http_tls, None);
}

#[test]
fn http_directives_are_read() {
    let c = parse(&format!(
        "{MINIMAL}http: 0.0.0.0:8443\nhttp_users: users\nhttp_tls: tls/cert.pem /etc/436/key.pem\n"
    ))
    .unwrap();
    assert_eq!(c.http, Some("0.0.0.0:8443".parse().unwrap()));
    assert_eq!(c.http_users, Some(PathBuf::from("/srv/436/users")));
    let tls = c.http_tls.unwrap();
    assert_eq!(tls.cert, PathBuf::from("/srv/436/tls/cert.pem"));
    assert_eq!(tls.key, PathBuf::from("/etc/436/key.pem"));
    assert_eq!(parse(&format!("{MINIMAL}http: off\n")).unwrap().http, None);
    let v6 = parse(&format!("{MINIMAL}http: [::1]:9000\n")).unwrap();
    assert_eq!(v6.http, Some("[::1]:9000".parse().unwrap()));
}

#[test]
fn http_beyond_loopback_without_users_is_an_error_at_its_line() {
    let errors = parse(&format!("{MINIMAL}http: 192.168.1.10:9436\n")).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("ax436.conf:6: `http: 192.168.1.10:9436` is reachable"),
        "{errors:?}"
    );
    assert!(errors[0].contains("http_users: FILE"), "{errors:?}");
}

#[test]
fn bad_http_values_are_errors_at_their_lines() {
    let errors = parse(&format!(
        "{MINIMAL}http: localhost\nhttp_tls: only-one.pem\nhttp_users:\n"
    ))
    .unwrap_err();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].starts_with("ax436.conf:6: `http:` must be `ADDRESS:PORT`"));
    assert!(errors[1].starts_with("ax436.conf:7: `http_tls:` needs two paths"));
    assert!(errors[2].starts_with("ax436.conf:8: `http_users:` needs a path"));
}

#[test]
fn listen_defaults_to_every_interface_and_takes_one_ipv4_address() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.listen, Ipv4Addr::UNSPECIFIED);
    assert_eq!(c.listen_addr().to_string(), "0.0.0.0:9001");
    let c = parse(&format!("{MINIMAL}listen: 10.0.0.1\n")).unwrap();
    assert_eq!(c.listen_addr().to_string(), "10.0.0.1:9001");
}

#[test]
fn listen_refuses_ipv6_and_other_words_at_their_lines() {
    let errors = parse(&format!("{MINIMAL}listen: ::1\n")).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("ax436.conf:6: `listen:` takes an IPv4 address"),
        "{errors:?}"
    );
    let errors = parse(&format!("{MINIMAL}listen: eth0\n")).unwrap_err();
    assert!(
        errors[0].starts_with("ax436.conf:6: `listen:` must be one IPv4 address"),
        "{errors:?}"
    );
}

#[test]
fn history_limits_have_defaults_and_bad_values_name_their_line() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.history_days, conf::supervisor::DEFAULT_HISTORY_DAYS);
    assert_eq!(c.history_max_mb, conf::supervisor::DEFAULT_HISTORY_MAX_MB);
    let c = parse(&format!("{MINIMAL}history_days: 7\nhistory_max_mb: 200\n")).unwrap();
    assert_eq!((c.history_days, c.history_max_mb), (7, 200));
    let errors = parse(&format!("{MINIMAL}history_days: 0\nhistory_max_mb: lots\n")).unwrap_err();
    assert!(
        errors[0].starts_with("ax436.conf:6: `history_days:`"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("ax436.conf:7: `history_max_mb:`"),
        "{errors:?}"
    );
}

#[test]
fn peers_are_checked_urls_and_bad_ones_name_their_line() {
    assert!(parse(MINIMAL).unwrap().peers.is_empty());
    let c = parse(&format!(
        "{MINIMAL}peers: http://198.18.0.3:9436/ https://sup2.lan\npeer_user: viewer\npeer_password_file: peer.pw\n"
    ))
    .unwrap();
    assert_eq!(c.peers, ["http://198.18.0.3:9436", "https://sup2.lan"]);
    let cred = c.peer_credentials.unwrap();
    assert_eq!(cred.user, "viewer");
    assert_eq!(cred.password_file, PathBuf::from("/srv/436/peer.pw"));

    let errors = parse(&format!(
        "{MINIMAL}peers: ftp://a http://u:pw@b:9436 http://c?x=1\npeer_user: viewer\n"
    ))
    .unwrap_err();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(
        errors[0].starts_with("ax436.conf:6: `peers:` `ftp://a` must start"),
        "{errors:?}"
    );
    assert!(
        errors[1].contains("no credentials in a peer's URL"),
        "{errors:?}"
    );
    assert!(
        !errors[1].contains("pw@"),
        "the password is not repeated: {errors:?}"
    );
    assert!(errors[2].contains("no query"), "{errors:?}");
    assert!(
        errors[3].starts_with("ax436.conf:7: `peer_user:` needs `peer_password_file:`"),
        "{errors:?}"
    );
}
