//! Notifications: each problem reaches a person once, reliably.
//!
//! * [`policy`] — the pure state machine: problem transitions, point
//!   alerts, acknowledgements, host states and time in; notifications out
//!   (wait, grouping, repeat, escalation, muting, quiet hours).
//! * [`input`] — the policy's inputs and outputs.
//! * [`payload`] — what a notification says, and the `{placeholder}`
//!   templates channels render it with.
//! * [`queue`] — the persistent queue (SQLite): at-least-once delivery with
//!   retries, back-off and idempotency keys; per-channel health.
//! * [`channels`] — thin senders: webhook, Alertmanager, email, exec.
//! * [`dispatch`] — the worker threads that take the queue's due
//!   notifications to their channels.
//! * [`service`] — all of it as one value ([`Notifications`]) for the
//!   supervisor's loop: feed [`Notifications::policy`], call
//!   [`Notifications::flush`] each turn, wake at
//!   [`Notifications::poll_timeout`].
//! * [`in_loop`] — that value inside the supervisor's loop: started from
//!   `notify:`, fed the state machine's happenings, reloaded when the file
//!   changes.

mod batch;
pub mod channels;
pub mod dispatch;
pub mod in_loop;
pub mod input;
pub mod payload;
pub mod policy;
pub mod queue;
pub mod service;

pub use dispatch::Dispatcher;
pub use in_loop::LoopNotifications;
pub use payload::{Escape, Item, Notification, NotifyEvent};
pub use policy::{HostState, NotifyPolicy, Outgoing, PointAlert, ProblemOpened};
pub use queue::{ChannelHealth, Delivery, NotifyQueue, QueueError};
pub use service::Notifications;
