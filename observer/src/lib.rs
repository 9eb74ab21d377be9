//! The 436 observer: one small binary per monitored host.
//!
//! The protocol and every monitor are plain state machines fed the current
//! time and their input, returning what to send or raise; [`daemon`] is the
//! thin tokio shell around them.
//!
//! * [`timers`] — every protocol timer and observer limit, in one place.
//! * [`raised`] — an event as a monitor raises it, before it has an id.
//! * [`problems`] — observer-side problems reported centrally (SPEC §6).
//! * [`session`] — supervisor choice, configuration fetch, heartbeats, the
//!   in-flight window and retransmission ([`session::Session`]).
//! * [`spool`] — the on-disk spool of unacknowledged events and the event id
//!   high-water mark ([`spool::EventSpool`]).
//! * [`clock`] — local wall-clock minutes for active windows.
//! * [`log_rule`] — the `alert_*` rules of a log group over time blocks.
//! * [`tailer`] — following one log file across rotations ([`tailer::LogTailer`]).
//! * [`logs`] — every followed file and the groups fed by each.
//! * [`process`] — `process:` / `alert_running:` ([`process::ProcessCheck`])
//!   and the process table.
//! * [`command`] — `run:` and its alerts ([`command::CommandCheck`]), and
//!   running a command with a time-out.
//! * [`sysmetrics`] — system metrics read in-process (`metric:`): what can be
//!   asked ([`sysmetrics::MetricSpec`]), reading ([`sysmetrics::SystemReader`])
//!   and the values alerts compare ([`sysmetrics::MetricValue`]).
//! * [`probe`] — service probes (`probe: tcp|http|ping`): what a probe asks
//!   ([`probe::ProbeSpec`]), running it ([`probe::Prober`]) and what it found
//!   ([`probe::ProbeOutcome`]); names resolved without glibc's NSS.
//! * [`monitors`] — the monitors of one applied configuration.
//! * [`daemon`] — the async shell: sockets, timers, notifications, shutdown.

pub mod clock;
pub mod command;
pub mod daemon;
pub mod log_rule;
pub mod logs;
pub mod monitors;
pub mod probe;
pub mod problems;
pub mod process;
pub mod raised;
pub mod session;
pub mod spool;
pub mod sysmetrics;
pub mod tailer;
pub mod timers;
