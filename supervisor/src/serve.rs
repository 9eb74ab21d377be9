//! Answering a configuration request (SPEC §7): `ConfigUnchanged` when the
//! observer already runs the served version, the chunks it asks for again
//! when it names the missing ones of the current version, and otherwise
//! every chunk. Pure: the state machine sends what this returns.

use conf::HostName;
use wire::limits::MAX_MISSING_PER_REQUEST;
use wire::{ChunkError, Message, MissingChunks, split_config};

use crate::catalog::ServedConfig;

/// The datagrams that answer one request, in sending order.
#[derive(Debug, PartialEq)]
pub(crate) enum ConfigAnswer {
    /// `ConfigUnchanged`: nothing to transfer.
    Unchanged(Message),
    /// Configuration chunks.
    Chunks(Vec<Message>),
}

/// What to send `host`, which runs `have` and may miss `missing`, for the
/// configuration `served`.
pub(crate) fn answer(
    host: &HostName,
    served: &ServedConfig,
    have: Option<u64>,
    missing: Option<MissingChunks>,
) -> Result<ConfigAnswer, ChunkError> {
    let version = served.version.0;
    let wanted: Option<Vec<u16>> = match (missing, have) {
        (Some(m), _) if m.version == version => Some(m.indices),
        (None, Some(h)) if h == version => {
            return Ok(ConfigAnswer::Unchanged(Message::ConfigUnchanged {
                host: host.to_string(),
                version,
            }));
        }
        _ => None,
    };
    let chunks = split_config(host.as_str(), version, served.text.as_bytes())?;
    let Some(indices) = wanted else {
        return Ok(ConfigAnswer::Chunks(chunks));
    };
    // Of at most MAX_MISSING_PER_REQUEST indices, each chunk is sent once
    // (taken from its slot) and indices past the end are ignored.
    let mut slots: Vec<Option<Message>> = chunks.into_iter().map(Some).collect();
    let picked = indices
        .into_iter()
        .take(MAX_MISSING_PER_REQUEST)
        .filter_map(|index| slots.get_mut(usize::from(index)).and_then(Option::take))
        .collect();
    Ok(ConfigAnswer::Chunks(picked))
}
