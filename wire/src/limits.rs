//! Every size and time limit of the protocol. Both programs use these; a
//! change here is a protocol change.

/// Largest datagram either side sends or accepts: under an Ethernet MTU of
/// 1500 minus IP and UDP headers, so nothing is fragmented on a LAN.
pub const MAX_DATAGRAM: usize = 1400;

/// Ceiling on the memory bincode may claim while decoding one datagram. It
/// counts decoded bytes (a `String` claims its length, a `u64` eight bytes),
/// so it is deliberately larger than [`MAX_DATAGRAM`]; what it stops is a
/// crafted length prefix making the decoder allocate gigabytes.
pub const DECODE_LIMIT: usize = 64 * 1024;

/// A sealed datagram whose send time differs from the receiver's clock by
/// more than this is dropped (replay protection; also bounds clock skew).
pub const MAX_SEALED_AGE_MS: u64 = 60_000;

/// Bytes of configuration text carried by one chunk. With the longest host
/// name (253 bytes) and sealing, a chunk still fits in [`MAX_DATAGRAM`].
pub const CHUNK_DATA: usize = 1024;

/// Largest configuration text served (the same 1 MiB limit as a file).
pub const MAX_CONFIG: usize = 1 << 20;

/// Most chunks a configuration may have.
pub const MAX_CHUNKS: usize = MAX_CONFIG.div_ceil(CHUNK_DATA);

/// Most chunk numbers one re-request may list; the rest are asked for next
/// time.
pub const MAX_MISSING_PER_REQUEST: usize = 256;

/// Longest host name (as SPEC §4 says).
pub const MAX_HOST_NAME: usize = 253;

/// An event is cut so that one event alone, with the longest host name,
/// always fits in a sealed datagram: its message is shortened first.
pub const MAX_EVENT_ENCODED: usize = 1000;

/// Longest `tags` and `source` kept in an event; longer ones are cut.
pub const MAX_EVENT_TAGS: usize = 128;
pub const MAX_EVENT_SOURCE: usize = 256;

/// Longest check id carried; longer ones are cut.
pub const MAX_CHECK_ID: usize = 64;

/// Longest problem message a heartbeat carries per open problem (the full
/// message travels in the opening event).
pub const MAX_PROBLEM_MESSAGE: usize = 120;
