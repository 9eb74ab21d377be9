//! Every timer and bound of the supervisor, in one place, and the state
//! machine's table of armed timers ([`TimerTable`], after quinn-proto: a
//! small enum of timers, the next wake-up is the earliest armed one).
//!
//! Protocol limits (datagram size, sealing age, chunk size) live in
//! [`wire::limits`]; what is here is the supervisor's own pacing and the caps
//! that keep its memory bounded whatever arrives from the network.
//!
//! Idle, the supervisor wakes only for what is due: a beacon every
//! `beacon_interval`, the earliest moment a host can have gone silent, the
//! counters line, and the folder watch's safety-net re-read. Nothing polls
//! on a short period.

use std::time::{Duration, Instant};

/// Least time between two resets sent for one host. A burst of file saves
/// (or heartbeats that keep disagreeing) then costs one reset a second.
pub const RESET_MIN_INTERVAL: Duration = Duration::from_secs(1);

/// How often a host without a configuration file that keeps asking for one
/// is mentioned in the log.
pub const NO_CONFIG_LOG_INTERVAL: Duration = Duration::from_secs(3600);

/// The sender of dropped datagrams (bad input) is named in the log at most
/// this often, per sender address.
pub const BAD_INPUT_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Most sender addresses remembered for that rate limit; beyond it (a flood
/// from many addresses) drops are counted but not each named.
pub const MAX_BAD_SENDERS_LOGGED: usize = 1024;

/// At most one log line a minute about a failing event stream, or about
/// datagrams that could not be sent.
pub const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Counters go to the log at this interval.
pub const COUNTERS_LOG_INTERVAL: Duration = Duration::from_secs(300);

/// Folder notifications are gathered until the folders have been quiet
/// this long before they are re-read; small against the one second in which
/// a changed host must be reset.
pub const WATCH_DEBOUNCE: Duration = Duration::from_millis(250);

/// Longest wait for quiet folders after the first notification, so a file
/// written without pause still gets its hosts reset within the second.
pub const WATCH_DEBOUNCE_MAX: Duration = Duration::from_millis(500);

/// How often the folder watcher retries watching a folder that disappeared
/// (only while one is missing).
pub const WATCH_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// How often both folders are re-read even without a notification: a safety
/// net for changes inotify does not report (a folder on NFS edited from
/// another machine, a notification queue overflow). Unchanged content resets
/// nobody, so this only costs the reads.
pub const FULL_RESCAN_INTERVAL: Duration = Duration::from_secs(30);

/// Most datagrams read in one wake-up before the stream is written and the
/// acknowledgements are sent: large batches make few `write` calls at
/// 100,000 events/s, small enough that acknowledgements stay prompt.
pub const RECEIVE_BURST: usize = 512;

/// Receive buffer asked of the kernel (best effort; capped by
/// `net.core.rmem_max`): events arrive in bursts.
pub const RECEIVE_BUFFER_BYTES: usize = 4 << 20;

/// Most runs of consecutive event ids remembered per host for
/// de-duplication, above the observer's `floor`. An observer numbers its
/// events consecutively, so a run only ends where an event has not arrived
/// yet (in flight, or lost and to be re-sent): a handful per host. Past this
/// the oldest runs are forgotten.
pub const MAX_SEEN_RUNS_PER_HOST: usize = 4096;

/// Most hosts without a configuration file tracked at once (they are tracked
/// only to rate-limit log lines). Beyond this they are still answered but
/// no longer remembered, so a flood of invented names cannot grow memory.
pub const MAX_UNCONFIGURED_HOSTS: usize = 16_384;

/// Most datagrams waiting to be sent; beyond this new ones are dropped and
/// counted (a configuration of 1 MiB is ~1,000 chunks).
pub const MAX_QUEUED_TRANSMITS: usize = 65_536;

/// Most notes (things to maybe log) waiting for the shell; beyond this they
/// are counted and dropped. The shell reads them after every wake-up, so
/// only an embedder that never reads them reaches it.
pub const MAX_QUEUED_NOTES: usize = 4096;

/// Most problem and host-state happenings waiting for the notifications
/// (read by the shell after every wake-up; a receive burst of 512 events
/// makes at most that many).
pub const MAX_QUEUED_HAPPENINGS: usize = 65_536;

/// A supervisor that no observer's heartbeat has named as its choice for
/// this long is taken as gone, and its hosts are notified for by the others
/// (three heartbeat intervals: observers that lose their supervisor name
/// another within a few beacons).
pub const PEER_QUIET: Duration = Duration::from_secs(45);

/// Most other supervisors remembered as named by heartbeats.
pub const MAX_PEERS_NAMED: usize = 64;

/// Least time between two saves of the fleet state (`fleet-state.json`)
/// while it keeps changing.
pub const FLEET_SAVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Most supervisor-raised stream lines kept while the stream cannot be
/// written; older ones are dropped and counted.
pub const MAX_PENDING_SYSTEM_LINES: usize = 10_000;

/// Bytes at the end of the stream read back at start to recognise events
/// written just before a restart (about 100,000 lines): an observer re-sends
/// what was written but not acknowledged, and it must not be written twice.
pub const RESTART_DEDUP_TAIL: u64 = 16 << 20;

/// The state machine's timers. Each has one slot in a [`TimerTable`]; the
/// next wake-up is the earliest armed slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The next beacon, every `beacon_interval`.
    Beacon,
    /// The earliest moment a host with a file can have been silent for
    /// `max_idle`; re-armed from the hosts' last datagrams when it fires.
    Liveness,
    /// The earliest moment a held-back reset may go out
    /// ([`RESET_MIN_INTERVAL`] after the host's last one).
    DeferredReset,
}

impl Timer {
    const COUNT: usize = 3;

    fn index(self) -> usize {
        match self {
            Timer::Beacon => 0,
            Timer::Liveness => 1,
            Timer::DeferredReset => 2,
        }
    }
}

/// When each [`Timer`] fires; `None` when it is not armed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerTable {
    at: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.at[timer.index()] = Some(at);
    }

    /// Arms `timer` at `at` unless it is already armed earlier.
    pub fn set_earliest(&mut self, timer: Timer, at: Instant) {
        let slot = &mut self.at[timer.index()];
        *slot = Some(slot.map_or(at, |old| old.min(at)));
    }

    pub fn stop(&mut self, timer: Timer) {
        self.at[timer.index()] = None;
    }

    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.at[timer.index()]
    }

    /// Whether `timer` is armed and due at `now`.
    pub fn is_due(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// The earliest armed timer.
    pub fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_wake_up_is_the_earliest_armed_timer() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!(table.next(), None);
        table.set(Timer::Beacon, t0 + Duration::from_secs(5));
        table.set(Timer::Liveness, t0 + Duration::from_secs(180));
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(5)));
        table.set_earliest(Timer::DeferredReset, t0 + Duration::from_secs(1));
        table.set_earliest(Timer::DeferredReset, t0 + Duration::from_secs(2));
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(1)));
        assert!(table.is_due(Timer::DeferredReset, t0 + Duration::from_secs(1)));
        assert!(!table.is_due(Timer::Beacon, t0 + Duration::from_secs(1)));
        table.stop(Timer::DeferredReset);
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(5)));
    }
}
