//! The spool file's byte format: the header, records `[kind u8][len u32
//! LE][payload][fnv-1a-32 of payload, u32 LE]` (kind `C`: one event with its
//! check and transition; kind `E`: one event without them, as written before
//! events had checks, still read; kind `A`: settled ids; see the spool's
//! module doc), and reading them back, stopping at the first torn or corrupt
//! record. No I/O.

use std::collections::BTreeMap;

use wire::{CheckEvent, Event, EventKind, Transition};

pub(super) const HEADER: &[u8] = b"436SPOOL1\n";
/// An event of a spool written before events had checks (read only).
pub(super) const KIND_EVENT: u8 = b'E';
/// An event with its check id and transition.
pub(super) const KIND_CHECK_EVENT: u8 = b'C';
const KIND_ACK: u8 = b'A';
/// A record larger than this is corruption, not an event.
const MAX_RECORD: usize = 1 << 20;
fn fnv32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn push_record(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&fnv32(payload).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A `C` record: the `E` payload, then `[has check u8][check str]
/// [transition u8: 0 point, 1 open, 2 repeat, 3 clear][open_ms u64]`.
pub(super) fn encode_event(out: &mut Vec<u8>, ce: &CheckEvent) {
    let mut p = event_payload(&ce.event);
    p.push(u8::from(ce.check.is_some()));
    put_str(&mut p, ce.check.as_deref().unwrap_or(""));
    let (tag, open_ms) = match ce.transition {
        Transition::Point => (0, 0),
        Transition::Open => (1, 0),
        Transition::Repeat => (2, 0),
        Transition::Clear { open_ms } => (3, open_ms),
    };
    p.push(tag);
    p.extend_from_slice(&open_ms.to_le_bytes());
    push_record(out, KIND_CHECK_EVENT, &p);
}

/// An `E` record (what spools of earlier versions hold).
#[cfg(test)]
pub(super) fn encode_plain_event(out: &mut Vec<u8>, e: &Event) {
    let p = event_payload(e);
    push_record(out, KIND_EVENT, &p);
}

fn event_payload(e: &Event) -> Vec<u8> {
    let mut p = Vec::with_capacity(64 + e.message.len() + e.tags.len());
    p.extend_from_slice(&e.id.to_le_bytes());
    p.extend_from_slice(&e.time_ms.to_le_bytes());
    p.push(match e.kind {
        EventKind::Alert => 0,
        EventKind::Metric => 1,
        EventKind::System => 2,
    });
    p.push(u8::from(e.value.is_some()));
    p.extend_from_slice(&e.value.unwrap_or(0.0).to_le_bytes());
    put_str(&mut p, &e.tags);
    p.push(u8::from(e.source.is_some()));
    put_str(&mut p, e.source.as_deref().unwrap_or(""));
    put_str(&mut p, &e.message);
    p
}

/// A cursor over a record payload; `None` on anything short or invalid.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

fn decode_plain_event(payload: &[u8]) -> Option<CheckEvent> {
    let mut c = Cursor(payload);
    let event = read_event(&mut c)?;
    c.0.is_empty().then_some(CheckEvent {
        event,
        check: None,
        transition: Transition::Point,
    })
}

fn decode_check_event(payload: &[u8]) -> Option<CheckEvent> {
    let mut c = Cursor(payload);
    let event = read_event(&mut c)?;
    let has_check = c.u8()? != 0;
    let check = c.string()?;
    let transition = match (c.u8()?, c.u64()?) {
        (0, _) => Transition::Point,
        (1, _) => Transition::Open,
        (2, _) => Transition::Repeat,
        (3, open_ms) => Transition::Clear { open_ms },
        _ => return None,
    };
    c.0.is_empty().then_some(CheckEvent {
        event,
        check: has_check.then_some(check),
        transition,
    })
}

fn read_event(c: &mut Cursor<'_>) -> Option<Event> {
    let id = c.u64()?;
    let time_ms = c.u64()? as i64;
    let kind = match c.u8()? {
        0 => EventKind::Alert,
        1 => EventKind::Metric,
        2 => EventKind::System,
        _ => return None,
    };
    let has_value = c.u8()? != 0;
    let value = f64::from_bits(c.u64()?);
    let tags = c.string()?;
    let has_source = c.u8()? != 0;
    let source = c.string()?;
    let message = c.string()?;
    Some(Event {
        id,
        time_ms,
        tags,
        source: has_source.then_some(source),
        kind,
        message,
        value: has_value.then_some(value),
    })
}

/// Records saying `ids` are settled (acknowledged or dropped).
pub(super) fn encode_settled(out: &mut Vec<u8>, ids: &[u64]) {
    for chunk in ids.chunks(8192) {
        let mut payload = Vec::with_capacity(4 + 8 * chunk.len());
        payload.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        for id in chunk {
            payload.extend_from_slice(&id.to_le_bytes());
        }
        push_record(out, KIND_ACK, &payload);
    }
}

/// What a spool file's bytes hold.
#[derive(Debug, Default)]
pub(super) struct Parsed {
    /// Unacknowledged events by id.
    pub(super) events: BTreeMap<u64, CheckEvent>,
    /// Length of the valid prefix (0: not a spool, start afresh).
    pub(super) good_len: u64,
    /// Event records in the valid prefix.
    pub(super) records: u64,
}

/// Replays the records of a spool file up to the first torn or corrupt one.
pub(super) fn parse(bytes: &[u8]) -> Parsed {
    let mut events = BTreeMap::new();
    if !bytes.starts_with(HEADER) {
        return Parsed::default();
    }
    let mut pos = HEADER.len();
    let mut records = 0;
    while pos < bytes.len() {
        let mut c = Cursor(&bytes[pos..]);
        let Some(kind) = c.u8() else { break };
        let Some(len) = c.u32().map(|l| l as usize).filter(|l| *l <= MAX_RECORD) else {
            break;
        };
        let Some(payload) = c.take(len) else { break };
        let Some(sum) = c.u32() else { break };
        if sum != fnv32(payload) {
            break;
        }
        match kind {
            KIND_EVENT | KIND_CHECK_EVENT => {
                let decoded = if kind == KIND_EVENT {
                    decode_plain_event(payload)
                } else {
                    decode_check_event(payload)
                };
                let Some(e) = decoded else {
                    break;
                };
                records += 1;
                events.insert(e.event.id, e);
            }
            KIND_ACK => {
                let mut a = Cursor(payload);
                let Some(n) = a.u32() else { break };
                for _ in 0..n {
                    let Some(id) = a.u64() else { break };
                    events.remove(&id);
                }
            }
            _ => break,
        }
        pos += 1 + 4 + len + 4;
    }
    Parsed {
        events,
        good_len: pos as u64,
        records,
    }
}
