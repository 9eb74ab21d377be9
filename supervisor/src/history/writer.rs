//! The history thread, and the shell's side of the hand-over.
//!
//! The shell calls [`History::offer`] with each batch it has written to the
//! stream. Offers are counted in stream bytes: batch *n* starts at byte
//! `offered` of everything written since start. A batch that would push the
//! queue past [`MAX_QUEUED_BYTES`] is dropped, and the first dropped
//! position is remembered. When its queue is empty the thread catches up:
//! it re-reads the stream from a file position at or before that first
//! dropped byte to the end (ingesting is idempotent, so lines it already
//! has cost only the reading). A batch the thread does not write — its
//! disk has less than [`MIN_FREE_BYTES`] free, or the transaction failed —
//! is remembered the same way.
//!
//! The file position of stream byte `c` is estimated as
//! `base_offset + (c - base_counter)`, which never lies after the true
//! position as long as the stream stays in the base file: at start the base
//! is the newest stream file and its length; after a catch-up it is the
//! file and length read, less what the shell may have written without
//! offering yet (`OFFER_MARGIN`). Past a rotation, newer files are read
//! from their start.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use conf::{StreamRotation, SupervisorConfig};

use super::maintenance::stream_files;
use super::store::Store;
use super::{MAX_QUEUED_BYTES, MIN_FREE_BYTES, Retention, database_path};

/// Retention and the size check run this often.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(60);
/// At shutdown the thread gets this long to finish its queue.
pub const STOP_DEADLINE: Duration = Duration::from_secs(10);
/// More than the bytes one batch can hold, written to the stream before
/// the shell offers them.
const OFFER_MARGIN: u64 = 8 * 1024 * 1024;
/// The history thread's nice value (0 normal, 19 lowest) where the
/// `SCHED_IDLE` class cannot be had.
pub const HISTORY_NICE: libc::c_int = 10;
/// Stream bytes read at a time while catching up.
const CATCH_UP_CHUNK: usize = 4 * 1024 * 1024;
/// After a failed write, the catch-up that makes up for it waits this long
/// (it re-reads the stream from the first line missed, which must not
/// happen every second against a database that keeps failing). A write
/// held back for lack of space is caught up as soon as there is room.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);
/// The free space of the history's disk is looked at most this often.
const SPACE_CHECK_INTERVAL: Duration = Duration::from_millis(200);
const NONE: u64 = u64::MAX;

/// Counters shared by the shell, the thread and the window.
#[derive(Debug, Default)]
pub struct HistoryStats {
    /// Stream bytes offered by the shell since start.
    pub offered: AtomicU64,
    /// Stream bytes known to be in the database (everything before it).
    pub ingested: AtomicU64,
    /// Bytes queued for the thread.
    pub queued: AtomicU64,
    /// Batches not queued because the queue was full.
    pub dropped_batches: AtomicU64,
    /// Catch-ups from the stream file done.
    pub catch_ups: AtomicU64,
    /// Stream lines ingested / unreadable / failed transactions.
    pub lines: AtomicU64,
    pub unreadable: AtomicU64,
    pub failures: AtomicU64,
    /// Pages in use, bytes, at the last check.
    pub db_bytes: AtomicU64,
    /// First dropped stream byte not yet caught up, or none.
    first_dropped: AtomicU64,
    /// Whether the thread is running.
    pub running: AtomicBool,
    /// Whether it holds off because its disk has less than
    /// [`MIN_FREE_BYTES`] free.
    pub paused_for_space: AtomicBool,
}

impl HistoryStats {
    /// Stream bytes written but not yet in the database.
    pub fn lag_bytes(&self) -> u64 {
        self.offered
            .load(Ordering::Relaxed)
            .saturating_sub(self.ingested.load(Ordering::Relaxed))
    }
}

struct Batch {
    start: u64,
    lines: Vec<u8>,
}

/// The shell's handle on the history thread.
pub struct History {
    stats: Arc<HistoryStats>,
    max_queued: u64,
    queue: Option<mpsc::Sender<Batch>>,
    thread: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
}

/// Where the stream stood, for the catch-up: stream byte `c` lies in
/// `file` at or after `max(0, shift + c)`.
struct Base {
    file: Option<PathBuf>,
    shift: i64,
}

impl History {
    /// Opens the database beside the stream and starts the thread. `None`
    /// (logged) when it cannot be opened: the supervisor runs without.
    pub fn start(config: &SupervisorConfig) -> Option<History> {
        Self::start_with(config, MAX_QUEUED_BYTES)
    }

    /// As [`History::start`] with another queue limit (tests use a tiny
    /// one to make it fall behind).
    pub fn start_with(config: &SupervisorConfig, max_queued: u64) -> Option<History> {
        let path = database_path(config);
        let store = match Store::open(&path, config.stream_format) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{e}; running without the history (events, charts, availability)");
                return None;
            }
        };
        // Measured before the shell writes anything: the exact base.
        let file = stream_files(&config.event_stream, config.stream_rotation).pop();
        let offset = file
            .as_deref()
            .and_then(|f| std::fs::metadata(f).ok())
            .map_or(0, |m| m.len());
        let base = Base {
            file,
            shift: offset as i64,
        };
        let stats = Arc::new(HistoryStats::default());
        stats.first_dropped.store(NONE, Ordering::Relaxed);
        if let Ok(bytes) = store.bytes_in_use() {
            stats.db_bytes.store(bytes, Ordering::Relaxed);
        }
        let (tx, rx) = mpsc::channel();
        let worker = Worker {
            store,
            stats: stats.clone(),
            base,
            stream: config.event_stream.clone(),
            rotation: config.stream_rotation,
            retention: Retention::from_config(config),
            space: Space::new(&path),
            retry_at: None,
        };
        stats.running.store(true, Ordering::Relaxed);
        let thread = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || worker.run(rx));
        match thread {
            Ok(thread) => Some(History {
                stats,
                max_queued,
                queue: Some(tx),
                thread: Some(thread),
                path,
            }),
            Err(e) => {
                tracing::error!("cannot start the history thread: {e}");
                None
            }
        }
    }

    /// Hands over a batch just written to the stream; never waits.
    pub fn offer(&self, lines: Vec<u8>) {
        let len = lines.len() as u64;
        if len == 0 {
            return;
        }
        let start = self.stats.offered.fetch_add(len, Ordering::Relaxed);
        let queued = self.stats.queued.load(Ordering::Relaxed);
        let sent = queued + len <= self.max_queued
            && self
                .queue
                .as_ref()
                .is_some_and(|q| q.send(Batch { start, lines }).is_ok());
        if sent {
            self.stats.queued.fetch_add(len, Ordering::Relaxed);
        } else {
            self.stats.dropped_batches.fetch_add(1, Ordering::Relaxed);
            self.stats.first_dropped.fetch_min(start, Ordering::Relaxed);
        }
    }

    /// What the window shows about the history.
    pub fn reader(&self) -> super::HistoryReader {
        super::HistoryReader::new(self.path.clone(), Some(self.stats.clone()))
    }

    pub fn stats(&self) -> &HistoryStats {
        &self.stats
    }

    /// Lets the thread finish its queue (and a catch-up) for at most
    /// [`STOP_DEADLINE`], then leaves it.
    pub fn stop(mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            let deadline = Instant::now() + STOP_DEADLINE;
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                tracing::warn!(
                    "the history is {} bytes behind the stream at exit; `supervisor rebuild-history` brings it up to date",
                    self.stats.lag_bytes()
                );
            }
        }
    }
}

struct Worker {
    store: Store,
    stats: Arc<HistoryStats>,
    base: Base,
    stream: PathBuf,
    rotation: StreamRotation,
    retention: Retention,
    space: Space,
    /// No catch-up before this (a write failed).
    retry_at: Option<Instant>,
}

/// The free space of the disk the database is on, looked at now and then.
struct Space {
    folder: PathBuf,
    checked: Option<Instant>,
    low: bool,
}

impl Space {
    fn new(database: &Path) -> Space {
        Space {
            folder: crate::rolling::folder_of(database).to_path_buf(),
            checked: None,
            low: false,
        }
    }

    /// Whether less than [`MIN_FREE_BYTES`] is free; a disk whose free
    /// space cannot be read counts as roomy (writing will tell).
    fn low(&mut self, stats: &HistoryStats) -> bool {
        let now = Instant::now();
        if self
            .checked
            .is_some_and(|at| now.saturating_duration_since(at) < SPACE_CHECK_INTERVAL)
        {
            return self.low;
        }
        self.checked = Some(now);
        let Ok(free) = stream::file::free_bytes(&self.folder) else {
            return self.low;
        };
        let low = free < MIN_FREE_BYTES;
        if low != self.low {
            if low {
                tracing::warn!(
                    "only {free} bytes are free on the disk of the history ({}): the history stops \
                     writing, leaving the space to the event stream, and catches up from the stream \
                     once {MIN_FREE_BYTES} bytes are free",
                    self.folder.display()
                );
            } else {
                tracing::info!(
                    "{free} bytes are free on the disk of the history again: it catches up from the stream"
                );
            }
            self.low = low;
            stats.paused_for_space.store(low, Ordering::Relaxed);
        }
        low
    }
}

impl Worker {
    fn run(mut self, rx: mpsc::Receiver<Batch>) {
        lower_priority();
        self.retention();
        let mut next_retention = Instant::now() + RETENTION_INTERVAL;
        loop {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(batch) => {
                    let len = batch.lines.len() as u64;
                    // Written only with room on the disk, and then left to
                    // the catch-up when it fails (the disk may still fill).
                    if self.space.low(&self.stats) {
                        self.missed(batch.start, false);
                    } else if !self.ingest(&batch.lines) {
                        self.missed(batch.start, true);
                    }
                    self.stats.queued.fetch_sub(len, Ordering::Relaxed);
                    if batch.start + len <= self.stats.first_dropped.load(Ordering::Relaxed) {
                        self.stats
                            .ingested
                            .fetch_max(batch.start + len, Ordering::Relaxed);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.catch_up();
                    break;
                }
            }
            if self.stats.queued.load(Ordering::Relaxed) == 0 {
                self.catch_up();
            }
            if Instant::now() >= next_retention {
                // Deleting writes too: not while the disk is nearly full.
                if !self.space.low(&self.stats) {
                    self.retention();
                }
                next_retention = Instant::now() + RETENTION_INTERVAL;
            }
        }
        self.store.checkpoint();
        self.stats.running.store(false, Ordering::Relaxed);
    }

    /// Indexes `lines`; false when the transaction failed.
    fn ingest(&mut self, lines: &[u8]) -> bool {
        match self.store.ingest(lines) {
            Ok(done) => {
                self.stats.lines.fetch_add(done.lines, Ordering::Relaxed);
                self.stats
                    .unreadable
                    .fetch_add(done.unreadable, Ordering::Relaxed);
                true
            }
            Err(e) => {
                let n = self.stats.failures.fetch_add(1, Ordering::Relaxed);
                if n.is_power_of_two() || n == 0 {
                    tracing::error!(
                        "writing the history failed ({} times so far): {e}; it catches up from the stream later",
                        n + 1
                    );
                }
                false
            }
        }
    }

    /// Stream byte `start` on was not indexed: the catch-up re-reads it
    /// once there is room, and not before [`RETRY_AFTER`] when writing
    /// `failed`.
    fn missed(&mut self, start: u64, failed: bool) {
        self.stats.dropped_batches.fetch_add(1, Ordering::Relaxed);
        self.stats.first_dropped.fetch_min(start, Ordering::Relaxed);
        if failed && self.retry_at.is_none() {
            self.retry_at = Some(Instant::now() + RETRY_AFTER);
        }
    }

    fn retention(&mut self) {
        match self
            .store
            .apply_retention(&self.retention, crate::now().wall_ms as i64)
        {
            Ok(_) => {}
            Err(e) => tracing::warn!("history retention failed: {e}"),
        }
        self.store.checkpoint();
        if let Ok(bytes) = self.store.bytes_in_use() {
            self.stats.db_bytes.store(bytes, Ordering::Relaxed);
        }
    }

    /// Re-reads the stream from before the first dropped batch, if any.
    fn catch_up(&mut self) {
        if self.stats.first_dropped.load(Ordering::Relaxed) == NONE
            || self.retry_at.is_some_and(|at| Instant::now() < at)
            || self.space.low(&self.stats)
        {
            return;
        }
        self.retry_at = None;
        let first = self.stats.first_dropped.swap(NONE, Ordering::Relaxed);
        let upto = self.stats.offered.load(Ordering::Relaxed);
        let files = stream_files(&self.stream, self.rotation);
        let from = (self.base.shift + first as i64).max(0) as u64;
        let mut last = None;
        for file in files {
            let start = match &self.base.file {
                Some(base) if *base == file => from,
                Some(base) if file < *base => continue,
                _ => 0,
            };
            match self.read_from(&file, start) {
                Ok(Some(end)) => last = Some((file, end)),
                Ok(None) => {
                    // Not written (no room, or the database failed):
                    // everything from `first` is read again later.
                    let failed = !self.space.low;
                    self.missed(first, failed);
                    return;
                }
                Err(e) => tracing::warn!("history catch-up: cannot read {}: {e}", file.display()),
            }
        }
        let after = self.stats.offered.load(Ordering::Relaxed);
        if let Some((file, end)) = last {
            let shift = end as i64 - OFFER_MARGIN as i64 - after as i64;
            if Some(&file) != self.base.file.as_ref() || shift > self.base.shift {
                self.base = Base {
                    file: Some(file),
                    shift,
                };
            }
        }
        self.stats.catch_ups.fetch_add(1, Ordering::Relaxed);
        if self.stats.first_dropped.load(Ordering::Relaxed) == NONE {
            self.stats.ingested.fetch_max(upto, Ordering::Relaxed);
        }
    }

    /// Ingests the whole lines of `file` from `start` (or from the next line
    /// start after it); returns the end offset read, or `None` when a part
    /// could not be written.
    fn read_from(&mut self, file: &Path, start: u64) -> std::io::Result<Option<u64>> {
        let mut f = File::open(file)?;
        let len = f.metadata()?.len();
        let mut pos = start.min(len);
        // Starting mid-line, the partial line is skipped.
        let mut first = false;
        if pos > 0 {
            f.seek(SeekFrom::Start(pos - 1))?;
            let mut before = [0u8; 1];
            f.read_exact(&mut before)?;
            first = before[0] != b'\n';
        }
        let mut buf = Vec::with_capacity(CATCH_UP_CHUNK);
        loop {
            let old = buf.len();
            buf.resize(old + CATCH_UP_CHUNK, 0);
            let n = f.read(&mut buf[old..])?;
            buf.truncate(old + n);
            if n == 0 {
                break;
            }
            let Some(cut) = buf.iter().rposition(|b| *b == b'\n') else {
                continue;
            };
            let mut chunk = &buf[..=cut];
            if first {
                // Started mid-line: skip to the next line.
                match chunk.iter().position(|b| *b == b'\n') {
                    Some(i) => chunk = &chunk[i + 1..],
                    None => chunk = &[],
                }
                first = false;
            }
            let chunk = chunk.to_vec();
            if self.space.low(&self.stats) || !self.ingest(&chunk) {
                return Ok(None);
            }
            pos += (cut + 1) as u64;
            buf.drain(..=cut);
        }
        Ok(Some(pos))
    }
}

/// Puts this thread in the `SCHED_IDLE` class: it runs only on CPU time
/// that nothing else wants, and a thread of the loop that acknowledges
/// events takes the core back the moment it wakes. A nice value alone did
/// not do that: the loop and the load wait on each other many times a
/// millisecond, the history filled those gaps and the loop, woken, waited
/// for it (PERFORMANCE.md, *The history database under the flood, again*).
/// Where the class cannot be set, a nice value of [`HISTORY_NICE`].
fn lower_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: gettid, sched_setscheduler and setpriority on the calling
    // thread only, with a valid parameter.
    let result = unsafe {
        let tid = libc::gettid();
        if libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param) == 0 {
            0
        } else {
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, HISTORY_NICE)
        }
    };
    if result != 0 {
        tracing::debug!(
            "could not lower the history thread's priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::query::{EventQuery, HistoryReader};

    fn lines(from: u64, n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for id in from..from + n {
            out.extend(format!(
                "{{\"received\":\"2026-11-01T15:57:00.000+00:00\",\"host\":\"web1\",\"id\":{id},\"time\":1.0,\"tags\":\"t\",\"source\":null,\"kind\":\"alert\",\"message\":\"m{id}\"}}\n"
            ).bytes());
        }
        out
    }

    fn wait_until(what: &str, ok: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ok() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// With a queue too small for any batch, every offer is dropped and the
    /// thread re-reads the stream file: nothing is missing, nothing twice.
    #[test]
    fn a_history_that_falls_behind_catches_up_from_the_stream_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = SupervisorConfig::loopback(dir.path(), 9000).unwrap();
        std::fs::create_dir_all(config.event_stream.parent().unwrap()).unwrap();
        // Written before the start: not this run's, not read.
        std::fs::write(&config.event_stream, lines(1, 5)).unwrap();
        let history = History::start_with(&config, 1).unwrap();
        let mut stream =
            crate::EventStream::open(&config.event_stream, config.stream_rotation, 1).unwrap();
        for i in 0..20 {
            let batch = lines(100 + i * 10, 10);
            stream.write_batch(&batch).unwrap();
            history.offer(batch);
        }
        let stats = history.stats.clone();
        wait_until("caught up", || {
            stats.lag_bytes() == 0 && stats.catch_ups.load(Ordering::Relaxed) > 0
        });
        assert_eq!(stats.dropped_batches.load(Ordering::Relaxed), 20);
        let reader = HistoryReader::new(database_path(&config), None);
        let all = reader
            .events(&EventQuery {
                limit: 200,
                ..EventQuery::default()
            })
            .unwrap();
        let mut ids: Vec<i64> = all.events.iter().map(|e| e.id).collect();
        ids.sort();
        assert_eq!(ids, (100..300).collect::<Vec<_>>());
        history.stop();
    }

    #[test]
    fn offered_batches_are_indexed_and_the_lag_returns_to_zero() {
        let dir = tempfile::tempdir().unwrap();
        let config = SupervisorConfig::loopback(dir.path(), 9000).unwrap();
        let history = History::start(&config).unwrap();
        let mut stream =
            crate::EventStream::open(&config.event_stream, config.stream_rotation, 1).unwrap();
        let batch = lines(1, 50);
        stream.write_batch(&batch).unwrap();
        history.offer(batch);
        let stats = history.stats.clone();
        wait_until("indexed", || stats.lag_bytes() == 0);
        assert_eq!(stats.lines.load(Ordering::Relaxed), 50);
        assert_eq!(stats.catch_ups.load(Ordering::Relaxed), 0);
        history.stop();
    }
}
