//! The supervisor's side of the protocol as a state machine, with no
//! sockets, no clock and no file reads (STYLE.md, after quinn-proto).
//!
//! Inputs: [`Supervisor::handle_datagram`] (bytes from an address),
//! [`Supervisor::handle_catalog`] (hosts whose configuration file changed),
//! [`Supervisor::handle_timeout`], [`Supervisor::handle_stream_written`].
//! Outputs: [`Supervisor::poll_transmit`] (datagrams to send),
//! [`Supervisor::take_stream_batch`] (lines to append to the stream, whose
//! acknowledgements are released only once the shell reports them written),
//! and [`Supervisor::poll_timeout`] (when to call `handle_timeout` next).
//! Every input carries [`Now`]: a monotonic instant for timers and the wall
//! clock in milliseconds for sealing and the stream's receive times.
//!
//! Events are accepted from any valid host name, also one without a
//! configuration file: an observer whose file was removed still holds
//! events in its spool, and they must not be lost. Liveness, resets on file
//! changes and `Host is inactive` concern only hosts with a file.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use conf::{HostName, StreamFormat, SupervisorConfig};
use wire::{AckBuilder, Codec, Event, Message, MissingChunks, split_config};

use crate::catalog::{HostChange, HostEntry};
use crate::counters::Counters;
use crate::dedup::SeenIds;
use crate::fleet::{FleetSnapshot, HostRecord};
use crate::liveness::{Liveness, LivenessChange};
use crate::stream::{Received, append_event_line, append_system_line, local_time};
use crate::timers::{
    BAD_INPUT_LOG_INTERVAL, COUNTERS_LOG_INTERVAL, FAILURE_LOG_INTERVAL, LIVENESS_SCAN_INTERVAL,
    MAX_BAD_SENDERS_LOGGED, MAX_PENDING_SYSTEM_LINES, MAX_QUEUED_TRANSMITS, MAX_UNCONFIGURED_HOSTS,
    NO_CONFIG_LOG_INTERVAL, RESET_MIN_INTERVAL, due,
};

/// Stream messages of supervisor-raised events.
pub const HOST_INACTIVE: &str = "Host is inactive";
pub const HOST_ACTIVE_AGAIN: &str = "Host is active again";
pub const HOST_HAS_NO_CONFIG: &str = "Host asked for configuration but has none";
pub const CONFIG_ERROR_PREFIX: &str = "Configuration error: ";

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

/// Lines to append to the event stream with one write; report the outcome
/// with [`Supervisor::handle_stream_written`].
#[must_use = "the lines must be written and the outcome reported"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamBatch {
    pub lines: Vec<u8>,
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
    last_reset: Option<Instant>,
    no_config_logged: Option<Instant>,
    no_config_reported: bool,
}

/// Acknowledgements owed to one observer once the stream is written.
#[derive(Debug)]
struct OwedAck {
    to: SocketAddr,
    host: HostName,
    ids: Vec<u64>,
    /// The ids among `ids` written for the first time in this batch: to
    /// forget if the write fails, so the re-sent events are written.
    new_ids: Vec<u64>,
}

/// Stream lines and acknowledgements gathered since the last write.
#[derive(Debug, Default)]
struct PendingWrite {
    event_lines: Vec<u8>,
    events: u64,
    acks: Vec<OwedAck>,
    ack_index: HashMap<(SocketAddr, HostName), usize>,
}

/// A batch handed to the shell and not yet reported.
#[derive(Debug)]
struct InFlight {
    write: PendingWrite,
    system_bytes: usize,
    system_lines: usize,
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
    pending: PendingWrite,
    in_flight: Option<InFlight>,
    /// Supervisor-raised lines not yet written; kept across failed writes.
    system_lines: Vec<u8>,
    system_line_count: usize,
    deferred_resets: BTreeSet<HostName>,
    next_beacon: Instant,
    next_scan: Instant,
    next_counters: Instant,
    counters: Counters,
    /// Senders of dropped datagrams: when each was last named in the log,
    /// and how many of its datagrams were dropped since.
    bad_senders: HashMap<IpAddr, (Instant, u64)>,
    last_stream_failure_log: Option<Instant>,
    stream_failures_unlogged: u64,
    /// The last write of the stream failed.
    stream_failing: bool,
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
            pending: PendingWrite::default(),
            in_flight: None,
            system_lines: Vec::new(),
            system_line_count: 0,
            deferred_resets: BTreeSet::new(),
            next_beacon: now.mono,
            next_scan: now.mono + LIVENESS_SCAN_INTERVAL,
            next_counters: now.mono + COUNTERS_LOG_INTERVAL,
            counters: Counters::default(),
            bad_senders: HashMap::new(),
            last_stream_failure_log: None,
            stream_failures_unlogged: 0,
            stream_failing: false,
        };
        for change in catalog {
            if let Some(entry) = change.entry {
                sup.report_config_errors(now, &change.host, &entry);
                let state = sup.hosts.entry(change.host.clone()).or_default();
                state.liveness = Some(Liveness::new(now.mono));
                state.record.status_changed(now.wall_ms);
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
                self.bad_input(now, from, e.reason(), &e.to_string());
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
                let Some(host) = self.checked_host(now, from, &host) else {
                    return;
                };
                self.counters.config_requests += 1;
                self.heard(now, &host, from);
                self.serve_config(now, from, &host, have, missing);
            }
            Message::Heartbeat {
                host,
                version,
                queue_len,
                uptime_secs,
            } => {
                let Some(host) = self.checked_host(now, from, &host) else {
                    return;
                };
                self.heard(now, &host, from);
                if let Some(state) = self.hosts.get_mut(&host) {
                    state.record.heartbeat(version, queue_len, uptime_secs);
                }
                let current = self.catalog.get(&host).and_then(|e| e.version());
                if version != current {
                    tracing::debug!(
                        "{host} runs configuration {version:?}, current is {current:?}: reset"
                    );
                    self.reset(now, &host, false);
                }
            }
            Message::Events {
                host,
                floor,
                events,
            } => {
                let Some(host) = self.checked_host(now, from, &host) else {
                    return;
                };
                self.heard(now, &host, from);
                self.take_events(now, from, host, floor, events);
            }
            other => {
                let detail = format!("unexpected {} message", other.kind());
                self.bad_input(now, from, "unexpected", &detail);
            }
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
                    }
                    self.catalog.insert(host.clone(), entry);
                    if changed_version {
                        tracing::info!("configuration of {host} changed: reset");
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
                    tracing::info!("configuration file of {host} removed: reset");
                    self.reset(now, &host, true);
                }
            }
        }
    }

    /// Beacons, liveness, deferred resets and the counters log, as due.
    pub fn handle_timeout(&mut self, now: Now) {
        if now.mono >= self.next_beacon {
            self.next_beacon = now.mono + self.settings.beacon_interval;
            let beacon = Message::Beacon {
                supervisor: self.settings.supervisor_name.clone(),
                run_id: self.settings.run_id,
            };
            for to in self.settings.broadcast.clone() {
                self.send(now, to, &beacon);
            }
        }
        if now.mono >= self.next_scan {
            self.next_scan = now.mono + LIVENESS_SCAN_INTERVAL;
            self.scan_liveness(now);
        }
        if !self.deferred_resets.is_empty() {
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
        }
        if now.mono >= self.next_counters {
            self.next_counters = now.mono + COUNTERS_LOG_INTERVAL;
            tracing::info!(
                "counters: {}, hosts known {}, alive {}",
                self.counters,
                self.hosts_known(),
                self.hosts_alive()
            );
        }
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Instant {
        let mut next = self.next_beacon.min(self.next_scan).min(self.next_counters);
        for host in &self.deferred_resets {
            if let Some(at) = self.reset_allowed_at(host) {
                next = next.min(at);
            }
        }
        next
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Everything to append to the stream since the last batch, as one
    /// buffer; `None` when there is nothing, or a batch is still unreported.
    pub fn take_stream_batch(&mut self) -> Option<StreamBatch> {
        if self.in_flight.is_some() {
            return None;
        }
        if self.system_lines.is_empty()
            && self.pending.event_lines.is_empty()
            && self.pending.acks.is_empty()
        {
            return None;
        }
        // Only duplicates make an empty batch: nothing to write, acknowledge.
        let mut write = std::mem::take(&mut self.pending);
        let events = std::mem::take(&mut write.event_lines);
        let lines = if self.system_lines.is_empty() {
            events
        } else {
            let mut lines = Vec::with_capacity(self.system_lines.len() + events.len());
            lines.extend_from_slice(&self.system_lines);
            lines.extend_from_slice(&events);
            lines
        };
        self.in_flight = Some(InFlight {
            write,
            system_bytes: self.system_lines.len(),
            system_lines: self.system_line_count,
        });
        Some(StreamBatch { lines })
    }

    /// The outcome of writing the last [`StreamBatch`]. On success its
    /// events are acknowledged; on failure nothing is, the observers re-send,
    /// and supervisor-raised lines are kept for the next attempt.
    pub fn handle_stream_written(&mut self, now: Now, result: std::io::Result<()>) {
        let Some(done) = self.in_flight.take() else {
            return;
        };
        match result {
            Ok(()) => {
                self.system_lines.drain(..done.system_bytes);
                self.system_line_count -= done.system_lines;
                self.counters.system_events += done.system_lines as u64;
                self.counters.events_written += done.write.events;
                if std::mem::take(&mut self.stream_failing) {
                    tracing::info!(
                        "event stream writable again ({} failures since the last report)",
                        self.stream_failures_unlogged
                    );
                }
                self.stream_failures_unlogged = 0;
                for ack in done.write.acks {
                    self.send_acks(now, ack);
                }
            }
            Err(e) => {
                self.counters.stream_write_failures += 1;
                self.stream_failing = true;
                for ack in done.write.acks {
                    if let Some(state) = self.hosts.get_mut(&ack.host) {
                        for id in ack.new_ids {
                            state.seen.forget(id);
                        }
                    }
                }
                if due(
                    &mut self.last_stream_failure_log,
                    now.mono,
                    FAILURE_LOG_INTERVAL,
                ) {
                    tracing::error!(
                        "cannot write the event stream: {e}; events are not acknowledged until it works \
                         ({} earlier failures since the last report)",
                        self.stream_failures_unlogged
                    );
                    self.stream_failures_unlogged = 0;
                } else {
                    self.stream_failures_unlogged += 1;
                }
            }
        }
    }

    /// A datagram the shell failed to send (counted with the others).
    pub fn note_send_failure(&mut self) {
        self.counters.send_failures += 1;
    }

    fn checked_host(&mut self, now: Now, from: SocketAddr, host: &str) -> Option<HostName> {
        match HostName::new(host) {
            Ok(h) => Some(h),
            Err(e) => {
                self.bad_input(
                    now,
                    from,
                    "invalid-host-name",
                    &format!("host name refused: {e}"),
                );
                None
            }
        }
    }

    /// Counts a dropped datagram and names its sender in the log at most
    /// once a minute per sender address.
    fn bad_input(&mut self, now: Now, from: SocketAddr, reason: &'static str, detail: &str) {
        self.counters.drop_reason(reason);
        let fresh = |at: Instant| now.mono.saturating_duration_since(at) < BAD_INPUT_LOG_INTERVAL;
        if self.bad_senders.len() >= MAX_BAD_SENDERS_LOGGED
            && !self.bad_senders.contains_key(&from.ip())
        {
            self.bad_senders.retain(|_, (at, _)| fresh(*at));
            if self.bad_senders.len() >= MAX_BAD_SENDERS_LOGGED {
                // Many senders at once: counted, not each named.
                return;
            }
        }
        match self.bad_senders.entry(from.ip()) {
            Entry::Occupied(mut e) if fresh(e.get().0) => e.get_mut().1 += 1,
            entry => {
                let unlogged = match &entry {
                    Entry::Occupied(e) => e.get().1,
                    Entry::Vacant(_) => 0,
                };
                tracing::warn!(
                    "dropped a datagram from {from}: {detail} ({unlogged} more from this address since it was last named)"
                );
                entry.insert_entry((now.mono, 0));
            }
        }
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

    fn heard(&mut self, now: Now, host: &HostName, from: SocketAddr) {
        let Some(state) = self.state_mut(host) else {
            return;
        };
        state.addr = Some(from);
        state.record.heard(now.wall_ms);
        let came_back = state
            .liveness
            .as_mut()
            .and_then(|l| l.heard(now.mono))
            .is_some();
        if came_back {
            state.record.status_changed(now.wall_ms);
            tracing::info!("{host} is active again");
            self.system_event(now, host, HOST_ACTIVE_AGAIN);
        }
    }

    fn scan_liveness(&mut self, now: Now) {
        let max_idle = self.settings.max_idle;
        let mut silent = Vec::new();
        for host in self.catalog.keys() {
            if let Some(state) = self.hosts.get_mut(host)
                && let Some(liveness) = state.liveness.as_mut()
                && liveness.check(now.mono, max_idle) == Some(LivenessChange::WentInactive)
            {
                state.record.status_changed(now.wall_ms);
                silent.push(host.clone());
            }
        }
        for host in silent {
            tracing::warn!(
                "{host} has not been heard for {} s: inactive",
                max_idle.as_secs()
            );
            self.system_event(now, &host, HOST_INACTIVE);
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
        let version = served.version.0;
        let wanted: Option<Vec<u16>> = match (missing, have) {
            (Some(m), _) if m.version == version => Some(m.indices),
            (None, Some(h)) if h == version => {
                let msg = Message::ConfigUnchanged {
                    host: host.to_string(),
                    version,
                };
                self.send(now, from, &msg);
                return;
            }
            _ => None,
        };
        let chunks = match split_config(host.as_str(), version, served.text.as_bytes()) {
            Ok(chunks) => chunks,
            Err(e) => {
                tracing::error!("cannot serve the configuration of {host}: {e}");
                self.no_config(now, from, host);
                return;
            }
        };
        match wanted {
            None => {
                for chunk in &chunks {
                    self.send(now, from, chunk);
                    self.counters.chunks_sent += 1;
                }
            }
            Some(indices) => {
                let mut sent = BTreeSet::new();
                for index in indices
                    .into_iter()
                    .take(wire::limits::MAX_MISSING_PER_REQUEST)
                {
                    if let Some(chunk) = chunks.get(usize::from(index))
                        && sent.insert(index)
                    {
                        self.send(now, from, chunk);
                        self.counters.chunks_sent += 1;
                    }
                }
            }
        }
    }

    fn no_config(&mut self, now: Now, from: SocketAddr, host: &HostName) {
        let has_file = self.catalog.contains_key(host);
        let msg = Message::NoConfig {
            host: host.to_string(),
        };
        self.send(now, from, &msg);
        let Some(state) = self.state_mut(host) else {
            return;
        };
        let log_due = due(
            &mut state.no_config_logged,
            now.mono,
            NO_CONFIG_LOG_INTERVAL,
        );
        let first = !state.no_config_reported && !has_file;
        if first {
            state.no_config_reported = true;
        }
        if log_due {
            if has_file {
                tracing::warn!(
                    "{host} ({from}) asked for its configuration, but its file cannot be read"
                );
            } else {
                tracing::warn!(
                    "{host} ({from}) asked for configuration but has no file in the hosts folder"
                );
            }
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
        events: Vec<Event>,
    ) {
        // `heard` has just made the host's state, unless the table of
        // hosts without a file is full.
        let Some(state) = self.hosts.get_mut(&host) else {
            self.bad_input(
                now,
                from,
                "too-many-hosts",
                "too many hosts without a configuration file are tracked already",
            );
            return;
        };
        state.seen.raise_floor(floor);
        let received = Received::new(self.settings.stream_format, &local_time(now.wall_ms));
        let mut ids = Vec::with_capacity(events.len());
        let mut new_ids = Vec::with_capacity(events.len());
        let mut duplicates = 0;
        for event in &events {
            ids.push(event.id);
            if !state.seen.insert(event.id) {
                duplicates += 1;
                continue;
            }
            append_event_line(
                &mut self.pending.event_lines,
                &received,
                host.as_str(),
                event,
            );
            self.pending.events += 1;
            new_ids.push(event.id);
            // Only hosts with a file: invented names must not grow memory.
            if let (wire::EventKind::Metric, Some(value), Some(_)) =
                (event.kind, event.value, state.liveness)
            {
                state.record.metric(&event.tags, value, now.wall_ms);
            }
        }
        self.counters.duplicates += duplicates;
        match self.pending.ack_index.entry((from, host)) {
            Entry::Occupied(e) => {
                let owed = &mut self.pending.acks[*e.get()];
                owed.ids.extend(ids);
                owed.new_ids.extend(new_ids);
            }
            Entry::Vacant(e) => {
                let host = e.key().1.clone();
                e.insert(self.pending.acks.len());
                self.pending.acks.push(OwedAck {
                    to: from,
                    host,
                    ids,
                    new_ids,
                });
            }
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
        if self.system_line_count >= MAX_PENDING_SYSTEM_LINES {
            self.counters.system_lines_dropped += 1;
            return;
        }
        let received = Received::new(self.settings.stream_format, &local_time(now.wall_ms));
        append_system_line(&mut self.system_lines, &received, host.as_str(), message);
        self.system_line_count += 1;
    }

    fn report_config_errors(&mut self, now: Now, host: &HostName, entry: &HostEntry) {
        for error in &entry.errors {
            tracing::warn!("configuration error for {host}: {error}");
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
                tracing::error!("cannot encode a {} message for {to}: {e}", msg.kind());
            }
        }
    }
}
