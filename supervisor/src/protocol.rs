//! The supervisor's side of the protocol as a state machine, with no
//! sockets, no clock and no file reads (STYLE.md, after quinn-proto).
//!
//! Inputs: [`Supervisor::handle_datagram`] (bytes from an address),
//! [`Supervisor::handle_catalog`] (hosts whose configuration file changed),
//! [`Supervisor::handle_timeout`], [`Supervisor::handle_stream_written`],
//! [`Supervisor::handle_settings`] (`ax436.conf` read again on SIGHUP).
//! Outputs: [`Supervisor::poll_transmit`] (datagrams to send),
//! [`Supervisor::take_stream_batch`] (lines to append to the stream, whose
//! acknowledgements are released only once the shell reports them written),
//! and [`Supervisor::poll_timeout`] (when to call `handle_timeout` next).
//! Every input carries [`Now`]: a monotonic instant for timers and the wall
//! clock in milliseconds for sealing and the stream's receive times.
//!
//! What happened that an operator may want to read about is queued as a
//! [`Note`] ([`Supervisor::poll_note`]); the shell decides what to log and
//! how often. Timers live in one [`TimerTable`]; [`Supervisor::poll_timeout`]
//! is the earliest armed one.
//!
//! Problems as state (per host: up, inactive, stopped; open problems and
//! their acknowledgements) are kept in [`crate::problems`]'s model and
//! applied in the `host_states` part of this module; what
//! notifications need to hear of is queued as a [`Happening`]
//! ([`Supervisor::poll_happening`]) once the shell asks for them
//! ([`Supervisor::report_happenings`]). Protocol-1 `Events` and `Heartbeat`
//! from observers not yet upgraded are written exactly as before.
//!
//! Events are accepted from any valid host name, also one without a
//! configuration file: an observer whose file was removed still holds
//! events in its spool, and they must not be lost. Liveness, resets on file
//! changes and `Host is inactive` concern only hosts with a file.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use conf::{HostName, StreamFormat, SupervisorConfig};
use wire::{AckBuilder, CheckEvent, Codec, Event, Message, MissingChunks, Transition};

pub use crate::stream_gate::StreamBatch;

mod host_states;
mod notifier;

use host_states::{point, problem_happening};

use crate::catalog::{HostChange, HostEntry};
use crate::counters::Counters;
use crate::dedup::SeenIds;
use crate::fleet::{FleetSnapshot, HostRecord};
use crate::liveness::Liveness;
use crate::notes::Note;
use crate::problems::{Happening, HostProblems};
use crate::serve::{self, ConfigAnswer};
use crate::stream::{Received, append_check_event_line, append_event_line, local_time};
use crate::stream_gate::{OwedAck, StreamGate, Written};
use crate::timers::{
    MAX_QUEUED_NOTES, MAX_QUEUED_TRANSMITS, MAX_UNCONFIGURED_HOSTS, RESET_MIN_INTERVAL, Timer,
    TimerTable,
};

/// Stream messages of supervisor-raised events.
pub const HOST_INACTIVE: &str = "Host is inactive";
pub const HOST_ACTIVE_AGAIN: &str = "Host is active again";
pub const HOST_HAS_NO_CONFIG: &str = "Host asked for configuration but has none";
pub const CONFIG_ERROR_PREFIX: &str = "Configuration error: ";
pub const HOST_STOPPED: &str = "Host stopped (observer shut down)";
pub const HOST_STARTED: &str = "Host started";

/// The time of an input: monotonic for timers, wall clock for sealing and
/// for the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: Instant,
    /// Milliseconds since the Unix epoch.
    pub wall_ms: u64,
}

impl Now {
    /// `self` moved forward by `d` on both clocks (virtual time in tests).
    pub fn after(self, d: Duration) -> Now {
        Now {
            mono: self.mono + d,
            wall_ms: self.wall_ms.saturating_add(d.as_millis() as u64),
        }
    }
}

/// What the state machine needs from `ax436.conf`, and who it is.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Named in beacons: the machine's node name.
    pub supervisor_name: String,
    /// Random per run, so observers notice a restart.
    pub run_id: u64,
    /// Every broadcast address with port P (where observers listen).
    pub broadcast: Vec<SocketAddr>,
    pub max_idle: Duration,
    pub beacon_interval: Duration,
    pub stream_format: StreamFormat,
}

impl Settings {
    pub fn from_config(config: &SupervisorConfig, supervisor_name: String, run_id: u64) -> Self {
        Settings {
            supervisor_name,
            run_id,
            broadcast: broadcast_targets(&config.broadcast, config.port),
            max_idle: config.max_idle,
            beacon_interval: config.beacon_interval,
            stream_format: config.stream_format,
        }
    }
}

fn broadcast_targets(addresses: &[Ipv4Addr], port: u16) -> Vec<SocketAddr> {
    addresses
        .iter()
        .map(|ip| SocketAddr::V4(SocketAddrV4::new(*ip, port)))
        .collect()
}

/// One datagram to send.
#[must_use = "a transmit must be sent"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub to: SocketAddr,
    pub datagram: Vec<u8>,
}

/// What the supervisor remembers of one host it has heard from or has a
/// configuration file for.
#[derive(Debug, Default)]
pub struct HostState {
    /// Source address of its last valid datagram: where unicast resets go.
    pub addr: Option<SocketAddr>,
    /// Present while the host has a configuration file.
    pub liveness: Option<Liveness>,
    pub seen: SeenIds,
    /// What the fleet page shows of it (wall-clock times, spool backlog).
    pub record: HostRecord,
    /// Its open problems (and the supervisor's own: its inactivity).
    pub problems: HostProblems,
    last_reset: Option<Instant>,
    no_config_reported: bool,
}

/// The supervisor: beacons, configuration serving, resets, liveness,
/// de-duplication and acknowledgement of events.
#[derive(Debug)]
pub struct Supervisor {
    settings: Settings,
    codec: Codec,
    catalog: HashMap<HostName, Arc<HostEntry>>,
    hosts: HashMap<HostName, HostState>,
    transmits: VecDeque<Transmit>,
    gate: StreamGate,
    deferred_resets: BTreeSet<HostName>,
    timers: TimerTable,
    /// When the machine was made.
    started: Instant,
    counters: Counters,
    notes: VecDeque<Note>,
    /// The last write of the stream failed.
    stream_failing: bool,
    /// Queued for the notifications, when the shell asked for them.
    happenings: VecDeque<Happening>,
    report_happenings: bool,
    /// Other supervisors (run ids) observers' heartbeats name as their
    /// choice, and when each was last named (see [`notifier`]).
    peers_named: HashMap<u64, Instant>,
    /// Host states or open problems changed since the shell last saved
    /// them.
    fleet_changed: bool,
}

impl Supervisor {
    /// A supervisor starting at `now` with the hosts found in the folders.
    /// Configuration errors of those hosts go to the stream once.
    pub fn new(settings: Settings, codec: Codec, now: Now, catalog: Vec<HostChange>) -> Self {
        let mut sup = Supervisor {
            settings,
            codec,
            catalog: HashMap::new(),
            hosts: HashMap::new(),
            transmits: VecDeque::new(),
            gate: StreamGate::default(),
            deferred_resets: BTreeSet::new(),
            timers: TimerTable::default(),
            started: now.mono,
            counters: Counters::default(),
            notes: VecDeque::new(),
            stream_failing: false,
            happenings: VecDeque::new(),
            report_happenings: false,
            peers_named: HashMap::new(),
            fleet_changed: false,
        };
        sup.timers.set(Timer::Beacon, now.mono);
        for change in catalog {
            if let Some(entry) = change.entry {
                sup.report_config_errors(now, &change.host, &entry);
                let state = sup.hosts.entry(change.host.clone()).or_default();
                state.liveness = Some(Liveness::new(now.mono));
                state.record.status_changed(now.wall_ms);
                sup.watch_silence_from(now);
                sup.catalog.insert(change.host, entry);
            }
        }
        sup
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Hosts with a configuration file.
    pub fn hosts_known(&self) -> usize {
        self.catalog.len()
    }

    /// Hosts with a configuration file not currently reported inactive.
    pub fn hosts_alive(&self) -> usize {
        self.catalog
            .keys()
            .filter(|h| {
                self.hosts
                    .get(*h)
                    .and_then(|s| s.liveness)
                    .is_some_and(|l| !l.is_inactive())
            })
            .count()
    }

    pub fn host(&self, host: &str) -> Option<&HostState> {
        HostName::new(host).ok().and_then(|h| self.hosts.get(&h))
    }

    /// The fleet as the status page shows it at `now` (built in
    /// [`crate::fleet`]; the shell publishes it for the HTTP side).
    pub fn fleet_snapshot(&self, now: Now) -> FleetSnapshot {
        crate::fleet::snapshot(
            now,
            &self.settings,
            &self.catalog,
            &self.hosts,
            &self.counters,
            self.stream_failing,
        )
    }

    /// One datagram as read from the socket (at most
    /// [`wire::limits::MAX_DATAGRAM`] + 1 bytes: anything longer is dropped).
    pub fn handle_datagram(&mut self, now: Now, from: SocketAddr, datagram: &[u8]) {
        self.counters.datagrams_received += 1;
        let msg = match self.codec.decode(datagram, now.wall_ms) {
            Ok(msg) => msg,
            Err(e) => {
                self.bad_input(from, e.reason(), e.to_string());
                return;
            }
        };
        self.counters.decoded(msg.kind());
        match msg {
            Message::ConfigRequest {
                host,
                have,
                missing,
            } => {
                let Some(host) = self.checked_host(from, &host) else {
                    return;
                };
                self.counters.config_requests += 1;
                self.heard(now, &host, from, 0);
                self.serve_config(now, from, &host, have, missing);
            }
            Message::Heartbeat {
                host,
                version,
                queue_len,
                uptime_secs,
            } => {
                let Some(host) = self.checked_host(from, &host) else {
                    return;
                };
                self.heartbeat(now, from, &host, 1, version, queue_len, uptime_secs);
                self.check_version(now, &host, version);
            }
            Message::HeartbeatV2 {
                host,
                version,
                queue_len,
                uptime_secs,
                chosen,
                problems,
                omitted,
            } => {
                let Some(host) = self.checked_host(from, &host) else {
                    return;
                };
                // First, so what the heartbeat changes is notified by the
                // supervisor it names.
                self.host_chose(now.mono, &host, chosen);
                self.heartbeat(now, from, &host, 2, version, queue_len, uptime_secs);
                self.learn_problems(now, &host, &problems, omitted);
                self.check_version(now, &host, version);
            }
            Message::EventsV2 {
                host,
                floor,
                events,
            } => {
                let Some(host) = self.checked_host(from, &host) else {
                    return;
                };
                // An observer sends its events to the supervisor it chose.
                self.host_chose(now.mono, &host, Some(self.settings.run_id));
                self.heard(now, &host, from, 2);
                self.take_events(now, from, host, floor, Incoming::V2(events));
            }
            Message::Goodbye { host } => {
                let Some(host) = self.checked_host(from, &host) else {
                    return;
                };
                self.goodbye(now, &host, from);
            }
            Message::Events {
                host,
                floor,
                events,
            } => {
                let Some(host) = self.checked_host(from, &host) else {
                    return;
                };
                self.heard(now, &host, from, 1);
                self.take_events(now, from, host, floor, Incoming::V1(events));
            }
            other => {
                let detail = format!("unexpected {} message", other.kind());
                self.bad_input(from, "unexpected", detail);
            }
        }
    }

    /// A heartbeat of either protocol: the host is heard, and what it says
    /// of itself is recorded for the window.
    #[allow(clippy::too_many_arguments)]
    fn heartbeat(
        &mut self,
        now: Now,
        from: SocketAddr,
        host: &HostName,
        protocol: u8,
        version: Option<u64>,
        queue_len: u64,
        uptime_secs: u64,
    ) {
        self.heard(now, host, from, protocol);
        if let Some(state) = self.hosts.get_mut(host) {
            state.record.heartbeat(version, queue_len, uptime_secs);
        }
    }

    /// Hosts whose configuration file appeared, changed or disappeared.
    /// Hosts whose served version changed are reset; configuration errors
    /// are reported once per change.
    pub fn handle_catalog(&mut self, now: Now, changes: Vec<HostChange>) {
        for HostChange { host, entry } in changes {
            let old = self.catalog.get(&host).cloned();
            match entry {
                Some(entry) => {
                    let changed_version =
                        old.as_ref().map(|o| o.version()) != Some(entry.version());
                    let changed_errors = old.as_ref().map(|o| &o.errors) != Some(&entry.errors);
                    if changed_version || changed_errors {
                        self.report_config_errors(now, &host, &entry);
                    }
                    let state = self.hosts.entry(host.clone()).or_default();
                    if state.liveness.is_none() {
                        state.liveness = Some(Liveness::new(now.mono));
                        state.record.status_changed(now.wall_ms);
                        self.watch_silence_from(now);
                    }
                    self.catalog.insert(host.clone(), entry);
                    if changed_version {
                        self.note(Note::ConfigChanged { host: host.clone() });
                        self.reset(now, &host, true);
                    }
                }
                None => {
                    if old.is_none() {
                        continue;
                    }
                    self.catalog.remove(&host);
                    if let Some(state) = self.hosts.get_mut(&host) {
                        state.liveness = None;
                        state.record.status_changed(now.wall_ms);
                    }
                    self.note(Note::ConfigRemoved { host: host.clone() });
                    self.reset(now, &host, true);
                }
            }
        }
    }

    /// New settings from `ax436.conf` read again (a reload), and the codec
    /// of a re-read key (`None`: the key did not change). Who the
    /// supervisor is (`supervisor_name`, `run_id`) never changes by a
    /// reload: observers would take it for a restart.
    ///
    /// A new beacon interval or new broadcast addresses send a beacon at
    /// once (to the new addresses, and timed from now); a new `max_idle`
    /// is applied to every host at once (silent longer than the new limit:
    /// reported inactive now). Events received from now on are written in
    /// the new `stream_format`; the shell writes what was received before
    /// (in the old format) first.
    pub fn handle_settings(&mut self, now: Now, settings: Settings, codec: Option<Codec>) {
        let settings = Settings {
            supervisor_name: self.settings.supervisor_name.clone(),
            run_id: self.settings.run_id,
            ..settings
        };
        let old = std::mem::replace(&mut self.settings, settings);
        if let Some(codec) = codec {
            self.codec = codec;
        }
        if old.beacon_interval != self.settings.beacon_interval
            || old.broadcast != self.settings.broadcast
        {
            self.timers.set(Timer::Beacon, now.mono);
        }
        if old.max_idle != self.settings.max_idle {
            self.timers.set(Timer::Liveness, now.mono);
        }
    }

    /// Beacons, liveness and deferred resets, as due.
    pub fn handle_timeout(&mut self, now: Now) {
        let beacon_due = self
            .timers
            .get(Timer::Beacon)
            .is_none_or(|at| at <= now.mono);
        if beacon_due {
            self.timers
                .set(Timer::Beacon, now.mono + self.settings.beacon_interval);
            let beacon = Message::Beacon {
                supervisor: self.settings.supervisor_name.clone(),
                run_id: self.settings.run_id,
            };
            for to in self.settings.broadcast.clone() {
                self.send(now, to, &beacon);
            }
        }
        if self.timers.is_due(Timer::Liveness, now.mono) {
            self.timers.stop(Timer::Liveness);
            self.scan_liveness(now);
        }
        if self.timers.is_due(Timer::DeferredReset, now.mono) {
            self.timers.stop(Timer::DeferredReset);
            let due: Vec<HostName> = self
                .deferred_resets
                .iter()
                .filter(|h| self.reset_allowed_at(h).is_none_or(|at| at <= now.mono))
                .cloned()
                .collect();
            for host in due {
                self.deferred_resets.remove(&host);
                self.reset(now, &host, true);
            }
            // Resets still held back wake the machine when they may go.
            for host in self.deferred_resets.clone() {
                let at = self.reset_allowed_at(&host).unwrap_or(now.mono);
                self.timers.set_earliest(Timer::DeferredReset, at);
            }
        }
    }

    /// When `handle_timeout` must be called next: the earliest armed timer.
    pub fn poll_timeout(&self) -> Instant {
        // The beacon timer is armed at construction and re-armed whenever it
        // fires; were it ever unarmed, `handle_timeout` arms it at once.
        self.timers.next().unwrap_or(self.started)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Everything to append to the stream since the last batch, as one
    /// buffer; `None` when there is nothing, or a batch is still unreported.
    pub fn take_stream_batch(&mut self) -> Option<StreamBatch> {
        self.gate.take_batch()
    }

    /// The outcome of writing the last [`StreamBatch`]. On success its
    /// events are acknowledged; on failure nothing is, the observers re-send,
    /// and supervisor-raised lines are kept for the next attempt.
    pub fn handle_stream_written(&mut self, now: Now, result: std::io::Result<()>) {
        match (self.gate.written(result.is_ok()), result) {
            (None, _) => {}
            (
                Some(Written::Done {
                    acks,
                    points,
                    events,
                    system_lines,
                }),
                _,
            ) => {
                for h in points {
                    self.happen(now.mono, h);
                }
                self.counters.system_events += system_lines as u64;
                self.counters.events_written += events;
                if std::mem::take(&mut self.stream_failing) {
                    self.note(Note::StreamWritable);
                }
                for ack in acks {
                    self.send_acks(now, ack);
                }
            }
            (Some(Written::Failed { acks }), result) => {
                self.counters.stream_write_failures += 1;
                self.stream_failing = true;
                for ack in acks {
                    if let Some(state) = self.hosts.get_mut(&ack.host) {
                        for id in ack.new_ids {
                            state.seen.forget(id);
                        }
                    }
                }
                if let Err(error) = result {
                    self.note(Note::StreamWriteFailed { error });
                }
            }
        }
    }

    /// A datagram the shell failed to send (counted with the others).
    pub fn note_send_failure(&mut self) {
        self.counters.send_failures += 1;
    }

    fn checked_host(&mut self, from: SocketAddr, host: &str) -> Option<HostName> {
        match HostName::new(host) {
            Ok(h) => Some(h),
            Err(e) => {
                self.bad_input(from, "invalid-host-name", format!("host name refused: {e}"));
                None
            }
        }
    }

    /// Counts a dropped datagram and notes its sender.
    fn bad_input(&mut self, from: SocketAddr, reason: &'static str, detail: String) {
        self.counters.drop_reason(reason);
        self.note(Note::Dropped {
            from,
            reason,
            detail,
        });
    }

    /// The next thing that happened, oldest first.
    pub fn poll_note(&mut self) -> Option<Note> {
        self.notes.pop_front()
    }

    /// Queues a note for the shell; past [`MAX_QUEUED_NOTES`] (a shell that
    /// does not read them) it is counted and dropped.
    fn note(&mut self, note: Note) {
        if self.notes.len() >= MAX_QUEUED_NOTES {
            self.counters.notes_dropped += 1;
            return;
        }
        self.notes.push_back(note);
    }

    /// Arms the liveness timer for a host whose silence clock starts (or
    /// starts again) at `now`.
    fn watch_silence_from(&mut self, now: Now) {
        self.timers
            .set_earliest(Timer::Liveness, now.mono + self.settings.max_idle);
    }

    /// Records that `host`'s event `id` is already in the stream (read back
    /// from the stream at start), so a re-sent copy is acknowledged, not
    /// written again.
    pub fn remember_written(&mut self, host: &str, id: u64) {
        let Ok(host) = HostName::new(host) else {
            return;
        };
        if let Some(state) = self.state_mut(&host) {
            state.seen.insert(id);
        }
    }

    /// The state of `host`, created if there is room.
    fn state_mut(&mut self, host: &HostName) -> Option<&mut HostState> {
        let unconfigured = self.hosts.len().saturating_sub(self.catalog.len());
        match self.hosts.entry(host.clone()) {
            Entry::Occupied(e) => Some(e.into_mut()),
            Entry::Vacant(e) => {
                if unconfigured >= MAX_UNCONFIGURED_HOSTS {
                    return None;
                }
                Some(e.insert(HostState::default()))
            }
        }
    }

    /// A running version other than the one served: reset the host.
    fn check_version(&mut self, now: Now, host: &HostName, version: Option<u64>) {
        let current = self.catalog.get(host).and_then(|e| e.version());
        if version != current {
            self.note(Note::StaleVersion {
                host: host.clone(),
                running: version,
                current,
            });
            self.reset(now, host, false);
        }
    }

    fn serve_config(
        &mut self,
        now: Now,
        from: SocketAddr,
        host: &HostName,
        have: Option<u64>,
        missing: Option<MissingChunks>,
    ) {
        let served = self.catalog.get(host).and_then(|e| e.served.clone());
        let Some(served) = served else {
            self.no_config(now, from, host);
            return;
        };
        match serve::answer(host, &served, have, missing) {
            Ok(ConfigAnswer::Unchanged(msg)) => self.send(now, from, &msg),
            Ok(ConfigAnswer::Chunks(chunks)) => {
                for chunk in &chunks {
                    self.send(now, from, chunk);
                    self.counters.chunks_sent += 1;
                }
            }
            Err(e) => {
                self.note(Note::CannotServe {
                    host: host.clone(),
                    error: e.to_string(),
                });
                self.no_config(now, from, host);
            }
        }
    }

    fn no_config(&mut self, now: Now, from: SocketAddr, host: &HostName) {
        let has_file = self.catalog.contains_key(host);
        let msg = Message::NoConfig {
            host: host.to_string(),
        };
        self.send(now, from, &msg);
        self.note(Note::NoConfig {
            host: host.clone(),
            from,
            has_file,
        });
        let Some(state) = self.state_mut(host) else {
            return;
        };
        let first = !state.no_config_reported && !has_file;
        if first {
            state.no_config_reported = true;
        }
        if first {
            self.system_event(now, host, HOST_HAS_NO_CONFIG);
        }
    }

    fn reset_allowed_at(&self, host: &HostName) -> Option<Instant> {
        self.hosts
            .get(host)
            .and_then(|s| s.last_reset)
            .map(|at| at + RESET_MIN_INTERVAL)
    }

    /// A reset for `host`: to every broadcast address and the host's last
    /// address when `broadcast`, otherwise only unicast. At most one per
    /// [`RESET_MIN_INTERVAL`]; a broadcast reset held back is sent when the
    /// interval has passed, an unicast one is dropped (the next heartbeat
    /// asks again).
    fn reset(&mut self, now: Now, host: &HostName, broadcast: bool) {
        let Some(state) = self.state_mut(host) else {
            return;
        };
        if let Some(at) = state.last_reset
            && now.mono < at + RESET_MIN_INTERVAL
        {
            if broadcast {
                self.deferred_resets.insert(host.clone());
                self.timers
                    .set_earliest(Timer::DeferredReset, at + RESET_MIN_INTERVAL);
            }
            return;
        }
        state.last_reset = Some(now.mono);
        let unicast = state.addr;
        let msg = Message::Reset {
            host: host.to_string(),
        };
        if broadcast {
            for to in self.settings.broadcast.clone() {
                self.send(now, to, &msg);
            }
        }
        if let Some(to) = unicast {
            self.send(now, to, &msg);
        }
        self.counters.resets_sent += 1;
    }

    fn take_events(
        &mut self,
        now: Now,
        from: SocketAddr,
        host: HostName,
        floor: u64,
        events: Incoming,
    ) {
        // `heard` has just made the host's state, unless the table of
        // hosts without a file is full.
        let Some(state) = self.hosts.get_mut(&host) else {
            self.bad_input(
                from,
                "too-many-hosts",
                "too many hosts without a configuration file are tracked already".to_string(),
            );
            return;
        };
        state.seen.raise_floor(floor);
        let received = Received::new(self.settings.stream_format, &local_time(now.wall_ms));
        let count = events.len();
        let mut ids = Vec::with_capacity(count);
        let mut new_ids = Vec::with_capacity(count);
        let mut duplicates = 0;
        let mut happenings = Vec::new();
        for index in 0..count {
            let event = events.event(index);
            ids.push(event.id);
            if !state.seen.insert(event.id) {
                duplicates += 1;
                continue;
            }
            match &events {
                Incoming::V1(_) => {
                    append_event_line(self.gate.event_lines(), &received, host.as_str(), event);
                    if event.kind == wire::EventKind::Alert && self.report_happenings {
                        self.gate.hold_point(point(&host, "", event));
                    }
                }
                Incoming::V2(list) => {
                    let e = &list[index];
                    append_check_event_line(self.gate.event_lines(), &received, host.as_str(), e);
                    match state.problems.event(e) {
                        Some(change) => {
                            happenings.extend(problem_happening(
                                now,
                                &host,
                                &state.problems,
                                change,
                            ));
                        }
                        None if e.transition == wire::Transition::Point
                            && event.kind == wire::EventKind::Alert
                            && self.report_happenings =>
                        {
                            self.gate.hold_point(point(
                                &host,
                                e.check.as_deref().unwrap_or(""),
                                event,
                            ));
                        }
                        None => {}
                    }
                }
            }
            new_ids.push(event.id);
            // Only hosts with a file: invented names must not grow memory.
            if let (wire::EventKind::Metric, Some(value), Some(_)) =
                (event.kind, event.value, state.liveness)
            {
                state.record.metric(&event.tags, value, now.wall_ms);
            }
        }
        self.counters.duplicates += duplicates;
        self.gate.owe_ack(from, host, ids, new_ids);
        if happenings.iter().any(|h| !matches!(h, Happening::Point(_))) {
            self.fleet_changed = true;
        }
        for h in happenings {
            self.happen(now.mono, h);
        }
    }

    fn send_acks(&mut self, now: Now, ack: OwedAck) {
        let mut builder = AckBuilder::new(ack.host.as_str(), &self.codec);
        for id in ack.ids {
            if !builder.try_push(id) {
                let full = std::mem::replace(
                    &mut builder,
                    AckBuilder::new(ack.host.as_str(), &self.codec),
                );
                self.send(now, ack.to, &full.finish());
                self.counters.acks_sent += 1;
                if !builder.try_push(id) {
                    self.counters.send_failures += 1;
                }
            }
        }
        if !builder.is_empty() {
            self.send(now, ack.to, &builder.finish());
            self.counters.acks_sent += 1;
        }
    }

    fn system_event(&mut self, now: Now, host: &HostName, message: &str) {
        self.system_line(now, host, message, None);
    }

    /// A supervisor-raised line; with `problem`, it opens or clears one of
    /// the supervisor's own problems about `host` (the JSON line carries
    /// check and state).
    fn system_line(
        &mut self,
        now: Now,
        host: &HostName,
        message: &str,
        problem: Option<(&str, Transition)>,
    ) {
        let received = Received::new(self.settings.stream_format, &local_time(now.wall_ms));
        if !self
            .gate
            .push_system_line(&received, host, message, problem)
        {
            self.counters.system_lines_dropped += 1;
        }
    }

    fn report_config_errors(&mut self, now: Now, host: &HostName, entry: &HostEntry) {
        for error in &entry.errors {
            self.note(Note::ConfigError {
                host: host.clone(),
                error: error.clone(),
            });
            self.system_event(now, host, &format!("{CONFIG_ERROR_PREFIX}{error}"));
        }
    }

    fn send(&mut self, now: Now, to: SocketAddr, msg: &Message) {
        if self.transmits.len() >= MAX_QUEUED_TRANSMITS {
            self.counters.send_failures += 1;
            return;
        }
        match self.codec.encode(msg, now.wall_ms) {
            Ok(datagram) => self.transmits.push_back(Transmit { to, datagram }),
            Err(e) => {
                self.counters.send_failures += 1;
                self.note(Note::EncodeFailed {
                    kind: msg.kind(),
                    to,
                    error: e.to_string(),
                });
            }
        }
    }
}

/// Events of either protocol, as they came.
enum Incoming {
    V1(Vec<Event>),
    V2(Vec<CheckEvent>),
}

impl Incoming {
    fn len(&self) -> usize {
        match self {
            Incoming::V1(v) => v.len(),
            Incoming::V2(v) => v.len(),
        }
    }

    fn event(&self, index: usize) -> &Event {
        match self {
            Incoming::V1(v) => &v[index],
            Incoming::V2(v) => &v[index].event,
        }
    }
}
