//! One simulated observer as a plain state machine: it takes the current
//! time and the datagrams it receives, and hands back the datagrams to send
//! and the next time it wants to be woken. No sockets, no clock.
//!
//! It does what an observer does on the wire: heartbeats, an optional
//! configuration fetch, and events that are re-sent with a growing time-out
//! until acknowledged, carrying `floor` = the smallest unacknowledged id.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use wire::{Codec, Event, EventBatchBuilder, EventKind, Message, OpenProblem, Reassembly};

use crate::stats::SimStats;

/// Longest retransmission time-out; the first is [`Profile::retry`].
pub const MAX_RETRY: Duration = Duration::from_secs(8);
/// Configuration re-requests back off from 1 s to 10 s, as an observer's do.
pub const CONFIG_RETRY_FIRST: Duration = Duration::from_secs(1);
pub const CONFIG_RETRY_MAX: Duration = Duration::from_secs(10);

/// Tags and source of every generated event.
pub const EVENT_TAGS: &str = "loadgen";
pub const EVENT_SOURCE: &str = "/var/log/loadgen.log";

/// How one simulated observer raises events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// One event every `every`, the first at start + `phase`, until start +
    /// `lasts`.
    Steady {
        every: Duration,
        phase: Duration,
        lasts: Duration,
    },
    /// `events` events, as fast as acknowledgements allow, with at most
    /// `window` events unacknowledged.
    Flood { events: u64, window: usize },
}

/// Everything that shapes one simulated observer.
#[derive(Debug, Clone)]
pub struct Profile {
    pub load: Load,
    pub heartbeat: Duration,
    /// First heartbeat at start + this, so a fleet does not beat in step.
    pub heartbeat_phase: Duration,
    /// Open problems carried in every heartbeat (0: protocol-1 heartbeats).
    pub open_problems: u32,
    pub retry: Duration,
    /// How long to wait for acknowledgements without progress before giving
    /// up (after the load, or while a flood is stalled).
    pub drain: Duration,
    pub event_bytes: usize,
    pub fetch_config: bool,
    pub first_id: u64,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    time_ms: i64,
    first_sent: Instant,
    attempt: u32,
}

/// The configuration fetch of one host, when asked for.
#[derive(Debug)]
struct ConfigFetch {
    version: Option<u64>,
    transfer: Option<Reassembly>,
    next_request: Option<Instant>,
    backoff: Duration,
}

/// One simulated observer.
pub struct SimulatedObserver {
    host: String,
    profile: Profile,
    codec: Codec,
    started: Instant,
    started_ms: u64,
    filler: String,
    /// What every heartbeat says is open (`Profile::open_problems` of them).
    problems: Vec<OpenProblem>,
    next_id: u64,
    /// Id of `pending[0]`; every id below it is acknowledged.
    base_id: u64,
    pending: VecDeque<Option<Pending>>,
    in_flight: usize,
    /// (deadline, id, attempt): a retransmission is due unless the event
    /// was acknowledged or re-sent since.
    retry: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    due: VecDeque<u64>,
    next_event_at: Instant,
    generation_done: bool,
    last_progress: Instant,
    next_heartbeat: Instant,
    config: ConfigFetch,
    control: VecDeque<Message>,
    stats: SimStats,
}

impl SimulatedObserver {
    /// An observer named `host` starting at `now`, whose wall clock then
    /// reads `now_ms` (milliseconds since the Unix epoch).
    pub fn new(host: String, profile: Profile, codec: Codec, now: Instant, now_ms: u64) -> Self {
        let next_event_at = match profile.load {
            Load::Steady { phase, .. } => now + phase,
            Load::Flood { .. } => now,
        };
        let config = ConfigFetch {
            version: None,
            transfer: None,
            next_request: profile.fetch_config.then_some(now),
            backoff: CONFIG_RETRY_FIRST,
        };
        let mut sim = SimulatedObserver {
            host,
            started: now,
            started_ms: now_ms,
            filler: String::new(),
            problems: Self::open_problems(profile.open_problems, now_ms),
            next_id: profile.first_id,
            base_id: profile.first_id,
            pending: VecDeque::new(),
            in_flight: 0,
            retry: BinaryHeap::new(),
            due: VecDeque::new(),
            next_event_at,
            generation_done: false,
            last_progress: now,
            next_heartbeat: now + profile.heartbeat_phase,
            config,
            control: VecDeque::new(),
            stats: SimStats::default(),
            codec,
            profile,
        };
        sim.filler = sim.filler_for(sim.profile.event_bytes);
        sim
    }

    /// The problems every heartbeat of an observer started at `started_ms`
    /// carries: open since its start, shaped like a disk check's (id, tags,
    /// message, value).
    fn open_problems(count: u32, started_ms: u64) -> Vec<OpenProblem> {
        (0..count)
            .map(|i| OpenProblem {
                check: format!("metric-{i:08x}"),
                since_ms: started_ms as i64,
                tags: "disk,loadgen".to_owned(),
                message: format!("disk /srv/{i} is 93.5 % full (above 90)"),
                value: Some(93.5),
            })
            .collect()
    }

    /// Changes how events are raised (before the first
    /// [`Self::handle_timeout`]), e.g. once the flood window is known in
    /// events.
    pub fn set_load(&mut self, load: Load) {
        self.profile.load = load;
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Events that one full datagram of this observer carries.
    pub fn events_per_datagram(&self) -> usize {
        let mut batch = EventBatchBuilder::new(&self.host, self.next_id, &self.codec);
        let mut n = 0;
        while batch
            .try_push(self.event(self.next_id + n, self.started_ms as i64))
            .is_ok()
        {
            n += 1;
        }
        n as usize
    }

    #[cfg(test)]
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    pub fn into_stats(self) -> SimStats {
        self.stats
    }

    fn wall_ms(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.started).as_millis();
        self.started_ms
            .saturating_add(u64::try_from(since).unwrap_or(u64::MAX))
    }

    /// Text that pads an event's message to `event_bytes` encoded bytes.
    fn filler_for(&self, event_bytes: usize) -> String {
        let bare = self
            .event(self.next_id, self.started_ms as i64)
            .encoded_len();
        "x".repeat(event_bytes.saturating_sub(bare))
    }

    fn event(&self, id: u64, time_ms: i64) -> Event {
        Event {
            id,
            time_ms,
            tags: EVENT_TAGS.to_string(),
            source: Some(EVENT_SOURCE.to_string()),
            kind: EventKind::Alert,
            message: format!("loadgen {id} {}", self.filler),
            value: None,
        }
    }

    /// Smallest unacknowledged id (the next id when none is).
    #[cfg(test)]
    pub fn floor(&self) -> u64 {
        self.base_id
    }

    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn retry_after(&self, attempt: u32) -> Duration {
        self.profile
            .retry
            .saturating_mul(1u32 << attempt.min(16))
            .min(MAX_RETRY)
    }

    fn raise_event(&mut self, now: Instant) {
        let id = self.next_id;
        self.next_id += 1;
        let time_ms = i64::try_from(self.wall_ms(now)).unwrap_or(i64::MAX);
        self.pending.push_back(Some(Pending {
            time_ms,
            first_sent: now,
            attempt: 0,
        }));
        self.in_flight += 1;
        self.retry.push(Reverse((now + self.retry_after(0), id, 0)));
        self.due.push_back(id);
        self.stats.events_sent += 1;
    }

    fn slot(&mut self, id: u64) -> Option<&mut Option<Pending>> {
        let index = usize::try_from(id.checked_sub(self.base_id)?).ok()?;
        self.pending.get_mut(index)
    }

    /// Raises what is due, schedules retransmissions, heartbeats and
    /// configuration requests.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.profile.load {
            Load::Steady { every, lasts, .. } => {
                let end = self.started + lasts;
                while !self.generation_done && self.next_event_at <= now {
                    if self.next_event_at >= end {
                        break;
                    }
                    self.raise_event(now);
                    self.next_event_at += every;
                }
                if !self.generation_done && now >= end {
                    self.generation_done = true;
                    self.last_progress = now;
                }
            }
            Load::Flood { events, window } => {
                let budget_end = self.profile.first_id.saturating_add(events);
                while self.next_id < budget_end && self.in_flight < window {
                    self.raise_event(now);
                }
                if !self.generation_done && self.next_id >= budget_end {
                    self.generation_done = true;
                    self.last_progress = self.last_progress.max(now);
                }
            }
        }

        while let Some(&Reverse((at, id, attempt))) = self.retry.peek() {
            if at > now {
                break;
            }
            self.retry.pop();
            let next_attempt = attempt + 1;
            let retry_at = now + self.retry_after(next_attempt);
            let Some(Some(pending)) = self.slot(id) else {
                continue;
            };
            if pending.attempt != attempt {
                continue;
            }
            pending.attempt = next_attempt;
            self.retry.push(Reverse((retry_at, id, next_attempt)));
            self.due.push_back(id);
            self.stats.retransmits += 1;
        }

        if self.next_heartbeat <= now {
            let queue_len = self.in_flight as u64;
            let uptime_secs = now.saturating_duration_since(self.started).as_secs();
            self.control.push_back(if self.profile.open_problems == 0 {
                Message::Heartbeat {
                    host: self.host.clone(),
                    version: self.config.version,
                    queue_len,
                    uptime_secs,
                }
            } else {
                // As many as fit, the rest counted, as an observer sends them.
                wire::heartbeat_v2(
                    &self.host,
                    self.config.version,
                    queue_len,
                    uptime_secs,
                    None,
                    self.problems.iter().cloned(),
                    &self.codec,
                )
            });
            self.stats.heartbeats_sent += 1;
            while self.next_heartbeat <= now {
                self.next_heartbeat += self.profile.heartbeat;
            }
        }

        if let Some(at) = self.config.next_request
            && at <= now
        {
            let missing = self
                .config
                .transfer
                .as_ref()
                .map(Reassembly::missing)
                .filter(|m| !m.indices.is_empty());
            self.control.push_back(Message::ConfigRequest {
                host: self.host.clone(),
                have: self.config.version,
                missing,
            });
            self.stats.config_requests += 1;
            self.config.next_request = Some(now + self.config.backoff);
            self.config.backoff = (self.config.backoff * 2).min(CONFIG_RETRY_MAX);
        }
    }

    /// The next datagram to send, if any.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        let now_ms = self.wall_ms(now);
        if let Some(msg) = self.control.pop_front() {
            return self.encode(&msg, now_ms);
        }
        // Drop ids acknowledged since they were queued.
        while let Some(&id) = self.due.front() {
            if matches!(self.slot(id), Some(Some(_))) {
                break;
            }
            self.due.pop_front();
        }
        if self.due.is_empty() {
            return None;
        }
        let mut batch = EventBatchBuilder::new(&self.host, self.base_id, &self.codec);
        while let Some(id) = self.due.pop_front() {
            let Some(Some(pending)) = self.slot(id).map(|s| *s) else {
                continue;
            };
            if let Err(_event) = batch.try_push(self.event(id, pending.time_ms)) {
                self.due.push_front(id);
                break;
            }
        }
        if batch.is_empty() {
            return None;
        }
        let msg = batch.finish();
        self.encode(&msg, now_ms)
    }

    fn encode(&mut self, msg: &Message, now_ms: u64) -> Option<Vec<u8>> {
        match self.codec.encode(msg, now_ms) {
            Ok(bytes) => Some(bytes),
            Err(_) => {
                self.stats.encode_errors += 1;
                None
            }
        }
    }

    /// One datagram received on this observer's socket.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        let msg = match self.codec.decode(datagram, self.wall_ms(now)) {
            Ok(msg) => msg,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        if msg.host().is_some_and(|h| h != self.host) {
            self.stats.foreign += 1;
            return;
        }
        match msg {
            Message::Ack { ids, .. } => {
                for id in ids {
                    self.acknowledge(now, id);
                }
                while let Some(None) = self.pending.front() {
                    self.pending.pop_front();
                    self.base_id += 1;
                }
            }
            Message::ConfigChunk {
                version,
                index,
                total,
                data,
                ..
            } => {
                self.stats.config_chunks += 1;
                self.config_chunk(now, version, index, total, &data);
            }
            Message::NoConfig { .. } => {
                self.stats.no_config += 1;
                self.config_settled();
            }
            Message::ConfigUnchanged { version, .. } => {
                self.stats.config_unchanged += 1;
                self.config.version = Some(version);
                self.config_settled();
            }
            Message::Reset { .. } => {
                self.stats.resets += 1;
                if self.profile.fetch_config {
                    self.config.version = None;
                    self.config.transfer = None;
                    self.config.backoff = CONFIG_RETRY_FIRST;
                    self.config.next_request = Some(now);
                }
            }
            Message::Beacon { .. } => self.stats.beacons += 1,
            Message::ConfigRequest { .. }
            | Message::Heartbeat { .. }
            | Message::Events { .. }
            | Message::EventsV2 { .. }
            | Message::HeartbeatV2 { .. }
            | Message::Goodbye { .. } => self.stats.unexpected += 1,
        }
    }

    fn acknowledge(&mut self, now: Instant, id: u64) {
        let taken = self.slot(id).and_then(Option::take);
        let Some(pending) = taken else {
            self.stats.duplicate_acks += 1;
            return;
        };
        self.in_flight -= 1;
        self.stats.events_acked += 1;
        let waited = now.saturating_duration_since(pending.first_sent);
        self.stats.record_latency(waited);
        self.stats.last_ack = Some(self.stats.last_ack.map_or(now, |t| t.max(now)));
        self.last_progress = now;
    }

    fn config_chunk(&mut self, now: Instant, version: u64, index: u16, total: u16, data: &[u8]) {
        if self.config.version == Some(version) && self.config.transfer.is_none() {
            return; // a late repeat of a configuration already complete
        }
        let fresh = self
            .config
            .transfer
            .as_ref()
            .is_none_or(|t| t.version() != version || t.total() != total);
        if fresh {
            match Reassembly::new(version, total) {
                Ok(t) => self.config.transfer = Some(t),
                Err(_) => {
                    self.stats.malformed += 1;
                    return;
                }
            }
        }
        let Some(transfer) = self.config.transfer.as_mut() else {
            return;
        };
        if transfer.insert(index, total, data).is_err() {
            self.stats.malformed += 1;
            return;
        }
        if transfer.is_complete() {
            self.config.version = Some(version);
            self.config.transfer = None;
            self.stats.configs_complete += 1;
            self.config_settled();
        } else {
            // Ask for the rest soon if the remaining chunks do not come.
            self.config.next_request = Some(now + CONFIG_RETRY_FIRST);
        }
    }

    fn config_settled(&mut self) {
        self.config.next_request = None;
        self.config.backoff = CONFIG_RETRY_FIRST;
    }

    /// When this observer next needs [`Self::handle_timeout`].
    pub fn poll_timeout(&self) -> Instant {
        let mut next = self.next_heartbeat;
        if let Some(Reverse((at, _, _))) = self.retry.peek() {
            next = next.min(*at);
        }
        if let Some(at) = self.config.next_request {
            next = next.min(at);
        }
        if let Load::Steady { lasts, .. } = self.profile.load
            && !self.generation_done
        {
            next = next.min(self.next_event_at).min(self.started + lasts);
        }
        // The give-up deadline only matters once it can end the run: while a
        // steady load is still running it would wake the loop for nothing.
        let can_give_up = self.generation_done || matches!(self.profile.load, Load::Flood { .. });
        if self.in_flight > 0 && can_give_up {
            next = next.min(self.last_progress + self.profile.drain);
        }
        next
    }

    /// True once the load is over and every event is acknowledged, or
    /// nothing was acknowledged for the drain time (the rest count as lost).
    pub fn is_finished(&self, now: Instant) -> bool {
        let stalled = self.in_flight > 0 && now >= self.last_progress + self.profile.drain;
        let flood = matches!(self.profile.load, Load::Flood { .. });
        (self.generation_done && (self.in_flight == 0 || stalled)) || (flood && stalled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0_MS: u64 = 1_800_000_000_000;

    fn profile(load: Load) -> Profile {
        Profile {
            load,
            heartbeat: Duration::from_secs(15),
            heartbeat_phase: Duration::ZERO,
            open_problems: 0,
            retry: Duration::from_secs(1),
            drain: Duration::from_secs(10),
            event_bytes: 100,
            fetch_config: false,
            first_id: 1_000,
        }
    }

    fn steady(seconds: u64) -> Load {
        Load::Steady {
            every: Duration::from_secs(1),
            phase: Duration::ZERO,
            lasts: Duration::from_secs(seconds),
        }
    }

    /// Everything the observer sends at `now`, decoded.
    fn drain(sim: &mut SimulatedObserver, now: Instant) -> Vec<Message> {
        let mut peer = Codec::open();
        let mut out = Vec::new();
        while let Some(d) = sim.poll_transmit(now) {
            out.push(peer.decode(&d, T0_MS).unwrap());
        }
        out
    }

    fn event_ids(msgs: &[Message]) -> Vec<u64> {
        msgs.iter()
            .flat_map(|m| match m {
                Message::Events { events, .. } => events.iter().map(|e| e.id).collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    fn ack(host: &str, ids: &[u64]) -> Vec<u8> {
        let msg = Message::Ack {
            host: host.into(),
            ids: ids.to_vec(),
        };
        Codec::open().encode(&msg, T0_MS).unwrap()
    }

    #[test]
    fn unacknowledged_event_is_resent_with_a_growing_timeout() {
        let t0 = Instant::now();
        let mut sim =
            SimulatedObserver::new("h1".into(), profile(steady(1)), Codec::open(), t0, T0_MS);
        sim.handle_timeout(t0);
        let first = drain(&mut sim, t0);
        assert_eq!(event_ids(&first), vec![1_000]);
        assert!(matches!(first[0], Message::Heartbeat { .. }));

        let mut resent_at = Vec::new();
        let mut now = t0;
        while now < t0 + Duration::from_secs(8) {
            now = sim.poll_timeout();
            sim.handle_timeout(now);
            if !event_ids(&drain(&mut sim, now)).is_empty() {
                resent_at.push((now - t0).as_secs());
            }
        }
        assert_eq!(resent_at, vec![1, 3, 7]);
        assert_eq!(sim.stats().retransmits, 3);
        assert_eq!(sim.floor(), 1_000);
    }

    #[test]
    fn open_problems_go_out_in_protocol_2_heartbeats_that_decode() {
        let t0 = Instant::now();
        let mut with = profile(steady(1));
        with.open_problems = 64;
        let mut sim = SimulatedObserver::new("h1".into(), with, Codec::open(), t0, T0_MS);
        sim.handle_timeout(t0);
        let sent = drain(&mut sim, t0);
        let Some(Message::HeartbeatV2 {
            host,
            problems,
            omitted,
            ..
        }) = sent.first()
        else {
            panic!("not a protocol-2 heartbeat: {sent:?}");
        };
        // A datagram holds only some of 64: the rest are counted, not lost.
        assert_eq!(host, "h1");
        assert!(
            !problems.is_empty() && problems.len() < 64,
            "{}",
            problems.len()
        );
        assert_eq!(problems.len() + *omitted as usize, 64);
        let checks: std::collections::HashSet<_> = problems.iter().map(|p| &p.check).collect();
        assert_eq!(
            checks.len(),
            problems.len(),
            "every problem has its own check id"
        );
        assert!(problems.iter().all(|p| p.since_ms == T0_MS as i64));
    }

    #[test]
    fn ack_moves_the_floor_and_records_latency() {
        let t0 = Instant::now();
        let mut sim =
            SimulatedObserver::new("h1".into(), profile(steady(3)), Codec::open(), t0, T0_MS);
        for s in 0..3 {
            let now = t0 + Duration::from_secs(s);
            sim.handle_timeout(now);
            let _ = drain(&mut sim, now);
        }
        assert_eq!(sim.in_flight(), 3);
        let later = t0 + Duration::from_millis(2_500);
        sim.handle_datagram(later, &ack("h1", &[1_001]));
        assert_eq!(sim.floor(), 1_000);
        sim.handle_datagram(later, &ack("h1", &[1_000, 1_000]));
        assert_eq!(sim.floor(), 1_002);
        assert_eq!(sim.stats().events_acked, 2);
        assert_eq!(sim.stats().duplicate_acks, 1);
        sim.handle_datagram(later, &ack("other", &[1_002]));
        assert_eq!(sim.stats().foreign, 1);
        sim.handle_datagram(later, b"garbage");
        assert_eq!(sim.stats().malformed, 1);
        // The next batch carries the new floor.
        let now = t0 + Duration::from_secs(4);
        sim.handle_timeout(now);
        let sent = drain(&mut sim, now);
        let floor = sent.iter().find_map(|m| match m {
            Message::Events { floor, .. } => Some(*floor),
            _ => None,
        });
        assert_eq!(floor, Some(1_002));
        assert!(!sim.is_finished(now));
        sim.handle_datagram(now, &ack("h1", &[1_002]));
        assert!(sim.is_finished(now));
    }

    #[test]
    fn flood_keeps_the_window_full_and_finishes_when_all_are_acked() {
        let t0 = Instant::now();
        let mut sim = SimulatedObserver::new(
            "h1".into(),
            profile(Load::Flood {
                events: 100,
                window: 30,
            }),
            Codec::open(),
            t0,
            T0_MS,
        );
        let per = sim.events_per_datagram();
        assert!((10..=14).contains(&per), "{per} events per datagram");
        sim.handle_timeout(t0);
        let ids = event_ids(&drain(&mut sim, t0));
        assert_eq!(ids.len(), 30);
        sim.handle_datagram(t0, &ack("h1", &ids[..10]));
        sim.handle_timeout(t0);
        let more = event_ids(&drain(&mut sim, t0));
        assert_eq!(more, (1_030..1_040).collect::<Vec<_>>());
        let mut now = t0;
        let mut all: Vec<u64> = ids[10..].iter().chain(&more).copied().collect();
        while !sim.is_finished(now) {
            sim.handle_datagram(now, &ack("h1", &all));
            sim.handle_timeout(now);
            all = event_ids(&drain(&mut sim, now));
            now += Duration::from_millis(1);
            assert!(now < t0 + Duration::from_secs(1));
        }
        assert_eq!(sim.stats().events_sent, 100);
        assert_eq!(sim.stats().events_acked, 100);
        assert_eq!(sim.stats().retransmits, 0);
    }

    #[test]
    fn events_are_padded_to_the_requested_size() {
        let sim = SimulatedObserver::new(
            "h1".into(),
            profile(steady(1)),
            Codec::open(),
            Instant::now(),
            T0_MS,
        );
        let len = sim.event(1_000, T0_MS as i64).encoded_len();
        assert!((98..=102).contains(&len), "{len}");
    }

    #[test]
    fn silent_supervisor_during_steady_load_does_not_busy_wake() {
        let t0 = Instant::now();
        let mut sim =
            SimulatedObserver::new("h1".into(), profile(steady(60)), Codec::open(), t0, T0_MS);
        let mut now = t0;
        let mut wakes = 0;
        while now < t0 + Duration::from_secs(30) {
            sim.handle_timeout(now);
            let _ = drain(&mut sim, now);
            let next = sim.poll_timeout();
            assert!(
                next > now,
                "wake-up at {:?} is not after {:?}",
                next - t0,
                now - t0
            );
            now = next;
            wakes += 1;
        }
        // One event a second plus re-sends and heartbeats: far below a spin.
        assert!(wakes < 200, "{wakes} wake-ups in 30 s");
        assert!(!sim.is_finished(now));
    }

    #[test]
    fn stalled_flood_gives_up_after_the_drain_time() {
        let t0 = Instant::now();
        let mut sim = SimulatedObserver::new(
            "h1".into(),
            profile(Load::Flood {
                events: 1_000,
                window: 10,
            }),
            Codec::open(),
            t0,
            T0_MS,
        );
        sim.handle_timeout(t0);
        let _ = drain(&mut sim, t0);
        assert!(!sim.is_finished(t0 + Duration::from_secs(9)));
        assert!(sim.is_finished(t0 + Duration::from_secs(10)));
        assert_eq!(sim.stats().events_sent, 10);
    }

    #[test]
    fn config_is_fetched_counted_and_fetched_again_after_a_reset() {
        let t0 = Instant::now();
        let mut p = profile(steady(1));
        p.fetch_config = true;
        let mut sim = SimulatedObserver::new("h1".into(), p, Codec::open(), t0, T0_MS);
        sim.handle_timeout(t0);
        let sent = drain(&mut sim, t0);
        assert!(
            sent.iter()
                .any(|m| matches!(m, Message::ConfigRequest { have: None, .. }))
        );
        let codec = Codec::open();
        let text = vec![b'a'; 3000];
        for chunk in wire::split_config("h1", 42, &text).unwrap() {
            sim.handle_datagram(t0, &codec.encode(&chunk, T0_MS).unwrap());
        }
        assert_eq!(sim.stats().config_chunks, 3);
        assert_eq!(sim.stats().configs_complete, 1);
        // The next heartbeat carries the version.
        let hb = t0 + Duration::from_secs(15);
        sim.handle_timeout(hb);
        let beats = drain(&mut sim, hb);
        assert!(beats.iter().any(|m| matches!(
            m,
            Message::Heartbeat {
                version: Some(42),
                ..
            }
        )));
        let reset = Message::Reset { host: "h1".into() };
        sim.handle_datagram(hb, &codec.encode(&reset, T0_MS).unwrap());
        sim.handle_timeout(hb);
        let again = drain(&mut sim, hb);
        assert!(
            again
                .iter()
                .any(|m| matches!(m, Message::ConfigRequest { .. }))
        );
        assert_eq!(sim.stats().resets, 1);
    }
}
