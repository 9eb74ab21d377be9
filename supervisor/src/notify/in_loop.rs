//! Notifications inside the supervisor's loop: started when `ax436.conf`
//! names a `notify:` file, fed the state machine's [`Happening`]s after
//! every turn, reloaded when the file changes, stopped at shutdown.
//!
//! Decisions:
//! * A notification file that cannot be read at start does not stop the
//!   supervisor (events matter more than notifications): the error is
//!   logged and the file is read again when it changes.
//! * The file is looked at (its modification time) at most once per
//!   [`NOTIFY_FILE_CHECK`], and only when `notify:` is configured: a
//!   supervisor without notifications never wakes for them.
//! * The queue file is `notify.db` beside the stream.
//! * A host's own inactivity reaches the policy as a host state
//!   ([`NotifyPolicy::handle_host_state`](super::NotifyPolicy)), never also
//!   as a problem, so it is one notification, not two.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use conf::NotifyConfig;

use super::{ChannelHealth, Notifications, NotifyPolicy};
use crate::problems::{HOST_INACTIVE_CHECK, Happening};
use crate::protocol::{Now, Supervisor};

/// How often the notification file's modification time is looked at.
pub const NOTIFY_FILE_CHECK: Duration = Duration::from_secs(1);

/// The queue file's name, in the stream's folder.
pub const NOTIFY_DB_FILE: &str = "notify.db";

/// See the module doc.
pub struct LoopNotifications {
    file: PathBuf,
    db: PathBuf,
    status_url: Option<String>,
    running: Option<Notifications>,
    modified: Option<SystemTime>,
    next_check: Instant,
}

impl LoopNotifications {
    /// Reads `file` and starts the notifications, taking over what `sup`
    /// knows is open (restored from the fleet state).
    pub fn start(
        file: &Path,
        stream: &Path,
        status_url: Option<String>,
        sup: &Supervisor,
        now: Now,
    ) -> LoopNotifications {
        let mut n = LoopNotifications {
            file: file.to_path_buf(),
            db: crate::rolling::folder_of(stream).join(NOTIFY_DB_FILE),
            status_url,
            running: None,
            modified: modified(file),
            next_check: now.mono + NOTIFY_FILE_CHECK,
        };
        n.load(sup, now);
        n
    }

    fn load(&mut self, sup: &Supervisor, now: Now) {
        let config = match NotifyConfig::load(&self.file) {
            Ok(c) => c,
            Err(errors) => {
                let what = if self.running.is_some() {
                    "the running notification settings stay"
                } else {
                    "notifications are off"
                };
                tracing::error!("{what} until {} is fixed:\n{errors}", self.file.display());
                return;
            }
        };
        if let Some(running) = self.running.as_mut() {
            match running.reload(config, now) {
                Ok(()) => tracing::info!("notification file {} reloaded", self.file.display()),
                Err(e) => tracing::error!("cannot restart the notification channels: {e}"),
            }
            return;
        }
        let mut running = match Notifications::start(config, &self.db, now) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!("notifications are off: {e}");
                return;
            }
        };
        if let Some(url) = &self.status_url {
            running.policy().set_status_url(url);
        }
        // Only the hosts this supervisor notifies for (see
        // `protocol::notifier`); the others' come with their hand-over.
        let open: Vec<_> = sup
            .open_problems()
            .into_iter()
            .filter(|(p, _)| sup.notifies_for(now.mono, &p.host))
            .collect();
        let acked: Vec<(String, String)> = open
            .iter()
            .filter(|(_, acked)| *acked)
            .map(|(p, _)| (p.host.clone(), p.check.clone()))
            .collect();
        if let Err(e) = running.restore(now, open.into_iter().map(|(p, _)| p)) {
            tracing::error!("cannot read what the notification queue announced: {e}");
        }
        for (host, check) in acked {
            running.policy().handle_ack(now, &host, &check);
        }
        for (host, state) in sup
            .hosts_down()
            .into_iter()
            .filter(|(host, _)| sup.notifies_for(now.mono, host))
        {
            running.policy().handle_host_state(now, &host, state);
        }
        tracing::info!(
            "notifications from {}, queue {}",
            self.file.display(),
            self.db.display()
        );
        self.running = Some(running);
    }

    /// One happening of the state machine.
    pub fn feed(&mut self, now: Now, happening: Happening) {
        if let Some(n) = self.running.as_mut() {
            feed_policy(n.policy(), now, happening);
        }
    }

    /// After a turn: reloads a changed file (looked at no more than once
    /// per [`NOTIFY_FILE_CHECK`]), queues what the policy made; returns
    /// when to come back.
    pub fn turn(&mut self, now: Now, sup: &Supervisor) -> Instant {
        if now.mono >= self.next_check {
            self.next_check = now.mono + NOTIFY_FILE_CHECK;
            let m = modified(&self.file);
            if m != self.modified {
                self.modified = m;
                self.load(sup, now);
            }
        }
        let mut wake = self.next_check;
        if let Some(n) = self.running.as_mut() {
            if let Err(e) = n.flush(now) {
                // Kept in memory and written at the next flush.
                tracing::error!("cannot write the notification queue: {e}");
                wake = wake.min(now.mono + NOTIFY_FILE_CHECK);
            }
            if let Some(at) = n.poll_timeout() {
                wake = wake.min(at);
            }
        }
        wake
    }

    /// Each channel's state, when notifications run.
    pub fn health(&self) -> Option<Vec<ChannelHealth>> {
        self.running.as_ref().and_then(|n| n.health().ok())
    }

    /// Queues what is left and stops the delivery workers.
    pub fn stop(mut self, now: Now) {
        if let Some(mut n) = self.running.take() {
            if let Err(e) = n.flush(now) {
                tracing::error!("cannot write the notification queue at stop: {e}");
            }
            n.stop();
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// What one happening of the state machine does to the notification
/// policy (the whole mapping; tests of several supervisors use it too).
pub fn feed_policy(policy: &mut NotifyPolicy, now: Now, happening: Happening) {
    match happening {
        Happening::Opened(p) if p.check != HOST_INACTIVE_CHECK => policy.handle_opened(now, p),
        Happening::Cleared {
            host,
            check,
            cleared_ms,
        } if check != HOST_INACTIVE_CHECK => {
            policy.handle_cleared(now, &host, &check, cleared_ms);
        }
        Happening::Opened(_) | Happening::Cleared { .. } => {}
        Happening::Point(alert) => policy.handle_point(now, alert),
        Happening::Acknowledged { host, check } => policy.handle_ack(now, &host, &check),
        Happening::HostState { host, state } => policy.handle_host_state(now, &host, state),
        Happening::Notifier { host, ours, open } => {
            if !ours {
                policy.forget_host(&host);
                return;
            }
            // Taken over from the supervisor the host used before:
            // announced there, so no second opening here.
            for (problem, acked) in open {
                let check = problem.check.clone();
                policy.handle_restored(now, problem);
                if acked {
                    policy.handle_ack(now, &host, &check);
                }
            }
        }
    }
}
