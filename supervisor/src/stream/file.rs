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

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
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
}

enum Target {
    Rolling(Box<RollingFileAppender>),
    /// `never` rotation: exactly the configured path, reopened after a
    /// failure (the folder may have been recreated, the disk freed).
    Plain {
        path: PathBuf,
        file: Option<File>,
    },
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.target {
            Target::Rolling(_) => f.write_str("EventStream(rolling)"),
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
            });
        }
        // max_log_files counts the current file too; 0 would mean "keep all".
        let appender =
            rolling_appender(&folder, name, rotation, keep.saturating_add(1)).map_err(|e| {
                StreamError::Rotation {
                    path: folder,
                    message: e.to_string(),
                }
            })?;
        Ok(EventStream {
            target: Target::Rolling(Box::new(appender)),
        })
    }

    /// Appends `lines` (whole lines) with one write. On success the lines are
    /// in the kernel's page cache.
    pub fn write_batch(&mut self, lines: &[u8]) -> io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        match &mut self.target {
            Target::Rolling(appender) => appender.write_all(lines),
            Target::Plain { path, file } => {
                let handle = match file {
                    Some(f) => f,
                    None => file.insert(open_append(path)?),
                };
                let before = handle.metadata().map(|m| m.len()).ok();
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

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    #[test]
    fn never_rotation_writes_exactly_the_configured_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/events.436");
        let mut stream = EventStream::open(&path, StreamRotation::Never, 3).unwrap();
        stream.write_batch(b"one\ntwo\n").unwrap();
        stream.write_batch(b"three\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\nthree\n");
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
