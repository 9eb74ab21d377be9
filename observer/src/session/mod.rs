//! The observer's side of the protocol as a plain state machine (quinn-proto
//! style): supervisor discovery and failover, configuration fetch and
//! reassembly, heartbeats, and the in-flight window of event datagrams with
//! retransmission. No sockets and no clock: the shell feeds datagrams with
//! [`Session::handle_datagram`] and time with [`Session::handle_timeout`],
//! sends what [`Session::poll_transmit`] returns, applies what
//! [`Session::poll_event`] returns, and sleeps until
//! [`Session::poll_timeout`].
//!
//! Choices written down here:
//! * A reset is answered by asking again with `have: Some(current)`: an
//!   unchanged configuration is then simply kept (monitors keep running, no
//!   gap in counting); a changed one arrives as chunks.
//! * Acknowledgements are accepted from any supervisor heard recently (after
//!   a failover a late ack from the old one still means "in its stream").
//! * Configuration answers are accepted only from the chosen supervisor.
//! * A beacon's source address proves nothing (a sealed beacon can be
//!   captured and re-sent from anywhere within its 60 s), so a supervisor is
//!   only *tried* on its beacon: it counts as chosen
//!   ([`SessionEvent::SupervisorChosen`]) once it answers this host's own
//!   request. One that stays silent for [`UNANSWERED_MOVE`] while another
//!   beacons is marked suspect and left, and is not tried again while
//!   others are heard.
//! * Failover by unanswered probes. A supervisor counts as heard when any
//!   datagram arrives from it (beacon, acknowledgement, configuration
//!   answer). The chosen one is *in doubt* when events are outstanding and
//!   nothing was heard from it for [`PROBE_AFTER`], or when its beacon is
//!   [`PROBE_AFTER`] overdue. While in doubt, and only while another
//!   supervisor beacons (otherwise there is nothing to decide), it is
//!   probed every [`PROBE_INTERVAL`] with a configuration request, which a
//!   running supervisor answers at once whatever its disk does. After
//!   [`PROBES_TO_LEAVE`] probes in a row without anything heard it is left.
//!   A `kill -9` is so noticed about 2 s after the last answer; a
//!   supervisor that loses 30 % of datagrams each way answers one probe in
//!   two, so twenty unanswered in a row (0.51^20, about one in a million
//!   per doubt) essentially never happens and it is kept. A supervisor that
//!   answers probes but acknowledges nothing for [`ACK_SILENCE_FAILOVER`]
//!   (its stream cannot be written) is left too.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use wire::{CheckEvent, Codec, EventBatchBuilder, Message, OpenProblem, Reassembly};

use crate::timers::*;

mod known;

use known::{Beaconed, Supervisor, Supervisors};

/// What the shell must act on.
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a session event must be applied"]
pub enum SessionEvent {
    /// A complete configuration of a version not yet applied: apply it.
    Configure { version: u64, text: String },
    /// The supervisor has no configuration for this host: run nothing.
    NoConfig,
    /// Now working with this supervisor.
    SupervisorChosen { addr: SocketAddr, name: String },
    /// The chosen supervisor went silent and no other is heard.
    SupervisorLost { addr: SocketAddr },
}

#[derive(Debug)]
struct Flight {
    remaining: usize,
    ids: Vec<u64>,
    deadline: Instant,
}

/// The observer's protocol state; see the module doc.
#[derive(Debug)]
pub struct Session {
    host: String,
    sizing: Codec,
    started: Instant,
    supervisors: Supervisors,
    chosen: Option<SocketAddr>,
    /// When to check whether `chosen`, tried on its beacon, has answered
    /// ([`UNANSWERED_MOVE`] after it was tried; again a second later while
    /// nobody else beacons).
    unanswered_check: Instant,
    version: Option<u64>,
    cfg_next_request: Option<Instant>,
    cfg_backoff: Duration,
    assembly: Option<Reassembly>,
    next_heartbeat: Instant,
    queue: BTreeMap<u64, CheckEvent>,
    /// The host's open problems, carried by every heartbeat.
    problems: Vec<OpenProblem>,
    unsent: BTreeSet<u64>,
    flights: BTreeMap<u64, Flight>,
    flight_of: HashMap<u64, u64>,
    next_flight: u64,
    rto: Duration,
    last_progress: Instant,
    /// Outstanding events went unacknowledged too long, but there was no
    /// other supervisor to move to: wait for one (or for an ack).
    silence_exhausted: bool,
    /// Nothing heard from the chosen supervisor since (reset by anything
    /// heard from it, and when events start to be outstanding).
    quiet_since: Instant,
    /// Probes sent to the chosen supervisor since it was last heard.
    probes_unanswered: u32,
    next_probe: Instant,
    /// Events were sent and not all acknowledged since `last_progress`.
    awaiting_ack: bool,
    told_no_config: bool,
    highest_queued: Option<u64>,
    capacity: usize,
    settled: Vec<u64>,
    dropped: u64,
    transmit: VecDeque<(SocketAddr, Message)>,
    events: VecDeque<SessionEvent>,
}

impl Session {
    /// A session for `host`. `sizing` is a codec of the same mode as the
    /// one that will encode datagrams (only its overhead is used) and
    /// `capacity` the most events kept.
    pub fn new(host: &str, sizing: Codec, capacity: usize, now: Instant) -> Session {
        Session {
            host: host.to_string(),
            sizing,
            started: now,
            supervisors: Supervisors::default(),
            chosen: None,
            unanswered_check: now + UNANSWERED_MOVE,
            version: None,
            cfg_next_request: Some(now),
            cfg_backoff: CONFIG_RETRY_FIRST,
            assembly: None,
            next_heartbeat: now + HEARTBEAT_INTERVAL,
            queue: BTreeMap::new(),
            problems: Vec::new(),
            unsent: BTreeSet::new(),
            flights: BTreeMap::new(),
            flight_of: HashMap::new(),
            next_flight: 0,
            rto: RETRANSMIT_FIRST,
            last_progress: now,
            silence_exhausted: false,
            quiet_since: now,
            probes_unanswered: 0,
            next_probe: now,
            awaiting_ack: false,
            told_no_config: false,
            highest_queued: None,
            capacity: capacity.max(1),
            settled: Vec::new(),
            dropped: 0,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The supervisor events and requests go to.
    pub fn chosen(&self) -> Option<SocketAddr> {
        self.chosen
    }

    /// The configuration version applied, if any.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// Events not yet acknowledged.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Unacknowledged events, by id (for spool compaction).
    pub fn unacked(&self) -> impl Iterator<Item = &CheckEvent> {
        self.queue.values()
    }

    /// Ids acknowledged or dropped since the last call: the spool records
    /// them so they are never re-sent after a restart.
    pub fn take_settled(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.settled)
    }

    /// Events dropped because the queue was full, since the last call.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    /// Smallest id still unacknowledged; every id below it is settled.
    pub fn floor(&self) -> u64 {
        match self.queue.keys().next() {
            Some(id) => *id,
            None => self.highest_queued.map_or(0, |h| h + 1),
        }
    }

    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Message)> {
        self.transmit.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Events already written to the spool, to be delivered. Past the
    /// capacity the oldest are dropped (see [`Session::take_dropped`]).
    pub fn queue_events(&mut self, now: Instant, events: Vec<CheckEvent>) {
        for e in events {
            let id = e.event.id;
            self.highest_queued = Some(self.highest_queued.map_or(id, |h| h.max(id)));
            self.unsent.insert(id);
            self.queue.insert(id, e);
        }
        while self.queue.len() > self.capacity {
            let Some((id, _)) = self.queue.pop_first() else {
                break;
            };
            self.unsent.remove(&id);
            self.leave_flight(id);
            self.settled.push(id);
            self.dropped += 1;
        }
        self.fill_window(now);
    }

    /// One decoded datagram from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, msg: Message) {
        if let Some(s) = self.supervisors.get_mut(&from) {
            s.last_heard = now;
            if self.chosen == Some(from) {
                self.quiet_since = now;
                self.probes_unanswered = 0;
            }
        }
        match msg {
            Message::Beacon { supervisor, run_id } => self.on_beacon(now, from, supervisor, run_id),
            Message::Ack { host, ids } if host == self.host && self.knows(from) => {
                self.answered_by(from);
                self.on_ack(now, &ids)
            }
            Message::ConfigChunk {
                host,
                version,
                index,
                total,
                data,
            } if host == self.host && self.chosen == Some(from) => {
                self.answered_by(from);
                self.on_chunk(now, version, index, total, &data)
            }
            Message::ConfigUnchanged { host, version }
                if host == self.host
                    && self.chosen == Some(from)
                    && self.version == Some(version) =>
            {
                self.answered_by(from);
                self.cfg_next_request = None;
                self.assembly = None;
            }
            Message::NoConfig { host } if host == self.host && self.chosen == Some(from) => {
                self.answered_by(from);
                self.assembly = None;
                self.cfg_next_request = Some(now + NO_CONFIG_RETRY);
                self.cfg_backoff = CONFIG_RETRY_FIRST;
                if self.version.take().is_some() || !self.told_no_config {
                    self.told_no_config = true;
                    self.events.push_back(SessionEvent::NoConfig);
                }
            }
            Message::Reset { host }
                if host == self.host && self.chosen.is_some_and(|c| c.ip() == from.ip()) =>
            {
                self.assembly = None;
                self.cfg_backoff = CONFIG_RETRY_FIRST;
                self.cfg_next_request = Some(now);
                self.handle_timeout(now);
            }
            _ => {}
        }
    }

    fn knows(&self, from: SocketAddr) -> bool {
        self.supervisors.get(&from).is_some()
    }

    /// `from` answered a request of this host: it is a real supervisor. The
    /// first answer of the chosen one makes the choice known.
    fn answered_by(&mut self, from: SocketAddr) {
        let Some(s) = self.supervisors.get_mut(&from) else {
            return;
        };
        s.suspect = false;
        if !s.answered {
            s.answered = true;
            if self.chosen == Some(from) {
                let name = s.name.clone();
                self.events
                    .push_back(SessionEvent::SupervisorChosen { addr: from, name });
            }
        }
    }

    fn on_beacon(&mut self, now: Instant, from: SocketAddr, name: String, run_id: u64) {
        let Some(Beaconed { known, restarted }) =
            self.supervisors.note_beacon(now, from, name, run_id)
        else {
            return;
        };
        if !known {
            // Newly heard: tell it at once that this host is alive.
            let hb = self.heartbeat(now);
            self.transmit.push_back((from, hb));
        }
        match self.chosen {
            None => {
                let suspect = self.supervisors.get(&from).is_some_and(|s| s.suspect);
                match self.best_other(now) {
                    Some(other) if suspect => self.choose(now, other),
                    _ => self.choose(now, from),
                }
            }
            Some(c) if c == from && restarted => {
                // A restarted supervisor forgot nothing that matters to us,
                // but re-sending now avoids waiting for time-outs.
                self.recall_flights();
                self.fill_window(now);
            }
            Some(c) if c != from && self.is_silent(now) => {
                tracing::info!(from = %c, to = %from, "no acknowledgement for outstanding events; moving");
                self.choose(now, from);
            }
            _ => {}
        }
    }

    /// The open problems the next heartbeats carry (oldest first).
    pub fn set_open_problems(&mut self, problems: Vec<OpenProblem>) {
        self.problems = problems;
    }

    /// The open problems heartbeats carry.
    pub fn open_problems(&self) -> &[OpenProblem] {
        &self.problems
    }

    /// Protocol 2: the open problems and the chosen supervisor's run id
    /// ride along, so every supervisor heard knows them.
    fn heartbeat(&self, now: Instant) -> Message {
        let chosen = self
            .chosen
            .and_then(|c| self.supervisors.get(&c))
            .map(|s| s.run_id);
        wire::heartbeat_v2(
            &self.host,
            self.version,
            self.queue.len() as u64,
            now.saturating_duration_since(self.started).as_secs(),
            chosen,
            self.problems.iter().cloned(),
            &self.sizing,
        )
    }

    /// `Goodbye` for every supervisor alive at `now` (a clean stop).
    pub fn goodbyes(&self, now: Instant) -> Vec<(SocketAddr, Message)> {
        self.supervisors
            .alive(now)
            .into_iter()
            .map(|a| {
                (
                    a,
                    Message::Goodbye {
                        host: self.host.clone(),
                    },
                )
            })
            .collect()
    }

    fn is_silent(&self, now: Instant) -> bool {
        self.awaiting_ack && now >= self.last_progress + ACK_SILENCE_FAILOVER
    }

    fn progress(&mut self, now: Instant) {
        self.last_progress = now;
        self.silence_exhausted = false;
    }

    fn choose(&mut self, now: Instant, addr: SocketAddr) {
        self.chosen = Some(addr);
        self.unanswered_check = now + UNANSWERED_MOVE;
        if let Some(s) = self.supervisors.get(&addr) {
            if s.answered {
                let name = s.name.clone();
                self.events
                    .push_back(SessionEvent::SupervisorChosen { addr, name });
            } else {
                tracing::debug!(%addr, "trying a supervisor heard beaconing");
            }
        }
        self.recall_flights();
        self.rto = RETRANSMIT_FIRST;
        self.progress(now);
        self.awaiting_ack = false;
        self.quiet_since = now;
        self.probes_unanswered = 0;
        self.next_probe = now;
        // Re-use the configuration when the new supervisor has the same
        // version (answer: unchanged); after "no configuration" keep the
        // slow pace.
        self.assembly = None;
        self.cfg_backoff = CONFIG_RETRY_FIRST;
        self.cfg_next_request = Some(now);
        self.handle_timeout(now);
    }

    /// Every datagram in flight is considered lost: its events go back to
    /// the unsent set.
    fn recall_flights(&mut self) {
        for (_, f) in std::mem::take(&mut self.flights) {
            for id in f.ids {
                if self.queue.contains_key(&id) {
                    self.unsent.insert(id);
                }
            }
        }
        self.flight_of.clear();
    }

    fn leave_flight(&mut self, id: u64) {
        if let Some(seq) = self.flight_of.remove(&id)
            && let Some(f) = self.flights.get_mut(&seq)
        {
            f.remaining -= 1;
            if f.remaining == 0 {
                self.flights.remove(&seq);
            }
        }
    }

    fn on_ack(&mut self, now: Instant, ids: &[u64]) {
        let mut progress = false;
        for id in ids {
            if self.queue.remove(id).is_some() {
                self.unsent.remove(id);
                self.leave_flight(*id);
                self.settled.push(*id);
                progress = true;
            }
        }
        if progress {
            self.progress(now);
            if self.flights.is_empty() {
                self.awaiting_ack = false;
            }
            self.rto = RETRANSMIT_FIRST;
            self.fill_window(now);
        }
    }

    fn on_chunk(&mut self, now: Instant, version: u64, index: u16, total: u16, data: &[u8]) {
        if self.assembly.is_none() && self.version == Some(version) {
            // A late or repeated answer for what already runs.
            return;
        }
        if self
            .assembly
            .as_ref()
            .is_none_or(|a| a.version() != version)
        {
            match Reassembly::new(version, total) {
                Ok(a) => self.assembly = Some(a),
                Err(e) => {
                    tracing::warn!("configuration chunk refused: {e}");
                    return;
                }
            }
        }
        let Some(a) = &mut self.assembly else { return };
        match a.insert(index, total, data) {
            Ok(wire::chunk::Inserted::New) => {
                // Progress: give the rest of the transfer time to arrive.
                self.cfg_backoff = CONFIG_RETRY_FIRST;
                self.cfg_next_request = Some(now + CONFIG_RETRY_FIRST);
            }
            Ok(wire::chunk::Inserted::Duplicate) => {}
            Err(e) => {
                tracing::warn!("configuration chunk refused: {e}");
                return;
            }
        }
        match a.text() {
            None => {}
            Some(Ok(text)) => {
                self.assembly = None;
                self.version = Some(version);
                self.cfg_next_request = None;
                self.events
                    .push_back(SessionEvent::Configure { version, text });
            }
            Some(Err(e)) => {
                tracing::warn!("configuration version {version:016x} refused: {e}");
                self.assembly = None;
            }
        }
    }

    /// Puts events into datagrams while the window has room.
    fn fill_window(&mut self, now: Instant) {
        let Some(to) = self.chosen else { return };
        while !self.unsent.is_empty()
            && self.flights.len() < MAX_FLIGHTS
            && self.flight_of.len() < MAX_EVENTS_IN_FLIGHT
        {
            let mut batch =
                EventBatchBuilder::<CheckEvent>::new(&self.host, self.floor(), &self.sizing);
            let mut ids = Vec::new();
            while self.flight_of.len() + ids.len() < MAX_EVENTS_IN_FLIGHT {
                let Some(&id) = self.unsent.first() else {
                    break;
                };
                let Some(e) = self.queue.get(&id) else {
                    self.unsent.remove(&id);
                    continue;
                };
                if batch.try_push(e.clone()).is_err() {
                    break;
                }
                self.unsent.remove(&id);
                ids.push(id);
            }
            if ids.is_empty() {
                // An event that fits nowhere cannot happen (the spool cuts
                // every event to fit); never spin on it.
                if let Some(id) = self.unsent.pop_first() {
                    tracing::error!("event {id} does not fit in a datagram; dropped");
                    self.queue.remove(&id);
                    self.settled.push(id);
                }
                continue;
            }
            if !self.awaiting_ack {
                // Retransmissions do not restart the silence clock.
                self.awaiting_ack = true;
                self.progress(now);
                self.quiet_since = self.quiet_since.max(now);
            }
            let seq = self.next_flight;
            self.next_flight += 1;
            for id in &ids {
                self.flight_of.insert(*id, seq);
            }
            self.flights.insert(
                seq,
                Flight {
                    remaining: ids.len(),
                    ids,
                    deadline: now + self.rto,
                },
            );
            self.transmit.push_back((to, batch.finish()));
        }
    }

    fn best_other(&self, now: Instant) -> Option<SocketAddr> {
        self.supervisors.best_other(self.chosen, now)
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        // A tried supervisor that never answered, while another beacons.
        if let Some(c) = self.chosen
            && now >= self.unanswered_check
            && self.supervisors.get(&c).is_some_and(|s| !s.answered)
        {
            match self.best_other(now) {
                Some(other) => {
                    tracing::info!(from = %c, to = %other, "no answer from a supervisor heard only by its beacons; moving");
                    if let Some(s) = self.supervisors.get_mut(&c) {
                        s.suspect = true;
                    }
                    self.choose(now, other);
                    return;
                }
                // Nobody else to try: look again a second later rather
                // than wake at once forever.
                None => self.unanswered_check = now + Duration::from_secs(1),
            }
        }
        // In doubt: probe, and leave it after enough unanswered probes.
        if let Some(at) = self.doubt_since()
            && now >= at
            && now >= self.next_probe
            && let Some(c) = self.chosen
        {
            self.next_probe = now + PROBE_INTERVAL;
            if let Some(other) = self.best_other(now) {
                if self.probes_unanswered >= PROBES_TO_LEAVE {
                    tracing::info!(from = %c, to = %other, probes = self.probes_unanswered, "no answer to probes; moving");
                    self.choose(now, other);
                    return;
                }
                self.probes_unanswered += 1;
                let missing = self.assembly.as_ref().map(|a| a.missing());
                self.transmit.push_back((
                    c,
                    Message::ConfigRequest {
                        host: self.host.clone(),
                        have: self.version,
                        missing,
                    },
                ));
            }
        }
        // Supervisor lost, or silent about outstanding events.
        if let Some(c) = self.chosen {
            let lost = self.supervisors.get(&c).is_none_or(|s| !s.alive(now));
            let silent = self.is_silent(now);
            if lost || silent {
                match self.best_other(now) {
                    Some(other) => {
                        tracing::info!(from = %c, to = %other, lost, "moving to another supervisor");
                        self.choose(now, other);
                        return;
                    }
                    None if lost => {
                        self.chosen = None;
                        self.awaiting_ack = false;
                        self.recall_flights();
                        self.events
                            .push_back(SessionEvent::SupervisorLost { addr: c });
                    }
                    None => self.silence_exhausted = silent,
                }
            }
        }
        if now >= self.next_heartbeat {
            self.next_heartbeat = now + HEARTBEAT_INTERVAL;
            let hb = self.heartbeat(now);
            for a in self.supervisors.alive(now) {
                self.transmit.push_back((a, hb.clone()));
            }
        }
        if let (Some(to), Some(at)) = (self.chosen, self.cfg_next_request)
            && now >= at
        {
            let missing = self.assembly.as_ref().map(|a| a.missing());
            self.transmit.push_back((
                to,
                Message::ConfigRequest {
                    host: self.host.clone(),
                    have: self.version,
                    missing,
                },
            ));
            self.cfg_next_request = Some(now + self.cfg_backoff);
            self.cfg_backoff = (self.cfg_backoff * 2).min(CONFIG_RETRY_MAX);
        }
        let expired: Vec<u64> = self
            .flights
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(s, _)| *s)
            .collect();
        if !expired.is_empty() {
            self.rto = (self.rto * 2).min(RETRANSMIT_MAX);
            for seq in expired {
                if let Some(f) = self.flights.remove(&seq) {
                    for id in f.ids {
                        if self.flight_of.get(&id) == Some(&seq) {
                            self.flight_of.remove(&id);
                            self.unsent.insert(id);
                        }
                    }
                }
            }
        }
        self.fill_window(now);
    }

    /// Since when the chosen supervisor is in doubt (see the module doc):
    /// events outstanding and nothing heard for [`PROBE_AFTER`], or its
    /// beacon overdue. `None` when it cannot be probed cheaply (nothing
    /// answered yet: the configuration would come whole; the unanswered
    /// rule covers that).
    fn doubt_since(&self) -> Option<Instant> {
        let c = self.chosen?;
        let s = self.supervisors.get(&c)?;
        if !s.answered
            || (self.version.is_none() && self.assembly.is_none() && !self.told_no_config)
        {
            return None;
        }
        let overdue = s.beacon_overdue();
        Some(if self.awaiting_ack {
            overdue.min(self.quiet_since + PROBE_AFTER)
        } else {
            overdue
        })
    }

    /// The next moment [`Session::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = Some(self.next_heartbeat);
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        if let Some(c) = self.chosen {
            if self.supervisors.get(&c).is_some_and(|s| !s.answered) {
                consider(Some(self.unanswered_check));
            }
            consider(self.cfg_next_request);
            consider(self.supervisors.get(&c).map(Supervisor::expires));
            if self.awaiting_ack && !self.silence_exhausted {
                consider(Some(self.last_progress + ACK_SILENCE_FAILOVER));
            }
            if let Some(at) = self.doubt_since()
                && self.best_other(at.max(self.next_probe)).is_some()
            {
                consider(Some(at.max(self.next_probe)));
            }
        }
        consider(self.flights.values().map(|f| f.deadline).min());
        t
    }
}
