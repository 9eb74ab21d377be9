//! The fleet's state on disk: `fleet-state.json` beside the event stream,
//! so a restarted supervisor knows each host's state and open problems
//! (with their acknowledgements) at once, instead of waiting for a
//! heartbeat — and does not report a host inactive a second time.
//!
//! Decisions:
//! * Written by the shell, not the state machine: the machine hands out a
//!   [`FleetState`] value ([`crate::Supervisor::fleet_state`]) and takes one
//!   back at start ([`crate::Supervisor::restore_fleet`]).
//! * Saved at most once per [`crate::timers::FLEET_SAVE_INTERVAL`] while it
//!   changes, and at stop; a host only being heard again is not a change
//!   (its state is), so a quiet fleet writes nothing.
//! * Written as a temporary file, flushed to disk, then renamed over the
//!   old one: a crash leaves the old state or the new one, never half.
//! * The document has a `version`; one this program cannot read is set
//!   aside (logged) and the supervisor starts without it: the heartbeats
//!   teach it the open problems again within one interval.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::problems::ProblemRecord;
use crate::timers::FLEET_SAVE_INTERVAL;

/// The name of the file, in the stream's folder.
pub const FLEET_STATE_FILE: &str = "fleet-state.json";

/// The document's format version.
pub const FLEET_STATE_VERSION: u32 = 1;

/// Why the fleet state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FleetStateError {
    #[error("cannot read the fleet state {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the fleet state {path} cannot be read as version {FLEET_STATE_VERSION}: {message}")]
    Format { path: String, message: String },
    #[error("cannot write the fleet state {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Every host the supervisor knows something of worth keeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetState {
    pub version: u32,
    pub hosts: Vec<SavedHost>,
}

/// One host: its state and since when, what it said last, its open
/// problems.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedHost {
    pub name: String,
    /// `up`, `inactive` or `stopped`.
    pub state: String,
    pub since_ms: u64,
    pub first_heard_ms: Option<u64>,
    pub last_heard_ms: Option<u64>,
    pub protocol: Option<u8>,
    pub chosen: Option<u64>,
    pub running_version: Option<u64>,
    pub spool_backlog: Option<u64>,
    /// By check id.
    #[serde(default)]
    pub problems: BTreeMap<String, ProblemRecord>,
}

impl FleetState {
    pub fn new(hosts: Vec<SavedHost>) -> Self {
        FleetState {
            version: FLEET_STATE_VERSION,
            hosts,
        }
    }

    /// Where the state of the stream at `stream` is kept.
    pub fn path_beside(stream: &Path) -> PathBuf {
        crate::rolling::folder_of(stream).join(FLEET_STATE_FILE)
    }

    /// Reads `path`; `Ok(None)` when there is no file yet.
    pub fn load(path: &Path) -> Result<Option<FleetState>, FleetStateError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(FleetStateError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let format_error = |message: String| FleetStateError::Format {
            path: path.display().to_string(),
            message,
        };
        let state: FleetState =
            serde_json::from_slice(&text).map_err(|e| format_error(e.to_string()))?;
        if state.version != FLEET_STATE_VERSION {
            return Err(format_error(format!("it is version {}", state.version)));
        }
        Ok(Some(state))
    }

    /// Writes to `PATH.tmp`, flushes it to disk, renames it over `path`.
    pub fn save(&self, path: &Path) -> Result<(), FleetStateError> {
        let write_error = |source| FleetStateError::Write {
            path: path.display().to_string(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = std::fs::File::create(&tmp).map_err(write_error)?;
        // Written as it is serialised: a fleet with tens of thousands of
        // open problems is megabytes of JSON, never held whole in memory.
        let mut out = std::io::BufWriter::new(file);
        serde_json::to_writer(&mut out, self).map_err(|e| write_error(std::io::Error::other(e)))?;
        let file = out.into_inner().map_err(|e| write_error(e.into_error()))?;
        file.sync_all().map_err(write_error)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(write_error)?;
        // The rename itself is durable once the folder is flushed; a
        // folder that cannot be opened (some file systems) still has it.
        if let Ok(dir) = std::fs::File::open(crate::rolling::folder_of(path)) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// The shell's saving of the fleet state: at most once per
/// [`FLEET_SAVE_INTERVAL`] while it changes, and at stop. The state is
/// taken on the loop (a copy), and written and flushed to disk on a thread
/// of its own, so a slow disk never delays an acknowledgement; one write at
/// a time.
#[derive(Debug)]
pub struct FleetSaver {
    path: PathBuf,
    pending: bool,
    next: Instant,
    writing: Option<std::thread::JoinHandle<Result<(), FleetStateError>>>,
    /// The last save failed (logged once until one succeeds).
    failing: bool,
}

impl FleetSaver {
    pub fn new(path: PathBuf, now: Instant) -> Self {
        FleetSaver {
            path,
            pending: false,
            next: now,
            writing: None,
            failing: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// After a turn of the loop: starts saving what `sup` holds if it
    /// changed and the interval allows; returns when to come back for a
    /// change not saved yet.
    pub fn turn(&mut self, now: Instant, sup: &mut crate::Supervisor) -> Option<Instant> {
        self.pending |= sup.take_fleet_changed();
        if self.writing.as_ref().is_some_and(|w| w.is_finished()) {
            self.finish();
        }
        if !self.pending {
            return None;
        }
        if now < self.next || self.writing.is_some() {
            return Some(self.next.max(now + FLEET_SAVE_INTERVAL / 10));
        }
        self.pending = false;
        self.next = now + FLEET_SAVE_INTERVAL;
        let state = sup.fleet_state();
        let path = self.path.clone();
        match std::thread::Builder::new()
            .name("fleet-state".into())
            .spawn(move || state.save(&path))
        {
            Ok(handle) => self.writing = Some(handle),
            Err(e) => {
                tracing::error!("cannot start writing the fleet state: {e}");
                self.pending = true;
            }
        }
        self.pending.then_some(self.next)
    }

    /// Waits for a write in progress and logs how it went.
    fn finish(&mut self) {
        let Some(handle) = self.writing.take() else {
            return;
        };
        match handle.join() {
            Ok(result) => self.outcome(result),
            Err(_) => tracing::error!("writing the fleet state panicked"),
        }
    }

    fn outcome(&mut self, result: Result<(), FleetStateError>) {
        match result {
            Ok(()) => {
                if std::mem::take(&mut self.failing) {
                    tracing::info!("the fleet state is saved again");
                }
            }
            Err(e) => {
                if !self.failing {
                    tracing::error!("{e}; a restart will learn open problems from heartbeats");
                }
                self.failing = true;
            }
        }
    }

    /// Saves now, on this thread (at stop), after a write in progress.
    pub fn save(&mut self, sup: &crate::Supervisor) {
        self.finish();
        self.pending = false;
        let result = sup.fleet_state().save(&self.path);
        self.outcome(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Acknowledgement;

    #[test]
    fn saved_state_reads_back_and_a_foreign_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = FleetState::path_beside(&dir.path().join("events.436"));
        assert_eq!(path, dir.path().join(FLEET_STATE_FILE));
        assert_eq!(FleetState::load(&path).unwrap(), None);
        let mut problems = BTreeMap::new();
        problems.insert(
            "cmd-1".to_string(),
            ProblemRecord {
                tags: "disk".into(),
                kind: "alert".into(),
                message: "full [91]".into(),
                opened_ms: 5,
                last_value: Some(91.0),
                acknowledged: Some(Acknowledgement {
                    by: "ana".into(),
                    at_ms: 6,
                    note: "on it".into(),
                }),
            },
        );
        let state = FleetState::new(vec![SavedHost {
            name: "web1".into(),
            state: "stopped".into(),
            since_ms: 4,
            first_heard_ms: Some(1),
            last_heard_ms: Some(4),
            protocol: Some(2),
            chosen: Some(7),
            running_version: Some(3),
            spool_backlog: Some(0),
            problems,
        }]);
        state.save(&path).unwrap();
        assert_eq!(FleetState::load(&path).unwrap(), Some(state));
        assert!(!dir.path().join("fleet-state.json.tmp").exists());
        std::fs::write(&path, r#"{"version":99,"hosts":[]}"#).unwrap();
        let e = FleetState::load(&path).unwrap_err().to_string();
        assert!(e.contains("version 99"), "{e}");
        std::fs::write(&path, "{").unwrap();
        assert!(FleetState::load(&path).is_err());
    }
}
