//! Command-line options and their checked form, the [`Plan`] of a run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use wire::limits::MAX_EVENT_ENCODED;

/// Most simulated observers in one process: each needs a socket and an
/// ephemeral port, and Linux has about 28,000 ephemeral ports by default.
pub const MAX_OBSERVERS: u32 = 25_000;

/// Most open problems one simulated heartbeat carries (a real observer
/// sends as many as fit and counts the rest as omitted).
pub const MAX_OPEN_PROBLEMS: u32 = 64;

/// Simulates many 436 observers to size a supervisor before deploying it.
///
/// Steady load: `loadgen --port 9000 --observers 1000 --rate 1 --duration 60`.
/// Ingest limit: `loadgen --port 9000 --flood --events 1000000 --window 256`.
/// Prints one JSON line summarising the run on stdout.
#[derive(Parser, Debug)]
#[command(name = "loadgen", version, about, long_about = None)]
pub struct Args {
    /// The supervisor's request address (its port P+1), e.g. 192.0.2.5:9001.
    /// Without it, loadgen waits for a beacon on --port.
    #[arg(long, value_name = "ADDR:PORT")]
    pub supervisor: Option<SocketAddr>,

    /// UDP port P on which beacons arrive (the supervisor listens on P+1).
    #[arg(long, default_value_t = 9000, value_parser = clap::value_parser!(u16).range(1..65535))]
    pub port: u16,

    /// The LAN's pre-shared key: every datagram is sealed with it.
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,

    /// Simulated observers, each with its own socket and name.
    #[arg(long, default_value_t = 1)]
    pub observers: u32,

    /// Events per second raised by each simulated observer (steady load).
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,

    /// Seconds of steady load.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,

    /// Send events as fast as acknowledgements allow instead of at --rate.
    #[arg(long)]
    pub flood: bool,

    /// Events to send in --flood mode, shared among the observers.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,

    /// Full event datagrams each observer may have unacknowledged in --flood mode.
    #[arg(long, default_value_t = 256)]
    pub window: u32,

    /// Names are PREFIX followed by a five-digit number (lg00000, lg00001, ...).
    #[arg(long, default_value = "lg")]
    pub prefix: String,

    /// Ask for each simulated host's configuration at start (and after a reset).
    #[arg(long)]
    pub fetch_config: bool,

    /// Encoded size of one event, in bytes.
    #[arg(long, default_value_t = 100)]
    pub event_bytes: usize,

    /// Seconds between heartbeats of each observer.
    #[arg(long, default_value_t = 15.0)]
    pub heartbeat: f64,

    /// Open problems each observer carries in every heartbeat (protocol 2,
    /// as a real observer with that many open problems sends them); 0 sends
    /// protocol-1 heartbeats.
    #[arg(long, default_value_t = 0)]
    pub open_problems: u32,

    /// First retransmission time-out in milliseconds; it doubles on each retry.
    #[arg(long, default_value_t = 1000)]
    pub retry_ms: u64,

    /// Seconds to wait for outstanding acknowledgements once the load ends
    /// (and, in --flood mode, without any progress before giving up).
    #[arg(long, default_value_t = 10.0)]
    pub drain: f64,

    /// Seconds to wait for a beacon when --supervisor is not given.
    #[arg(long, default_value_t = 15.0)]
    pub discover_timeout: f64,

    /// Runtime threads (1: everything on one thread).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// What was wrong with the options.
#[derive(Debug, thiserror::Error)]
pub enum ArgError {
    #[error("--{name} must be a positive number of seconds (got {value})")]
    NotPositive { name: &'static str, value: f64 },
    #[error("--observers must be between 1 and {MAX_OBSERVERS} (got {0})")]
    Observers(u32),
    #[error("--rate must be a positive number of events per second (got {0})")]
    Rate(f64),
    #[error("--events must be at least 1 (got 0)")]
    NoEvents,
    #[error("--window must be at least 1 (got 0)")]
    NoWindow,
    #[error("--retry-ms must be between 10 and 60000 (got {0})")]
    Retry(u64),
    #[error("--event-bytes must be between 64 and {MAX_EVENT_ENCODED} (got {0})")]
    EventBytes(usize),
    #[error("--open-problems must be at most {MAX_OPEN_PROBLEMS} (got {0})")]
    OpenProblems(u32),
    #[error("--threads must be between 1 and 64 (got {0})")]
    Threads(usize),
    #[error(
        "--prefix `{0}` does not make valid host names: use letters, digits, `.`, `_` and `-`, not starting with `.`"
    )]
    Prefix(String),
}

/// How each simulated observer raises events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadShape {
    /// `rate` events per second each, for `duration`.
    Steady { rate: f64, duration: Duration },
    /// `events` in all, `window` full datagrams in flight per observer.
    Flood { events: u64, window: u32 },
}

/// A checked set of options.
#[derive(Debug, Clone)]
pub struct Plan {
    pub supervisor: Option<SocketAddr>,
    pub port: u16,
    pub key_file: Option<PathBuf>,
    pub observers: u32,
    pub shape: LoadShape,
    pub prefix: String,
    pub fetch_config: bool,
    pub event_bytes: usize,
    pub heartbeat: Duration,
    pub open_problems: u32,
    pub retry: Duration,
    pub drain: Duration,
    pub discover_timeout: Duration,
    pub threads: usize,
}

fn seconds(name: &'static str, value: f64) -> Result<Duration, ArgError> {
    if value.is_finite() && value > 0.0 && value < 1e9 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(ArgError::NotPositive { name, value })
    }
}

impl Plan {
    pub fn from_args(args: Args) -> Result<Plan, ArgError> {
        if args.observers == 0 || args.observers > MAX_OBSERVERS {
            return Err(ArgError::Observers(args.observers));
        }
        let shape = if args.flood {
            if args.events == 0 {
                return Err(ArgError::NoEvents);
            }
            if args.window == 0 {
                return Err(ArgError::NoWindow);
            }
            LoadShape::Flood {
                events: args.events,
                window: args.window,
            }
        } else {
            if !(args.rate.is_finite() && args.rate > 0.0 && args.rate <= 1e6) {
                return Err(ArgError::Rate(args.rate));
            }
            LoadShape::Steady {
                rate: args.rate,
                duration: seconds("duration", args.duration)?,
            }
        };
        if !(10..=60_000).contains(&args.retry_ms) {
            return Err(ArgError::Retry(args.retry_ms));
        }
        if !(64..=MAX_EVENT_ENCODED).contains(&args.event_bytes) {
            return Err(ArgError::EventBytes(args.event_bytes));
        }
        if !(1..=64).contains(&args.threads) {
            return Err(ArgError::Threads(args.threads));
        }
        if args.open_problems > MAX_OPEN_PROBLEMS {
            return Err(ArgError::OpenProblems(args.open_problems));
        }
        if !valid_prefix(&args.prefix) {
            return Err(ArgError::Prefix(args.prefix));
        }
        Ok(Plan {
            supervisor: args.supervisor,
            port: args.port,
            key_file: args.key_file,
            observers: args.observers,
            shape,
            prefix: args.prefix,
            fetch_config: args.fetch_config,
            event_bytes: args.event_bytes,
            heartbeat: seconds("heartbeat", args.heartbeat)?,
            open_problems: args.open_problems,
            retry: Duration::from_millis(args.retry_ms),
            drain: seconds("drain", args.drain)?,
            discover_timeout: seconds("discover-timeout", args.discover_timeout)?,
            threads: args.threads,
        })
    }

    /// The host name of simulated observer `index`.
    pub fn host_name(&self, index: u32) -> String {
        format!("{}{index:05}", self.prefix)
    }
}

/// A prefix is valid when the names made from it (prefix + five digits)
/// are valid host names.
fn valid_prefix(prefix: &str) -> bool {
    conf::HostName::new(&format!("{prefix}00000")).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(argv: &[&str]) -> Result<Plan, String> {
        let mut full = vec!["loadgen"];
        full.extend_from_slice(argv);
        let args = Args::try_parse_from(full).map_err(|e| e.to_string())?;
        Plan::from_args(args).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_one_observer_one_event_a_second_for_a_minute() {
        let p = plan(&[]).unwrap();
        assert_eq!(p.observers, 1);
        assert_eq!(p.port, 9000);
        assert_eq!(
            p.shape,
            LoadShape::Steady {
                rate: 1.0,
                duration: Duration::from_secs(60)
            }
        );
        assert_eq!(p.heartbeat, Duration::from_secs(15));
        assert_eq!(p.host_name(7), "lg00007");
    }

    #[test]
    fn flood_takes_events_and_window() {
        let p = plan(&["--flood", "--events", "5000", "--window", "8"]).unwrap();
        assert_eq!(
            p.shape,
            LoadShape::Flood {
                events: 5000,
                window: 8
            }
        );
    }

    #[test]
    fn supervisor_address_is_parsed() {
        let p = plan(&["--supervisor", "127.0.0.1:9101"]).unwrap();
        assert_eq!(p.supervisor, Some("127.0.0.1:9101".parse().unwrap()));
    }

    #[test]
    fn bad_values_are_refused_with_the_option_named() {
        for (argv, needle) in [
            (&["--observers", "0"][..], "--observers"),
            (&["--observers", "100000"][..], "--observers"),
            (&["--rate", "0"][..], "--rate"),
            (&["--rate", "NaN"][..], "--rate"),
            (&["--duration=-1"][..], "--duration"),
            (&["--duration", "0"][..], "--duration"),
            (&["--flood", "--events", "0"][..], "--events"),
            (&["--flood", "--window", "0"][..], "--window"),
            (&["--prefix", ".hidden"][..], "--prefix"),
            (&["--prefix", "a/b"][..], "--prefix"),
            (&["--event-bytes", "5000"][..], "--event-bytes"),
            (&["--retry-ms", "1"][..], "--retry-ms"),
            (&["--port", "65535"][..], "65535"),
            (&["--supervisor", "nowhere"][..], "nowhere"),
        ] {
            let err = plan(argv).unwrap_err();
            assert!(err.contains(needle), "{argv:?}: {err}");
        }
    }
}
