//! Whether a host is being heard from: one `Host is inactive` when it falls
//! silent for `max_idle`, one `Host is active again` when it returns, and
//! nothing in between however often it is checked.

use std::time::{Duration, Instant};

/// What a liveness check or a datagram changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LivenessChange {
    WentInactive,
    CameBack,
}

/// Silence tracking of one host with a configuration file.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    last_heard: Instant,
    inactive: bool,
}

impl Liveness {
    /// Starts the silence clock at `now` (supervisor start, or when the
    /// host's file appeared).
    pub fn new(now: Instant) -> Self {
        Liveness {
            last_heard: now,
            inactive: false,
        }
    }

    /// A host that was reported inactive before a restart: still inactive,
    /// so its silence is not reported a second time.
    pub fn restored_inactive(now: Instant) -> Self {
        Liveness {
            last_heard: now,
            inactive: true,
        }
    }

    /// A valid datagram naming the host arrived.
    #[must_use]
    pub fn heard(&mut self, now: Instant) -> Option<LivenessChange> {
        self.last_heard = self.last_heard.max(now);
        if self.inactive {
            self.inactive = false;
            return Some(LivenessChange::CameBack);
        }
        None
    }

    /// Checks for silence longer than `max_idle`.
    #[must_use]
    pub fn check(&mut self, now: Instant, max_idle: Duration) -> Option<LivenessChange> {
        if !self.inactive && now.saturating_duration_since(self.last_heard) >= max_idle {
            self.inactive = true;
            return Some(LivenessChange::WentInactive);
        }
        None
    }

    /// When the host will have been silent for `max_idle`, unless heard
    /// before; `None` while it is reported inactive.
    pub fn deadline(&self, max_idle: Duration) -> Option<Instant> {
        (!self.inactive).then(|| self.last_heard + max_idle)
    }

    pub fn is_inactive(&self) -> bool {
        self.inactive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_reported_once_and_return_once() {
        let t0 = Instant::now();
        let idle = Duration::from_secs(180);
        let mut l = Liveness::new(t0);
        assert_eq!(l.check(t0 + Duration::from_secs(179), idle), None);
        assert_eq!(l.deadline(idle), Some(t0 + idle));
        assert_eq!(l.check(t0 + idle, idle), Some(LivenessChange::WentInactive));
        assert_eq!(l.deadline(idle), None);
        assert_eq!(l.check(t0 + 2 * idle, idle), None);
        assert_eq!(l.heard(t0 + 2 * idle), Some(LivenessChange::CameBack));
        assert_eq!(l.heard(t0 + 2 * idle), None);
    }
}
