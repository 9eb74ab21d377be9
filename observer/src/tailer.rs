//! Following one log file by path across rotations (SPEC §4), the way
//! vector's file-source does it.
//!
//! A file is told apart by its device and inode *and* a fingerprint of its
//! first bytes: the inode says whether the path now names another file; the
//! fingerprint catches a file truncated and refilled past the read offset
//! between two looks (copy-truncate under a busy writer), and a reused inode.
//!
//! * Rename rotation: the old file stays open and is read to its end (and
//!   a while longer, for writers that have not reopened yet); the new file
//!   is read from its start.
//! * Copy-truncate (size below the offset, or first bytes changed): read
//!   from 0.
//! * Delete and re-create: the deleted file is finished, the new one read
//!   from its start.
//! * A file missing when the configuration is applied is read from its start
//!   once it appears.
//!
//! Lines are handed out as bytes without the newline, cut at
//! [`MAX_LINE`]; a last line without a newline is
//! kept until its newline arrives. [`LogTailer::poll_blocks`] hands out
//! whole blocks of lines at once (what one read completes), so that a
//! caller can search a block instead of looking at each line; a cut line
//! and a line completed from two reads come as blocks of their own. No
//! clock inside: `now` is passed in.
//!
//! Resume ([`LogTailer::resume`]): a [`Checkpoint`] names a file by its
//! [`Fingerprint`] and the offset after the last line handed out. On start
//! the file the path names now is matched against the checkpoints of that
//! path; a checkpointed file that is no longer at the path (rotated while
//! the observer was down) is looked for by device and inode among the files
//! of the same folder (`app.log.1`, `app.log-20261202`, …) and finished
//! first; a file at the path that matches no checkpoint is new since and is
//! read from its start. No file is resumed more than [`RESUME_MAX_BEHIND`]
//! bytes before its end: the rest is skipped and reported.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::timers::{MAX_LINE, READ_BUDGET, RESUME_MAX_BEHIND, ROTATED_GRACE};

/// Bytes at the start of a file that make up its fingerprint.
const FINGERPRINT_LEN: usize = 256;
/// Bytes read per `pread`.
const BLOCK: usize = 256 * 1024;
/// A path missing for this long (or from the start) is reported missing;
/// shorter gaps are the normal moment of a rotation.
const MISSING_GRACE: Duration = Duration::from_secs(3);

/// How the followed path looks after a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailState {
    Following,
    /// The path does not exist (the reason is for the operator).
    Missing,
    Unreadable(String),
}

/// What one [`LogTailer::poll`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollOutcome {
    pub state: TailState,
    /// The read budget ran out: poll again soon.
    pub more: bool,
}

/// Which file a position belongs to: device, inode, and a hash of its
/// first bytes (at most `FINGERPRINT_LEN`) as they were when it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    pub dev: u64,
    pub ino: u64,
    pub head_len: u32,
    pub head_hash: u64,
}

/// A read position: everything before `offset` in the file `fingerprint`
/// names has been handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub fingerprint: Fingerprint,
    pub offset: u64,
}

/// What [`LogTailer::resume`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resumed {
    /// Files resumed from a checkpoint (a rotated one included).
    pub files: usize,
    /// Bytes skipped because a file was more than [`RESUME_MAX_BEHIND`]
    /// behind.
    pub skipped: u64,
}

#[derive(Debug)]
struct OpenFile {
    file: File,
    dev: u64,
    ino: u64,
    offset: u64,
    partial: Vec<u8>,
    /// Skipping the rest of an over-long line already handed out cut.
    skipping: bool,
    fingerprint: Option<(usize, u64)>,
    last_data: Instant,
}

/// Follows one path; see the module doc.
#[derive(Debug)]
pub struct LogTailer {
    path: PathBuf,
    current: Option<OpenFile>,
    rotated: Vec<OpenFile>,
    missing_since: Option<Instant>,
    ever_seen: bool,
}

impl LogTailer {
    /// Starts following `path` at its current end (no history), or from the
    /// start of the file once it appears when it does not exist yet.
    pub fn at_end(path: &Path, now: Instant) -> LogTailer {
        let mut t = LogTailer {
            path: path.to_path_buf(),
            current: None,
            rotated: Vec::new(),
            missing_since: None,
            ever_seen: false,
        };
        if let Ok(mut f) = open(path, now)
            && let Ok(meta) = f.file.metadata()
        {
            f.offset = meta.len();
            t.ever_seen = true;
            t.current = Some(f);
        }
        t
    }

    /// Starts following `path` where `checkpoints` (positions of files that
    /// path named before) left off; see the module doc. Without any
    /// checkpoint this is [`LogTailer::at_end`].
    pub fn resume(path: &Path, checkpoints: &[Checkpoint], now: Instant) -> (LogTailer, Resumed) {
        if checkpoints.is_empty() {
            return (LogTailer::at_end(path, now), Resumed::default());
        }
        let mut t = LogTailer {
            path: path.to_path_buf(),
            current: None,
            rotated: Vec::new(),
            missing_since: None,
            ever_seen: false,
        };
        let mut resumed = Resumed::default();
        let mut current = open(path, now).ok();
        let mut current_matched = false;
        for cp in checkpoints {
            if let Some(c) = current.as_mut()
                && !current_matched
                && matches(c, &cp.fingerprint)
            {
                current_matched = true;
                resumed.files += 1;
                resumed.skipped += start_at(c, cp.offset);
                continue;
            }
            // Rotated away while the observer was down (or being finished
            // when the checkpoint was taken): finished first when found.
            if let Some(mut f) = find_sibling(path, &cp.fingerprint, now) {
                resumed.files += 1;
                resumed.skipped += start_at(&mut f, cp.offset);
                t.rotated.push(f);
            }
        }
        if let Some(mut c) = current {
            if !current_matched {
                // New since the checkpoint: all of it is unread.
                resumed.skipped += start_at(&mut c, 0);
            }
            t.ever_seen = true;
            t.current = Some(c);
        }
        (t, resumed)
    }

    /// The positions of the files being read: rotated-away ones first, then
    /// the current one. A line not complete yet is not counted as read.
    pub fn checkpoints(&self) -> Vec<Checkpoint> {
        self.rotated
            .iter()
            .chain(self.current.as_ref())
            .filter_map(|f| {
                let (head_len, head_hash) = f.fingerprint?;
                Some(Checkpoint {
                    fingerprint: Fingerprint {
                        dev: f.dev,
                        ino: f.ino,
                        head_len: head_len as u32,
                        head_hash,
                    },
                    offset: f.offset - f.partial.len() as u64,
                })
            })
            .collect()
    }

    /// Reads what is new, calling `line` for each complete line, in order:
    /// a rotated-away file before its successor. `buf` is scratch space,
    /// shared by every tailer of the process (grown to one read block).
    pub fn poll(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        line: &mut dyn FnMut(&[u8]),
    ) -> PollOutcome {
        self.poll_blocks(now, buf, &mut |block: &[u8]| {
            block.split(|&b| b == b'\n').for_each(&mut *line)
        })
    }

    /// Like [`LogTailer::poll`], but calls `block` with runs of complete
    /// lines joined by `\n` (no newline after the last line; an empty block
    /// is one empty line), each line already cut to `MAX_LINE`.
    pub fn poll_blocks(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        block: &mut dyn FnMut(&[u8]),
    ) -> PollOutcome {
        let mut budget = READ_BUDGET;
        let state = self.check_path(now);
        if buf.len() < BLOCK {
            buf.resize(BLOCK, 0);
        }
        let mut more = false;
        let mut i = 0;
        while i < self.rotated.len() {
            let f = &mut self.rotated[i];
            let got = read_new(f, buf, &mut budget, now, true, block);
            more |= budget == 0;
            let quiet = now.saturating_duration_since(f.last_data) >= ROTATED_GRACE;
            if !matches!(got, Ok(true)) || (quiet && budget > 0) {
                let done = self.rotated.remove(i);
                flush_partial(done, block);
            } else {
                i += 1;
            }
        }
        let mut state = state;
        if let Some(f) = &mut self.current {
            if let Err(e) = read_new(f, buf, &mut budget, now, false, block) {
                state = TailState::Unreadable(e.to_string());
            }
            more |= budget == 0;
        }
        PollOutcome { state, more }
    }

    /// Looks at what the path names now and switches files if needed.
    fn check_path(&mut self, now: Instant) -> TailState {
        match std::fs::metadata(&self.path) {
            Ok(meta) => {
                self.missing_since = None;
                if !meta.is_file() {
                    return TailState::Unreadable("not a regular file".into());
                }
                let same = self
                    .current
                    .as_ref()
                    .is_some_and(|c| c.dev == meta.dev() && c.ino == meta.ino());
                if same {
                    return TailState::Following;
                }
                match open(&self.path, now) {
                    Ok(f) => {
                        self.ever_seen = true;
                        if let Some(old) = self.current.replace(f) {
                            self.rotated.push(old);
                        }
                        TailState::Following
                    }
                    Err(e) => TailState::Unreadable(e.to_string()),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(old) = self.current.take() {
                    self.rotated.push(old);
                }
                let since = *self.missing_since.get_or_insert(now);
                if !self.ever_seen || now.saturating_duration_since(since) >= MISSING_GRACE {
                    TailState::Missing
                } else {
                    TailState::Following
                }
            }
            Err(e) => TailState::Unreadable(e.to_string()),
        }
    }
}

fn open(path: &Path, now: Instant) -> io::Result<OpenFile> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    let mut head = [0u8; FINGERPRINT_LEN];
    let len = (meta.len() as usize).min(FINGERPRINT_LEN);
    let head_len = read_full_at(&file, &mut head[..len], 0)?;
    Ok(OpenFile {
        file,
        dev: meta.dev(),
        ino: meta.ino(),
        offset: 0,
        partial: Vec::new(),
        skipping: false,
        fingerprint: Some((head_len, fnv1a(&head[..head_len]))),
        last_data: now,
    })
}

/// Whether `f` is the file `fp` was taken of: same device and inode, and
/// the bytes `fp` hashed are still there unchanged.
fn matches(f: &OpenFile, fp: &Fingerprint) -> bool {
    if f.dev != fp.dev || f.ino != fp.ino {
        return false;
    }
    let len = (fp.head_len as usize).min(FINGERPRINT_LEN);
    let mut head = [0u8; FINGERPRINT_LEN];
    match read_full_at(&f.file, &mut head[..len], 0) {
        Ok(n) => n == len && fnv1a(&head[..len]) == fp.head_hash,
        Err(_) => false,
    }
}

/// The file of `fp` among the regular files beside `path`, if still there.
fn find_sibling(path: &Path, fp: &Fingerprint, now: Instant) -> Option<OpenFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if !meta.is_file() || meta.dev() != fp.dev || meta.ino() != fp.ino {
            continue;
        }
        let f = open(&entry.path(), now).ok()?;
        return matches(&f, fp).then_some(f);
    }
    None
}

/// Sets where reading `f` begins: `offset`, or (a file truncated since)
/// its start, but never more than [`RESUME_MAX_BEHIND`] before its end.
/// Returns the bytes skipped; after a skip, the line cut by it is dropped.
fn start_at(f: &mut OpenFile, offset: u64) -> u64 {
    let size = f.file.metadata().map_or(0, |m| m.len());
    let offset = if offset > size { 0 } else { offset };
    let from = offset.max(size.saturating_sub(RESUME_MAX_BEHIND));
    f.offset = from;
    if from > offset {
        // Landed inside a line unless the byte before is a newline.
        let mut before = [0u8; 1];
        f.skipping = !matches!(f.file.read_at(&mut before, from - 1), Ok(1) if before[0] == b'\n');
    }
    from - offset
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Reads `f` from its offset to its end (within `budget`), handling a
/// truncation first. A rotated-away file that was truncated or rewritten is
/// no longer part of the followed stream: `Ok(false)`, stop reading it.
fn read_new(
    f: &mut OpenFile,
    buf: &mut [u8],
    budget: &mut usize,
    now: Instant,
    rotated: bool,
    block: &mut dyn FnMut(&[u8]),
) -> io::Result<bool> {
    let size = f.file.metadata()?.len();
    let mut head = [0u8; FINGERPRINT_LEN];
    let head_len = read_full_at(
        &f.file,
        &mut head[..(size as usize).min(FINGERPRINT_LEN)],
        0,
    )?;
    let rewritten = match f.fingerprint {
        Some((len, hash)) => head_len < len || fnv1a(&head[..len]) != hash,
        None => false,
    };
    if size < f.offset || (rewritten && f.offset > 0) {
        if rotated {
            return Ok(false);
        }
        // Truncated (copy-truncate): what was half a line is all we will
        // ever get of it.
        flush_partial_ref(f, block);
        f.offset = 0;
    }
    f.fingerprint = Some((head_len, fnv1a(&head[..head_len])));
    while *budget > 0 {
        let want = buf.len().min(*budget);
        let n = f.file.read_at(&mut buf[..want], f.offset)?;
        if n == 0 {
            break;
        }
        f.offset += n as u64;
        *budget = budget.saturating_sub(n);
        f.last_data = now;
        split_lines(f, &buf[..n], block);
    }
    Ok(true)
}

fn read_full_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let n = file.read_at(&mut buf[done..], at + done as u64)?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

/// Hands out the lines `data` completes: the line begun in an earlier read
/// on its own, then the complete lines of `data` as blocks; keeps the
/// unfinished end.
fn split_lines(f: &mut OpenFile, mut data: &[u8], block: &mut dyn FnMut(&[u8])) {
    if f.skipping || !f.partial.is_empty() {
        let Some(nl) = memchr::memchr(b'\n', data) else {
            keep_unfinished(f, data, block);
            return;
        };
        let piece = &data[..nl];
        data = &data[nl + 1..];
        if f.skipping {
            f.skipping = false;
        } else {
            let room = MAX_LINE - f.partial.len();
            f.partial.extend_from_slice(&piece[..piece.len().min(room)]);
            block(&f.partial);
            f.partial.clear();
        }
    }
    if let Some(last) = memchr::memrchr(b'\n', data) {
        complete_lines(&data[..last], block);
        data = &data[last + 1..];
    }
    keep_unfinished(f, data, block);
}

/// Hands out `run` (complete lines joined by `\n`) in as few blocks as the
/// cut allows: a line longer than `MAX_LINE` goes out cut, as a block of its
/// own. Finding those costs one short backward search per `MAX_LINE` bytes:
/// a window of `MAX_LINE + 1` bytes without a newline starts a long line.
fn complete_lines(run: &[u8], block: &mut dyn FnMut(&[u8])) {
    // Lines from `start` are not handed out yet; those before `at` (a line
    // start) are known to be short.
    let mut start = 0;
    let mut at = 0;
    loop {
        if run.len() - at <= MAX_LINE {
            block(&run[start..]);
            return;
        }
        if let Some(i) = memchr::memrchr(b'\n', &run[at..=at + MAX_LINE]) {
            at += i + 1;
            continue;
        }
        if at > start {
            block(&run[start..at - 1]);
        }
        block(&run[at..at + MAX_LINE]);
        match memchr::memchr(b'\n', &run[at + MAX_LINE..]) {
            Some(i) => {
                at += MAX_LINE + i + 1;
                start = at;
            }
            None => return,
        }
    }
}

/// Keeps the end of a read that has no newline yet; hands it out cut once it
/// reaches `MAX_LINE`, skipping the rest of that line.
fn keep_unfinished(f: &mut OpenFile, data: &[u8], block: &mut dyn FnMut(&[u8])) {
    if f.skipping || data.is_empty() {
        return;
    }
    let room = MAX_LINE - f.partial.len();
    if data.len() >= room {
        f.partial.extend_from_slice(&data[..room]);
        block(&f.partial);
        f.partial.clear();
        f.skipping = true;
    } else {
        f.partial.extend_from_slice(data);
    }
}

fn flush_partial_ref(f: &mut OpenFile, block: &mut dyn FnMut(&[u8])) {
    if !f.partial.is_empty() {
        block(&f.partial);
        f.partial.clear();
    }
    f.skipping = false;
}

fn flush_partial(mut f: OpenFile, block: &mut dyn FnMut(&[u8])) {
    flush_partial_ref(&mut f, block);
}
