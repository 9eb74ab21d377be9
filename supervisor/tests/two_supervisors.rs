//! Two supervisors on one LAN, in virtual time: both hear every host's
//! heartbeats and keep the same state, but each notification reaches a
//! person once — from the supervisor the host chose — and still reaches
//! them when that supervisor dies (its hosts fail over, or die with it).
//! Each supervisor feeds a real notification policy through the same
//! mapping the running supervisor uses (`feed_policy`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conf::{HostName, NotifyConfig, StreamFormat};
use supervisor::notify::in_loop::feed_policy;
use supervisor::notify::{NotifyEvent, NotifyPolicy};
use supervisor::{HostChange, HostEntry, Now, Settings, Supervisor};
use wire::{CheckEvent, Codec, Event, EventKind, Message, OpenProblem, Transition};

const MAX_IDLE: Duration = Duration::from_secs(180);
const HEARTBEAT: Duration = Duration::from_secs(15);
const HOSTS: [&str; 3] = ["web1", "web2", "web3"];

/// One supervisor with its notification policy; `sent` is what it handed
/// to its channel: (event, host, check).
struct Node {
    sup: Supervisor,
    policy: NotifyPolicy,
    sent: Vec<(NotifyEvent, String, String)>,
    alive: bool,
}

impl Node {
    fn new(run_id: u64, now: Now) -> Node {
        let settings = Settings {
            supervisor_name: format!("sup{run_id}"),
            run_id,
            broadcast: vec!["10.0.0.255:9000".parse().unwrap()],
            max_idle: MAX_IDLE,
            beacon_interval: Duration::from_secs(5),
            stream_format: StreamFormat::Json,
        };
        let catalog = HOSTS
            .iter()
            .map(|h| HostChange {
                host: HostName::new(h).unwrap(),
                entry: Some(Arc::new(HostEntry::from_text("x: 1\n", &[], &[]))),
            })
            .collect();
        let mut sup = Supervisor::new(settings, Codec::open(), now, catalog);
        sup.report_happenings(true);
        let config = NotifyConfig::parse(
            "channel: ops exec true\nroute: channel=ops wait=0 resolved=yes\n",
            "notify.conf",
            Path::new("/"),
        )
        .unwrap();
        Node {
            sup,
            policy: NotifyPolicy::new(config, now),
            sent: Vec::new(),
            alive: true,
        }
    }

    fn turn(&mut self, now: Now) {
        if !self.alive {
            return;
        }
        self.sup.handle_timeout(now);
        if let Some(_batch) = self.sup.take_stream_batch() {
            self.sup.handle_stream_written(now, Ok(()));
        }
        while self.sup.poll_transmit().is_some() {}
        while let Some(h) = self.sup.poll_happening() {
            feed_policy(&mut self.policy, now, h);
        }
        self.policy.handle_timeout(now);
        while let Some(out) = self.policy.poll_notification() {
            for item in &out.notification.items {
                self.sent.push((
                    out.notification.event,
                    item.host.clone(),
                    item.check.clone(),
                ));
            }
        }
    }

    fn receive(&mut self, now: Now, from: &str, msg: &Message) {
        if !self.alive {
            return;
        }
        let bytes = Codec::open().encode(msg, now.wall_ms).unwrap();
        let from: SocketAddr = from.parse().unwrap();
        self.sup.handle_datagram(now, from, &bytes);
        self.turn(now);
    }
}

/// A simulated observer: which supervisor (run id) it chose, what is open.
struct Host {
    name: &'static str,
    addr: String,
    chosen: u64,
    open: Vec<OpenProblem>,
    next_id: u64,
    alive: bool,
}

struct Lan {
    now: Now,
    a: Node,
    b: Node,
    hosts: Vec<Host>,
}

impl Lan {
    fn new() -> Lan {
        let now = Now {
            mono: Instant::now(),
            wall_ms: 1_790_000_000_000,
        };
        let hosts = HOSTS
            .iter()
            .enumerate()
            .map(|(i, name)| Host {
                name,
                addr: format!("10.0.0.{}:40000", 10 + i),
                chosen: 1,
                open: Vec::new(),
                next_id: 1,
                alive: true,
            })
            .collect();
        Lan {
            now,
            a: Node::new(1, now),
            b: Node::new(2, now),
            hosts,
        }
    }

    fn node(&mut self, run: u64) -> &mut Node {
        if run == 1 { &mut self.a } else { &mut self.b }
    }

    /// Every live host heartbeats every supervisor, naming its choice.
    fn heartbeats(&mut self) {
        for i in 0..self.hosts.len() {
            let h = &self.hosts[i];
            if !h.alive {
                continue;
            }
            let msg = Message::HeartbeatV2 {
                host: h.name.into(),
                version: None,
                queue_len: 0,
                uptime_secs: 60,
                chosen: Some(h.chosen),
                problems: h.open.clone(),
                omitted: 0,
            };
            let (addr, now) = (h.addr.clone(), self.now);
            self.a.receive(now, &addr, &msg);
            self.b.receive(now, &addr, &msg);
        }
    }

    /// Runs `d` of virtual time with heartbeats every 15 s.
    fn run(&mut self, d: Duration) {
        let end = self.now.mono + d;
        while self.now.mono < end {
            self.heartbeats();
            self.now = self.now.after(HEARTBEAT);
            let now = self.now;
            self.a.turn(now);
            self.b.turn(now);
        }
    }

    /// Host `i` opens (or clears) `check`: the event goes to the supervisor
    /// it chose, the heartbeats list it.
    fn transition(&mut self, i: usize, check: &str, transition: Transition) {
        let now = self.now;
        let h = &mut self.hosts[i];
        let id = h.next_id;
        h.next_id += 1;
        match transition {
            Transition::Open => h.open.push(OpenProblem {
                check: check.into(),
                since_ms: now.wall_ms as i64,
                tags: "disk".into(),
                message: format!("{check} is bad"),
                value: None,
            }),
            _ => h.open.retain(|p| p.check != check),
        }
        let msg = Message::EventsV2 {
            host: h.name.into(),
            floor: 0,
            events: vec![CheckEvent {
                event: Event {
                    id,
                    time_ms: now.wall_ms as i64,
                    tags: "disk".into(),
                    source: None,
                    kind: EventKind::Alert,
                    message: format!("{check} is bad"),
                    value: None,
                },
                check: Some(check.into()),
                transition,
            }],
        };
        let (addr, chosen) = (h.addr.clone(), h.chosen);
        self.node(chosen).receive(now, &addr, &msg);
    }

    /// Every notification either supervisor sent, in order.
    fn all_sent(&self) -> Vec<(NotifyEvent, String, String)> {
        let mut all = self.a.sent.clone();
        all.extend(self.b.sent.clone());
        all
    }
}

fn n(event: NotifyEvent, host: &str, check: &str) -> (NotifyEvent, String, String) {
    (event, host.to_string(), check.to_string())
}

#[test]
fn each_notification_once_from_the_chosen_supervisor_and_still_when_it_dies() {
    let mut lan = Lan::new();
    lan.run(Duration::from_secs(60));
    assert!(lan.all_sent().is_empty());

    // web1 opens a problem: told once, by A (the supervisor it chose),
    // though B learns it from the heartbeats too.
    lan.transition(0, "cmd-disk", Transition::Open);
    lan.run(Duration::from_secs(60));
    assert_eq!(lan.a.sent, [n(NotifyEvent::Opened, "web1", "cmd-disk")]);
    assert!(lan.b.sent.is_empty(), "{:?}", lan.b.sent);
    let b_knows = lan.b.sup.fleet_snapshot(lan.now).problems.len();
    assert_eq!(b_knows, 1, "B keeps the state all the same");

    // web2 dies; web1 and web3 go on naming A: one "inactive", from A.
    lan.hosts[1].alive = false;
    lan.run(MAX_IDLE + Duration::from_secs(60));
    assert_eq!(lan.a.sent.len(), 2, "{:?}", lan.a.sent);
    assert_eq!(lan.a.sent[1], n(NotifyEvent::Opened, "web2", "host"));
    assert!(lan.b.sent.is_empty(), "{:?}", lan.b.sent);

    // A dies, and web3 with it. web1 fails over to B: its open problem is
    // taken over without a second opening, and its clearing comes from B.
    lan.a.alive = false;
    lan.hosts[2].alive = false;
    lan.hosts[0].chosen = 2;
    lan.run(Duration::from_secs(30));
    lan.transition(0, "cmd-disk", Transition::Clear { open_ms: 1 });
    lan.run(Duration::from_secs(30));
    assert_eq!(lan.b.sent, [n(NotifyEvent::Cleared, "web1", "cmd-disk")]);

    // web3 died with A: nobody names A any more, so B reports web3
    // inactive (once) rather than leaving it to a dead supervisor.
    lan.run(MAX_IDLE + Duration::from_secs(60));
    assert_eq!(
        lan.b.sent,
        [
            n(NotifyEvent::Cleared, "web1", "cmd-disk"),
            n(NotifyEvent::Opened, "web3", "host"),
        ]
    );

    // Every notification once in all: no (event, host, check) twice.
    let all = lan.all_sent();
    let mut unique = all.clone();
    unique.sort_by_key(|(e, h, c)| (format!("{e:?}"), h.clone(), c.clone()));
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "{all:?}");
}
