//! The delivery side of the queue: one worker thread per channel takes the
//! channel's head notification when it is due, hands it to the channel's
//! sender and records the outcome. Threads, not tasks: senders block
//! (HTTP, SMTP, a child process) and a slow channel must delay neither the
//! supervisor's loop nor the other channels.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use conf::Channel;

use super::channels::{Sender, sender_for};
use super::queue::{Delivery, NotifyQueue, QueueError};

/// A worker with nothing due looks at the queue again after this long even
/// without a wake-up (another process may have written to the file).
pub const IDLE_RECHECK: Duration = Duration::from_secs(5);
/// A worker whose queue file fails waits this long before trying again.
pub const QUEUE_ERROR_PAUSE: Duration = Duration::from_secs(1);
/// At most one log line per channel and this interval about failures.
pub const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Signal {
    generation: u64,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    signal: Mutex<Signal>,
    wake: Condvar,
}

/// The running workers; [`Dispatcher::stop`] (or drop) ends them after
/// their current attempt.
pub struct Dispatcher {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Dispatcher {
    /// A worker for each configured channel, on the queue file `db`.
    pub fn start(db: &Path, channels: &[Channel]) -> Result<Dispatcher, QueueError> {
        let senders = channels
            .iter()
            .map(|c| (c.name.clone(), sender_for(c)))
            .collect();
        Self::start_with(db, senders)
    }

    /// Workers for these senders (tests give their own).
    pub fn start_with(
        db: &Path,
        senders: Vec<(String, Box<dyn Sender>)>,
    ) -> Result<Dispatcher, QueueError> {
        let shared = Arc::new(Shared::default());
        let mut workers = Vec::new();
        let mut dispatcher = Dispatcher {
            shared: shared.clone(),
            workers: Vec::new(),
        };
        for (channel, sender) in senders {
            // Opened here so that a bad file fails the start, not a thread.
            let queue = NotifyQueue::open(db)?;
            let shared = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("notify-{channel}"))
                .spawn(move || work(&channel, queue, sender, &shared));
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(e) => {
                    tracing::error!("cannot start the notification worker: {e}");
                }
            }
        }
        dispatcher.workers = workers;
        Ok(dispatcher)
    }

    /// Something was queued: workers look at their queue now.
    pub fn wake(&self) {
        let mut s = self
            .shared
            .signal
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        s.generation = s.generation.wrapping_add(1);
        self.shared.wake.notify_all();
    }

    /// Ends the workers after their current attempt and waits for them.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        {
            let mut s = self
                .shared
                .signal
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            s.stop = true;
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn work(channel: &str, mut queue: NotifyQueue, mut sender: Box<dyn Sender>, shared: &Shared) {
    let mut last_failure_log: Option<Instant> = None;
    loop {
        let seen = {
            let s = shared.signal.lock().unwrap_or_else(PoisonError::into_inner);
            if s.stop {
                return;
            }
            s.generation
        };
        let now = wall_ms();
        let pause = match queue.head(channel) {
            Err(e) => {
                if crate::logbook::due(&mut last_failure_log, Instant::now(), FAILURE_LOG_INTERVAL)
                {
                    tracing::error!("notification channel {channel}: {e}");
                }
                QUEUE_ERROR_PAUSE
            }
            Ok(None) => IDLE_RECHECK,
            Ok(Some((queued, next))) if next <= now => {
                let delivery = sender.send(&queued.notification);
                match &delivery {
                    Delivery::Delivered => {
                        if last_failure_log.take().is_some() {
                            tracing::info!("notification channel {channel} delivers again");
                        }
                    }
                    Delivery::Retry(why) | Delivery::Rejected(why) => {
                        if crate::logbook::due(
                            &mut last_failure_log,
                            Instant::now(),
                            FAILURE_LOG_INTERVAL,
                        ) {
                            tracing::warn!(
                                "notification channel {channel}: {why} (attempt {})",
                                queued.attempts + 1
                            );
                        }
                    }
                }
                if let Err(e) = queue.record(&queued, wall_ms(), &delivery) {
                    // Not recorded: it stays pending and is sent again
                    // (at least once, never lost).
                    tracing::error!("notification channel {channel}: {e}");
                    std::thread::sleep(QUEUE_ERROR_PAUSE);
                }
                continue;
            }
            Ok(Some((_, next))) => Duration::from_millis(next - now).min(IDLE_RECHECK),
        };
        let s = shared.signal.lock().unwrap_or_else(PoisonError::into_inner);
        if s.stop {
            return;
        }
        if s.generation != seen {
            continue;
        }
        let _unused = shared
            .wake
            .wait_timeout(s, pause)
            .unwrap_or_else(PoisonError::into_inner);
    }
}
