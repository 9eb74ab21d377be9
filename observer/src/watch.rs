//! File-change notifications for the directories of followed log files
//! (notify): the watcher's thread records paths and wakes the loop; watches
//! on missing directories are retried every
//! [`WATCH_RETRY`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use notify::{RecursiveMode, Watcher};
use tokio::sync::Notify;

use crate::timers::WATCH_RETRY;

/// File-change notifications: the watcher's thread records paths and wakes
/// the loop. The set is bounded by the number of distinct paths in watched
/// directories between two passes of the loop.
pub struct FileWatch {
    watcher: Option<notify::RecommendedWatcher>,
    changed: Arc<Mutex<HashSet<PathBuf>>>,
    pub wake: Arc<Notify>,
    watched: HashSet<PathBuf>,
    failed: HashSet<PathBuf>,
    next_retry: Instant,
}

impl Default for FileWatch {
    fn default() -> FileWatch {
        FileWatch::new()
    }
}

impl FileWatch {
    pub fn new() -> FileWatch {
        let changed: Arc<Mutex<HashSet<PathBuf>>> = Arc::default();
        let wake = Arc::new(Notify::new());
        let (c, w) = (changed.clone(), wake.clone());
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                let mut set = c.lock().unwrap_or_else(|e| e.into_inner());
                if set.len() < 4096 {
                    set.extend(ev.paths);
                }
                w.notify_one();
            }
        });
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(
                    "file-change notification unavailable ({e}); polling log files only"
                );
                None
            }
        };
        FileWatch {
            watcher,
            changed,
            wake,
            watched: HashSet::new(),
            failed: HashSet::new(),
            next_retry: Instant::now(),
        }
    }

    /// Watches exactly the parent directories of `files`.
    pub fn follow(&mut self, files: &[PathBuf]) {
        let dirs: HashSet<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .map(|d| {
                if d.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    d
                }
            })
            .collect();
        let Some(w) = &mut self.watcher else { return };
        for gone in self.watched.difference(&dirs).cloned().collect::<Vec<_>>() {
            if let Err(e) = w.unwatch(&gone) {
                tracing::debug!("unwatch {}: {e}", gone.display());
            }
            self.watched.remove(&gone);
        }
        self.failed.clear();
        for d in dirs {
            if self.watched.contains(&d) {
                continue;
            }
            match w.watch(&d, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(d);
                }
                Err(_) => {
                    self.failed.insert(d);
                }
            }
        }
    }

    /// Whether a change of every one of `files` is notified: there is a
    /// watcher, every directory is watched, and no file is a symbolic link
    /// (written through its target, whose events name another path). A
    /// file missing now counts: its creation is an event of its directory.
    pub fn covers(&self, files: &[PathBuf]) -> bool {
        self.watcher.is_some()
            && self.failed.is_empty()
            && files
                .iter()
                .all(|f| !std::fs::symlink_metadata(f).is_ok_and(|m| m.file_type().is_symlink()))
    }

    /// Whether watches that failed should be tried again now.
    pub fn retry_due(&mut self, now: Instant) -> bool {
        let due = !self.failed.is_empty() && now >= self.next_retry;
        if due {
            self.next_retry = now + WATCH_RETRY;
        }
        due
    }

    pub fn take_changed(&self) -> Vec<PathBuf> {
        let mut set = self.changed.lock().unwrap_or_else(|e| e.into_inner());
        set.drain().collect()
    }
}
