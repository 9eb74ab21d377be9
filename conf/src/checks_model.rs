//! The typed values of the built-in checks of a host file: system metrics
//! (`metric: NAME [ARGUMENT]`) and service probes (`probe: tcp|http|ping
//! TARGET [KEYS]`), with the alert line that closes each group. Parsing the
//! pieces (a metric name, `HOST:PORT`, `expect=`, `json=PATH=VALUE`, an HTTP
//! method or header) is pure and lives here, so a mistake is reported with
//! the `FILE:LINE` of the host file; the observer only reads and runs them.
//! What an HTTP probe sends and checks is in [`crate::probe_model`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::{CheckId, Origin, StateKeys};
pub use crate::probe_model::*;
use crate::windows::ActiveWindows;

/// How often a built-in check runs when its alert line gives no `every=`.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(60);

/// Time a probe may take when its line gives no `timeout=`.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest `timeout=` of a probe: a check that waits longer than a few
/// minutes says nothing useful about a service on the LAN.
pub const MAX_PROBE_TIMEOUT_SECONDS: u64 = 300;

/// `metric: NAME [ARGUMENT]` + its alert line.
#[derive(Debug, Clone)]
pub struct MetricWatch {
    pub metric: MetricSpec,
    pub tags: String,
    /// `value=FIELD`: which figure of the reading the alert uses (one of
    /// [`MetricSpec::fields`]; the first by default).
    pub field: &'static str,
    pub alert: WatchAlert,
    /// `every=`, `for=`, `clear_for=`, `repeat=` (only `every=` on
    /// `alert_metric:`).
    pub state: StateKeys,
    pub active: Option<ActiveWindows>,
    /// The check's id (`metric-…`, see [`CheckId`]).
    pub check: CheckId,
    /// The alert line that closed the group.
    pub origin: Origin,
}

impl MetricWatch {
    /// How often it is read: `every=`, else [`DEFAULT_EVERY`].
    pub fn every(&self) -> Duration {
        self.state.every.unwrap_or(DEFAULT_EVERY)
    }
}

/// `probe: KIND TARGET [KEYS]` + its alert line.
#[derive(Debug, Clone)]
pub struct ProbeWatch {
    pub probe: Probe,
    pub tags: String,
    /// `value=response_ms|cert_days` for `alert_if` / `alert_metric`.
    pub field: ProbeField,
    pub alert: ProbeAlert,
    /// `every=`, `for=`, `clear_for=`, `repeat=` (only `every=` on
    /// `alert_metric:`).
    pub state: StateKeys,
    pub active: Option<ActiveWindows>,
    /// The check's id (`probe-…`, see [`CheckId`]).
    pub check: CheckId,
    /// The alert line that closed the group.
    pub origin: Origin,
}

impl ProbeWatch {
    /// How often it runs: `every=`, else [`DEFAULT_EVERY`].
    pub fn every(&self) -> Duration {
        self.state.every.unwrap_or(DEFAULT_EVERY)
    }
}

/// What `alert_if:` / `alert_metric:` do with a number.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchAlert {
    /// `alert_if: upper_limit=VALUE`: a problem while the value is above.
    Above { limit: f64, message: String },
    /// `alert_if: lower_limit=VALUE`: a problem while the value is below.
    Below { limit: f64, message: String },
    /// `alert_metric:`: a metric event with the value each run.
    Metric,
}

/// What closes a probe group.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeAlert {
    /// `alert_failed: [cert_days=N] [message=TEXT]`: a problem while the
    /// probe fails; with `cert_days=N` an HTTPS certificate expiring in
    /// fewer than N days counts as a failure too.
    Failed {
        message: Option<String>,
        cert_days: Option<u64>,
    },
    /// `alert_if:` / `alert_metric:` on the probe's [`ProbeField`].
    Value(WatchAlert),
}

/// The number of a probe an `alert_if` / `alert_metric` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeField {
    /// Milliseconds until the answer was complete (the default).
    ResponseMs,
    /// Whole days until the HTTPS certificate expires.
    CertDays,
}

impl ProbeField {
    pub fn name(self) -> &'static str {
        match self {
            ProbeField::ResponseMs => "response_ms",
            ProbeField::CertDays => "cert_days",
        }
    }
}

/// One metric a host file can ask for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MetricSpec {
    /// Percent of CPU time busy (all cores) since the previous reading.
    Cpu,
    /// Percent of memory in use, and bytes available.
    Memory,
    /// Percent of swap in use.
    Swap,
    /// Load average over 1, 5 or 15 minutes.
    Load1,
    Load5,
    Load15,
    /// Percent of the file system holding this path in use, and free bytes.
    Disk(PathBuf),
    /// Percent of the inodes of the file system holding this path in use.
    Inodes(PathBuf),
    /// Bytes per second received and sent on an interface, and errors.
    Net(String),
    /// Seconds since boot.
    Uptime,
    /// Number of processes.
    Processes,
}

/// A `metric:` line that names no known metric or lacks its argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricSpecError {
    #[error(
        "unknown metric {0:?}: expected cpu, memory, swap, load1, load5, load15, disk PATH, inodes PATH, net INTERFACE, uptime or processes"
    )]
    Unknown(String),
    #[error("metric {0} needs {1}")]
    MissingArgument(&'static str, &'static str),
    #[error("metric {0} takes no argument (got {1:?})")]
    UnexpectedArgument(&'static str, String),
    #[error("metric {0} needs an absolute path (got {1:?})")]
    RelativePath(&'static str, String),
}

impl MetricSpec {
    /// The metric of `metric: NAME [ARGUMENT]`.
    pub fn parse(name: &str, argument: Option<&str>) -> Result<MetricSpec, MetricSpecError> {
        let argument = argument.map(str::trim).filter(|a| !a.is_empty());
        let plain = |spec: MetricSpec, name: &'static str| match argument {
            None => Ok(spec),
            Some(a) => Err(MetricSpecError::UnexpectedArgument(name, a.to_string())),
        };
        let path = |name: &'static str| match argument {
            None => Err(MetricSpecError::MissingArgument(name, "a path")),
            Some(a) if !a.starts_with('/') => {
                Err(MetricSpecError::RelativePath(name, a.to_string()))
            }
            Some(a) => Ok(PathBuf::from(a)),
        };
        match name {
            "cpu" => plain(MetricSpec::Cpu, "cpu"),
            "memory" => plain(MetricSpec::Memory, "memory"),
            "swap" => plain(MetricSpec::Swap, "swap"),
            "load1" => plain(MetricSpec::Load1, "load1"),
            "load5" => plain(MetricSpec::Load5, "load5"),
            "load15" => plain(MetricSpec::Load15, "load15"),
            "uptime" => plain(MetricSpec::Uptime, "uptime"),
            "processes" => plain(MetricSpec::Processes, "processes"),
            "disk" => path("disk").map(MetricSpec::Disk),
            "inodes" => path("inodes").map(MetricSpec::Inodes),
            "net" => match argument {
                None => Err(MetricSpecError::MissingArgument("net", "an interface name")),
                Some(a) => Ok(MetricSpec::Net(a.to_string())),
            },
            other => Err(MetricSpecError::Unknown(other.to_string())),
        }
    }

    /// The figures a reading of this metric has, as `value=` names them;
    /// the first is what `alert_if` / `alert_metric` use by default.
    pub fn fields(&self) -> &'static [&'static str] {
        match self {
            MetricSpec::Cpu => &["busy_percent"],
            MetricSpec::Memory => &["used_percent", "available_bytes", "total_bytes"],
            MetricSpec::Swap => &["used_percent", "used_bytes", "total_bytes"],
            MetricSpec::Load1 | MetricSpec::Load5 | MetricSpec::Load15 => &["average"],
            MetricSpec::Disk(_) => &["used_percent", "free_bytes", "total_bytes"],
            MetricSpec::Inodes(_) => &["used_percent", "free", "total"],
            MetricSpec::Net(_) => &[
                "total_per_second",
                "received_per_second",
                "sent_per_second",
                "errors",
            ],
            MetricSpec::Uptime => &["seconds"],
            MetricSpec::Processes => &["count"],
        }
    }
}

impl fmt::Display for MetricSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricSpec::Cpu => f.write_str("cpu"),
            MetricSpec::Memory => f.write_str("memory"),
            MetricSpec::Swap => f.write_str("swap"),
            MetricSpec::Load1 => f.write_str("load1"),
            MetricSpec::Load5 => f.write_str("load5"),
            MetricSpec::Load15 => f.write_str("load15"),
            MetricSpec::Disk(p) => write!(f, "disk {}", p.display()),
            MetricSpec::Inodes(p) => write!(f, "inodes {}", p.display()),
            MetricSpec::Net(i) => write!(f, "net {i}"),
            MetricSpec::Uptime => f.write_str("uptime"),
            MetricSpec::Processes => f.write_str("processes"),
        }
    }
}

/// `probe: tcp|http|ping TARGET [KEYS]`.
#[derive(Debug, Clone)]
pub struct Probe {
    pub kind: ProbeKind,
    /// `timeout=SECONDS` (default [`DEFAULT_PROBE_TIMEOUT`]).
    pub timeout: Duration,
}

/// What a probe connects to.
#[derive(Debug, Clone)]
pub enum ProbeKind {
    /// `tcp HOST:PORT`: a connection is accepted.
    Tcp(HostPort),
    /// `http URL` / `http https://...`: the request is answered as asked.
    Http(Box<HttpRequest>),
    /// `ping HOST`: an ICMP echo is answered.
    Ping(String),
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ProbeKind::Tcp(t) => write!(f, "tcp {t}"),
            ProbeKind::Http(h) => write!(f, "http {}", h.url),
            ProbeKind::Ping(h) => write!(f, "ping {h}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_name_parses_and_prints_back() {
        for line in [
            "cpu",
            "memory",
            "swap",
            "load1",
            "load5",
            "load15",
            "disk /var",
            "inodes /",
            "net eth0",
            "uptime",
            "processes",
        ] {
            let mut words = line.splitn(2, ' ');
            let name = words.next().unwrap();
            let spec = MetricSpec::parse(name, words.next()).unwrap();
            assert_eq!(spec.to_string(), line);
            assert!(!spec.fields().is_empty());
        }
    }

    #[test]
    fn bad_metric_lines_say_what_is_wrong() {
        assert!(matches!(
            MetricSpec::parse("disks", None),
            Err(MetricSpecError::Unknown(_))
        ));
        assert_eq!(
            MetricSpec::parse("disk", None).unwrap_err().to_string(),
            "metric disk needs a path"
        );
        assert!(matches!(
            MetricSpec::parse("disk", Some("var")),
            Err(MetricSpecError::RelativePath(..))
        ));
        assert!(matches!(
            MetricSpec::parse("cpu", Some("0")),
            Err(MetricSpecError::UnexpectedArgument(..))
        ));
        assert!(matches!(
            MetricSpec::parse("net", Some("  ")),
            Err(MetricSpecError::MissingArgument(..))
        ));
    }
}
