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
//!
//! The supervisor's loop feeds the policy and queues what it polls; the
//! dispatcher does the rest.

mod batch;
pub mod channels;
pub mod dispatch;
pub mod input;
pub mod payload;
pub mod policy;
pub mod queue;

pub use dispatch::Dispatcher;
pub use payload::{Escape, Item, Notification, NotifyEvent};
pub use policy::{HostState, NotifyPolicy, Outgoing, PointAlert, ProblemOpened};
pub use queue::{ChannelHealth, Delivery, NotifyQueue, QueueError};
