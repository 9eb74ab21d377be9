//! The 436 protocol, with no I/O beyond reading a key file.
//!
//! * [`message`] — what observers and supervisors say to each other.
//! * [`codec`] — framing (magic, protocol version, bincode 2 body with a size
//!   limit) and sealing with a pre-shared key.
//! * [`chunk`] — a configuration text split into datagram-sized chunks and
//!   reassembled.
//! * [`batch`] — packing events and acknowledgements into datagrams.
//! * [`key`] — the pre-shared key and its file format.
//! * [`limits`] — every size and time limit of the protocol, in one place.
//! * `body` (private) — the bincode encoding under both `message` and
//!   `codec`.
//!
//! Time is always passed in as milliseconds since the Unix epoch, so the
//! state machines that use this crate stay deterministic under test.

pub mod batch;
mod body;
pub mod chunk;
pub mod codec;
pub mod key;
pub mod limits;
pub mod message;

pub use batch::{AckBuilder, BatchItem, EventBatchBuilder, heartbeat_v2};
pub use chunk::{ChunkError, Reassembly, split_config};
pub use codec::{Codec, DecodeError, EncodeError};
pub use key::{Key, KeyError, random_u64};
pub use message::{CheckEvent, Event, EventKind, Message, MissingChunks, OpenProblem, Transition};
