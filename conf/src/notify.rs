//! The notification file (`notify: FILE` in `ax436.conf`): channels — where a
//! notification goes — and routes — which problems go where, when, and how
//! often. Same line-oriented style as host files; every error is collected
//! and names `FILE:LINE`.
//!
//! ```text
//! channel: ops webhook http://127.0.0.1:8080/hook
//! header: Authorization: Bearer 0123
//! body: {"text": "{summary}"}
//! channel: oncall alertmanager http://127.0.0.1:9093
//! channel: mail email smtp://mail.example.com:587 from=436@example.com to=ops@example.com
//! active: 12345;08:00-18:00
//! route: tags=disk,web channel=ops wait=0 repeat=4h resolved=yes
//! route: host=db* channel=mail escalate=15m:oncall
//! ```
//!
//! `header:`, `body:`, `subject:` and `timeout:` lines belong to the
//! `channel:` above them; `active:` belongs to the `route:` below it (as in
//! host files, where it belongs to the next `alert_*`). Channel names are
//! checked after the whole file is read, so routes may come first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{ConfError, ConfErrors};
use crate::model::{CommandLine, Origin};
use crate::windows::ActiveWindows;

/// Longest duration accepted anywhere in the file (`wait=`, `repeat=`, …):
/// thirty days. Longer is a typo, and the bound keeps deadline arithmetic
/// far from overflow.
pub const MAX_NOTIFY_DURATION: Duration = Duration::from_secs(30 * 86_400);
/// Default `timeout:` of one delivery attempt.
pub const DEFAULT_CHANNEL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `resend=` of an Alertmanager channel: below Alertmanager's
/// default `resolve_timeout` (5 minutes), so an open problem never resolves
/// there by itself.
pub const DEFAULT_ALERTMANAGER_RESEND: Duration = Duration::from_secs(60);
/// Default `every=` of a route: at most one notification of point alerts
/// (log lines) per host and route in this time; the rest are counted.
pub const DEFAULT_POINT_EVERY: Duration = Duration::from_secs(300);

/// The parsed notification file.
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    pub channels: Vec<Channel>,
    pub routes: Vec<Route>,
}

impl NotifyConfig {
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }
}

/// One `channel: NAME TYPE ...` with its follower lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub name: String,
    pub kind: ChannelKind,
    /// `timeout:` — longest one delivery attempt may take.
    pub timeout: Duration,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChannelKind {
    Webhook(Webhook),
    Alertmanager(Alertmanager),
    Email(Email),
    /// `exec COMMAND...`: run without a shell, the notification in the
    /// environment and as JSON on stdin.
    Exec(CommandLine),
}

impl ChannelKind {
    /// The type word as written in the file.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChannelKind::Webhook(_) => "webhook",
            ChannelKind::Alertmanager(_) => "alertmanager",
            ChannelKind::Email(_) => "email",
            ChannelKind::Exec(_) => "exec",
        }
    }
}

/// `webhook URL [method=POST|PUT] [content_type=TYPE] [ca_file=PEM]`, `header:`
/// and `body:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// May hold placeholders; their values are percent-encoded.
    pub url: String,
    pub method: HttpMethod,
    /// `(name, value template)` of each `header:` line.
    pub headers: Vec<(String, String)>,
    /// `body:` — a template; without it, the notification as JSON.
    pub body: Option<String>,
    /// `content_type=`; placeholders in `body:` are JSON-escaped when it
    /// names JSON.
    pub content_type: String,
    /// `ca_file=`: trust only the CA certificates in this PEM file.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Post,
    Put,
}

/// `alertmanager URL [resend=DURATION] [ca_file=PEM]`: the base URL; alerts go to
/// `URL/api/v2/alerts`.
#[derive(Debug, Clone, PartialEq)]
pub struct Alertmanager {
    pub url: String,
    pub resend: Duration,
    /// `ca_file=`: trust only the CA certificates in this PEM file.
    pub ca_file: Option<PathBuf>,
}

/// `email smtp[s]://HOST[:PORT] from=ADDR to=ADDR[,ADDR] [user= password_file=]
/// [starttls=required|opportunistic|no]`, `subject:` and `body:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub server: String,
    pub port: u16,
    pub security: MailSecurity,
    pub from: String,
    pub to: Vec<String>,
    pub user: Option<String>,
    /// Read at each delivery, so the secret stays out of this file.
    pub password_file: Option<PathBuf>,
    /// `ca_file=`: trust only the CA certificates in this PEM file (a
    /// private CA) instead of the built-in Mozilla roots.
    pub ca_file: Option<PathBuf>,
    pub subject: Option<String>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailSecurity {
    /// `smtps://`: TLS from the first byte (port 465 by default).
    Tls,
    /// `smtp://` (port 587 by default): STARTTLS, refusing to send without it.
    StartTlsRequired,
    /// `starttls=opportunistic`: STARTTLS when the server offers it.
    StartTlsOpportunistic,
    /// `starttls=no`: plain text (a relay on the same machine).
    Plain,
}

/// One `route:` line: which notifications, to which channels, how.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// `host=GLOB[,GLOB]` (`*`, `?`, `[a-z]`); empty matches every host.
    pub hosts: Vec<glob::Pattern>,
    /// `tags=T[,T]`: matches a problem carrying any of them; empty matches all.
    pub tags: Vec<String>,
    /// `kind=alert,metric,system,host`; empty matches all.
    pub kinds: Vec<String>,
    /// `state=open,point,inactive,stopped`; empty matches all.
    pub states: Vec<String>,
    /// `channel=NAME[,NAME]`, at least one.
    pub channels: Vec<String>,
    pub severity: Severity,
    /// `wait=`: what opens within it goes out as one notification.
    pub wait: Duration,
    /// `repeat=`: reminders while open and not acknowledged.
    pub repeat: Option<Duration>,
    /// `resolved=yes|no` (default yes).
    pub resolved: bool,
    /// `escalate=DURATION:CHANNEL[,DURATION:CHANNEL]`, in time order.
    pub escalate: Vec<(Duration, String)>,
    /// `group=all|host|check` (default all).
    pub group: Grouping,
    /// `every=`: at most one point-alert notification per host in this time.
    pub point_every: Duration,
    /// `active:` in front of the route: outside these windows notifications
    /// wait (quiet hours).
    pub active: Option<ActiveWindows>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        [
            Severity::Info,
            Severity::Warning,
            Severity::Error,
            Severity::Critical,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// How the notifications of one route are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grouping {
    /// One notification for everything of the route within `wait`.
    All,
    /// One per host.
    Host,
    /// One per problem (host and check): for receivers that track each
    /// problem themselves, such as PagerDuty.
    Check,
}

/// Words accepted by `kind=`.
pub const ROUTE_KINDS: &[&str] = &["alert", "metric", "system", "host"];
/// Words accepted by `state=`.
pub const ROUTE_STATES: &[&str] = &["open", "point", "inactive", "stopped"];

impl Route {
    /// Whether this route takes a notification about `host`'s check with
    /// these tags, event kind and state (`open`, `point`, `inactive`, `stopped`).
    pub fn matches(&self, host: &str, tags: &[String], kind: &str, state: &str) -> bool {
        (self.hosts.is_empty() || self.hosts.iter().any(|g| g.matches(host)))
            && (self.tags.is_empty() || self.tags.iter().any(|t| tags.contains(t)))
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind))
            && (self.states.is_empty() || self.states.iter().any(|s| s == state))
    }

    /// Whether a notification may go out at this local time (no `active:`
    /// means always).
    pub fn is_active(&self, weekday: u32, hour: u32, minute: u32) -> bool {
        self.active
            .as_ref()
            .is_none_or(|a| a.is_active(weekday, hour, minute))
    }
}

/// `0`, `90`, `90s`, `15m`, `4h`, `2d`: a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("`{text}` is not a duration (a whole number with s, m, h or d, e.g. 30s, 15m, 4h)")
    };
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    if digits.is_empty() {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let d = Duration::from_secs(n.saturating_mul(scale));
    if d > MAX_NOTIFY_DURATION {
        return Err(format!("`{text}` is longer than 30 days"));
    }
    Ok(d)
}

impl NotifyConfig {
    /// Reads and parses the file; errors are labelled with the path as
    /// given, relative `password_file=` and `ca_file=` paths resolve
    /// beside it.
    pub fn load(path: &Path) -> Result<NotifyConfig, ConfErrors> {
        let label = path.display().to_string();
        let bytes = crate::file::read_limited(path).map_err(|e| {
            ConfErrors(vec![ConfError::new(
                Origin {
                    file: label.clone(),
                    line: 0,
                    included_from: Vec::new(),
                },
                e.to_string(),
            )])
        })?;
        let (text, mut errors) = crate::file::decode_lines(&bytes, &label, &[]);
        let base_dir = path.parent().unwrap_or(Path::new(""));
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

    /// Parses the text of a notification file; `file_label` names it in
    /// errors, `base_dir` resolves relative paths.
    pub fn parse(text: &str, file_label: &str, base_dir: &Path) -> Result<Self, ConfErrors> {
        let mut p = crate::notify_parse::Parser::new(file_label, base_dir);
        for (i, raw) in text.split('\n').enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            p.line(i + 1, line);
        }
        p.finish()
    }
}
