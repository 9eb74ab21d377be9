//! The messages of the protocol (SPEC §7) and the event they carry.
//!
//! bincode writes no field names: the order of variants and fields below is
//! the wire format. New variants go at the end, and each variant names the
//! first protocol version that has it ([`Message::protocol`]): a datagram is
//! framed with that version, so a peer of an older version still reads every
//! message it knows. Protocol 2 added problem state ([`Message::EventsV2`],
//! [`Message::HeartbeatV2`], [`Message::Goodbye`]); a protocol-2 supervisor
//! still accepts protocol-1 `Events` and `Heartbeat` from observers that have
//! not been upgraded yet, and everything it sends is protocol 1.

use serde::{Deserialize, Serialize};

use crate::body::body_len;
use crate::limits::{
    MAX_CHECK_ID, MAX_EVENT_ENCODED, MAX_EVENT_SOURCE, MAX_EVENT_TAGS, MAX_PROBLEM_MESSAGE,
};

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
    // ---- protocol 2 ----
    /// Observer → its supervisor (protocol 2): events, each with the check
    /// that raised it and what it says about that check's problem.
    EventsV2 {
        host: String,
        /// As in [`Message::Events`].
        floor: u64,
        events: Vec<CheckEvent>,
    },
    /// Observer → every supervisor it hears, every 15 s (protocol 2): a
    /// heartbeat that also carries the host's open problems, so that any
    /// supervisor (chosen or not, restarted, or taking over) knows them
    /// within one heartbeat interval.
    HeartbeatV2 {
        host: String,
        version: Option<u64>,
        queue_len: u64,
        uptime_secs: u64,
        /// The `run_id` of the supervisor this observer sends its events
        /// to, if it has chosen one.
        chosen: Option<u64>,
        /// Open problems, oldest first, as many as fit in the datagram.
        problems: Vec<OpenProblem>,
        /// Open problems left out because the datagram was full.
        omitted: u32,
    },
    /// Observer → every supervisor it hears (protocol 2): a clean stop. The
    /// host is `stopped` at once, and not reported inactive later.
    Goodbye { host: String },
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
            Message::EventsV2 { .. } => "events",
            Message::HeartbeatV2 { .. } => "heartbeat",
            Message::Goodbye { .. } => "goodbye",
        }
    }

    /// The first protocol version that has this message; its datagram is
    /// framed with that version (see the module doc).
    pub fn protocol(&self) -> u8 {
        match self {
            Message::EventsV2 { .. } | Message::HeartbeatV2 { .. } | Message::Goodbye { .. } => 2,
            _ => 1,
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
            | Message::Ack { host, .. }
            | Message::EventsV2 { host, .. }
            | Message::HeartbeatV2 { host, .. }
            | Message::Goodbye { host } => Some(host),
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

/// What an event says about its check's problem (protocol 2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Transition {
    /// A point event (a log line, a count, a metric): no problem state.
    Point,
    /// The check's problem opened.
    Open,
    /// The problem is still open: a reminder asked for with `repeat=`.
    Repeat,
    /// The problem cleared after being open this long.
    Clear { open_ms: u64 },
}

impl Transition {
    /// `open`, `cleared`, or `None` for point events (the stream's `state`).
    pub fn state(self) -> Option<&'static str> {
        match self {
            Transition::Point => None,
            Transition::Open | Transition::Repeat => Some("open"),
            Transition::Clear { .. } => Some("cleared"),
        }
    }
}

/// An event with the check that raised it (protocol 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckEvent {
    pub event: Event,
    /// The check's id (stable across edits that leave its group alone), or
    /// `None` for an event no check raised.
    pub check: Option<String>,
    pub transition: Transition,
}

impl CheckEvent {
    /// Bytes this event takes inside an encoded [`Message::EventsV2`].
    pub fn encoded_len(&self) -> usize {
        body_len(self)
    }

    /// As [`Event::fit_to_datagram`], with the check id cut to
    /// [`MAX_CHECK_ID`] first.
    pub fn fit_to_datagram(&mut self) -> bool {
        let mut cut = false;
        if let Some(check) = &mut self.check {
            cut |= truncate_utf8(check, MAX_CHECK_ID);
        }
        cut | self.event.fit_to_datagram()
    }
}

/// One open problem as a heartbeat carries it (protocol 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenProblem {
    pub check: String,
    /// When it opened, milliseconds since the Unix epoch.
    pub since_ms: i64,
    pub tags: String,
    /// The opening message, cut to [`MAX_PROBLEM_MESSAGE`] bytes.
    pub message: String,
    /// The last value seen, for checks with one.
    pub value: Option<f64>,
}

impl OpenProblem {
    /// Cuts the fields so that many problems fit in one heartbeat.
    pub fn fit(&mut self) {
        truncate_utf8(&mut self.check, MAX_CHECK_ID);
        truncate_utf8(&mut self.tags, MAX_EVENT_TAGS);
        truncate_utf8(&mut self.message, MAX_PROBLEM_MESSAGE);
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
