//! The on-disk spool of unacknowledged events and the event-id high-water
//! mark (SPEC §7). It only persists: the core gives events their ids and
//! hands over [`SpoolBatch`]es; the events themselves live in memory in the
//! [`Session`](crate::session::Session). This file is what survives a crash.
//!
//! Files in the spool directory (the host name is part of each name, so
//! several observers can share a directory):
//!
//! * `observer-HOST.spool` — the header `436SPOOL1\n`, then append-only
//!   records `[kind u8][len u32 LE][payload][fnv-1a-32 of payload, u32 LE]`.
//!   Kind `E` is one event: `id u64, time_ms i64, kind u8, value flag u8 +
//!   f64, tags, source flag u8 + source, message`, strings as `u32 LE
//!   length + UTF-8`, as written by earlier versions (still read, as point
//!   events without a check). Kind `C` is what is written now: the `E`
//!   payload, then `check flag u8 + check, transition u8 (0 point, 1 open,
//!   2 repeat, 3 clear), open_ms u64`. Kind `A` lists acknowledged (or dropped) ids:
//!   `count u32, ids u64…`. All integers are little-endian. On start the
//!   records are replayed; a torn or corrupt tail (a crash mid-write) ends
//!   the replay and is cut off. When most events are acknowledged the live
//!   ones are rewritten to `observer-HOST.spool.tmp`, fsynced and renamed
//!   over.
//! * `observer-HOST.ids` — `436IDS1 N\n`: every id below N may have been
//!   used. Ids are reserved in blocks of [`ID_BLOCK`]: the new mark is
//!   written (tmp → fsync → rename) *before* the records of a batch using
//!   an id of the block (and so before any of them is sent), and a restart
//!   starts at max(mark, unix microseconds), so ids never repeat and keep
//!   increasing across restarts.
//!
//! Durability: records are written with one `write(2)` per batch into the
//! page cache and not fsynced per event; an observer killed with SIGKILL
//! loses nothing, a power cut may lose the last seconds.
//!
//! A failed write (a full disk) may have written part of the batch. The
//! file is cut back to its length before the write and the batch is kept
//! and written again with the next flush: a torn record in the middle would
//! end the replay there and lose every later record at the next start. If
//! even the cut fails, the next flush cuts first and writes nothing until
//! it can.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use wire::CheckEvent;

use crate::core::{SpoolBatch, SpoolFailure};
use crate::timers::ID_BLOCK;

mod record;

#[cfg(test)]
use record::KIND_EVENT;
use record::{HEADER, Parsed, encode_event, encode_settled, parse};

const IDS_TAG: &str = "436IDS1";
/// Records kept for the next write after writes failed, at most; past it
/// they are dropped and the file is rewritten from the live events instead
/// (the next compaction), so a long-full disk does not grow memory.
const MAX_UNWRITTEN: usize = 16 << 20;
/// Compaction is considered past this many event records in the file.
const COMPACT_MIN_RECORDS: u64 = 4096;

/// Why the spool cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool file {path} cannot be {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    #[error("spool id file {0} is not a 436 id file")]
    BadIdFile(PathBuf),
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> SpoolError + 'a {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// Where records are appended: the spool file, or in tests a file that
/// fails part-way through a write.
trait RecordFile: Write + std::fmt::Debug + Send {
    fn len(&self) -> io::Result<u64>;
    fn set_len(&self, len: u64) -> io::Result<()>;
}

impl RecordFile for File {
    fn len(&self) -> io::Result<u64> {
        self.metadata().map(|m| m.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
}

/// The append-only spool file and the id allocator; see the module doc.
#[derive(Debug)]
pub struct EventSpool {
    path: PathBuf,
    ids_path: PathBuf,
    file: Box<dyn RecordFile>,
    /// The file's length before a write that failed and could not be cut
    /// back yet: the next flush cuts first.
    cut_to: Option<u64>,
    pending: Vec<u8>,
    next_id: u64,
    reserved_until: u64,
    /// Event records in the file (live or not).
    event_records: u64,
    /// Queued records were dropped after failed writes: the file must be
    /// rewritten from the live events.
    rewrite: bool,
}

/// What replaying the spool found.
#[derive(Debug)]
pub struct Replayed {
    /// Unacknowledged events, by increasing id.
    pub events: Vec<CheckEvent>,
    /// Bytes of torn or corrupt tail cut off.
    pub cut_bytes: u64,
    /// The lowest id never used: where the core starts giving ids.
    pub next_id: u64,
}

impl EventSpool {
    /// Opens (or creates) the spool of `host` in `dir` and replays it.
    pub fn open(dir: &Path, host: &str) -> Result<(EventSpool, Replayed), SpoolError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir, "created"))?;
        let path = dir.join(format!("observer-{host}.spool"));
        let ids_path = dir.join(format!("observer-{host}.ids"));
        let (parsed, file_len) = replay(&path)?;
        let Parsed {
            events,
            good_len,
            records: event_records,
        } = parsed;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path, "opened"))?;
        if good_len < file_len || file_len == 0 {
            file.set_len(good_len).map_err(io_err(&path, "repaired"))?;
        }
        let mark = read_mark(&ids_path)?;
        let max_seen = events.keys().next_back().map_or(0, |m| m + 1);
        let next_id = mark.max(unix_micros()).max(max_seen);
        let mut spool = EventSpool {
            path,
            ids_path,
            file: Box::new(file),
            cut_to: None,
            pending: Vec::new(),
            rewrite: false,
            next_id,
            reserved_until: 0,
            event_records,
        };
        if good_len == 0 {
            spool.pending.extend_from_slice(HEADER);
            spool.flush()?;
        }
        spool.reserve(1)?;
        Ok((
            spool,
            Replayed {
                events: events.into_values().collect(),
                cut_bytes: file_len.saturating_sub(good_len),
                next_id,
            },
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes sure ids below `next_id + n` are covered by the mark on disk.
    fn reserve(&mut self, n: u64) -> Result<(), SpoolError> {
        if self.next_id.saturating_add(n) <= self.reserved_until {
            return Ok(());
        }
        let mark = self.next_id.saturating_add(n).saturating_add(ID_BLOCK);
        write_atomically(&self.ids_path, format!("{IDS_TAG} {mark}\n").as_bytes())?;
        self.reserved_until = mark;
        Ok(())
    }

    /// Writes `batch`: its acknowledged ids, the id mark when the batch
    /// uses ids beyond it, then its events, with one `write(2)`.
    pub fn write(&mut self, batch: &SpoolBatch) -> Result<(), SpoolFailure> {
        self.record_settled(&batch.settled);
        if let Some(last) = batch.events.last() {
            // Ids are only ever given upwards from the mark read at open.
            self.next_id = self.next_id.max(last.event.id + 1);
            if let Err(e) = self.reserve(0) {
                // Nothing of the batch's events is queued: the core keeps
                // them and offers them again. The settled ids stay queued.
                return Err(SpoolFailure::IdsNotReserved(e.to_string()));
            }
            for e in &batch.events {
                encode_event(&mut self.pending, e);
                self.event_records += 1;
            }
        }
        self.flush().map_err(|e| {
            if self.pending.len() > MAX_UNWRITTEN {
                // The live events are still in memory and will be written
                // whole by the next compaction.
                self.pending.clear();
                self.rewrite = true;
            }
            SpoolFailure::RecordsNotWritten(e.to_string())
        })
    }

    /// Queues a record saying `ids` need not be sent again (acknowledged or
    /// dropped).
    pub fn record_settled(&mut self, ids: &[u64]) {
        encode_settled(&mut self.pending, ids);
    }

    /// Writes what is queued with one `write(2)`. On failure the file is
    /// cut back to its length before the write and everything queued stays
    /// queued for the next flush (see the module doc).
    pub fn flush(&mut self) -> Result<(), SpoolError> {
        if let Some(len) = self.cut_to {
            self.file
                .set_len(len)
                .map_err(io_err(&self.path, "cut back after a failed write"))?;
            self.cut_to = None;
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let before = self.file.len().map_err(io_err(&self.path, "measured"))?;
        match self.file.write_all(&self.pending) {
            Ok(()) => {
                self.pending.clear();
                Ok(())
            }
            Err(e) => {
                if let Err(cut) = self.file.set_len(before) {
                    tracing::error!(
                        "{}: cannot cut a torn write back ({cut}); will try again before the next write",
                        self.path.display()
                    );
                    self.cut_to = Some(before);
                }
                Err(io_err(&self.path, "written")(e))
            }
        }
    }

    /// Bytes of records waiting for a successful flush.
    pub fn unwritten_bytes(&self) -> usize {
        self.pending.len()
    }

    /// Rewrites the file with only `live` events when they are a small part
    /// of it. Returns whether it did.
    pub fn maybe_compact<'a>(
        &mut self,
        live: usize,
        events: impl Iterator<Item = &'a CheckEvent>,
    ) -> Result<bool, SpoolError> {
        let small =
            self.event_records < COMPACT_MIN_RECORDS || (live as u64) * 4 > self.event_records;
        if small && !self.rewrite {
            return Ok(false);
        }
        self.flush()?;
        let mut body = HEADER.to_vec();
        let mut n = 0;
        for e in events {
            encode_event(&mut body, e);
            n += 1;
        }
        let tmp = self.path.with_extension("spool.tmp");
        write_atomically_via(&tmp, &self.path, &body)?;
        self.file = Box::new(
            OpenOptions::new()
                .append(true)
                .open(&self.path)
                .map_err(io_err(&self.path, "reopened"))?,
        );
        self.event_records = n;
        self.rewrite = false;
        Ok(true)
    }
}

fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn read_mark(path: &Path) -> Result<u64, SpoolError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut words = text.split_whitespace();
            match (
                words.next(),
                words.next().and_then(|n| n.parse::<u64>().ok()),
            ) {
                (Some(IDS_TAG), Some(n)) => Ok(n),
                _ => Err(SpoolError::BadIdFile(path.to_path_buf())),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(io_err(path, "read")(e)),
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SpoolError> {
    let tmp = path.with_extension("tmp");
    write_atomically_via(&tmp, path, bytes)
}

fn write_atomically_via(tmp: &Path, path: &Path, bytes: &[u8]) -> Result<(), SpoolError> {
    let mut f = File::create(tmp).map_err(io_err(tmp, "created"))?;
    f.write_all(bytes).map_err(io_err(tmp, "written"))?;
    f.sync_all().map_err(io_err(tmp, "synced"))?;
    std::fs::rename(tmp, path).map_err(io_err(path, "replaced"))?;
    if let Some(dir) = path.parent() {
        // The rename itself is durable once the directory is synced; a
        // failure here only weakens power-loss safety.
        if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
            tracing::debug!("cannot sync {}: {e}", dir.display());
        }
    }
    Ok(())
}

/// What the spool file holds, and the file's length.
fn replay(path: &Path) -> Result<(Parsed, u64), SpoolError> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes).map_err(io_err(path, "read"))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Parsed::default(), 0)),
        Err(e) => return Err(io_err(path, "opened")(e)),
    }
    if !bytes.starts_with(HEADER) && !bytes.is_empty() {
        tracing::warn!("{} is not a 436 spool; starting it afresh", path.display());
    }
    let parsed = parse(&bytes);
    if parsed.good_len > 0 && (parsed.good_len as usize) < bytes.len() {
        tracing::warn!(
            "{}: {} bytes of torn or corrupt records at the end were cut off",
            path.display(),
            bytes.len() - parsed.good_len as usize
        );
    }
    Ok((parsed, bytes.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::Event;

    /// Events with ids from `next`, as the core would give them.
    fn events(next: &mut u64, msgs: &[&str]) -> Vec<CheckEvent> {
        msgs.iter()
            .map(|m| {
                *next += 1;
                let event = Event {
                    id: *next - 1,
                    time_ms: 1,
                    tags: "t".into(),
                    source: Some("/x".into()),
                    kind: wire::EventKind::Alert,
                    message: m.to_string(),
                    value: None,
                };
                CheckEvent {
                    event,
                    check: Some("proc-0123abcd".into()),
                    transition: wire::Transition::Clear { open_ms: 5_000 },
                }
            })
            .collect()
    }

    /// Writes events `msgs` with ids from `next`; returns them.
    fn append(
        s: &mut EventSpool,
        next: &mut u64,
        msgs: &[&str],
    ) -> (Vec<CheckEvent>, Result<(), SpoolFailure>) {
        let evs = events(next, msgs);
        let r = s.write(&SpoolBatch {
            events: evs.clone(),
            settled: Vec::new(),
        });
        (evs, r)
    }

    #[test]
    fn unacked_events_survive_a_reopen_and_ids_keep_increasing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, r) = EventSpool::open(dir.path(), "h1").unwrap();
        assert!(r.events.is_empty());
        let mut next = r.next_id;
        let (evs, w) = append(&mut s, &mut next, &["a", "b", "c"]);
        w.unwrap();
        s.write(&SpoolBatch {
            events: Vec::new(),
            settled: vec![evs[1].event.id],
        })
        .unwrap();
        let last = evs[2].event.id;
        drop(s);
        let (_, r) = EventSpool::open(dir.path(), "h1").unwrap();
        let msgs: Vec<_> = r.events.iter().map(|e| e.event.message.as_str()).collect();
        assert_eq!(msgs, ["a", "c"]);
        assert_eq!(r.events[1], evs[2]);
        assert!(r.next_id > last);
    }

    #[test]
    fn a_spool_of_the_previous_version_still_reads() {
        // Plain `E` records, as written before events had checks: read as
        // point events without a check, and new `C` records follow them.
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = HEADER.to_vec();
        let mut next = 7;
        let old = events(&mut next, &["old a", "old b"]);
        for e in &old {
            record::encode_plain_event(&mut bytes, &e.event);
        }
        std::fs::write(dir.path().join("observer-h.spool"), &bytes).unwrap();
        let (mut s, r) = EventSpool::open(dir.path(), "h").unwrap();
        assert_eq!(r.events.len(), 2, "{r:?}");
        assert_eq!(r.events[0].event, old[0].event);
        assert_eq!(r.events[0].check, None);
        assert_eq!(r.events[0].transition, wire::Transition::Point);
        assert!(r.next_id >= 9);
        let mut next = r.next_id;
        let (new, w) = append(&mut s, &mut next, &["new"]);
        w.unwrap();
        drop(s);
        let (_, r) = EventSpool::open(dir.path(), "h").unwrap();
        assert_eq!(r.events.len(), 3);
        assert_eq!(r.events[2], new[0]);
        assert_eq!(r.events[2].check.as_deref(), Some("proc-0123abcd"));
    }

    #[test]
    fn a_torn_tail_is_cut_and_appends_continue_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, r) = EventSpool::open(dir.path(), "h").unwrap();
        let mut next = r.next_id;
        append(&mut s, &mut next, &["a"]).1.unwrap();
        let path = s.path().to_path_buf();
        drop(s);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[KIND_EVENT, 200, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let (mut s, r) = EventSpool::open(dir.path(), "h").unwrap();
        assert_eq!(r.events.len(), 1);
        assert_eq!(r.cut_bytes, 7);
        let mut next = r.next_id;
        append(&mut s, &mut next, &["b"]).1.unwrap();
        drop(s);
        let (_, r) = EventSpool::open(dir.path(), "h").unwrap();
        assert_eq!(r.events.len(), 2);
    }

    /// The spool file, failing (like a full disk) after `budget` more bytes
    /// until the budget is refilled.
    #[derive(Debug)]
    struct FullDisk {
        file: File,
        budget: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            use std::sync::atomic::Ordering;
            let room = self.budget.load(Ordering::SeqCst);
            if room == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let n = self.file.write(&buf[..buf.len().min(room)])?;
            self.budget.fetch_sub(n, Ordering::SeqCst);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.file.flush()
        }
    }

    impl RecordFile for FullDisk {
        fn len(&self) -> io::Result<u64> {
            RecordFile::len(&self.file)
        }
        fn set_len(&self, len: u64) -> io::Result<()> {
            File::set_len(&self.file, len)
        }
    }

    #[test]
    fn a_failed_write_is_cut_back_and_retried_so_a_restart_loses_nothing() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let (mut s, r) = EventSpool::open(dir.path(), "h").unwrap();
        let mut next = r.next_id;
        let (first, w) = append(&mut s, &mut next, &["a"]);
        w.unwrap();
        let good_len = std::fs::metadata(s.path()).unwrap().len();
        let budget = std::sync::Arc::new(AtomicUsize::new(10));
        s.file = Box::new(FullDisk {
            file: OpenOptions::new().append(true).open(s.path()).unwrap(),
            budget: budget.clone(),
        });
        let (torn, w) = append(&mut s, &mut next, &["b", "c"]);
        assert!(
            matches!(w, Err(SpoolFailure::RecordsNotWritten(_))),
            "the injected full disk must fail: {w:?}"
        );
        // 10 bytes of a record reached the file and were cut off again.
        assert_eq!(std::fs::metadata(s.path()).unwrap().len(), good_len);
        assert!(s.unwritten_bytes() > 0);
        // Still full: a later batch waits behind the first.
        let (later, w) = append(&mut s, &mut next, &["d"]);
        assert!(w.is_err());
        assert_eq!(std::fs::metadata(s.path()).unwrap().len(), good_len);
        // Room again: everything is written in order.
        budget.store(usize::MAX, Ordering::SeqCst);
        s.flush().unwrap();
        assert_eq!(s.unwritten_bytes(), 0);
        drop(s);
        let (_, r) = EventSpool::open(dir.path(), "h").unwrap();
        assert_eq!(r.cut_bytes, 0);
        let ids: Vec<u64> = r.events.iter().map(|e| e.event.id).collect();
        let want: Vec<u64> = first
            .iter()
            .chain(&torn)
            .chain(&later)
            .map(|e| e.event.id)
            .collect();
        assert_eq!(ids, want);
        let msgs: Vec<_> = r.events.iter().map(|e| e.event.message.as_str()).collect();
        assert_eq!(msgs, ["a", "b", "c", "d"]);
    }

    #[test]
    fn records_dropped_after_a_long_full_disk_are_rewritten_from_the_live_events() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let (mut s, r) = EventSpool::open(dir.path(), "h").unwrap();
        let mut next = r.next_id;
        let budget = std::sync::Arc::new(AtomicUsize::new(0));
        s.file = Box::new(FullDisk {
            file: OpenOptions::new().append(true).open(s.path()).unwrap(),
            budget: budget.clone(),
        });
        let big = "x".repeat(60_000);
        let mut live = Vec::new();
        for _ in 0..300 {
            let (evs, w) = append(&mut s, &mut next, &[big.as_str()]);
            assert!(w.is_err());
            live.extend(evs);
        }
        // Bounded: the queued records were dropped, not kept growing.
        assert!(s.unwritten_bytes() <= MAX_UNWRITTEN);
        budget.store(usize::MAX, Ordering::SeqCst);
        // The disk has room again: the live events (here the last 10) are
        // written whole.
        assert!(s.maybe_compact(10, live[290..].iter()).unwrap());
        drop(s);
        let (_, r) = EventSpool::open(dir.path(), "h").unwrap();
        let ids: Vec<u64> = r.events.iter().map(|e| e.event.id).collect();
        let want: Vec<u64> = live[290..].iter().map(|e| e.event.id).collect();
        assert_eq!(ids, want);
    }

    #[test]
    fn compaction_keeps_only_live_events() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, r) = EventSpool::open(dir.path(), "h").unwrap();
        let mut next = r.next_id;
        let texts: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (evs, w) = append(&mut s, &mut next, &texts);
        w.unwrap();
        let ids: Vec<u64> = evs[..4990].iter().map(|e| e.event.id).collect();
        s.write(&SpoolBatch {
            events: Vec::new(),
            settled: ids,
        })
        .unwrap();
        let before = std::fs::metadata(s.path()).unwrap().len();
        assert!(s.maybe_compact(10, evs[4990..].iter()).unwrap());
        assert!(std::fs::metadata(s.path()).unwrap().len() < before / 100);
        drop(s);
        let (_, r) = EventSpool::open(dir.path(), "h").unwrap();
        assert_eq!(r.events.len(), 10);
        assert_eq!(r.events[0].event.message, "4990");
    }
}
