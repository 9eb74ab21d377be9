//! A configuration text travels as numbered chunks that each fit in one
//! datagram; the observer puts them back together in any order and asks
//! again for what it misses.

use crate::limits::{CHUNK_DATA, MAX_CHUNKS, MAX_CONFIG, MAX_MISSING_PER_REQUEST};
use crate::message::{Message, MissingChunks};

/// Why a chunk or a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("configuration of {0} bytes exceeds the {MAX_CONFIG}-byte limit")]
    TooLarge(usize),
    #[error("chunk {index} of {total} is out of range")]
    OutOfRange { index: u16, total: u16 },
    #[error("chunk claims {got} chunks, the transfer has {expected}")]
    TotalMismatch { expected: u16, got: u16 },
    #[error("chunk of {0} bytes exceeds the {CHUNK_DATA}-byte chunk size")]
    ChunkTooLarge(usize),
    #[error("configuration is not valid UTF-8")]
    NotText,
}

/// The chunks of `text` for `host`, in order. An empty text is one empty
/// chunk, so every configuration has at least one.
pub fn split_config(host: &str, version: u64, text: &[u8]) -> Result<Vec<Message>, ChunkError> {
    if text.len() > MAX_CONFIG {
        return Err(ChunkError::TooLarge(text.len()));
    }
    let pieces: Vec<&[u8]> = if text.is_empty() {
        vec![&[][..]]
    } else {
        text.chunks(CHUNK_DATA).collect()
    };
    // MAX_CONFIG / CHUNK_DATA is far below u16::MAX, checked by a test.
    let total = pieces.len() as u16;
    Ok(pieces
        .into_iter()
        .enumerate()
        .map(|(index, data)| Message::ConfigChunk {
            host: host.to_string(),
            version,
            index: index as u16,
            total,
            data: data.to_vec(),
        })
        .collect())
}

/// What [`Reassembly::insert`] made of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// A piece not seen before.
    New,
    /// A piece already held (a repeated answer): ignored.
    Duplicate,
}

/// The chunks of one configuration version received so far.
#[derive(Debug, Clone)]
pub struct Reassembly {
    version: u64,
    parts: Vec<Option<Vec<u8>>>,
    received: usize,
}

impl Reassembly {
    /// Starts collecting `total` chunks of `version`.
    pub fn new(version: u64, total: u16) -> Result<Self, ChunkError> {
        if total == 0 || usize::from(total) > MAX_CHUNKS {
            return Err(ChunkError::OutOfRange { index: 0, total });
        }
        Ok(Reassembly {
            version,
            parts: vec![None; usize::from(total)],
            received: 0,
        })
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn total(&self) -> u16 {
        // Bounded by the u16 given to `new`.
        self.parts.len() as u16
    }

    /// Adds one chunk of this version.
    pub fn insert(&mut self, index: u16, total: u16, data: &[u8]) -> Result<Inserted, ChunkError> {
        if total != self.total() {
            return Err(ChunkError::TotalMismatch {
                expected: self.total(),
                got: total,
            });
        }
        if data.len() > CHUNK_DATA {
            return Err(ChunkError::ChunkTooLarge(data.len()));
        }
        let slot = self
            .parts
            .get_mut(usize::from(index))
            .ok_or(ChunkError::OutOfRange { index, total })?;
        if slot.is_some() {
            return Ok(Inserted::Duplicate);
        }
        *slot = Some(data.to_vec());
        self.received += 1;
        Ok(Inserted::New)
    }

    pub fn is_complete(&self) -> bool {
        self.received == self.parts.len()
    }

    /// The chunks still missing, at most as many as one re-request carries.
    pub fn missing(&self) -> MissingChunks {
        let indices = self
            .parts
            .iter()
            .enumerate()
            .filter(|(_, part)| part.is_none())
            .map(|(i, _)| i as u16)
            .take(MAX_MISSING_PER_REQUEST)
            .collect();
        MissingChunks {
            version: self.version,
            indices,
        }
    }

    /// The whole text, once complete; `None` while chunks are missing.
    pub fn text(&self) -> Option<Result<String, ChunkError>> {
        if !self.is_complete() {
            return None;
        }
        let bytes: Vec<u8> = self.parts.iter().flatten().flatten().copied().collect();
        Some(String::from_utf8(bytes).map_err(|_| ChunkError::NotText))
    }
}
