//! The messages of the protocol (SPEC §7) and the event they carry.
//!
//! bincode writes no field names: the order of variants and fields below is
//! the wire format. Add new variants at the end and bump the protocol
//! version (`codec::PROTOCOL_VERSION`) for anything else.

use serde::{Deserialize, Serialize};

use crate::body::body_len;
use crate::limits::{MAX_EVENT_ENCODED, MAX_EVENT_SOURCE, MAX_EVENT_TAGS};

/// Everything one side says to the other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// Supervisor → broadcast on port P: "I am here". Its source address is
    /// where observers send requests.
    Beacon {
        /// The supervisor's name (its host name), for operators' logs.
        supervisor: String,
        /// Random for each run of the supervisor, so an observer can tell a
        /// restart.
        run_id: u64,
    },
    /// Observer → supervisor: send me my configuration.
    ConfigRequest {
        host: String,
        /// The version the observer already runs, if any: the answer is then
        /// [`Message::ConfigUnchanged`] when nothing changed.
        have: Option<u64>,
        /// Set when re-requesting pieces of a transfer in progress.
        missing: Option<MissingChunks>,
    },
    /// Supervisor → observer: one piece of a configuration text.
    ConfigChunk {
        host: String,
        version: u64,
        index: u16,
        total: u16,
        data: Vec<u8>,
    },
    /// Supervisor → observer: the version you have is current.
    ConfigUnchanged { host: String, version: u64 },
    /// Supervisor → observer: there is no configuration file for this host.
    NoConfig { host: String },
    /// Supervisor → observer: drop your configuration and ask again.
    Reset { host: String },
    /// Observer → every supervisor it hears, every 15 s.
    Heartbeat {
        host: String,
        /// Configuration version in use, `None` while it has none.
        version: Option<u64>,
        /// Events waiting in the observer's spool.
        queue_len: u64,
        uptime_secs: u64,
    },
    /// Observer → its supervisor: events to write.
    Events {
        host: String,
        /// Every event of this host with an id below `floor` has been
        /// acknowledged and will never be sent again, so the supervisor can
        /// forget those ids when de-duplicating.
        floor: u64,
        events: Vec<Event>,
    },
    /// Supervisor → observer: these events are in the stream.
    Ack { host: String, ids: Vec<u64> },
}

/// The chunks of one version an observer still lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingChunks {
    pub version: u64,
    pub indices: Vec<u16>,
}

impl Message {
    /// Short name of the variant, for logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Beacon { .. } => "beacon",
            Message::ConfigRequest { .. } => "config-request",
            Message::ConfigChunk { .. } => "config-chunk",
            Message::ConfigUnchanged { .. } => "config-unchanged",
            Message::NoConfig { .. } => "no-config",
            Message::Reset { .. } => "reset",
            Message::Heartbeat { .. } => "heartbeat",
            Message::Events { .. } => "events",
            Message::Ack { .. } => "ack",
        }
    }

    /// The host a message is about, if it names one.
    pub fn host(&self) -> Option<&str> {
        match self {
            Message::Beacon { .. } => None,
            Message::ConfigRequest { host, .. }
            | Message::ConfigChunk { host, .. }
            | Message::ConfigUnchanged { host, .. }
            | Message::NoConfig { host }
            | Message::Reset { host }
            | Message::Heartbeat { host, .. }
            | Message::Events { host, .. }
            | Message::Ack { host, .. } => Some(host),
        }
    }
}

/// What kind of event: an alert, a metric (with a value), or a problem of
/// the system itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    Alert,
    Metric,
    System,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Alert => "alert",
            EventKind::Metric => "metric",
            EventKind::System => "system",
        }
    }
}

/// One event raised by an observer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per observer, across restarts; increasing in raise order.
    pub id: u64,
    /// When the observer raised it, milliseconds since the Unix epoch.
    pub time_ms: i64,
    pub tags: String,
    /// The log file path, or `None`.
    pub source: Option<String>,
    pub kind: EventKind,
    pub message: String,
    /// The number of a metric event.
    pub value: Option<f64>,
}

impl Event {
    /// Bytes this event takes inside an encoded [`Message::Events`].
    pub fn encoded_len(&self) -> usize {
        body_len(self)
    }

    /// Cuts tags, source and message (at character boundaries) so that this
    /// event alone always fits in one datagram. Returns whether anything was
    /// cut.
    pub fn fit_to_datagram(&mut self) -> bool {
        let mut cut = truncate_utf8(&mut self.tags, MAX_EVENT_TAGS);
        if let Some(source) = &mut self.source {
            cut |= truncate_utf8(source, MAX_EVENT_SOURCE);
        }
        let len = self.encoded_len();
        if len > MAX_EVENT_ENCODED {
            let excess = len - MAX_EVENT_ENCODED;
            let keep = self.message.len().saturating_sub(excess);
            cut |= truncate_utf8(&mut self.message, keep);
        }
        cut
    }
}

/// Shortens `text` to at most `max` bytes without splitting a character.
fn truncate_utf8(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(message: &str) -> Event {
        Event {
            id: u64::MAX,
            time_ms: i64::MAX,
            tags: "t".repeat(500),
            source: Some("/var/log/".repeat(100)),
            kind: EventKind::Alert,
            message: message.to_string(),
            value: Some(1.5),
        }
    }

    #[test]
    fn oversized_event_is_cut_to_fit_at_a_character_boundary() {
        let mut e = event(&"é".repeat(40_000));
        assert!(e.fit_to_datagram());
        assert!(e.encoded_len() <= MAX_EVENT_ENCODED);
        assert_eq!(e.tags.len(), MAX_EVENT_TAGS);
        assert!(e.message.chars().all(|c| c == 'é'));
    }

    #[test]
    fn small_event_is_left_alone() {
        let mut e = event("disk full");
        e.tags = "disk".into();
        e.source = None;
        assert!(!e.fit_to_datagram());
        assert_eq!(e.message, "disk full");
    }
}
