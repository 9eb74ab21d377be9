//! The observer's core: every decision of the observer, without I/O of its
//! own (quinn-proto style). It owns the [`Session`] (the protocol), the
//! periodic [`Checks`], the followed [`LogFiles`], the [`ProblemBoard`] and
//! the events raised, and gives events their ids. The shell feeds it one
//! [`Now`] with each input (`handle_*`) and acts on what the `poll_*` /
//! `take_*` methods return: datagrams to send, jobs to run, directories to
//! watch, and batches to write to the spool.
//!
//! Persist, then release (the supervisor's stream gate, mirrored): a raised
//! event gets its id here and waits in a [`SpoolBatch`]; only when the
//! shell reports the batch written ([`Observer::handle_spool_written`]) do
//! its events enter the session and become datagrams. If the spool could
//! not reserve the batch's ids on disk, its events wait and the write is
//! retried after [`SPOOL_RETRY`] (sending an id that a restart could hand
//! out again would make the supervisor drop the later event as a
//! duplicate). If only the records could not be written (a full disk), the
//! events are still sent: they are kept in memory, the spool retries the
//! records with its next write, and a `spool` problem is reported — losing
//! alerts about a full disk to the full disk would be worse.
//!
//! Read positions pass the same gate ([`PositionGate`]): the positions after
//! a pass over the log files are released for the positions file only once
//! every event raised up to then is in the spool (a batch written, not
//! merely sent), so a restart resumes after exactly the lines whose events
//! survived.
//!
//! Log files are read by the core itself (through the tailers of
//! [`LogFiles`]): page-cache reads are short and bounded per pass.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use wire::{CheckEvent, Codec, Event, Message};

use crate::checks::{Checks, Job, JobResult};
use crate::clock::Now;
use crate::logs::{LOG_PROBLEM_PREFIX, LogFiles};
use crate::positions::{PositionGate, Positions, PositionsFile};
use crate::problems::{ProblemBoard, SPOOL_PROBLEM};
use crate::raised::Raised;
use crate::session::{Session, SessionEvent};
use crate::timers::*;

/// Events and acknowledged ids to write to the spool before the events are
/// sent; report the outcome with [`Observer::handle_spool_written`].
#[derive(Debug, Default)]
#[must_use = "the batch must be written and the outcome reported"]
pub struct SpoolBatch {
    /// New events, by increasing id.
    pub events: Vec<CheckEvent>,
    /// Ids acknowledged or dropped: never to be sent again.
    pub settled: Vec<u64>,
}

/// Why a [`SpoolBatch`] was not (fully) written.
#[derive(Debug, thiserror::Error)]
pub enum SpoolFailure {
    /// The id high-water mark could not be raised: nothing was written and
    /// the events must not be sent yet.
    #[error("event ids cannot be reserved: {0}")]
    IdsNotReserved(String),
    /// The ids are safe but the records were not written; the spool keeps
    /// them and writes them with its next batch.
    #[error("events cannot be written to the spool: {0}")]
    RecordsNotWritten(String),
}

/// What the spool held at start.
#[derive(Debug, Default)]
pub struct Spooled {
    /// The lowest id never used (the spool's high-water mark).
    pub next_id: u64,
    /// Unacknowledged events, by increasing id.
    pub events: Vec<CheckEvent>,
}

/// The observer's core; see the module doc.
pub struct Observer {
    session: Session,
    checks: Checks,
    logs: LogFiles,
    problems: ProblemBoard,
    next_id: u64,
    /// Events with ids, not yet handed to the spool.
    unwritten: Vec<CheckEvent>,
    /// Events of the batch the shell is writing.
    writing: Option<Vec<CheckEvent>>,
    /// After ids could not be reserved, no batch before this.
    spool_retry_at: Option<Instant>,
    spool_failing: bool,
    jobs: VecDeque<Job>,
    follow: Option<Vec<PathBuf>>,
    poll_files_now: bool,
    next_file_poll: Instant,
    /// [`LOG_POLL_INTERVAL`], or [`LOG_POLL_INTERVAL_WATCHED`] while every
    /// followed file has working notifications.
    file_poll_interval: Duration,
    positions: PositionGate,
    /// The lowest id whose record the spool failed to write and still
    /// holds (written with its next batch).
    records_unwritten_from: Option<u64>,
}

impl Observer {
    /// The core of the observer of `host`. `sizing` is a codec of the mode
    /// datagrams will be encoded in; `spooled` is what the spool replayed.
    pub fn new(host: &str, sizing: Codec, now: Now, spooled: Spooled) -> Observer {
        let mut session = Session::new(host, sizing, SPOOL_CAPACITY, now.mono);
        if !spooled.events.is_empty() {
            tracing::info!(
                "spool: {} unacknowledged events will be re-sent",
                spooled.events.len()
            );
        }
        let max_seen = spooled.events.last().map_or(0, |e| e.event.id + 1);
        // Already in the spool: released at once.
        session.queue_events(now.mono, spooled.events);
        Observer {
            session,
            checks: Checks::new(),
            logs: LogFiles::new(),
            problems: ProblemBoard::new(),
            next_id: spooled.next_id.max(max_seen),
            unwritten: Vec::new(),
            writing: None,
            spool_retry_at: None,
            spool_failing: false,
            jobs: VecDeque::new(),
            follow: None,
            poll_files_now: false,
            next_file_poll: now.mono + LOG_POLL_INTERVAL,
            file_poll_interval: LOG_POLL_INTERVAL,
            positions: PositionGate::new(Positions::default()),
            records_unwritten_from: None,
        }
    }

    /// The read positions of the last run (the positions file): files the
    /// configuration follows resume from them.
    pub fn resume_from(&mut self, positions: Positions) {
        self.logs.resume_from(positions.clone());
        self.positions = PositionGate::new(positions);
    }

    /// The positions file to write before `batch` goes to the spool (see
    /// [`crate::positions`]), if the batch carries events and log files
    /// were read since the last positions were written.
    pub fn positions_before(&self, batch: &SpoolBatch) -> Option<PositionsFile> {
        self.positions.before_batch(batch.events.first()?.event.id)
    }

    /// Read positions to write to the positions file now (see the module
    /// doc); `final_write` at shutdown, when no interval is waited for.
    pub fn take_positions(&mut self, now: Instant, final_write: bool) -> Option<Positions> {
        let at = if final_write {
            now + CHECKPOINT_INTERVAL
        } else {
            now
        };
        self.positions.take_due(at)
    }

    /// The protocol state (read-only: for tests and status).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Unacknowledged events released to the session (for spool
    /// compaction).
    pub fn unacked(&self) -> impl Iterator<Item = &CheckEvent> {
        self.session.unacked()
    }

    pub fn queue_len(&self) -> usize {
        self.session.queue_len()
    }

    /// Events raised and not yet written to the spool.
    pub fn unwritten_len(&self) -> usize {
        self.unwritten.len() + self.writing.as_ref().map_or(0, Vec::len)
    }

    /// One decoded datagram.
    pub fn handle_datagram(&mut self, now: Now, from: SocketAddr, msg: Message) {
        self.session.handle_datagram(now.mono, from, msg);
        self.after_input(now);
    }

    /// Paths reported changed by file notifications.
    pub fn handle_files_changed(&mut self, now: Now, changed: &[PathBuf]) {
        if !self.logs_have_room() {
            // Read everything once acknowledgements make room.
            self.poll_files_now = true;
            return;
        }
        let followed: Vec<PathBuf> = self.logs.paths().map(PathBuf::from).collect();
        let mut raised = Vec::new();
        let mut read = false;
        for f in followed {
            let hit = changed
                .iter()
                .any(|c| *c == f || Some(c.as_path()) == f.parent());
            if hit {
                read = true;
                self.poll_files_now |=
                    self.logs
                        .poll_file(&f, now, &mut self.problems, &mut raised);
            }
        }
        self.raise(raised);
        if read {
            self.take_read_positions();
        }
    }

    /// A finished job of a check.
    pub fn handle_job(&mut self, now: Now, result: JobResult) {
        let raised = self.checks.handle_output(result, now, &mut self.problems);
        self.raise(raised);
    }

    /// Events raised outside the core's own checks (simulations and load
    /// generators): they get ids and go through the spool like any other.
    pub fn handle_raised(&mut self, raised: Vec<Raised>) {
        self.raise(raised);
    }

    /// Timers: the session's, log polling and time blocks, due checks.
    pub fn handle_timeout(&mut self, now: Now) {
        self.session.handle_timeout(now.mono);
        self.after_input(now);
        let mut raised = Vec::new();
        let mut read = false;
        let early = if self.file_poll_interval == LOG_POLL_INTERVAL_WATCHED {
            LOG_POLL_EARLY
        } else {
            Duration::ZERO
        };
        if (self.poll_files_now || now.mono + early >= self.next_file_poll) && self.logs_have_room()
        {
            read = true;
            self.poll_files_now = false;
            self.next_file_poll = now.mono + self.file_poll_interval;
            self.poll_files_now = self.logs.poll_all(now, &mut self.problems, &mut raised);
        }
        self.logs.tick(now, &mut self.problems, &mut raised);
        self.raise(raised);
        if read {
            self.take_read_positions();
        }
        self.jobs.extend(self.checks.due_jobs(now.mono));
        self.spool_capacity(now);
    }

    /// The next batch to write to the spool, if any and none is being
    /// written.
    pub fn take_spool_batch(&mut self, now: Instant) -> Option<SpoolBatch> {
        if self.writing.is_some() || self.spool_retry_at.is_some_and(|t| now < t) {
            return None;
        }
        let settled = self.session.take_settled();
        if self.unwritten.is_empty() && settled.is_empty() {
            return None;
        }
        let events = std::mem::take(&mut self.unwritten);
        self.writing = Some(events.clone());
        Some(SpoolBatch { events, settled })
    }

    /// The outcome of writing the last [`SpoolBatch`]; see the module doc.
    pub fn handle_spool_written(&mut self, now: Now, result: Result<(), SpoolFailure>) {
        let Some(events) = self.writing.take() else {
            return;
        };
        let first_id = events.first().map(|e| e.event.id);
        let release = match &result {
            Ok(()) => {
                // The records a failed write left behind went with this one.
                self.records_unwritten_from = None;
                self.spool_retry_at = None;
                if std::mem::take(&mut self.spool_failing) {
                    let cleared = self.problems.clear(SPOOL_PROBLEM, now.wall_ms);
                    self.raise(cleared.into_iter().collect());
                }
                true
            }
            Err(SpoolFailure::IdsNotReserved(_)) => {
                self.spool_retry_at = Some(now.mono + SPOOL_RETRY);
                // Back in front of anything raised since.
                let later = std::mem::replace(&mut self.unwritten, events.clone());
                self.unwritten.extend(later);
                false
            }
            Err(SpoolFailure::RecordsNotWritten(_)) => {
                self.records_unwritten_from = self.records_unwritten_from.or(first_id);
                true
            }
        };
        if let Err(e) = &result {
            self.spool_failing = true;
            let raised = self
                .problems
                .raise(SPOOL_PROBLEM, &e.to_string(), now.wall_ms);
            self.raise(raised.into_iter().collect());
        }
        let spooled = result.is_ok() && first_id.is_some();
        if release {
            self.session.queue_events(now.mono, events);
            self.spool_capacity(now);
        }
        self.release_positions(spooled);
    }

    /// A datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Message)> {
        self.session.poll_transmit()
    }

    /// A job to start.
    pub fn poll_job(&mut self) -> Option<Job> {
        self.jobs.pop_front()
    }

    /// The log files followed, when that changed: watch their directories.
    pub fn poll_follow(&mut self) -> Option<Vec<PathBuf>> {
        self.follow.take()
    }

    /// Whether every followed file's changes are notified (the shell's
    /// watches): the fallback poll is then slow; without, it is fast again
    /// from `now`.
    pub fn set_files_notified(&mut self, now: Instant, notified: bool) {
        self.file_poll_interval = if notified {
            LOG_POLL_INTERVAL_WATCHED
        } else {
            LOG_POLL_INTERVAL
        };
        self.next_file_poll = self.next_file_poll.min(now + self.file_poll_interval);
    }

    /// The log files followed now.
    pub fn followed(&self) -> Vec<PathBuf> {
        self.logs.paths().map(PathBuf::from).collect()
    }

    /// When [`Observer::handle_timeout`] has something to do next (`now`
    /// when it, or a spool batch, is due at once).
    pub fn poll_timeout(&self, now: Instant) -> Instant {
        let reading = self.logs_have_room();
        let batch_due = !self.unwritten.is_empty()
            && self.writing.is_none()
            && self.spool_retry_at.is_none_or(|t| now >= t);
        if (self.poll_files_now && reading) || batch_due || !self.jobs.is_empty() {
            return now;
        }
        // While reading is paused, acknowledgements (which arrive on the
        // socket) are what resumes it, not the poll timer.
        let file_poll = reading.then_some(self.next_file_poll);
        let retry = self
            .spool_retry_at
            .filter(|_| !self.unwritten.is_empty() && self.writing.is_none());
        let mut t = now + self.file_poll_interval;
        for d in [
            file_poll,
            retry,
            self.session.poll_timeout(),
            self.checks.next_deadline(),
            self.logs.next_deadline(),
        ]
        .into_iter()
        .flatten()
        {
            t = t.min(d);
        }
        t
    }

    /// Whether log files may be read now (see [`READ_PAUSE_QUEUE`]).
    fn logs_have_room(&self) -> bool {
        self.session.queue_len() + self.unwritten_len() < READ_PAUSE_QUEUE
    }

    /// Positions after a pass over the log files, behind every event raised
    /// so far.
    fn take_read_positions(&mut self) {
        self.positions.taken(self.next_id, self.logs.checkpoints());
        self.release_positions(false);
    }

    /// Releases the positions whose events are all in the spool.
    fn release_positions(&mut self, events_spooled: bool) {
        let below = [
            self.records_unwritten_from,
            self.writing
                .as_ref()
                .and_then(|w| w.first())
                .map(|e| e.event.id),
            self.unwritten.first().map(|e| e.event.id),
        ]
        .into_iter()
        .flatten()
        .fold(self.next_id, u64::min);
        self.positions.spooled_below(below, events_spooled);
    }

    /// Gives `raised` their ids; they wait for the next spool batch.
    /// Also hands the session the open problems when they changed, for
    /// its heartbeats.
    fn raise(&mut self, raised: Vec<Raised>) {
        for r in raised {
            let mut e = CheckEvent {
                event: Event {
                    id: self.next_id,
                    time_ms: r.time_ms,
                    tags: r.tags,
                    source: r.source,
                    kind: r.kind,
                    message: r.message,
                    value: r.value,
                },
                check: r.check,
                transition: r.transition,
            };
            e.fit_to_datagram();
            self.next_id += 1;
            self.unwritten.push(e);
        }
        if self.problems.take_changed() {
            self.session
                .set_open_problems(self.problems.open_problems());
        }
    }

    /// The open problems (as heartbeats carry them).
    pub fn open_problems(&self) -> Vec<wire::OpenProblem> {
        self.problems.open_problems()
    }

    /// `Goodbye` datagrams for every supervisor heard (a clean stop: send
    /// them after the spool is flushed).
    pub fn goodbyes(&self, now: Instant) -> Vec<(SocketAddr, Message)> {
        self.session.goodbyes(now)
    }

    fn after_input(&mut self, now: Now) {
        while let Some(ev) = self.session.poll_event() {
            self.on_session_event(ev, now);
        }
    }

    /// Raises (or clears) the spool-full problem after events were queued.
    fn spool_capacity(&mut self, now: Now) {
        let dropped = self.session.take_dropped();
        if dropped > 0 {
            tracing::warn!("spool full: {dropped} oldest events dropped");
            let msg = format!(
                "event spool full: oldest events dropped ({dropped} so far in this episode)"
            );
            let r = self.problems.raise(SPOOL_PROBLEM, &msg, now.wall_ms);
            self.raise(r.into_iter().collect());
        } else if !self.spool_failing && self.session.queue_len() * 10 < SPOOL_CAPACITY * 9 {
            // Cleared once the queue is back below 90 % (no-op unless raised).
            let r = self.problems.clear(SPOOL_PROBLEM, now.wall_ms);
            self.raise(r.into_iter().collect());
        }
    }

    fn on_session_event(&mut self, ev: SessionEvent, now: Now) {
        match ev {
            SessionEvent::Configure { version, text } => {
                let (config, errors) = conf::parse_host(&text);
                tracing::info!(
                    "configuration {version:016x} applied: {} groups, {} with errors",
                    config.group_count(),
                    errors.len()
                );
                // Logged here only: the supervisor reports each error once.
                for e in &errors {
                    tracing::warn!("configuration group failed to load: {e}");
                }
                self.apply(&config, now);
            }
            SessionEvent::NoConfig => {
                tracing::info!(
                    "the supervisor has no configuration for this host; running nothing"
                );
                self.apply(&conf::HostConfig::default(), now);
            }
            SessionEvent::SupervisorChosen { addr, name } => {
                tracing::info!("working with supervisor {name} at {addr}");
            }
            SessionEvent::SupervisorLost { addr } => {
                tracing::warn!("supervisor at {addr} went silent; waiting for a beacon");
            }
        }
    }

    /// Runs exactly the monitors of `config`; problems of what is gone are
    /// cleared, those of checks it keeps (same id) stay as they are.
    fn apply(&mut self, config: &conf::HostConfig, now: Now) {
        let mut raised = self.checks.apply(config, now, &mut self.problems);
        self.logs.apply(&config.logs, now.mono);
        let files = self.followed();
        let logs: HashSet<String> = files.iter().map(|f| crate::logs::problem_key(f)).collect();
        let log_checks: HashSet<String> = config.logs.iter().map(|l| l.check.to_string()).collect();
        raised.extend(
            self.problems
                .clear_stale("log-", &|k| log_checks.contains(k), now.wall_ms),
        );
        raised.extend(self.problems.clear_stale(
            LOG_PROBLEM_PREFIX,
            &|k| logs.contains(k),
            now.wall_ms,
        ));
        self.raise(raised);
        self.take_read_positions();
        self.follow = Some(files);
        self.poll_files_now = true;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::LocalMinute;

    fn at(t0: Instant, ms: u64) -> Now {
        Now {
            mono: t0 + Duration::from_millis(ms),
            wall_ms: 1_000 + ms as i64,
            local: LocalMinute {
                weekday: 1,
                hour: 12,
                minute: 0,
            },
        }
    }

    /// An observer working with a supervisor at `sup` (heard by its beacon).
    fn observer(t0: Instant, sup: SocketAddr) -> Observer {
        let mut o = Observer::new("h", Codec::open(), at(t0, 0), Spooled::default());
        let beacon = Message::Beacon {
            supervisor: "s".into(),
            run_id: 1,
        };
        o.handle_datagram(at(t0, 0), sup, beacon);
        while o.poll_transmit().is_some() {}
        o
    }

    fn events_sent(o: &mut Observer) -> Vec<String> {
        let mut out = Vec::new();
        while let Some((_, m)) = o.poll_transmit() {
            if let Message::EventsV2 { events, .. } = m {
                out.extend(events.into_iter().map(|e| e.event.message));
            }
        }
        out
    }

    fn alert(msg: &str) -> Raised {
        Raised::alert(1, "t", None, msg.to_string())
    }

    #[test]
    fn files_are_polled_slowly_only_while_every_change_is_notified() {
        // No supervisor heard yet: no session timer comes before these.
        let t0 = Instant::now();
        let mut o = Observer::new("h", Codec::open(), at(t0, 0), Spooled::default());
        o.handle_timeout(at(t0, 1_000));
        assert!(o.poll_timeout(t0 + Duration::from_millis(1_000)) <= t0 + Duration::from_secs(2));
        o.set_files_notified(t0 + Duration::from_millis(1_000), true);
        // The poll already set stays; the next one is the slow interval on.
        o.handle_timeout(at(t0, 2_000));
        let now = t0 + Duration::from_millis(2_000);
        assert!(o.poll_timeout(now) >= now + Duration::from_secs(3));
        // Woken by something else within a second of the slow poll: the
        // poll is done now, not a moment later.
        o.handle_timeout(at(t0, 6_500));
        let now = t0 + Duration::from_millis(6_500);
        assert!(o.poll_timeout(now) >= now + Duration::from_secs(3));
        // A watch lost: polled fast again from now.
        o.set_files_notified(now, false);
        assert!(o.poll_timeout(now) <= now + LOG_POLL_INTERVAL);
    }

    #[test]
    fn an_event_is_sent_only_after_its_batch_is_reported_written() {
        let t0 = Instant::now();
        let sup: SocketAddr = "10.0.0.1:9001".parse().unwrap();
        let mut o = observer(t0, sup);
        o.handle_raised(vec![alert("a"), alert("b")]);
        o.handle_timeout(at(t0, 1));
        assert!(events_sent(&mut o).is_empty());
        let batch = o.take_spool_batch(t0).unwrap();
        assert_eq!(batch.events.len(), 2);
        assert!(batch.events[0].event.id < batch.events[1].event.id);
        // While the batch is being written: no second batch, nothing sent.
        o.handle_raised(vec![alert("c")]);
        assert!(o.take_spool_batch(t0).is_none());
        assert!(events_sent(&mut o).is_empty());
        o.handle_spool_written(at(t0, 2), Ok(()));
        assert_eq!(events_sent(&mut o), ["a", "b"]);
        let next = o.take_spool_batch(t0).unwrap();
        assert_eq!(next.events[0].event.message, "c");
        assert!(next.events[0].event.id > batch.events[1].event.id);
    }

    #[test]
    fn events_whose_ids_could_not_be_reserved_wait_and_are_retried() {
        let t0 = Instant::now();
        let sup: SocketAddr = "10.0.0.1:9001".parse().unwrap();
        let mut o = observer(t0, sup);
        o.handle_raised(vec![alert("a")]);
        let batch = o.take_spool_batch(t0).unwrap();
        let id = batch.events[0].event.id;
        o.handle_spool_written(
            at(t0, 1),
            Err(SpoolFailure::IdsNotReserved("disk full".into())),
        );
        assert!(events_sent(&mut o).is_empty());
        // Not before the retry time; then the same event (same id) first,
        // with the spool problem raised behind it.
        assert!(o.take_spool_batch(t0 + Duration::from_millis(2)).is_none());
        let retry = o
            .take_spool_batch(t0 + SPOOL_RETRY + Duration::from_millis(1))
            .unwrap();
        assert_eq!(retry.events[0].event.id, id);
        assert!(
            retry.events[1]
                .event
                .message
                .starts_with("event ids cannot be reserved")
        );
        assert_eq!(retry.events[1].check.as_deref(), Some(SPOOL_PROBLEM));
        assert_eq!(retry.events[1].transition, wire::Transition::Open);
        o.handle_spool_written(at(t0, 1_100), Ok(()));
        let sent = events_sent(&mut o);
        assert_eq!(sent[0], "a");
        // Written again: the problem is cleared.
        let cleared = o.take_spool_batch(t0 + Duration::from_secs(2)).unwrap();
        assert!(matches!(
            cleared.events[0].transition,
            wire::Transition::Clear { .. }
        ));
        assert_eq!(cleared.events[0].check.as_deref(), Some(SPOOL_PROBLEM));
    }

    #[test]
    fn events_whose_records_could_not_be_written_are_still_sent() {
        let t0 = Instant::now();
        let sup: SocketAddr = "10.0.0.1:9001".parse().unwrap();
        let mut o = observer(t0, sup);
        o.handle_raised(vec![alert("disk full")]);
        let _batch = o.take_spool_batch(t0).unwrap();
        o.handle_spool_written(
            at(t0, 1),
            Err(SpoolFailure::RecordsNotWritten("no space".into())),
        );
        assert_eq!(events_sent(&mut o), ["disk full"]);
        let problem = o.take_spool_batch(t0).unwrap();
        assert!(
            problem.events[0]
                .event
                .message
                .starts_with("events cannot be written")
        );
    }

    #[test]
    fn heartbeats_carry_the_open_problems_and_the_chosen_supervisors_run_id() {
        let t0 = Instant::now();
        let sup: SocketAddr = "10.0.0.1:9001".parse().unwrap();
        let mut o = observer(t0, sup);
        o.handle_raised(vec![alert("a")]);
        let _batch = o.take_spool_batch(t0).unwrap();
        o.handle_spool_written(
            at(t0, 1),
            Err(SpoolFailure::RecordsNotWritten("no space".into())),
        );
        let mut seen = None;
        for ms in (1_000..40_000).step_by(1_000) {
            if ms % 5_000 == 0 {
                let beacon = Message::Beacon {
                    supervisor: "s".into(),
                    run_id: 1,
                };
                o.handle_datagram(at(t0, ms), sup, beacon);
            }
            o.handle_timeout(at(t0, ms));
            while let Some((to, m)) = o.poll_transmit() {
                assert!(!matches!(
                    m,
                    Message::Heartbeat { .. } | Message::Events { .. }
                ));
                if let Message::HeartbeatV2 {
                    chosen, problems, ..
                } = m
                {
                    assert_eq!(to, sup);
                    seen = Some((chosen, problems));
                }
            }
        }
        let (chosen, problems) = seen.expect("no heartbeat in 40 s");
        assert_eq!(chosen, Some(1));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].check, SPOOL_PROBLEM);
        assert_eq!(problems[0].tags, "SYSTEM");
        assert_eq!(problems[0].since_ms, 1_001);
    }

    #[test]
    fn goodbyes_go_to_every_supervisor_heard() {
        let t0 = Instant::now();
        let sup: SocketAddr = "10.0.0.1:9001".parse().unwrap();
        let o = observer(t0, sup);
        let g = o.goodbyes(t0 + std::time::Duration::from_secs(1));
        assert_eq!(g, [(sup, Message::Goodbye { host: "h".into() })]);
    }
}
