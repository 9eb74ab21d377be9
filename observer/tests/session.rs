//! The session state machine alone against a tiny fake supervisor, in
//! virtual time, with seeded loss (the seed is printed on failure): what
//! needs a supervisor that misbehaves in ways the real one cannot (replayed
//! beacons from a silent address) or checks the session's own invariants
//! (nothing sent after its acknowledgement, the floor). Failover from a
//! killed supervisor and from one that acknowledges nothing run against the
//! real supervisor in `simulation.rs`.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::Rng;
use observer::session::{Session, SessionEvent};
use wire::{CheckEvent, Codec, Event, EventKind, Message, Transition, split_config};

const HOST: &str = "web1";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn event(id: u64) -> CheckEvent {
    CheckEvent {
        event: Event {
            id,
            time_ms: 1,
            tags: "t".into(),
            source: Some("/var/log/x".into()),
            kind: EventKind::Alert,
            message: format!("line {id}"),
            value: None,
        },
        check: Some("log-00c0ffee".into()),
        transition: Transition::Point,
    }
}

/// A supervisor built from wire: serves one configuration text and
/// acknowledges events, remembering what it wrote.
struct FakeSupervisor {
    addr: SocketAddr,
    config: Option<(u64, String)>,
    written: BTreeSet<u64>,
    requests: Vec<Message>,
    acking: bool,
}

impl FakeSupervisor {
    fn new(addr: SocketAddr, config: Option<(u64, &str)>) -> Self {
        FakeSupervisor {
            addr,
            config: config.map(|(v, t)| (v, t.to_string())),
            written: BTreeSet::new(),
            requests: Vec::new(),
            acking: true,
        }
    }
    fn beacon(&self) -> Message {
        Message::Beacon {
            supervisor: format!("sup-{}", self.addr.port()),
            run_id: 7,
        }
    }
    fn answer(&mut self, msg: Message) -> Vec<Message> {
        match msg {
            Message::ConfigRequest {
                host,
                have,
                missing,
            } => {
                self.requests.push(Message::ConfigRequest {
                    host: host.clone(),
                    have,
                    missing: missing.clone(),
                });
                let Some((v, text)) = &self.config else {
                    return vec![Message::NoConfig { host }];
                };
                if have == Some(*v) && missing.is_none() {
                    return vec![Message::ConfigUnchanged { host, version: *v }];
                }
                let chunks = split_config(&host, *v, text.as_bytes()).unwrap();
                match missing {
                    Some(m) => m
                        .indices
                        .iter()
                        .filter_map(|i| chunks.get(usize::from(*i)).cloned())
                        .collect(),
                    None => chunks,
                }
            }
            Message::EventsV2 { host, events, .. } if self.acking => {
                let ids: Vec<u64> = events.iter().map(|e| e.event.id).collect();
                self.written.extend(ids.iter().copied());
                vec![Message::Ack { host, ids }]
            }
            _ => vec![],
        }
    }
}

fn drain(session: &mut Session) -> Vec<(SocketAddr, Message)> {
    std::iter::from_fn(|| session.poll_transmit()).collect()
}

fn events_of(session: &mut Session) -> Vec<SessionEvent> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

#[test]
fn first_supervisor_heard_is_chosen_and_asked_for_configuration() {
    let t0 = Instant::now();
    let mut s = Session::new(HOST, Codec::open(), 1000, t0);
    let a = FakeSupervisor::new(addr("10.0.0.1:9001"), Some((5, "file: /x\n")));
    let b = FakeSupervisor::new(addr("10.0.0.2:9001"), None);
    s.handle_datagram(t0, a.addr, a.beacon());
    s.handle_datagram(t0, b.addr, b.beacon());
    assert_eq!(s.chosen(), Some(a.addr));
    let out = drain(&mut s);
    assert!(out.iter().any(|(to, m)| *to == a.addr
        && matches!(
            m,
            Message::ConfigRequest {
                have: None,
                missing: None,
                ..
            }
        )));
    // Heartbeats go to both.
    for sup in [a.addr, b.addr] {
        assert!(
            out.iter()
                .any(|(to, m)| *to == sup && matches!(m, Message::HeartbeatV2 { .. }))
        );
    }
    // Only tried so far: chosen once it answers this host's request.
    assert!(events_of(&mut s).is_empty());
    let mut a = a;
    let a_addr = a.addr;
    for (to, m) in out.into_iter().filter(|(to, _)| *to == a_addr) {
        for r in a.answer(m) {
            s.handle_datagram(t0, to, r);
        }
    }
    assert!(events_of(&mut s).iter().any(|e| matches!(
        e,
        SessionEvent::SupervisorChosen { addr, .. } if *addr == a.addr
    )));
}

#[test]
fn beacons_replayed_from_a_silent_address_are_left_for_the_supervisor_that_answers() {
    let t0 = Instant::now();
    let mut s = Session::new(HOST, Codec::open(), 1000, t0);
    // An intruder re-sends captured beacons from its own address; it can
    // answer nothing. It is heard first.
    let intruder = addr("10.0.0.66:9001");
    let mut real = FakeSupervisor::new(addr("10.0.0.1:9001"), Some((5, "file: /x\n")));
    let beacon = real.beacon();
    let mut chosen_events = Vec::new();
    let mut configured_at = None;
    let mut t = t0;
    while t < t0 + Duration::from_secs(30) {
        if (t - t0).as_millis().is_multiple_of(900) {
            s.handle_datagram(t, intruder, beacon.clone());
        }
        if (t - t0).as_millis().is_multiple_of(1000) {
            s.handle_datagram(t, real.addr, real.beacon());
        }
        s.handle_timeout(t);
        for (to, m) in drain(&mut s) {
            if to == real.addr {
                for r in real.answer(m) {
                    s.handle_datagram(t, to, r);
                }
            }
        }
        for e in events_of(&mut s) {
            match e {
                SessionEvent::SupervisorChosen { addr, .. } => chosen_events.push(addr),
                SessionEvent::Configure { .. } => configured_at = configured_at.or(Some(t - t0)),
                _ => {}
            }
        }
        t += Duration::from_millis(100);
    }
    assert_eq!(
        chosen_events,
        vec![real.addr],
        "only the answering supervisor is chosen"
    );
    assert_eq!(
        s.chosen(),
        Some(real.addr),
        "the intruder is not tried again"
    );
    let configured_at = configured_at.expect("never configured");
    assert!(configured_at <= Duration::from_secs(5), "{configured_at:?}");
}

#[test]
fn heartbeats_go_to_every_supervisor_heard_every_15_s() {
    let t0 = Instant::now();
    let mut s = Session::new(HOST, Codec::open(), 1000, t0);
    let (a, b) = (addr("10.0.0.1:9001"), addr("10.0.0.2:9001"));
    let mut t = t0;
    let mut beats = Vec::new();
    while t < t0 + Duration::from_secs(31) {
        if (t - t0).as_millis().is_multiple_of(5000) {
            for x in [a, b] {
                s.handle_datagram(
                    t,
                    x,
                    Message::Beacon {
                        supervisor: "s".into(),
                        run_id: 1,
                    },
                );
            }
        }
        s.handle_timeout(t);
        for (to, m) in drain(&mut s) {
            if matches!(m, Message::HeartbeatV2 { .. }) {
                beats.push((to, t - t0));
            }
        }
        t += Duration::from_millis(500);
    }
    for x in [a, b] {
        let times: Vec<_> = beats
            .iter()
            .filter(|(to, _)| *to == x)
            .map(|(_, d)| d.as_secs())
            .collect();
        assert_eq!(times, vec![0, 15, 30], "heartbeats to {x}");
    }
}

#[test]
fn configuration_chunks_lost_are_re_requested_and_applied_once() {
    let mut re_requested = 0;
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let t0 = Instant::now();
        let mut s = Session::new(HOST, Codec::open(), 1000, t0);
        let text: String = (0..300)
            .map(|i| format!("# line {i} of the configuration\n"))
            .collect();
        let mut sup = FakeSupervisor::new(addr("10.0.0.1:9001"), Some((42, &text)));
        s.handle_datagram(t0, sup.addr, sup.beacon());
        let mut t = t0;
        let mut applied = Vec::new();
        while t < t0 + Duration::from_secs(120) {
            s.handle_timeout(t);
            for (to, m) in drain(&mut s) {
                if to != sup.addr || rng.chance(30) {
                    continue;
                }
                for r in sup.answer(m) {
                    if !rng.chance(30) {
                        s.handle_datagram(t, sup.addr, r);
                    }
                }
            }
            for e in events_of(&mut s) {
                if let SessionEvent::Configure { version, text } = e {
                    applied.push((version, text));
                }
            }
            t += Duration::from_millis(100);
        }
        assert_eq!(
            applied.len(),
            1,
            "seed {seed}: applied {} times",
            applied.len()
        );
        assert_eq!(applied[0], (42, text.clone()), "seed {seed}");
        assert_eq!(s.version(), Some(42));
        if sup.requests.iter().any(|r| {
            matches!(
                r,
                Message::ConfigRequest {
                    missing: Some(_),
                    ..
                }
            )
        }) {
            re_requested += 1;
        }
        // A late repeat of the whole configuration is not applied again.
        for r in sup.answer(Message::ConfigRequest {
            host: HOST.into(),
            have: None,
            missing: None,
        }) {
            s.handle_datagram(t, sup.addr, r);
        }
        assert!(
            events_of(&mut s)
                .iter()
                .all(|e| !matches!(e, SessionEvent::Configure { .. }))
        );
    }
    assert!(
        re_requested > 20,
        "missing chunks re-requested in only {re_requested} of 40 runs"
    );
}

#[test]
fn reset_asks_again_with_the_current_version_and_keeps_an_unchanged_configuration() {
    let t0 = Instant::now();
    let mut s = Session::new(HOST, Codec::open(), 1000, t0);
    let mut sup = FakeSupervisor::new(addr("10.0.0.1:9001"), Some((9, "x\n")));
    s.handle_datagram(t0, sup.addr, sup.beacon());
    for (_, m) in drain(&mut s) {
        for r in sup.answer(m) {
            s.handle_datagram(t0, sup.addr, r);
        }
    }
    assert_eq!(s.version(), Some(9));
    let _ = events_of(&mut s);
    // A reset for another host, or from another address, is ignored.
    s.handle_datagram(
        t0,
        sup.addr,
        Message::Reset {
            host: "other".into(),
        },
    );
    s.handle_datagram(
        t0,
        addr("10.9.9.9:9001"),
        Message::Reset { host: HOST.into() },
    );
    assert!(
        drain(&mut s)
            .iter()
            .all(|(_, m)| !matches!(m, Message::ConfigRequest { .. }))
    );
    // A reset from the supervisor's address (any port: it is broadcast).
    s.handle_datagram(
        t0,
        addr("10.0.0.1:40000"),
        Message::Reset { host: HOST.into() },
    );
    let out = drain(&mut s);
    assert!(
        out.iter()
            .any(|(_, m)| matches!(m, Message::ConfigRequest { have: Some(9), .. }))
    );
    for (_, m) in out {
        for r in sup.answer(m) {
            s.handle_datagram(t0, sup.addr, r);
        }
    }
    assert!(
        events_of(&mut s).is_empty(),
        "unchanged configuration re-applied"
    );
    // After settling, no more requests.
    s.handle_timeout(t0 + Duration::from_secs(14));
    assert!(
        drain(&mut s)
            .iter()
            .all(|(_, m)| !matches!(m, Message::ConfigRequest { .. }))
    );
}

#[test]
fn no_configuration_runs_nothing_and_asks_again_later() {
    let t0 = Instant::now();
    let mut s = Session::new(HOST, Codec::open(), 1000, t0);
    let mut sup = FakeSupervisor::new(addr("10.0.0.1:9001"), None);
    s.handle_datagram(t0, sup.addr, sup.beacon());
    let mut t = t0;
    let mut asked = 0;
    while t < t0 + Duration::from_secs(130) {
        if (t - t0).as_secs().is_multiple_of(5) {
            s.handle_datagram(t, sup.addr, sup.beacon());
        }
        s.handle_timeout(t);
        for (_, m) in drain(&mut s) {
            if matches!(m, Message::ConfigRequest { .. }) {
                asked += 1;
            }
            for r in sup.answer(m) {
                s.handle_datagram(t, sup.addr, r);
            }
        }
        t += Duration::from_secs(1);
    }
    assert_eq!(asked, 3, "at 0, 60 and 120 s");
    assert_eq!(
        events_of(&mut s)
            .iter()
            .filter(|e| **e == SessionEvent::NoConfig)
            .count(),
        1
    );
}

/// Lossy link both ways: everything is written, and nothing is sent after
/// its acknowledgement reached the observer.
#[test]
fn window_with_lost_datagrams_and_lost_acks_loses_nothing() {
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0xA076_1D64_78BD_642F) | 1);
        let loss = 5 + seed * 2;
        let t0 = Instant::now();
        let mut s = Session::new(HOST, Codec::open(), 100_000, t0);
        let mut sup = FakeSupervisor::new(addr("10.0.0.1:9001"), None);
        s.handle_datagram(t0, sup.addr, sup.beacon());
        let mut next_id = 1000u64;
        let mut acked_at_observer: HashSet<u64> = HashSet::new();
        let mut t = t0;
        let end = t0 + Duration::from_secs(300);
        let total = 6000u64;
        while t < end {
            if next_id < 1000 + total {
                let n = (rng.next() % 400).min(1000 + total - next_id);
                s.queue_events(t, (next_id..next_id + n).map(event).collect());
                next_id += n;
            }
            if (t - t0).as_millis().is_multiple_of(5000) {
                s.handle_datagram(t, sup.addr, sup.beacon());
            }
            s.handle_timeout(t);
            let mut replies = Vec::new();
            for (to, m) in drain(&mut s) {
                if let Message::EventsV2 { events, floor, .. } = &m {
                    let events: Vec<&Event> = events.iter().map(|e| &e.event).collect();
                    for e in events {
                        assert!(
                            !acked_at_observer.contains(&e.id),
                            "seed {seed}: event {} sent after its ack",
                            e.id
                        );
                        assert!(e.id >= *floor, "seed {seed}: floor {floor} above {}", e.id);
                    }
                }
                if to != sup.addr || rng.chance(loss) {
                    continue;
                }
                for r in sup.answer(m) {
                    if !rng.chance(loss) {
                        replies.push(r);
                    }
                }
            }
            for r in replies {
                if let Message::Ack { ids, .. } = &r {
                    acked_at_observer.extend(ids.iter().copied());
                }
                s.handle_datagram(t, sup.addr, r);
            }
            if next_id == 1000 + total && s.queue_len() == 0 {
                break;
            }
            t += Duration::from_millis(50);
        }
        assert_eq!(
            s.queue_len(),
            0,
            "seed {seed}: {} events never acknowledged",
            s.queue_len()
        );
        assert_eq!(sup.written.len() as u64, total, "seed {seed}");
        let settled: BTreeSet<u64> = s.take_settled().into_iter().collect();
        assert_eq!(settled.len() as u64, total, "seed {seed}");
        assert_eq!(s.floor(), 1000 + total);
    }
}

#[test]
fn full_queue_drops_the_oldest_and_counts_them() {
    let t0 = Instant::now();
    let mut s = Session::new(HOST, Codec::open(), 10, t0);
    s.queue_events(t0, (1..=15).map(event).collect());
    assert_eq!(s.queue_len(), 10);
    assert_eq!(s.take_dropped(), 5);
    assert_eq!(s.floor(), 6);
    assert_eq!(s.take_settled(), vec![1, 2, 3, 4, 5]);
}
