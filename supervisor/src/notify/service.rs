//! The notification side of the supervisor in one value: the policy, the
//! queue file and the delivery workers, so that the supervisor's loop only
//! feeds inputs, calls [`Notifications::flush`] once per turn and sleeps
//! until [`Notifications::poll_timeout`].
//!
//! What the policy hands out is written to the queue before anything else
//! happens to it; if the write fails (a full disk), it is kept in memory
//! and written at the next flush, so nothing is dropped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use conf::NotifyConfig;

use super::dispatch::Dispatcher;
use super::policy::{NotifyPolicy, Outgoing, ProblemOpened};
use super::queue::{ChannelHealth, NotifyQueue, QueueError};
use crate::protocol::Now;

pub struct Notifications {
    policy: NotifyPolicy,
    queue: NotifyQueue,
    dispatcher: Option<Dispatcher>,
    db: PathBuf,
    config: NotifyConfig,
    /// Made by the policy, not yet in the queue file.
    unwritten: Vec<Outgoing>,
}

impl Notifications {
    /// Opens the queue file `db` (creating it) and starts a delivery worker
    /// per channel; what was still queued from an earlier run goes out.
    pub fn start(config: NotifyConfig, db: &Path, now: Now) -> Result<Self, QueueError> {
        let queue = NotifyQueue::open(db)?;
        let dispatcher = Dispatcher::start(db, &config.channels)?;
        Ok(Notifications {
            policy: NotifyPolicy::new(config.clone(), now),
            queue,
            dispatcher: Some(dispatcher),
            db: db.to_path_buf(),
            config,
            unwritten: Vec::new(),
        })
    }

    /// The policy, to feed problem transitions, point alerts,
    /// acknowledgements and host states.
    pub fn policy(&mut self) -> &mut NotifyPolicy {
        &mut self.policy
    }

    /// After a start: the problems open now (from the fleet state). Those
    /// an opening in the queue already told someone about are tracked
    /// without a second opening (their clearing still goes out); the
    /// others are announced as new.
    pub fn restore(
        &mut self,
        now: Now,
        open: impl IntoIterator<Item = ProblemOpened>,
    ) -> Result<(), QueueError> {
        let announced = self.queue.announced()?;
        for problem in open {
            let id = (
                problem.host.clone(),
                problem.check.clone(),
                problem.opened_ms,
            );
            if announced.contains(&id) {
                self.policy.handle_restored(now, problem);
            } else {
                self.policy.handle_opened(now, problem);
            }
        }
        Ok(())
    }

    /// Moves the policy's time to `now`, writes what it made to the queue
    /// and wakes the workers. Returns how many notifications were queued.
    pub fn flush(&mut self, now: Now) -> Result<usize, QueueError> {
        self.policy.handle_timeout(now);
        self.unwritten
            .extend(std::iter::from_fn(|| self.policy.poll_notification()));
        if self.unwritten.is_empty() {
            return Ok(0);
        }
        let added = self.queue.enqueue(now.wall_ms, &self.unwritten)?;
        self.unwritten.clear();
        if let Some(d) = &self.dispatcher {
            d.wake();
        }
        Ok(added)
    }

    /// When [`Notifications::flush`] must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.policy.poll_timeout()
    }

    /// A changed notification file: the policy takes it over, and the
    /// workers restart when the channels changed.
    pub fn reload(&mut self, config: NotifyConfig, now: Now) -> Result<(), QueueError> {
        self.policy.set_config(config.clone(), now);
        if config.channels != self.config.channels {
            if let Some(d) = self.dispatcher.take() {
                d.stop();
            }
            self.dispatcher = Some(Dispatcher::start(&self.db, &config.channels)?);
        }
        self.config = config;
        Ok(())
    }

    /// Each channel's state, for the status page and `/metrics`.
    pub fn health(&self) -> Result<Vec<ChannelHealth>, QueueError> {
        self.queue.health()
    }

    /// Stops the workers after their current attempt; what is queued stays
    /// in the file for the next start.
    pub fn stop(mut self) {
        if let Some(d) = self.dispatcher.take() {
            d.stop();
        }
    }
}
