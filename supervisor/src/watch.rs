//! Watching the hosts and includes folders (part of the async shell).
//!
//! A thread of its own owns the inotify watcher and the [`CatalogLoader`]:
//! after each burst of notifications (gathered until the folders have been
//! quiet for [`WATCH_DEBOUNCE`]) it re-reads both folders and sends the
//! hosts whose entry changed to the main loop, so file reading never stalls
//! the socket.
//!
//! Idle, the thread sleeps: it wakes for a notification, every
//! [`FULL_RESCAN_INTERVAL`] for the safety-net re-read, and every
//! [`WATCH_RETRY_INTERVAL`] only while a folder is missing. Notifications
//! that cannot change the catalog are dropped without a re-read: file
//! opens and closes (the re-read itself opens every file, which would
//! otherwise trigger the next re-read forever) and names the catalog
//! ignores (editors' swap and backup files). Whether a folder was removed
//! or replaced is checked after every burst and at every full re-read: a
//! folder removed, or removed and created again, is watched anew (inotify
//! stops reporting for a deleted folder).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::catalog::{CatalogLoader, HostChange, is_ignored_name};
use crate::timers::{
    FULL_RESCAN_INTERVAL, WATCH_DEBOUNCE, WATCH_DEBOUNCE_MAX, WATCH_RETRY_INTERVAL,
};

/// Why the folders cannot be watched at all.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot start watching the configuration folders: {0}")]
    Start(#[from] notify::Error),
    #[error("cannot start the folder-watching thread: {0}")]
    Thread(std::io::Error),
}

/// What wakes the watch thread.
enum Input {
    Notified(notify::Result<Event>),
    /// The main loop is gone ([`FolderWatch`] dropped).
    Stop,
}

/// The main loop's end of the watch: catalog changes as they are found.
/// Dropping it stops the watch thread.
#[derive(Debug)]
pub struct FolderWatch {
    changes: UnboundedReceiver<Vec<HostChange>>,
    stop: mpsc::Sender<Input>,
}

impl FolderWatch {
    /// The next hosts whose entry changed; `None` once the watch thread has
    /// stopped.
    pub async fn changed(&mut self) -> Option<Vec<HostChange>> {
        self.changes.recv().await
    }
}

impl Drop for FolderWatch {
    fn drop(&mut self) {
        // Fails only when the thread has stopped already.
        let _ = self.stop.send(Input::Stop);
    }
}

/// A watched folder and the identity it had when the watch was set.
struct Root {
    path: PathBuf,
    identity: Option<(u64, u64)>,
}

fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    meta.is_dir().then(|| (meta.dev(), meta.ino()))
}

/// Starts watching; returns every host found now, and the watch that
/// delivers later changes.
pub fn start(
    hosts_dir: &Path,
    includes_dir: &Path,
) -> Result<(Vec<HostChange>, FolderWatch), WatchError> {
    let (events_tx, events_rx) = mpsc::channel::<Input>();
    let stop = events_tx.clone();
    let mut watcher = notify::recommended_watcher(move |event| {
        // Fails only once the watch thread has stopped, and then nobody
        // is left to tell.
        let _ = events_tx.send(Input::Notified(event));
    })?;
    let mut roots: Vec<Root> = [hosts_dir, includes_dir]
        .iter()
        .map(|p| Root {
            path: p.to_path_buf(),
            identity: None,
        })
        .collect();
    for root in &mut roots {
        match watcher.watch(&root.path, RecursiveMode::NonRecursive) {
            Ok(()) => root.identity = identity(&root.path),
            Err(e) => tracing::warn!(
                "cannot watch {} yet ({e}); retrying every second",
                root.path.display()
            ),
        }
    }
    // Watching starts before the first read, so no change falls in between.
    let mut loader = CatalogLoader::new(hosts_dir, includes_dir);
    let initial = loader.rescan();
    let (changes_tx, changes_rx) = unbounded_channel();
    std::thread::Builder::new()
        .name("436-watch".into())
        .spawn(move || watch_loop(watcher, roots, loader, events_rx, changes_tx))
        .map_err(WatchError::Thread)?;
    Ok((
        initial,
        FolderWatch {
            changes: changes_rx,
            stop,
        },
    ))
}

fn watch_loop(
    mut watcher: RecommendedWatcher,
    mut roots: Vec<Root>,
    mut loader: CatalogLoader,
    events: mpsc::Receiver<Input>,
    changes: UnboundedSender<Vec<HostChange>>,
) {
    let mut next_full = Instant::now() + FULL_RESCAN_INTERVAL;
    loop {
        let now = Instant::now();
        let missing = roots.iter().any(|r| r.identity.is_none());
        let wake = if missing {
            next_full.min(now + WATCH_RETRY_INTERVAL)
        } else {
            next_full
        };
        let mut rescan = false;
        match events.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(Input::Notified(first)) => {
                if note(&first, &mut roots) {
                    if !gather_burst(&events, &mut roots) {
                        return;
                    }
                    rescan = true;
                }
            }
            Ok(Input::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let full = Instant::now() >= next_full;
        if rescan || full || missing {
            rescan |= check_roots(&mut watcher, &mut roots);
        }
        if changes.is_closed() {
            return;
        }
        if rescan || full {
            next_full = Instant::now() + FULL_RESCAN_INTERVAL;
            let found = loader.rescan();
            if !found.is_empty() && changes.send(found).is_err() {
                return;
            }
        }
    }
}

/// Waits until the folders have been quiet for [`WATCH_DEBOUNCE`] (at most
/// [`WATCH_DEBOUNCE_MAX`]), so an editor's save of several steps is read
/// once, complete. `false` when the thread must stop.
fn gather_burst(events: &mpsc::Receiver<Input>, roots: &mut [Root]) -> bool {
    let started = Instant::now();
    let mut quiet_from = started;
    loop {
        let limit = (quiet_from + WATCH_DEBOUNCE).min(started + WATCH_DEBOUNCE_MAX);
        let now = Instant::now();
        if now >= limit {
            return true;
        }
        match events.recv_timeout(limit - now) {
            Ok(Input::Notified(event)) => {
                if note(&event, roots) {
                    quiet_from = Instant::now();
                }
            }
            Ok(Input::Stop) | Err(RecvTimeoutError::Disconnected) => return false,
            Err(RecvTimeoutError::Timeout) => return true,
        }
    }
}

/// Whether a notification can change the catalog or the watched folders.
/// A root whose own removal is reported is marked, so it is watched again
/// even if a new folder gets the old one's inode number.
fn note(event: &notify::Result<Event>, roots: &mut [Root]) -> bool {
    let event = match event {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!("folder watch error: {e}");
            // Something may have been missed: read the folders again.
            return true;
        }
    };
    if event.need_rescan() {
        return true;
    }
    if let EventKind::Access(_) = event.kind {
        return false;
    }
    if let EventKind::Remove(_) = event.kind {
        for root in roots.iter_mut() {
            if event.paths.contains(&root.path) {
                root.identity = None;
            }
        }
    }
    event.paths.is_empty()
        || event.paths.iter().any(|p| {
            roots.iter().any(|r| r.path == *p)
                || p.file_name()
                    .and_then(|n| n.to_str())
                    .is_none_or(|n| !is_ignored_name(n))
        })
}

/// Watches anew a folder that was removed or replaced; `true` when any
/// folder changed identity (its files must be read again).
fn check_roots(watcher: &mut RecommendedWatcher, roots: &mut [Root]) -> bool {
    let mut changed = false;
    for root in roots.iter_mut() {
        let now = identity(&root.path);
        if now.is_some() && now == root.identity {
            continue;
        }
        if root.identity.take().is_some() {
            tracing::warn!("{} was removed or replaced", root.path.display());
            changed = true;
        }
        if now.is_some() {
            // Whatever watch is left on the path points at a folder that is
            // gone; drop it before watching the new one.
            if let Err(e) = watcher.unwatch(&root.path) {
                tracing::debug!("unwatch {}: {e}", root.path.display());
            }
            match watcher.watch(&root.path, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    tracing::info!("watching {}", root.path.display());
                    root.identity = now;
                    changed = true;
                }
                Err(e) => tracing::debug!("cannot watch {} yet: {e}", root.path.display()),
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind};

    fn roots() -> Vec<Root> {
        vec![Root {
            path: PathBuf::from("/etc/436/hosts"),
            identity: Some((1, 2)),
        }]
    }

    fn event(kind: EventKind, path: &str) -> notify::Result<Event> {
        Ok(Event::new(kind).add_path(PathBuf::from(path)))
    }

    #[test]
    fn reading_the_folders_does_not_make_them_read_again() {
        let mut roots = roots();
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        assert!(!note(&event(open, "/etc/436/hosts/web1"), &mut roots));
        assert!(!note(&event(open, "/etc/436/hosts"), &mut roots));
    }

    #[test]
    fn editors_scratch_files_alone_change_nothing() {
        let mut roots = roots();
        let create = EventKind::Create(CreateKind::File);
        for scratch in [".web1.swp", "web1~", "4913"] {
            let path = format!("/etc/436/hosts/{scratch}");
            assert!(!note(&event(create, &path), &mut roots), "{scratch}");
        }
        assert!(note(&event(create, "/etc/436/hosts/web1"), &mut roots));
        let renamed = Event::new(EventKind::Modify(ModifyKind::Any))
            .add_path(PathBuf::from("/etc/436/hosts/.web1.tmp"))
            .add_path(PathBuf::from("/etc/436/hosts/web1"));
        assert!(note(&Ok(renamed), &mut roots));
    }

    #[test]
    fn a_removed_folder_is_marked_to_be_watched_again() {
        let mut roots = roots();
        let removed = EventKind::Remove(RemoveKind::Folder);
        assert!(note(&event(removed, "/etc/436/hosts"), &mut roots));
        assert_eq!(roots[0].identity, None);
    }
}
