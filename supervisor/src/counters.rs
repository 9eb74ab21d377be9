//! What the supervisor counts, logged every few minutes so an operator can
//! see load and trouble without a metrics system.

use std::collections::BTreeMap;
use std::fmt;

/// Running totals since start.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters {
    pub datagrams_received: u64,
    /// Datagrams decoded, by message kind (`heartbeat`, `events`, …).
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Datagrams dropped, by reason (`malformed`, `unsealed`, `stale`,
    /// `invalid-host-name`, …).
    pub dropped: BTreeMap<&'static str, u64>,
    pub events_written: u64,
    pub duplicates: u64,
    pub system_events: u64,
    pub acks_sent: u64,
    pub resets_sent: u64,
    pub config_requests: u64,
    pub chunks_sent: u64,
    pub stream_write_failures: u64,
    /// Datagrams that could not be encoded or were dropped from a full queue
    /// (the shell adds the ones the socket refused).
    pub send_failures: u64,
    pub system_lines_dropped: u64,
    /// Notes for the log dropped from a full queue (never with the shell).
    pub notes_dropped: u64,
    /// Happenings for the notifications dropped from a full queue (never
    /// with the shell, which reads them after every turn).
    pub happenings_dropped: u64,
}

impl Counters {
    pub fn decoded(&mut self, kind: &'static str) {
        *self.by_kind.entry(kind).or_default() += 1;
    }

    pub fn drop_reason(&mut self, reason: &'static str) {
        *self.dropped.entry(reason).or_default() += 1;
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "datagrams received {}, dropped {}",
            self.datagrams_received,
            self.dropped_total()
        )?;
        if !self.dropped.is_empty() {
            f.write_str(" (")?;
            for (i, (reason, n)) in self.dropped.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{reason} {n}")?;
            }
            f.write_str(")")?;
        }
        write!(
            f,
            ", events written {}, duplicates {}, system events {}, acks sent {}, resets sent {}, \
             configuration requests {}, chunks sent {}, stream write failures {}, send failures {}",
            self.events_written,
            self.duplicates,
            self.system_events,
            self.acks_sent,
            self.resets_sent,
            self.config_requests,
            self.chunks_sent,
            self.stream_write_failures,
            self.send_failures,
        )?;
        if self.notes_dropped > 0 {
            write!(f, ", log notes dropped {}", self.notes_dropped)?;
        }
        if self.happenings_dropped > 0 {
            write!(
                f,
                ", notification inputs dropped {}",
                self.happenings_dropped
            )?;
        }
        Ok(())
    }
}
