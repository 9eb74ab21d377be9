//! Read positions of followed log files, kept across restarts: the
//! `observer-HOST.positions` file beside the spool, and the gate that
//! decides when a position may be written.
//!
//! The file: the line `436POS1`, then one line per file being read,
//! `DEV INO HEAD_LEN HEAD_HASH OFFSET PATH` (decimal numbers, the hash in
//! hex, the followed path to the end of the line); optionally the line
//! `pending ID` followed by more such lines. It is written whole to
//! `observer-HOST.positions.tmp`, fsynced and renamed over, so a crash
//! leaves the old or the new file, never a mix.
//!
//! Checkpoint only what is spooled ([`PositionGate`]): positions are taken
//! after each pass over the files, together with the id the next event
//! will get. A position is released for writing only once every event
//! raised before it is in the spool, so a restart never skips a line whose
//! event was lost.
//!
//! Nor does it read a line again whose event is spooled: just before a
//! batch of events (ids from `ID` on) is written to the spool, the
//! positions it will release are written as `pending ID`; after the batch
//! they are written as the positions. A kill between the two writes leaves
//! a pending part, and the restart takes it exactly when the spool holds an
//! event with an id from `ID` on ([`PositionsFile::resolve`]): such an id
//! can only come from that batch, and none of its events can have been
//! acknowledged (and so dropped from the spool) yet, because nothing of it
//! is sent before the second write.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::tailer::{Checkpoint, Fingerprint};
use crate::timers::CHECKPOINT_INTERVAL;

const TAG: &str = "436POS1";

/// The checkpoints of every followed file, by followed path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Positions {
    pub files: Vec<(PathBuf, Checkpoint)>,
}

/// Why the positions file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PositionsError {
    #[error("positions file {path} cannot be {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    #[error("positions file {path}:{line} is not a 436 positions file")]
    Bad { path: PathBuf, line: usize },
}

/// Where the positions of observer `host` are kept, beside its spool.
pub fn positions_path(spool_dir: &Path, host: &str) -> PathBuf {
    spool_dir.join(format!("observer-{host}.positions"))
}

/// The positions file as read: the positions, and those of a batch that may
/// or may not have reached the spool (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PositionsFile {
    pub positions: Positions,
    /// The first event id of the batch, and the positions after it.
    pub pending: Option<(u64, Positions)>,
}

impl PositionsFile {
    /// Reads the positions file; a missing file is no positions (the first
    /// start: every file is followed from its end).
    pub fn load(path: &Path) -> Result<PositionsFile, PositionsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(PositionsFile::default()),
            Err(source) => {
                return Err(PositionsError::Io {
                    path: path.to_path_buf(),
                    action: "read",
                    source,
                });
            }
        };
        let bad = |line| PositionsError::Bad {
            path: path.to_path_buf(),
            line,
        };
        if !text.ends_with('\n') {
            // Only a hand-edited file can be cut short (writes are atomic).
            return Err(bad(text.lines().count().max(1)));
        }
        let mut lines = text.split_terminator('\n');
        if lines.next() != Some(TAG) {
            return Err(bad(1));
        }
        let mut file = PositionsFile::default();
        for (i, line) in lines.enumerate() {
            if let Some(id) = line.strip_prefix("pending ") {
                let id = id.parse().map_err(|_| bad(i + 2))?;
                if file.pending.replace((id, Positions::default())).is_some() {
                    return Err(bad(i + 2));
                }
                continue;
            }
            let entry = parse_line(line).ok_or_else(|| bad(i + 2))?;
            match &mut file.pending {
                Some((_, p)) => p.files.push(entry),
                None => file.positions.files.push(entry),
            }
        }
        Ok(file)
    }

    /// The positions to resume from, given the ids of the events the spool
    /// holds: the pending ones if their batch reached the spool.
    pub fn resolve(self, mut spooled_ids: impl Iterator<Item = u64>) -> Positions {
        match self.pending {
            Some((first, p)) if spooled_ids.any(|id| id >= first) => p,
            _ => self.positions,
        }
    }

    /// Writes the file atomically: temporary file, rename. With `durable`
    /// the temporary file is fsynced before the rename, so a power cut
    /// leaves the old or the new file, not an empty one; without, the write
    /// costs no disk sync, and a `kill -9` (or a crash of the observer)
    /// still leaves the old or the new file, as it does for the spool.
    pub fn save(&self, path: &Path, durable: bool) -> Result<(), PositionsError> {
        let mut text = format!("{TAG}\n");
        write_lines(&mut text, &self.positions);
        if let Some((id, p)) = &self.pending {
            text.push_str(&format!("pending {id}\n"));
            write_lines(&mut text, p);
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let io = |action| {
            move |source| PositionsError::Io {
                path: path.to_path_buf(),
                action,
                source,
            }
        };
        let mut f = File::create(&tmp).map_err(io("created"))?;
        f.write_all(text.as_bytes()).map_err(io("written"))?;
        if durable {
            f.sync_all().map_err(io("synced"))?;
        }
        std::fs::rename(&tmp, path).map_err(io("renamed"))
    }
}

fn write_lines(text: &mut String, positions: &Positions) {
    for (p, cp) in &positions.files {
        let Some(p) = p.to_str().filter(|p| !p.contains('\n')) else {
            // Such a path cannot come from a host file; never written.
            continue;
        };
        let f = &cp.fingerprint;
        text.push_str(&format!(
            "{} {} {} {:x} {} {p}\n",
            f.dev, f.ino, f.head_len, f.head_hash, cp.offset
        ));
    }
}

impl Positions {
    /// The checkpoints of `path`, in the order they were taken.
    pub fn of(&self, path: &Path) -> Vec<Checkpoint> {
        self.files
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, cp)| *cp)
            .collect()
    }
}

fn parse_line(line: &str) -> Option<(PathBuf, Checkpoint)> {
    let mut it = line.splitn(6, ' ');
    let dev = it.next()?.parse().ok()?;
    let ino = it.next()?.parse().ok()?;
    let head_len = it.next()?.parse().ok()?;
    let head_hash = u64::from_str_radix(it.next()?, 16).ok()?;
    let offset = it.next()?.parse().ok()?;
    let path = it.next().filter(|p| !p.is_empty())?;
    Some((
        PathBuf::from(path),
        Checkpoint {
            fingerprint: Fingerprint {
                dev,
                ino,
                head_len,
                head_hash,
            },
            offset,
        },
    ))
}

/// Holds positions back until the events raised before them are spooled;
/// see the module doc.
#[derive(Debug)]
pub struct PositionGate {
    /// Positions taken, each with the id the next event was to get then,
    /// oldest first.
    taken: VecDeque<(u64, Positions)>,
    /// The newest position whose events are all spooled, not written yet.
    due: Option<Positions>,
    /// `due` covers events spooled since the last write: write it now.
    urgent: bool,
    written: Positions,
    last_write: Option<Instant>,
}

impl PositionGate {
    /// A gate whose file already holds `written`.
    pub fn new(written: Positions) -> PositionGate {
        PositionGate {
            taken: VecDeque::new(),
            due: None,
            urgent: false,
            written,
            last_write: None,
        }
    }

    /// Positions after a pass over the files; `next_id` is the id the next
    /// event will get (every event of the lines read has a lower one).
    pub fn taken(&mut self, next_id: u64, positions: Positions) {
        let newest = self.taken.back().map_or(&self.written, |(_, p)| p);
        if *newest == positions {
            return;
        }
        match self.taken.back_mut() {
            Some(last) if last.0 == next_id => last.1 = positions,
            _ => self.taken.push_back((next_id, positions)),
        }
    }

    /// The file to write before a batch of events from `first_id` on goes to
    /// the spool: the positions written so far, and as pending those the
    /// batch will release (every one taken so far), if any.
    pub fn before_batch(&self, first_id: u64) -> Option<PositionsFile> {
        let (_, newest) = self.taken.back()?;
        Some(PositionsFile {
            positions: self.written.clone(),
            pending: Some((first_id, newest.clone())),
        })
    }

    /// Every event with an id below `below` is in the spool.
    pub fn spooled_below(&mut self, below: u64, events_spooled: bool) {
        while self.taken.front().is_some_and(|(mark, _)| *mark <= below) {
            if let Some((_, p)) = self.taken.pop_front() {
                self.due = Some(p);
                self.urgent |= events_spooled;
            }
        }
    }

    /// Positions to write now, if any: at once when they cover newly
    /// spooled events, otherwise at most every [`CHECKPOINT_INTERVAL`].
    pub fn take_due(&mut self, now: Instant) -> Option<Positions> {
        let recent = self
            .last_write
            .is_some_and(|t| now < t + CHECKPOINT_INTERVAL);
        if self.due.is_none() || (recent && !self.urgent) {
            return None;
        }
        self.urgent = false;
        self.last_write = Some(now);
        let p = self.due.take()?;
        self.written = p.clone();
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(offset: u64) -> Positions {
        Positions {
            files: vec![(
                PathBuf::from("/var/log/app log"),
                Checkpoint {
                    fingerprint: Fingerprint {
                        dev: 2049,
                        ino: 77,
                        head_len: 256,
                        head_hash: 0xdead_beef,
                    },
                    offset,
                },
            )],
        }
    }

    #[test]
    fn a_saved_file_loads_back_and_a_torn_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = positions_path(dir.path(), "h");
        assert_eq!(
            PositionsFile::load(&path).unwrap(),
            PositionsFile::default()
        );
        let file = PositionsFile {
            positions: cp(1234),
            pending: Some((77, cp(2000))),
        };
        file.save(&path, true).unwrap();
        assert_eq!(PositionsFile::load(&path).unwrap(), file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &text[..text.len() - 1]).unwrap();
        assert!(matches!(
            PositionsFile::load(&path),
            Err(PositionsError::Bad { line: 4, .. })
        ));
    }

    #[test]
    fn pending_positions_count_only_when_their_batch_is_in_the_spool() {
        let file = PositionsFile {
            positions: cp(1234),
            pending: Some((77, cp(2000))),
        };
        assert_eq!(file.clone().resolve([70, 76].into_iter()), cp(1234));
        assert_eq!(file.clone().resolve([70, 77].into_iter()), cp(2000));
        assert_eq!(file.resolve(std::iter::empty()), cp(1234));
    }

    #[test]
    fn a_position_waits_until_the_events_before_it_are_spooled() {
        let t0 = Instant::now();
        let mut g = PositionGate::new(Positions::default());
        g.taken(10, cp(100));
        g.spooled_below(9, true);
        assert_eq!(g.take_due(t0), None);
        g.spooled_below(10, true);
        assert_eq!(g.take_due(t0), Some(cp(100)));
        // Lines that raised nothing: written, but not more than once per
        // interval...
        g.taken(10, cp(200));
        g.spooled_below(10, false);
        assert_eq!(g.take_due(t0), None);
        assert_eq!(g.take_due(t0 + CHECKPOINT_INTERVAL), Some(cp(200)));
        // ...unless events became spooled with them.
        g.taken(12, cp(300));
        g.spooled_below(12, true);
        assert_eq!(g.take_due(t0 + CHECKPOINT_INTERVAL), Some(cp(300)));
    }
}
