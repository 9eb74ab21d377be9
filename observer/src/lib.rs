//! The 436 observer: one small binary per monitored host.
//!
//! The protocol and every monitor are plain state machines fed the current
//! time and their input, returning what to send or raise; [`daemon`] is the
//! thin tokio shell around them.
//!
//! * [`timers`] — every protocol timer and observer limit, in one place.
//! * [`raised`] — an event as a monitor raises it, before it has an id.
//! * [`problems`] — problems as state: every check's results, open problems, openings and clearings.
//! * [`session`] — supervisor choice and failover, configuration fetch, heartbeats, the
//!   in-flight window and retransmission ([`session::Session`]).
//! * [`spool`] — the on-disk spool of unacknowledged events and the event id
//!   high-water mark ([`spool::EventSpool`]).
//! * [`clock`] — local wall-clock minutes for active windows.
//! * [`log_rule`] — the `alert_*` rules of a log group over time blocks.
//! * [`tailer`] — following one log file across rotations ([`tailer::LogTailer`]).
//! * [`scan`] — finding the lines any pattern of a file may match, a block at
//!   a time ([`scan::LineScan`]).
//! * [`positions`] — read positions kept across restarts, written once
//!   the events of their lines are spooled ([`positions::PositionGate`]).
//! * [`logs`] — every followed file and the groups fed by each.
//! * [`process`] — `process:` / `alert_running:` ([`process::ProcessCheck`])
//!   and the process table.
//! * [`command`] — `run:` and its alerts ([`command::CommandCheck`]), and
//!   running a command with a time-out.
//! * [`metric_check`] — `metric:` groups: a reading against a limit, or as a
//!   metric event ([`metric_check::MetricCheck`]).
//! * [`probe_check`] — `probe:` groups: failures as problems, response time
//!   or certificate days against a limit or as metric events
//!   ([`probe_check::ProbeCheck`]).
//! * [`checks`] — periodic checks and their one scheduler ([`checks::Checks`]).
//! * [`core`] — the observer's core: session, checks, logs, problems and
//!   event ids, with the persist-then-release gate ([`core::Observer`]).
//! * [`daemon`] — the async shell: the loop, shutdown.
//! * [`net`] — the sockets and the log of undecodable datagrams.
//! * [`watch`] — file-change notifications for followed log files.
//! * [`jobs`] — running checks' blocking work, stopped at shutdown.
//! * [`service`] — the systemd unit of `observer install`.
//! * [`try_file`] — `observer --try FILE`: every check of a host file run
//!   once here, with what each would raise.
//! * [`sysmetrics`] — system metrics read in-process (`metric:`): what can be
//!   asked ([`sysmetrics::MetricSpec`]), reading ([`sysmetrics::SystemReader`])
//!   and the values alerts compare ([`sysmetrics::MetricValue`]).
//! * [`probe`] — service probes (`probe: tcp|http|ping`): what a probe asks
//!   ([`probe::ProbeSpec`]), running it ([`probe::Prober`]) and what it found
//!   ([`probe::ProbeOutcome`]); names resolved without glibc's NSS.

pub mod checks;
pub mod clock;
pub mod command;
pub mod core;
pub mod daemon;
pub mod jobs;
pub mod log_rule;
pub mod logs;
pub mod metric_check;
pub mod net;
pub mod positions;
pub mod probe;
pub mod probe_check;
pub mod problems;
pub mod process;
pub mod raised;
pub mod scan;
pub mod service;
pub mod session;
pub mod spool;
pub mod sysmetrics;
pub mod tailer;
pub mod timers;
pub mod try_file;
pub mod watch;
