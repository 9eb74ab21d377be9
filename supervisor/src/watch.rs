//! Watching the hosts and includes folders (part of the async shell).
//!
//! A thread of its own owns the notify debouncer and the [`CatalogLoader`]:
//! after each debounced batch of notifications it re-reads both folders and
//! sends the hosts whose entry changed to the main loop, so file reading
//! never stalls the socket. Once a second it also checks that both folders
//! are still the ones watched: a folder removed, or removed and created
//! again, is watched anew (inotify stops reporting for a deleted folder), and
//! every [`FULL_RESCAN_INTERVAL`] both folders are re-read whatever the
//! notifications said.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};

use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::catalog::{CatalogLoader, HostChange};
use crate::timers::{FULL_RESCAN_INTERVAL, WATCH_DEBOUNCE, WATCH_RETRY_INTERVAL};

/// Why the folders cannot be watched at all.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot start watching the configuration folders: {0}")]
    Start(#[from] notify_debouncer_full::notify::Error),
    #[error("cannot start the folder-watching thread: {0}")]
    Thread(std::io::Error),
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

/// Starts watching; returns every host found now, and a channel of later
/// changes. The channel closes if the watcher thread stops.
pub fn start(
    hosts_dir: &Path,
    includes_dir: &Path,
) -> Result<(Vec<HostChange>, UnboundedReceiver<Vec<HostChange>>), WatchError> {
    let (events_tx, events_rx) = mpsc::channel::<DebounceEventResult>();
    let mut debouncer = new_debouncer(WATCH_DEBOUNCE, None, events_tx)?;
    let mut roots: Vec<Root> = [hosts_dir, includes_dir]
        .iter()
        .map(|p| Root {
            path: p.to_path_buf(),
            identity: None,
        })
        .collect();
    for root in &mut roots {
        match debouncer.watch(&root.path, RecursiveMode::NonRecursive) {
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
        .spawn(move || watch_loop(debouncer, roots, loader, events_rx, changes_tx))
        .map_err(WatchError::Thread)?;
    Ok((initial, changes_rx))
}

fn watch_loop<D: Rewatch>(
    mut debouncer: D,
    mut roots: Vec<Root>,
    mut loader: CatalogLoader,
    events: mpsc::Receiver<DebounceEventResult>,
    changes: UnboundedSender<Vec<HostChange>>,
) {
    let mut last_rescan = std::time::Instant::now();
    loop {
        let mut rescan = last_rescan.elapsed() >= FULL_RESCAN_INTERVAL;
        match events.recv_timeout(WATCH_RETRY_INTERVAL) {
            Ok(batch) => {
                rescan = true;
                note_batch(&batch, &mut roots);
                while let Ok(batch) = events.try_recv() {
                    note_batch(&batch, &mut roots);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        for root in &mut roots {
            let now = identity(&root.path);
            if now.is_some() && now == root.identity {
                continue;
            }
            if root.identity.take().is_some() {
                tracing::warn!("{} was removed or replaced", root.path.display());
                rescan = true;
            }
            if now.is_some() {
                // Whatever watch is left on the path points at a folder
                // that is gone; drop it before watching the new one.
                debouncer.forget(&root.path);
                match debouncer.rewatch(&root.path) {
                    Ok(()) => {
                        tracing::info!("watching {}", root.path.display());
                        root.identity = now;
                        rescan = true;
                    }
                    Err(e) => tracing::debug!("cannot watch {} yet: {e}", root.path.display()),
                }
            }
        }
        if changes.is_closed() {
            return;
        }
        if rescan {
            last_rescan = std::time::Instant::now();
            let found = loader.rescan();
            if !found.is_empty() && changes.send(found).is_err() {
                return;
            }
        }
    }
}

/// Marks a root whose own removal was reported, so it is watched again.
fn note_batch(batch: &DebounceEventResult, roots: &mut [Root]) {
    match batch {
        Ok(events) => {
            for event in events {
                if let EventKind::Remove(_) = event.kind {
                    for root in roots.iter_mut() {
                        if event.paths.iter().any(|p| p == &root.path) {
                            root.identity = None;
                        }
                    }
                }
            }
        }
        Err(errors) => {
            for e in errors {
                tracing::warn!("folder watch error: {e}");
            }
        }
    }
}

/// What the loop needs from the debouncer (a trait so the loop reads
/// plainly).
trait Rewatch {
    fn rewatch(&mut self, path: &Path) -> notify_debouncer_full::notify::Result<()>;
    fn forget(&mut self, path: &Path);
}

impl<T, C> Rewatch for notify_debouncer_full::Debouncer<T, C>
where
    T: notify_debouncer_full::notify::Watcher,
    C: notify_debouncer_full::FileIdCache,
{
    fn rewatch(&mut self, path: &Path) -> notify_debouncer_full::notify::Result<()> {
        self.watch(path, RecursiveMode::NonRecursive)
    }

    fn forget(&mut self, path: &Path) {
        // The folder is gone; the kernel already dropped its watch.
        if let Err(e) = self.unwatch(path) {
            tracing::debug!("unwatch {}: {e}", path.display());
        }
    }
}
