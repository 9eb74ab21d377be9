//! The event-stream file the lines are appended to, written synchronously,
//! and its rotation.
//!
//! # Durability (fsync policy)
//! The stream is **not** fsync'ed. All lines of one batch are handed to the
//! kernel with a single `write` (the file is opened with `O_APPEND`) and
//! only then are the events acknowledged. An acknowledged event is
//! therefore at least in the kernel's page cache: it survives a crash or
//! kill of the supervisor, but a power loss or kernel crash may lose the
//! last few seconds of lines. fsync per batch would cap the rate at what the
//! disk can sync, far below the 100,000 events/s the supervisor must take.
//!
//! # Rotation
//! `daily` and `hourly` rotation use tracing-appender's rolling file: the
//! file name gets the (UTC) date inserted before its extension
//! (`events.436` → `events.2026-11-21.436`) and `stream_keep` rotated files
//! are kept besides the current one. Its pruning deletes **every** file in
//! the folder whose name starts with the same prefix and ends with the same
//! extension, so the stream's folder should hold only the stream. `never`
//! writes exactly the configured path.
//!
//! # A failed write (full disk)
//! Before a batch is written its bytes are reserved past the end of the
//! file (`fallocate` with `FALLOC_FL_KEEP_SIZE`: blocks allocated, length
//! unchanged), [`RESERVE_AHEAD`] at a time and the batch alone when that
//! much is not free. On a full disk the reservation fails and nothing is
//! written, so not even a moment's partial line is there for a reader
//! tailing the stream. Up to [`RESERVE_AHEAD`] stays allocated past the end
//! of a file (`du` counts it). Where the file system cannot reserve (it
//! says so once, and the stream stops asking) or cannot be asked (a period
//! file the appender has not created yet), the cut-back below is the guard.
//!
//! A `write` that fails part-way may have put part of the batch in the
//! file. In every rotation mode the file is cut back to its length before
//! the batch, so the stream keeps whole lines only and holds no line of an
//! event that was not acknowledged (the observers re-send those, and a line
//! left behind would then be written twice). With rotation the file written
//! to is the one named after the current period (`events.2026-11-21.436`),
//! named here the way tracing-appender names it; a batch that fails as the
//! period turns cuts both the old and the new period's file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use conf::StreamRotation;
use tracing_appender::rolling::{RollingFileAppender, Rotation};

use crate::rolling::{folder_of, rolling_appender};

/// Why the stream could not be opened at start.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("event stream path {0} has no file name")]
    NoFileName(PathBuf),
    #[error("cannot create the event stream's folder {path}: {source}")]
    Folder { path: PathBuf, source: io::Error },
    #[error("cannot open the event stream {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot set up rotation of the event stream in {path}: {message}")]
    Rotation { path: PathBuf, message: String },
}

/// The event-stream file, written synchronously.
pub struct EventStream {
    target: Target,
    reservation: Reservation,
}

/// Bytes reserved past the stream's end at a time: one `fallocate` per
/// mebibyte written, in extents that large (a reservation per batch cut an
/// ext4 file of 180 MB into about 4,000 extents; a mebibyte at a time, 8).
pub const RESERVE_AHEAD: u64 = 1 << 20;

/// What is reserved past the end of the file written to.
#[derive(Debug)]
struct Reservation {
    /// False once the file system said it cannot reserve space.
    supported: bool,
    /// The file's length when the reservation was made, and where the
    /// reserved space ends. A file found shorter (cut back, truncated) is
    /// reserved again: a truncation frees what lay past its end.
    from: u64,
    end: u64,
}

enum Target {
    Rolling {
        appender: Box<RollingFileAppender>,
        names: PeriodNames,
        /// The current period's file, opened again to reserve space in it
        /// (the appender does not lend its own).
        reserve_in: Option<(PathBuf, File)>,
    },
    /// `never` rotation: exactly the configured path, reopened after a
    /// failure (the folder may have been recreated, the disk freed).
    Plain { path: PathBuf, file: Option<File> },
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.target {
            Target::Rolling { .. } => f.write_str("EventStream(rolling)"),
            Target::Plain { path, .. } => write!(f, "EventStream({})", path.display()),
        }
    }
}

impl EventStream {
    /// Opens (creating its folder) the stream at `path`.
    pub fn open(path: &Path, rotation: StreamRotation, keep: usize) -> Result<Self, StreamError> {
        let rotation = match rotation {
            StreamRotation::Daily => Rotation::DAILY,
            StreamRotation::Hourly => Rotation::HOURLY,
            StreamRotation::Never => Rotation::NEVER,
        };
        Self::open_with(path, rotation, keep)
    }

    /// As [`EventStream::open`] with any tracing-appender rotation (tests
    /// use `MINUTELY` to see a rotation happen).
    pub fn open_with(path: &Path, rotation: Rotation, keep: usize) -> Result<Self, StreamError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| StreamError::NoFileName(path.to_path_buf()))?;
        let folder = folder_of(path).to_path_buf();
        std::fs::create_dir_all(&folder).map_err(|source| StreamError::Folder {
            path: folder.clone(),
            source,
        })?;
        if rotation == Rotation::NEVER {
            let file = open_append(path).map_err(|source| StreamError::Open {
                path: path.to_path_buf(),
                source,
            })?;
            return Ok(EventStream {
                target: Target::Plain {
                    path: path.to_path_buf(),
                    file: Some(file),
                },
                reservation: Reservation::new(),
            });
        }
        // max_log_files counts the current file too; 0 would mean "keep all".
        let names = PeriodNames::new(&folder, name, &rotation);
        let appender =
            rolling_appender(&folder, name, rotation, keep.saturating_add(1)).map_err(|e| {
                StreamError::Rotation {
                    path: folder,
                    message: e.to_string(),
                }
            })?;
        Ok(EventStream {
            target: Target::Rolling {
                appender: Box::new(appender),
                names,
                reserve_in: None,
            },
            reservation: Reservation::new(),
        })
    }

    /// Appends `lines` (whole lines) with one write. On success the lines are
    /// in the kernel's page cache. On failure none of them is in the file.
    pub fn write_batch(&mut self, lines: &[u8]) -> io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let size = lines.len() as u64;
        match &mut self.target {
            Target::Rolling {
                appender,
                names,
                reserve_in,
            } => {
                // The file of this period, and the one last written if it
                // is another: tracing-appender stays on the old file when it
                // cannot create the new one.
                let mut files = vec![names.current()];
                files.extend(names.last.clone().filter(|l| *l != files[0]));
                let lens: Vec<u64> = files
                    .iter()
                    .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
                    .collect();
                // Not even opened where the file system cannot reserve.
                if self.reservation.supported {
                    if reserve_in.as_ref().is_none_or(|(p, _)| *p != files[0]) {
                        self.reservation.forget();
                        // Not created yet when the period has just turned:
                        // the appender creates it, and the cut-back guards.
                        *reserve_in = OpenOptions::new()
                            .write(true)
                            .open(&files[0])
                            .ok()
                            .map(|f| (files[0].clone(), f));
                    }
                    if let Some((_, file)) = reserve_in {
                        self.reservation.ensure(file, lens[0], size, &files[0])?;
                    }
                }
                let result = appender.write_all(lines);
                if result.is_err() {
                    // Cutting back frees what was reserved past the end.
                    self.reservation.forget();
                    for (f, len) in files.iter().zip(&lens) {
                        cut_back(f, *len);
                    }
                    let after = names.current();
                    if !files.contains(&after) {
                        // The period turned during the write: the new
                        // file did not exist before it.
                        cut_back(&after, 0);
                    }
                } else {
                    names.last = Some(names.current());
                }
                result
            }
            Target::Plain { path, file } => {
                let handle = match file {
                    Some(f) => f,
                    None => {
                        self.reservation.forget();
                        file.insert(open_append(path)?)
                    }
                };
                let before = handle.metadata().map(|m| m.len()).ok();
                if let Some(len) = before {
                    self.reservation.ensure(handle, len, size, path)?;
                }
                let result = handle.write_all(lines);
                if result.is_err() {
                    // Cut a partly written batch so the file keeps whole
                    // lines; the observers re-send what was not acknowledged.
                    if let Some(len) = before
                        && let Err(e) = handle.set_len(len)
                    {
                        tracing::warn!("could not cut a partly written batch from the stream: {e}");
                    }
                    *file = None;
                }
                result
            }
        }
    }
}

/// The name tracing-appender gives the file of the current period:
/// `PREFIX.DATE.SUFFIX` with the UTC date as its rotation formats it.
struct PeriodNames {
    folder: PathBuf,
    prefix: String,
    suffix: Option<String>,
    format: &'static str,
    /// The period file of the last successful write.
    last: Option<PathBuf>,
}

impl PeriodNames {
    fn new(folder: &Path, name: &str, rotation: &Rotation) -> PeriodNames {
        let (prefix, suffix) = crate::rolling::split_name(name);
        let format = if *rotation == Rotation::MINUTELY {
            "%Y-%m-%d-%H-%M"
        } else if *rotation == Rotation::HOURLY {
            "%Y-%m-%d-%H"
        } else {
            "%Y-%m-%d"
        };
        PeriodNames {
            folder: folder.to_path_buf(),
            prefix: prefix.to_string(),
            suffix: suffix.map(str::to_string),
            format,
            last: None,
        }
    }

    fn current(&self) -> PathBuf {
        let date = chrono::Utc::now().format(self.format);
        let name = match &self.suffix {
            Some(s) => format!("{}.{date}.{s}", self.prefix),
            None => format!("{}.{date}", self.prefix),
        };
        self.folder.join(name)
    }
}

impl Reservation {
    fn new() -> Reservation {
        Reservation {
            supported: true,
            from: 0,
            end: 0,
        }
    }

    /// Another file is written to from now on.
    fn forget(&mut self) {
        self.from = 0;
        self.end = 0;
    }

    /// Makes sure `size` bytes after the first `len` of `file` are
    /// reserved, where the file system can. Err when there is no space for
    /// them (nothing was written).
    /// Any other refusal leaves the write to find out, and the cut-back to
    /// guard it.
    fn ensure(&mut self, file: &File, len: u64, size: u64, path: &Path) -> io::Result<()> {
        let needed = len.saturating_add(size);
        if !self.supported || (len >= self.from && needed <= self.end) {
            return Ok(());
        }
        let ahead = size.max(RESERVE_AHEAD);
        let mut result = fallocate_keep_size(file, len, ahead);
        let mut reserved = ahead;
        if ahead > size && result.as_ref().is_err_and(is_no_space) {
            result = fallocate_keep_size(file, len, size);
            reserved = size;
        }
        match result {
            Ok(()) => {
                self.from = len;
                self.end = len.saturating_add(reserved);
                Ok(())
            }
            Err(e) if is_no_space(&e) => Err(e),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOSYS)) => {
                tracing::info!(
                    "the file system of the stream {} cannot reserve space: a batch cut short \
                     by a full disk is visible until it is cut back",
                    path.display()
                );
                self.supported = false;
                Ok(())
            }
            Err(_) => Ok(()),
        }
    }
}

/// Bytes free for an unprivileged writer on the file system holding
/// `path` (`statvfs`).
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `statvfs` is plain old data, valid when zeroed; the call
    // reads the NUL-terminated path and writes only into `st`.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between targets
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

fn is_no_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

/// Allocates `size` bytes of `file` after its first `offset` without
/// changing its length.
fn fallocate_keep_size(file: &File, offset: u64, size: u64) -> io::Result<()> {
    let too_large = || io::Error::from(io::ErrorKind::InvalidInput);
    let offset = libc::off_t::try_from(offset).map_err(|_| too_large())?;
    let size = libc::off_t::try_from(size).map_err(|_| too_large())?;
    // SAFETY: fallocate reads no memory of ours; the descriptor is open
    // for writing and is borrowed for the call.
    let done =
        unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, offset, size) };
    if done == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Cuts `path` back to `len` if a failed write made it longer.
fn cut_back(path: &Path, len: u64) {
    let grown = std::fs::metadata(path).is_ok_and(|m| m.len() > len);
    if !grown {
        return;
    }
    let cut = OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len));
    if let Err(e) = cut {
        tracing::warn!(
            "could not cut a partly written batch from the stream {}: {e}",
            path.display()
        );
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    #[test]
    fn free_bytes_are_read_and_a_missing_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).unwrap() > 0);
        let gone = dir.path().join("gone");
        assert_eq!(
            free_bytes(&gone).unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
    }

    #[test]
    fn never_rotation_writes_exactly_the_configured_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/events.436");
        let mut stream = EventStream::open(&path, StreamRotation::Never, 3).unwrap();
        stream.write_batch(b"one\ntwo\n").unwrap();
        stream.write_batch(b"three\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\nthree\n");
    }

    /// Space is reserved a mebibyte ahead, not a batch at a time, and the
    /// file's length is only what was written.
    #[test]
    fn space_is_reserved_ahead_of_the_stream_s_end() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        for (rotation, name) in [(Rotation::NEVER, "events.436"), (Rotation::DAILY, "daily")] {
            let path = dir.path().join(name);
            let names = PeriodNames::new(dir.path(), name, &rotation);
            let mut stream = EventStream::open_with(&path, rotation.clone(), 3).unwrap();
            // The rolling file is opened for the reservation once it exists.
            stream.write_batch(b"one\n").unwrap();
            stream.write_batch(b"two\n").unwrap();
            if !stream.reservation.supported {
                eprintln!("SKIPPED: this file system cannot reserve space");
                return;
            }
            let file = if rotation == Rotation::NEVER {
                path.clone()
            } else {
                names.current()
            };
            let meta = std::fs::metadata(&file).unwrap();
            assert_eq!(meta.len(), 8, "{}", file.display());
            assert!(
                meta.blocks() * 512 >= RESERVE_AHEAD,
                "{}: {} bytes allocated",
                file.display(),
                meta.blocks() * 512
            );
        }
    }

    #[test]
    fn the_period_file_is_named_as_tracing_appender_names_it() {
        let dir = tempfile::tempdir().unwrap();
        for (rotation, name) in [
            (Rotation::DAILY, "events.436"),
            (Rotation::HOURLY, "events.436"),
            (Rotation::MINUTELY, "stream"),
        ] {
            let path = dir.path().join(name);
            let names = PeriodNames::new(dir.path(), name, &rotation);
            let mut stream = EventStream::open_with(&path, rotation, 3).unwrap();
            // Retried when the period turns between the write and the look.
            let found = (0..3).any(|_| {
                stream.write_batch(b"x\n").unwrap();
                names.current().exists()
            });
            assert!(found, "{}", names.current().display());
        }
    }

    /// Lines written before and after a rotation are all kept, in files named
    /// after the configured stream. Rotation needs a real minute boundary
    /// (tracing-appender reads the clock itself), so this waits for one.
    #[test]
    fn lines_survive_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.436");
        let mut stream = EventStream::open_with(&path, Rotation::MINUTELY, 5).unwrap();
        stream.write_batch(b"before\n").unwrap();
        let start = chrono::Utc::now();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(75);
        let minute = |t: DateTime<chrono::Utc>| t.timestamp().div_euclid(60);
        while minute(chrono::Utc::now()) == minute(start) {
            assert!(std::time::Instant::now() < deadline, "no minute boundary");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        stream.write_batch(b"after\n").unwrap();
        let mut names = Vec::new();
        let mut all = String::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            assert!(
                name.starts_with("events.") && name.ends_with(".436"),
                "{name}"
            );
            all.push_str(&std::fs::read_to_string(entry.path()).unwrap());
            names.push(name);
        }
        assert_eq!(names.len(), 2, "{names:?}");
        let mut lines: Vec<&str> = all.lines().collect();
        lines.sort();
        assert_eq!(lines, ["after", "before"]);
    }
}
