//! Every timer and bound of the supervisor, in one place.
//!
//! Protocol limits (datagram size, sealing age, chunk size) live in
//! [`wire::limits`]; what is here is the supervisor's own pacing and the caps
//! that keep its memory bounded whatever arrives from the network.

use std::time::{Duration, Instant};

/// Rate limit of one kind of log line: `true` (and `last` set to `now`)
/// when nothing of the kind was logged in the last `every`.
pub fn due(last: &mut Option<Instant>, now: Instant, every: Duration) -> bool {
    if last.is_some_and(|at| now.saturating_duration_since(at) < every) {
        return false;
    }
    *last = Some(now);
    true
}

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

/// Hosts are checked for silence this often (a scan of all hosts with a
/// configuration file: cheap, and it bounds how late `Host is inactive` is).
pub const LIVENESS_SCAN_INTERVAL: Duration = Duration::from_secs(1);

/// Folder notifications are gathered this long before the folders are
/// re-read; small against the one second in which a changed host must be
/// reset.
pub const WATCH_DEBOUNCE: Duration = Duration::from_millis(250);

/// How often the folder watcher retries watching a folder that disappeared.
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

/// Most supervisor-raised stream lines kept while the stream cannot be
/// written; older ones are dropped and counted.
pub const MAX_PENDING_SYSTEM_LINES: usize = 10_000;

/// Bytes at the end of the stream read back at start to recognise events
/// written just before a restart (about 100,000 lines): an observer re-sends
/// what was written but not acknowledged, and it must not be written twice.
pub const RESTART_DEDUP_TAIL: u64 = 16 << 20;
