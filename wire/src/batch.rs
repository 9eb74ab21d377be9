//! Packing many events, or many acknowledgements, into one datagram.

use crate::body::body_len;
use crate::codec::Codec;
use crate::limits::MAX_DATAGRAM;
use crate::message::{Event, Message};

/// Bytes a bincode length prefix can grow by as a list grows past 250
/// entries (1-byte varint to 3 bytes).
const LENGTH_PREFIX_SLACK: usize = 2;

/// Collects events for one `Events` datagram until the next would not fit.
#[derive(Debug)]
pub struct EventBatchBuilder {
    host: String,
    floor: u64,
    events: Vec<Event>,
    used: usize,
    budget: usize,
}

impl EventBatchBuilder {
    /// A batch for `host` sent through `codec`; `floor` as in
    /// [`Message::Events`].
    pub fn new(host: &str, floor: u64, codec: &Codec) -> Self {
        let empty = Message::Events {
            host: host.to_string(),
            floor,
            events: Vec::new(),
        };
        EventBatchBuilder {
            host: host.to_string(),
            floor,
            events: Vec::new(),
            used: body_len(&empty) + LENGTH_PREFIX_SLACK,
            budget: MAX_DATAGRAM - codec.overhead(),
        }
    }

    /// Adds `event` if it fits; gives it back otherwise. An event cut with
    /// [`Event::fit_to_datagram`] always fits in an empty batch.
    pub fn try_push(&mut self, event: Event) -> Result<(), Event> {
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
        Message::Events {
            host: self.host,
            floor: self.floor,
            events: self.events,
        }
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
