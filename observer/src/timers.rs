//! Every protocol timer and observer limit (SPEC §7, §9), documented in one
//! place. A change here changes how the observer behaves on the LAN.

use std::time::Duration;

/// Beacon interval assumed until two beacons from one supervisor were heard.
pub const DEFAULT_BEACON_INTERVAL: Duration = Duration::from_secs(5);
/// Learned beacon intervals are clamped to this range.
pub const MIN_BEACON_INTERVAL: Duration = Duration::from_millis(200);
pub const MAX_BEACON_INTERVAL: Duration = Duration::from_secs(120);
/// A supervisor is lost after this many beacon intervals without a beacon.
pub const BEACONS_LOST: u32 = 3;

/// A supervisor tried on its beacon that has not answered this host's
/// requests after this long is left for another one that beacons (a beacon
/// can be a replay from an intruder's address).
pub const UNANSWERED_MOVE: Duration = Duration::from_secs(3);

/// Heartbeats go to every supervisor heard, this often.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// Between the two `Goodbye`s of a clean stop: far enough apart that one
/// burst of loss does not take both, short enough not to delay the stop.
pub const GOODBYE_GAP: Duration = Duration::from_millis(20);

/// Configuration (re-)requests back off from the first to the last value,
/// doubling.
pub const CONFIG_RETRY_FIRST: Duration = Duration::from_secs(1);
pub const CONFIG_RETRY_MAX: Duration = Duration::from_secs(10);
/// After "no configuration for this host", ask again this often.
pub const NO_CONFIG_RETRY: Duration = Duration::from_secs(60);

/// Unacknowledged event datagrams are re-sent after this time-out, doubling
/// up to the maximum.
pub const RETRANSMIT_FIRST: Duration = Duration::from_millis(500);
pub const RETRANSMIT_MAX: Duration = Duration::from_secs(8);
/// The chosen supervisor is in doubt when events are outstanding and nothing
/// was heard from it for this long, or when its beacon is this much overdue
/// (see the failover rule in `session.rs`).
pub const PROBE_AFTER: Duration = Duration::from_secs(1);
/// While in doubt (and another supervisor beacons), a probe (a
/// configuration request, answered at once) goes to it this often.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(50);
/// This many probes in a row without anything heard from it: it is left.
/// With [`PROBE_AFTER`] and [`PROBE_INTERVAL`] a killed supervisor is left
/// about 2 s after its last answer; one losing 30 % of datagrams each way
/// misses all twenty with a chance of about one in a million per doubt.
pub const PROBES_TO_LEAVE: u32 = 20;
/// Move to another beaconing supervisor when outstanding events got no
/// acknowledgement for this long (a supervisor that answers probes but
/// cannot write its stream).
pub const ACK_SILENCE_FAILOVER: Duration = Duration::from_secs(10);
/// Most event datagrams in flight at once.
pub const MAX_FLIGHTS: usize = 256;
/// Most events in flight at once.
pub const MAX_EVENTS_IN_FLIGHT: usize = 4096;
/// Receive buffer asked of the kernel for the socket that talks to
/// supervisors (best effort; capped by `net.core.rmem_max`).
pub const SESSION_RECEIVE_BUFFER: usize = 1 << 20;

/// Events kept in the spool; past it the oldest are dropped and reported.
pub const SPOOL_CAPACITY: usize = 100_000;
/// After the spool could not reserve event ids on disk, the write is tried
/// again this often (the events wait meanwhile).
pub const SPOOL_RETRY: Duration = Duration::from_secs(1);
/// Event ids are reserved on disk in blocks this large.
pub const ID_BLOCK: u64 = 10_000;

/// Process checks run this often.
pub const PROCESS_CHECK_INTERVAL: Duration = Duration::from_secs(20);
/// An idle blocking thread (readings of processes and metrics, HTTP
/// probes) is kept this long: longer than the usual intervals between
/// readings (20 s, 60 s), so they reuse one thread instead of creating one
/// each time (the runtime's default keeps it 10 s).
pub const BLOCKING_THREAD_KEEP_ALIVE: Duration = Duration::from_secs(90);
/// Commands run this often.
pub const COMMAND_INTERVAL: Duration = Duration::from_secs(60);
/// A command still running after this is killed with its children.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Command output kept; the rest is read and discarded.
pub const COMMAND_OUTPUT_CAP: usize = 1 << 20;

/// Log files are re-checked this often even without a notification while
/// some followed file has none that works: its directory could not be
/// watched, or its path is a symbolic link (written through elsewhere).
pub const LOG_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The slow fallback poll, when every followed file's directory is watched:
/// notifications drive reading, and an idle observer wakes less often.
pub const LOG_POLL_INTERVAL_WATCHED: Duration = Duration::from_secs(5);
/// A slow poll due within this is done early, in a wake-up that something
/// else caused (a beacon, a heartbeat), rather than waking the observer
/// again a moment later.
pub const LOG_POLL_EARLY: Duration = Duration::from_secs(1);
/// Lines longer than this are cut.
pub const MAX_LINE: usize = 64 * 1024;
/// Bytes read from one file per pass before other work gets a turn.
pub const READ_BUDGET: usize = 1 << 20;
/// Log files are not read while this many events wait unacknowledged: under
/// a burst, or while no supervisor answers, the file itself is the buffer,
/// so lines are read late rather than read and then dropped from a full
/// spool. One pass ([`READ_BUDGET`]) of short lines still fits in the rest
/// of the spool.
pub const READ_PAUSE_QUEUE: usize = SPOOL_CAPACITY / 4;
/// A rotated-away file is still read until it has been quiet this long.
pub const ROTATED_GRACE: Duration = Duration::from_secs(5);
/// On start, a followed file is resumed at most this far before its end;
/// what lies before is skipped (and reported in one event).
pub const RESUME_MAX_BEHIND: u64 = 64 << 20;
/// Read positions that only cover lines which raised nothing are written
/// at most this often (positions that cover spooled events are written at
/// once).
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// Watches on missing directories are retried this often.
pub const WATCH_RETRY: Duration = Duration::from_secs(10);

/// A spool compaction that keeps failing (a full disk) is logged at most
/// this often.
pub const SPOOL_FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);
/// A datagram that fails to decode logs its sender at most this often.
pub const DECODE_LOG_INTERVAL: Duration = Duration::from_secs(60);
