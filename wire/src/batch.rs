//! Packing many events, or many acknowledgements, into one datagram.

use crate::body::body_len;
use crate::codec::Codec;
use crate::limits::MAX_DATAGRAM;
use crate::message::{CheckEvent, Event, Message, OpenProblem};

/// Bytes a bincode length prefix can grow by as a list grows past 250
/// entries (1-byte varint to 3 bytes).
const LENGTH_PREFIX_SLACK: usize = 2;

/// What an event batch carries: protocol-1 [`Event`]s in
/// [`Message::Events`], or protocol-2 [`CheckEvent`]s in
/// [`Message::EventsV2`].
pub trait BatchItem: Sized {
    /// Bytes this item takes inside the encoded message.
    fn encoded_len(&self) -> usize;
    /// The message carrying `items`.
    fn into_message(host: String, floor: u64, items: Vec<Self>) -> Message;
}

impl BatchItem for Event {
    fn encoded_len(&self) -> usize {
        Event::encoded_len(self)
    }
    fn into_message(host: String, floor: u64, events: Vec<Event>) -> Message {
        Message::Events {
            host,
            floor,
            events,
        }
    }
}

impl BatchItem for CheckEvent {
    fn encoded_len(&self) -> usize {
        CheckEvent::encoded_len(self)
    }
    fn into_message(host: String, floor: u64, events: Vec<CheckEvent>) -> Message {
        Message::EventsV2 {
            host,
            floor,
            events,
        }
    }
}

/// Collects events for one events datagram until the next would not fit.
#[derive(Debug)]
pub struct EventBatchBuilder<T = CheckEvent> {
    host: String,
    floor: u64,
    events: Vec<T>,
    used: usize,
    budget: usize,
}

impl<T: BatchItem> EventBatchBuilder<T> {
    /// A batch for `host` sent through `codec`; `floor` as in
    /// [`Message::Events`].
    pub fn new(host: &str, floor: u64, codec: &Codec) -> Self {
        let empty = T::into_message(host.to_string(), floor, Vec::new());
        EventBatchBuilder {
            host: host.to_string(),
            floor,
            events: Vec::new(),
            used: body_len(&empty) + LENGTH_PREFIX_SLACK,
            budget: MAX_DATAGRAM - codec.overhead(),
        }
    }

    /// Adds `event` if it fits; gives it back otherwise. An event cut with
    /// `fit_to_datagram` always fits in an empty batch.
    pub fn try_push(&mut self, event: T) -> Result<(), T> {
        let len = event.encoded_len();
        if self.used.saturating_add(len) > self.budget {
            return Err(event);
        }
        self.used += len;
        self.events.push(event);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn finish(self) -> Message {
        T::into_message(self.host, self.floor, self.events)
    }
}

/// A protocol-2 heartbeat carrying as many open problems as fit in one
/// datagram (oldest first); the rest are counted in `omitted`.
pub fn heartbeat_v2(
    host: &str,
    version: Option<u64>,
    queue_len: u64,
    uptime_secs: u64,
    chosen: Option<u64>,
    problems: impl IntoIterator<Item = OpenProblem>,
    codec: &Codec,
) -> Message {
    let empty = Message::HeartbeatV2 {
        host: host.to_string(),
        version,
        queue_len,
        uptime_secs,
        chosen,
        problems: Vec::new(),
        omitted: u32::MAX,
    };
    let budget = MAX_DATAGRAM - codec.overhead();
    let mut used = body_len(&empty) + LENGTH_PREFIX_SLACK;
    let mut kept = Vec::new();
    let mut omitted = 0u32;
    for mut problem in problems {
        problem.fit();
        let len = body_len(&problem);
        if omitted == 0 && used + len <= budget {
            used += len;
            kept.push(problem);
        } else {
            omitted = omitted.saturating_add(1);
        }
    }
    Message::HeartbeatV2 {
        host: host.to_string(),
        version,
        queue_len,
        uptime_secs,
        chosen,
        problems: kept,
        omitted,
    }
}

/// Collects event ids for one `Ack` datagram until the next would not fit.
#[derive(Debug)]
pub struct AckBuilder {
    host: String,
    ids: Vec<u64>,
    used: usize,
    budget: usize,
}

impl AckBuilder {
    pub fn new(host: &str, codec: &Codec) -> Self {
        let empty = Message::Ack {
            host: host.to_string(),
            ids: Vec::new(),
        };
        AckBuilder {
            host: host.to_string(),
            ids: Vec::new(),
            used: body_len(&empty) + LENGTH_PREFIX_SLACK,
            budget: MAX_DATAGRAM - codec.overhead(),
        }
    }

    /// Adds `id` if it fits; `false` when the datagram is full.
    pub fn try_push(&mut self, id: u64) -> bool {
        let len = body_len(&id);
        if self.used + len > self.budget {
            return false;
        }
        self.used += len;
        self.ids.push(id);
        true
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn finish(self) -> Message {
        Message::Ack {
            host: self.host,
            ids: self.ids,
        }
    }
}
