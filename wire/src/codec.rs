//! Framing and sealing: a [`Message`] to and from one datagram.
//!
//! ```text
//! open:    MAGIC(4) VERSION(1) MODE=0 (1) body
//! sealed:  MAGIC(4) VERSION(1) MODE=1 (1) nonce(24) XChaCha20-Poly1305( sent_ms(8, LE) body ) tag(16)
//! ```
//! `body` is the message in bincode 2 standard encoding. The six header bytes
//! of a sealed datagram are authenticated as associated data. The send time
//! lives inside the sealed part so a receiver can refuse old datagrams, and
//! a [`Codec`] that seals also remembers recent nonces so a captured control
//! datagram cannot be replayed within the age window.

use std::collections::{HashSet, VecDeque};

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::body::WIRE;
use crate::key::Key;
use crate::limits::{MAX_DATAGRAM, MAX_SEALED_AGE_MS};
use crate::message::Message;

/// First bytes of every 436 datagram.
pub const MAGIC: [u8; 4] = *b"A436";
/// The newest protocol this build speaks. A datagram's version byte is the
/// first protocol that has its message ([`Message::protocol`]); any version
/// from 1 up to this one is accepted.
pub const PROTOCOL_VERSION: u8 = 2;

const MODE_OPEN: u8 = 0;
const MODE_SEALED: u8 = 1;
const HEADER_LEN: usize = 6;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const TIME_LEN: usize = 8;

/// Bytes a sealed datagram adds to the body.
pub const SEALED_OVERHEAD: usize = HEADER_LEN + NONCE_LEN + TAG_LEN + TIME_LEN;
/// Bytes an open datagram adds to the body.
pub const OPEN_OVERHEAD: usize = HEADER_LEN;

/// Most control-message nonces remembered for replay detection. At the
/// rate observers and supervisors exchange control messages this covers far
/// more than the age window; past it the oldest are forgotten.
const REPLAY_MEMORY: usize = 8192;

/// Why a message could not be made into a datagram.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("message of {len} bytes exceeds the {MAX_DATAGRAM}-byte datagram limit")]
    TooLarge { len: usize },
    #[error("message could not be encoded: {0}")]
    Body(String),
    #[error("message could not be sealed")]
    Seal,
}

/// Why a datagram was dropped. Each variant maps to a counter
/// ([`DecodeError::reason`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("datagram of {len} bytes exceeds the {MAX_DATAGRAM}-byte limit")]
    TooLarge { len: usize },
    #[error("not a 436 datagram")]
    NotOurs,
    #[error("protocol version {0} is not supported (this build speaks 1 to {PROTOCOL_VERSION})")]
    Version(u8),
    #[error("unsealed datagram refused: this side has a key")]
    Unsealed,
    #[error("sealed datagram, but this side has no key")]
    NoKey,
    #[error("sealed datagram failed to open (wrong key or tampered)")]
    BadSeal,
    #[error(
        "sealed datagram sent {age_ms} ms away from this side's clock (limit {MAX_SEALED_AGE_MS} ms)"
    )]
    Stale { age_ms: u64 },
    #[error("sealed datagram already seen (replay)")]
    Replay,
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
}

impl DecodeError {
    /// A short, stable name for counters and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "oversized",
            DecodeError::NotOurs => "not-436",
            DecodeError::Version(_) => "version",
            DecodeError::Unsealed => "unsealed",
            DecodeError::NoKey => "no-key",
            DecodeError::BadSeal => "bad-seal",
            DecodeError::Stale { .. } => "stale",
            DecodeError::Replay => "replay",
            DecodeError::Malformed(_) | DecodeError::Trailing(_) => "malformed",
        }
    }
}

/// Turns messages into datagrams and back, sealed when built with a key.
pub struct Codec {
    cipher: Option<XChaCha20Poly1305>,
    replay: ReplayMemory,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("sealed", &self.is_sealed())
            .finish()
    }
}

impl Codec {
    /// Open mode: nothing sealed, sealed datagrams refused with
    /// [`DecodeError::NoKey`].
    pub fn open() -> Self {
        Codec {
            cipher: None,
            replay: ReplayMemory::default(),
        }
    }

    /// Sealed mode: everything sent is sealed with `key`; only datagrams
    /// sealed with the same key, and recent, are accepted.
    pub fn sealed(key: &Key) -> Self {
        Codec {
            cipher: Some(XChaCha20Poly1305::new(key.as_bytes().into())),
            replay: ReplayMemory::default(),
        }
    }

    pub fn is_sealed(&self) -> bool {
        self.cipher.is_some()
    }

    /// Bytes this codec adds around a message body.
    pub fn overhead(&self) -> usize {
        if self.is_sealed() {
            SEALED_OVERHEAD
        } else {
            OPEN_OVERHEAD
        }
    }

    /// One datagram carrying `msg`, sealed with the send time `now_ms`
    /// (milliseconds since the Unix epoch) when this codec has a key.
    pub fn encode(&self, msg: &Message, now_ms: u64) -> Result<Vec<u8>, EncodeError> {
        let body = bincode::serde::encode_to_vec(msg, WIRE)
            .map_err(|e| EncodeError::Body(e.to_string()))?;
        let len = body.len() + self.overhead();
        if len > MAX_DATAGRAM {
            return Err(EncodeError::TooLarge { len });
        }
        let Some(cipher) = &self.cipher else {
            let mut out = Vec::with_capacity(len);
            out.extend_from_slice(&header(MODE_OPEN, msg.protocol()));
            out.extend_from_slice(&body);
            return Ok(out);
        };
        let header = header(MODE_SEALED, msg.protocol());
        let mut plain = Vec::with_capacity(TIME_LEN + body.len());
        plain.extend_from_slice(&now_ms.to_le_bytes());
        plain.extend_from_slice(&body);
        let nonce = XNonce::try_generate().map_err(|_| EncodeError::Seal)?;
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: &header,
                },
            )
            .map_err(|_| EncodeError::Seal)?;
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&header);
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The message in `datagram`, or why it must be dropped. `now_ms` is the
    /// receiver's clock, milliseconds since the Unix epoch.
    pub fn decode(&mut self, datagram: &[u8], now_ms: u64) -> Result<Message, DecodeError> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(DecodeError::TooLarge {
                len: datagram.len(),
            });
        }
        if datagram.len() < HEADER_LEN || datagram[..4] != MAGIC {
            return Err(DecodeError::NotOurs);
        }
        let version = datagram[4];
        if !(1..=PROTOCOL_VERSION).contains(&version) {
            return Err(DecodeError::Version(version));
        }
        let (header, rest) = datagram.split_at(HEADER_LEN);
        match (header[5], &self.cipher) {
            (MODE_OPEN, None) => decode_body(rest, version),
            (MODE_OPEN, Some(_)) => Err(DecodeError::Unsealed),
            (MODE_SEALED, None) => Err(DecodeError::NoKey),
            (MODE_SEALED, Some(cipher)) => {
                if rest.len() < NONCE_LEN + TAG_LEN + TIME_LEN {
                    return Err(DecodeError::BadSeal);
                }
                let (nonce_bytes, sealed) = rest.split_at(NONCE_LEN);
                let nonce = XNonce::try_from(nonce_bytes).map_err(|_| DecodeError::BadSeal)?;
                let plain = cipher
                    .decrypt(
                        &nonce,
                        Payload {
                            msg: sealed,
                            aad: header,
                        },
                    )
                    .map_err(|_| DecodeError::BadSeal)?;
                let (time, body) = plain.split_at(TIME_LEN);
                let mut sent = [0u8; TIME_LEN];
                sent.copy_from_slice(time);
                let age_ms = now_ms.abs_diff(u64::from_le_bytes(sent));
                if age_ms > MAX_SEALED_AGE_MS {
                    return Err(DecodeError::Stale { age_ms });
                }
                let msg = decode_body(body, version)?;
                if guards_against_replay(&msg) && !self.replay.first_sighting(nonce_bytes, now_ms) {
                    return Err(DecodeError::Replay);
                }
                Ok(msg)
            }
            _ => Err(DecodeError::NotOurs),
        }
    }
}

fn header(mode: u8, version: u8) -> [u8; HEADER_LEN] {
    [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], version, mode]
}

/// The message in `body`, which must be one its header's `version` has.
fn decode_body(body: &[u8], version: u8) -> Result<Message, DecodeError> {
    let (msg, used): (Message, usize) = bincode::serde::decode_from_slice(body, WIRE)
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(DecodeError::Trailing(body.len() - used));
    }
    if msg.protocol() > version {
        return Err(DecodeError::Malformed(format!(
            "{} is not a protocol {version} message",
            msg.kind()
        )));
    }
    Ok(msg)
}

/// Control messages change what a receiver does (follow a supervisor, drop a
/// configuration), so a replayed one must not act twice. Events, heartbeats
/// and acknowledgements are idempotent by design and far too many to
/// remember.
fn guards_against_replay(msg: &Message) -> bool {
    !matches!(
        msg,
        Message::Events { .. }
            | Message::EventsV2 { .. }
            | Message::Ack { .. }
            | Message::Heartbeat { .. }
            | Message::HeartbeatV2 { .. }
    )
}

/// Nonces of recently accepted control datagrams, forgotten once they are
/// old enough that the age check refuses them anyway.
#[derive(Default)]
struct ReplayMemory {
    seen: HashSet<[u8; NONCE_LEN]>,
    order: VecDeque<([u8; NONCE_LEN], u64)>,
}

impl ReplayMemory {
    fn first_sighting(&mut self, nonce: &[u8], now_ms: u64) -> bool {
        let mut key = [0u8; NONCE_LEN];
        key.copy_from_slice(nonce);
        while let Some(&(old, at)) = self.order.front() {
            let expired = now_ms.saturating_sub(at) > 2 * MAX_SEALED_AGE_MS;
            if !expired && self.order.len() < REPLAY_MEMORY {
                break;
            }
            self.seen.remove(&old);
            self.order.pop_front();
        }
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back((key, now_ms));
        true
    }
}
