//! The supervisor's logging policy, part of the async shell: which
//! [`Note`]s of the state machine become log lines, at what level, and how
//! often. Repeated trouble (bad datagrams from one sender, a failing stream
//! or socket, a host without a file that keeps asking) is named at most
//! once per interval with a count of what was not named; everything else is
//! one line per note. The counters line is written every
//! [`COUNTERS_LOG_INTERVAL`].
//!
//! Deciding ([`Logbook::line`] and friends, pure, tested here) is kept apart
//! from writing ([`LogLine::emit`]), so the policy is tested without a
//! subscriber.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use conf::HostName;

use crate::notes::Note;
use crate::timers::{
    BAD_INPUT_LOG_INTERVAL, COUNTERS_LOG_INTERVAL, FAILURE_LOG_INTERVAL, MAX_BAD_SENDERS_LOGGED,
    MAX_UNCONFIGURED_HOSTS, NO_CONFIG_LOG_INTERVAL,
};

/// How loud a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// One line for the supervisor's own log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: Level,
    pub text: String,
}

impl LogLine {
    fn new(level: Level, text: String) -> Option<LogLine> {
        Some(LogLine { level, text })
    }

    /// Writes the line through `tracing`.
    pub fn emit(&self) {
        let text = &self.text;
        match self.level {
            Level::Debug => tracing::debug!("{text}"),
            Level::Info => tracing::info!("{text}"),
            Level::Warn => tracing::warn!("{text}"),
            Level::Error => tracing::error!("{text}"),
        }
    }
}

/// Rate limit of one kind of log line: `true` (and `last` set to `now`)
/// when nothing of the kind was logged in the last `every`.
pub(crate) fn due(last: &mut Option<Instant>, now: Instant, every: Duration) -> bool {
    if last.is_some_and(|at| now.saturating_duration_since(at) < every) {
        return false;
    }
    *last = Some(now);
    true
}

/// What the policy remembers between lines.
#[derive(Debug)]
pub struct Logbook {
    /// Senders of dropped datagrams: when each was last named, and how many
    /// of its datagrams were dropped since.
    bad_senders: HashMap<IpAddr, (Instant, u64)>,
    /// Hosts without a configuration: when each was last mentioned.
    no_config: HashMap<HostName, Instant>,
    last_stream_failure: Option<Instant>,
    stream_failures_unlogged: u64,
    last_send_failure: Option<Instant>,
    last_receive_failure: Option<Instant>,
    next_counters: Instant,
}

impl Logbook {
    /// A logbook whose first counters line is due [`COUNTERS_LOG_INTERVAL`]
    /// after `now`.
    pub fn new(now: Instant) -> Self {
        Logbook {
            bad_senders: HashMap::new(),
            no_config: HashMap::new(),
            last_stream_failure: None,
            stream_failures_unlogged: 0,
            last_send_failure: None,
            last_receive_failure: None,
            next_counters: now + COUNTERS_LOG_INTERVAL,
        }
    }

    /// The line `note` deserves now, if any.
    pub fn line(&mut self, now: Instant, note: Note) -> Option<LogLine> {
        match note {
            Note::Dropped {
                from,
                reason: _,
                detail,
            } => self.dropped(now, from, &detail),
            Note::StaleVersion {
                host,
                running,
                current,
            } => LogLine::new(
                Level::Debug,
                format!("{host} runs configuration {running:?}, current is {current:?}: reset"),
            ),
            Note::ConfigChanged { host } => LogLine::new(
                Level::Info,
                format!("configuration of {host} changed: reset"),
            ),
            Note::ConfigRemoved { host } => LogLine::new(
                Level::Info,
                format!("configuration file of {host} removed: reset"),
            ),
            Note::ConfigError { host, error } => LogLine::new(
                Level::Warn,
                format!("configuration error for {host}: {error}"),
            ),
            Note::NoConfig {
                host,
                from,
                has_file,
            } => self.no_config(now, host, from, has_file),
            Note::CannotServe { host, error } => LogLine::new(
                Level::Error,
                format!("cannot serve the configuration of {host}: {error}"),
            ),
            Note::WentInactive { host, max_idle } => LogLine::new(
                Level::Warn,
                format!(
                    "{host} has not been heard for {} s: inactive",
                    max_idle.as_secs()
                ),
            ),
            Note::CameBack { host } => LogLine::new(Level::Info, format!("{host} is active again")),
            Note::Stopped { host } => LogLine::new(
                Level::Info,
                format!("{host} stopped (its observer said goodbye)"),
            ),
            Note::Started { host } => LogLine::new(Level::Info, format!("{host} started")),
            Note::StreamWriteFailed { error } => {
                if due(&mut self.last_stream_failure, now, FAILURE_LOG_INTERVAL) {
                    let earlier = std::mem::take(&mut self.stream_failures_unlogged);
                    LogLine::new(
                        Level::Error,
                        format!(
                            "cannot write the event stream: {error}; events are not acknowledged until it works \
                             ({earlier} earlier failures since the last report)"
                        ),
                    )
                } else {
                    self.stream_failures_unlogged += 1;
                    None
                }
            }
            Note::StreamWritable => {
                let failures = std::mem::take(&mut self.stream_failures_unlogged);
                LogLine::new(
                    Level::Info,
                    format!(
                        "event stream writable again ({failures} failures since the last report)"
                    ),
                )
            }
            Note::EncodeFailed { kind, to, error } => LogLine::new(
                Level::Error,
                format!("cannot encode a {kind} message for {to}: {error}"),
            ),
        }
    }

    /// A datagram the socket refused to send.
    pub fn send_failed(&mut self, now: Instant, to: SocketAddr, e: &io::Error) -> Option<LogLine> {
        due(&mut self.last_send_failure, now, FAILURE_LOG_INTERVAL).then(|| LogLine {
            level: Level::Warn,
            text: format!("sending to {to} failed: {e}"),
        })
    }

    /// The socket failed to receive.
    pub fn receive_failed(&mut self, now: Instant, e: &io::Error) -> Option<LogLine> {
        due(&mut self.last_receive_failure, now, FAILURE_LOG_INTERVAL).then(|| LogLine {
            level: Level::Warn,
            text: format!("receiving failed: {e}"),
        })
    }

    /// When the next counters line is due.
    pub fn next_counters(&self) -> Instant {
        self.next_counters
    }

    /// Whether the counters line is due at `now` (and then not again for
    /// [`COUNTERS_LOG_INTERVAL`]).
    pub fn counters_due(&mut self, now: Instant) -> bool {
        if now < self.next_counters {
            return false;
        }
        self.next_counters = now + COUNTERS_LOG_INTERVAL;
        true
    }

    /// Names the sender of a dropped datagram at most once per
    /// [`BAD_INPUT_LOG_INTERVAL`] per sender address, with the number of
    /// its drops not named.
    fn dropped(&mut self, now: Instant, from: SocketAddr, detail: &str) -> Option<LogLine> {
        let fresh = |at: Instant| now.saturating_duration_since(at) < BAD_INPUT_LOG_INTERVAL;
        if self.bad_senders.len() >= MAX_BAD_SENDERS_LOGGED
            && !self.bad_senders.contains_key(&from.ip())
        {
            self.bad_senders.retain(|_, (at, _)| fresh(*at));
            if self.bad_senders.len() >= MAX_BAD_SENDERS_LOGGED {
                // Many senders at once: counted, not each named.
                return None;
            }
        }
        match self.bad_senders.entry(from.ip()) {
            Entry::Occupied(mut e) if fresh(e.get().0) => {
                e.get_mut().1 += 1;
                None
            }
            entry => {
                let unlogged = match &entry {
                    Entry::Occupied(e) => e.get().1,
                    Entry::Vacant(_) => 0,
                };
                entry.insert_entry((now, 0));
                LogLine::new(
                    Level::Warn,
                    format!(
                        "dropped a datagram from {from}: {detail} ({unlogged} more from this address since it was last named)"
                    ),
                )
            }
        }
    }

    /// Mentions a host that asks for a configuration it does not get at
    /// most once per [`NO_CONFIG_LOG_INTERVAL`].
    fn no_config(
        &mut self,
        now: Instant,
        host: HostName,
        from: SocketAddr,
        has_file: bool,
    ) -> Option<LogLine> {
        let fresh = |at: Instant| now.saturating_duration_since(at) < NO_CONFIG_LOG_INTERVAL;
        if self.no_config.len() >= MAX_UNCONFIGURED_HOSTS && !self.no_config.contains_key(&host) {
            self.no_config.retain(|_, at| fresh(*at));
            if self.no_config.len() >= MAX_UNCONFIGURED_HOSTS {
                return None;
            }
        }
        match self.no_config.entry(host) {
            Entry::Occupied(e) if fresh(*e.get()) => None,
            entry => {
                let text = if has_file {
                    format!(
                        "{} ({from}) asked for its configuration, but its file cannot be read",
                        entry.key()
                    )
                } else {
                    format!(
                        "{} ({from}) asked for configuration but has no file in the hosts folder",
                        entry.key()
                    )
                };
                entry.insert_entry(now);
                LogLine::new(Level::Warn, text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dropped(from: &str) -> Note {
        Note::Dropped {
            from: from.parse().unwrap(),
            reason: "malformed",
            detail: "malformed message".into(),
        }
    }

    #[test]
    fn a_sender_of_bad_datagrams_is_named_once_a_minute_with_the_count_since() {
        let t0 = Instant::now();
        let mut book = Logbook::new(t0);
        let first = book.line(t0, dropped("10.0.0.1:5000")).unwrap();
        assert_eq!(first.level, Level::Warn);
        assert!(first.text.contains("(0 more"), "{}", first.text);
        for i in 1..=3 {
            let at = t0 + Duration::from_secs(i);
            assert_eq!(book.line(at, dropped("10.0.0.1:5001")), None);
        }
        // Another sender is named on its own.
        assert!(book.line(t0, dropped("10.0.0.2:5000")).is_some());
        let later = book
            .line(t0 + BAD_INPUT_LOG_INTERVAL, dropped("10.0.0.1:5000"))
            .unwrap();
        assert!(later.text.contains("(3 more"), "{}", later.text);
    }

    #[test]
    fn a_failing_stream_is_reported_once_a_minute_and_its_recovery_with_the_count() {
        let t0 = Instant::now();
        let mut book = Logbook::new(t0);
        let failed = || Note::StreamWriteFailed {
            error: io::Error::other("disk full"),
        };
        let first = book.line(t0, failed()).unwrap();
        assert_eq!(first.level, Level::Error);
        assert!(first.text.contains("disk full"));
        assert_eq!(book.line(t0 + Duration::from_secs(1), failed()), None);
        assert_eq!(book.line(t0 + Duration::from_secs(2), failed()), None);
        let back = book.line(t0 + Duration::from_secs(3), Note::StreamWritable);
        assert_eq!(
            back.unwrap().text,
            "event stream writable again (2 failures since the last report)"
        );
    }

    #[test]
    fn a_host_without_a_file_is_mentioned_once_an_hour() {
        let t0 = Instant::now();
        let mut book = Logbook::new(t0);
        let ask = || Note::NoConfig {
            host: HostName::new("web9").unwrap(),
            from: "10.0.0.9:4000".parse().unwrap(),
            has_file: false,
        };
        assert!(book.line(t0, ask()).is_some());
        assert!(book.line(t0 + Duration::from_secs(60), ask()).is_none());
        assert!(book.line(t0 + NO_CONFIG_LOG_INTERVAL, ask()).is_some());
    }

    #[test]
    fn counters_are_due_once_per_interval() {
        let t0 = Instant::now();
        let mut book = Logbook::new(t0);
        assert!(!book.counters_due(t0));
        assert!(book.counters_due(t0 + COUNTERS_LOG_INTERVAL));
        assert!(!book.counters_due(t0 + COUNTERS_LOG_INTERVAL));
        assert_eq!(book.next_counters(), t0 + 2 * COUNTERS_LOG_INTERVAL);
    }
}
