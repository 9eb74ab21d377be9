//! What the notification policy takes in (problem transitions, point
//! alerts, host states) and gives out (notifications for the queue), as
//! the supervisor's fleet state will hand them over.

use super::payload::Notification;

/// A problem that opened, as the fleet state reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemOpened {
    pub host: String,
    pub check: String,
    pub tags: Vec<String>,
    /// `alert`, `metric` or `system`.
    pub kind: String,
    pub message: String,
    /// When it opened on the observer, ms since the Unix epoch.
    pub opened_ms: u64,
}

/// A point alert (a log line, a count over a limit): nothing to clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointAlert {
    pub host: String,
    pub check: String,
    pub tags: Vec<String>,
    pub kind: String,
    pub message: String,
}

/// A host's liveness, as far as notifications care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostState {
    Up,
    Inactive,
    Stopped,
}

/// One notification to put in the queue, for one channel.
#[must_use = "a notification must be queued"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub channel: String,
    pub notification: Notification,
}

/// The check id of a host's own state.
pub const HOST_CHECK: &str = "host";
