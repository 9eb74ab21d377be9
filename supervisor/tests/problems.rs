//! Problems as state in the supervisor's state machine, in virtual time:
//! protocol-1 and protocol-2 observers side by side, openings, reminders
//! and clearings in the stream, open problems learned from heartbeats,
//! goodbyes, a host's inactivity as a problem, acknowledgements, and the
//! fleet state carried across a restart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conf::{HostName, StreamFormat};
use supervisor::fleet::HostStatus;
use supervisor::fleet_state::FleetState;
use supervisor::notify::HostState as NotifyHostState;
use supervisor::problems::{HOST_INACTIVE_CHECK, Happening};
use supervisor::{HostChange, HostEntry, Now, Settings, Supervisor};
use wire::{CheckEvent, Codec, Event, EventKind, Message, OpenProblem, Transition};

const OBS: &str = "10.0.0.7:40000";
const OLD_OBS: &str = "10.0.0.8:40000";
const MAX_IDLE: Duration = Duration::from_secs(180);

fn start() -> Now {
    Now {
        mono: Instant::now(),
        wall_ms: 1_790_000_000_000,
    }
}

fn settings(format: StreamFormat) -> Settings {
    Settings {
        supervisor_name: "sup1".into(),
        run_id: 42,
        broadcast: vec!["10.0.0.255:9000".parse().unwrap()],
        max_idle: MAX_IDLE,
        beacon_interval: Duration::from_secs(5),
        stream_format: format,
    }
}

fn hosts(names: &[&str]) -> Vec<HostChange> {
    names
        .iter()
        .map(|h| HostChange {
            host: HostName::new(h).unwrap(),
            entry: Some(Arc::new(HostEntry::from_text("x: 1\n", &[], &[]))),
        })
        .collect()
}

struct World {
    sup: Supervisor,
    codec: Codec,
    now: Now,
    stream: Vec<u8>,
    happenings: Vec<Happening>,
}

impl World {
    fn new(format: StreamFormat, names: &[&str]) -> World {
        Self::at(start(), format, names, None)
    }

    fn at(now: Now, format: StreamFormat, names: &[&str], saved: Option<FleetState>) -> World {
        let mut sup = Supervisor::new(settings(format), Codec::open(), now, hosts(names));
        if let Some(saved) = saved {
            sup.restore_fleet(now, saved);
        }
        sup.report_happenings(true);
        let mut w = World {
            sup,
            codec: Codec::open(),
            now,
            stream: Vec::new(),
            happenings: Vec::new(),
        };
        w.step();
        w.stream.clear();
        w
    }

    fn advance(&mut self, d: Duration) {
        self.now = self.now.after(d);
        self.step();
    }

    fn send(&mut self, from: &str, msg: &Message) {
        let bytes = self.codec.encode(msg, self.now.wall_ms).unwrap();
        let from: SocketAddr = from.parse().unwrap();
        self.sup.handle_datagram(self.now, from, &bytes);
        self.step();
    }

    fn step(&mut self) {
        self.sup.handle_timeout(self.now);
        if let Some(batch) = self.sup.take_stream_batch() {
            self.stream.extend_from_slice(&batch.lines);
            self.sup.handle_stream_written(self.now, Ok(()));
        }
        while self.sup.poll_transmit().is_some() {}
        while let Some(h) = self.sup.poll_happening() {
            self.happenings.push(h);
        }
    }

    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.stream.clone())
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    fn json(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn status(&self, host: &str) -> HostStatus {
        self.sup.fleet_snapshot(self.now).host(host).unwrap().status
    }

    fn problems(&self) -> Vec<(String, String)> {
        self.sup
            .fleet_snapshot(self.now)
            .problems
            .iter()
            .map(|p| (p.host.clone(), p.check.clone()))
            .collect()
    }

    fn take_happenings(&mut self) -> Vec<Happening> {
        std::mem::take(&mut self.happenings)
    }
}

fn event(id: u64, message: &str) -> Event {
    Event {
        id,
        time_ms: 1_790_000_000_000,
        tags: "disk,root".into(),
        source: None,
        kind: EventKind::Alert,
        message: message.into(),
        value: Some(91.0),
    }
}

fn v2(host: &str, floor: u64, list: Vec<(u64, &str, Transition)>) -> Message {
    Message::EventsV2 {
        host: host.into(),
        floor,
        events: list
            .into_iter()
            .map(|(id, check, transition)| CheckEvent {
                event: event(id, "Root file system nearly full [91]"),
                check: Some(check.into()),
                transition,
            })
            .collect(),
    }
}

fn heartbeat_v2(host: &str, problems: Vec<OpenProblem>, omitted: u32) -> Message {
    Message::HeartbeatV2 {
        host: host.into(),
        version: None,
        queue_len: 0,
        uptime_secs: 5,
        chosen: Some(7),
        problems,
        omitted,
    }
}

/// A heartbeat that names this supervisor (run 42) as the host's choice:
/// this one notifies for it.
fn heartbeat_ours(host: &str, problems: Vec<OpenProblem>) -> Message {
    let mut hb = heartbeat_v2(host, problems, 0);
    if let Message::HeartbeatV2 { chosen, .. } = &mut hb {
        *chosen = Some(42);
    }
    hb
}

fn open_problem(check: &str, since_ms: i64) -> OpenProblem {
    OpenProblem {
        check: check.into(),
        since_ms,
        tags: "disk,root".into(),
        message: "Root file system nearly full [91]".into(),
        value: Some(91.0),
    }
}

#[test]
fn protocol_1_and_protocol_2_observers_are_written_side_by_side() {
    let mut w = World::new(StreamFormat::Json, &["old", "new"]);
    w.send(
        OLD_OBS,
        &Message::Events {
            host: "old".into(),
            floor: 1,
            events: vec![event(1, "ERROR disk")],
        },
    );
    w.send(OBS, &v2("new", 1, vec![(1, "cmd-1", Transition::Open)]));
    let lines = w.json();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(lines[0]["host"], "old");
    assert!(lines[0].get("check").is_none() && lines[0].get("state").is_none());
    assert_eq!(lines[1]["host"], "new");
    assert_eq!(lines[1]["check"], "cmd-1");
    assert_eq!(lines[1]["state"], "open");
    let s = w.sup.fleet_snapshot(w.now);
    assert_eq!(s.host("old").unwrap().protocol, Some(1));
    assert_eq!(s.host("new").unwrap().protocol, Some(2));
    assert_eq!(w.problems(), [("new".to_string(), "cmd-1".to_string())]);
}

#[test]
fn open_repeat_clear_reach_the_stream_with_their_fields_and_the_state_follows() {
    let mut w = World::new(StreamFormat::Json, &["web1"]);
    w.send(OBS, &v2("web1", 1, vec![(1, "cmd-1", Transition::Open)]));
    assert_eq!(w.problems().len(), 1);
    w.advance(Duration::from_secs(60));
    w.send(OBS, &v2("web1", 2, vec![(2, "cmd-1", Transition::Repeat)]));
    assert_eq!(w.problems().len(), 1);
    w.advance(Duration::from_secs(252));
    w.send(
        OBS,
        &v2(
            "web1",
            3,
            vec![(3, "cmd-1", Transition::Clear { open_ms: 312_000 })],
        ),
    );
    assert!(w.problems().is_empty());
    // (The host also fell silent for a while: leave its own lines out.)
    let lines: Vec<serde_json::Value> = w.json().into_iter().filter(|v| v["id"] != 0).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["state"], "open");
    assert!(lines[0].get("repeat").is_none());
    assert_eq!(lines[1]["state"], "open");
    assert_eq!(lines[1]["repeat"], true);
    assert_eq!(lines[2]["state"], "cleared");
    assert_eq!(lines[2]["duration"], 312);
    assert_eq!(
        lines[2]["message"],
        "Root file system nearly full [91] cleared after 5m12s"
    );
    // One opening and one clearing for the notifications, no repeat.
    let h: Vec<Happening> = w
        .take_happenings()
        .into_iter()
        .filter(|h| !matches!(h, Happening::HostState { .. }))
        .collect();
    assert_eq!(h.len(), 2, "{h:#?}");
    assert!(
        matches!(&h[0], Happening::Opened(p) if p.check == "cmd-1" && p.tags == ["disk", "root"])
    );
    assert!(matches!(&h[1], Happening::Cleared { check, .. } if check == "cmd-1"));
}

#[test]
fn a_resent_opening_is_written_once_and_acknowledged_again() {
    let mut w = World::new(StreamFormat::Classic, &["web1"]);
    w.send(OBS, &v2("web1", 1, vec![(1, "cmd-1", Transition::Open)]));
    w.send(OBS, &v2("web1", 1, vec![(1, "cmd-1", Transition::Open)]));
    assert_eq!(w.lines().len(), 1);
    assert_eq!(w.sup.counters().duplicates, 1);
    assert_eq!(w.take_happenings().len(), 1);
}

#[test]
fn classic_lines_keep_their_format_and_a_clearing_says_how_long() {
    let mut w = World::new(StreamFormat::Classic, &["web1"]);
    w.send(OBS, &v2("web1", 1, vec![(1, "cmd-1", Transition::Open)]));
    w.send(
        OBS,
        &v2(
            "web1",
            2,
            vec![(2, "cmd-1", Transition::Clear { open_ms: 3_725_000 })],
        ),
    );
    let lines = w.lines();
    assert!(
        lines[0]
            .ends_with("%%web1%%1%%1790000000%%disk,root%%NULL%%Root file system nearly full [91]"),
        "{lines:#?}"
    );
    assert!(
        lines[1].ends_with("%%NULL%%Root file system nearly full [91] cleared after 1h2m5s"),
        "{lines:#?}"
    );
}

#[test]
fn a_heartbeat_teaches_a_supervisor_that_never_saw_the_opening() {
    let mut w = World::new(StreamFormat::Json, &["web1"]);
    w.send(
        OBS,
        &heartbeat_v2(
            "web1",
            vec![
                open_problem("cmd-1", 1_789_999_000_000),
                open_problem("proc-2", 1_789_999_500_000),
            ],
            0,
        ),
    );
    let s = w.sup.fleet_snapshot(w.now);
    assert_eq!(s.problems.len(), 2);
    assert_eq!(s.problems[0].check, "cmd-1");
    assert_eq!(s.problems[0].opened_ms, 1_789_999_000_000);
    assert_eq!(s.problems[0].id, "web1/cmd-1");
    assert_eq!(
        s.host("web1").unwrap().chosen_supervisor.as_deref(),
        Some("another (run 0000000000000007)")
    );
    assert!(w.lines().is_empty(), "a heartbeat writes nothing");
    // The supervisor the host chose (run 7) notifies, not this one: it is
    // told once that the host is not its to notify for, then nothing.
    let told = w.take_happenings();
    assert!(
        matches!(told.as_slice(), [Happening::Notifier { ours: false, .. }]),
        "{told:?}"
    );
    // Some left out: nothing unlisted is forgotten.
    w.send(
        OBS,
        &heartbeat_v2("web1", vec![open_problem("cmd-1", 1)], 1),
    );
    assert_eq!(w.problems().len(), 2);
    // The whole list: proc-2 cleared while this supervisor was not told.
    w.send(
        OBS,
        &heartbeat_v2("web1", vec![open_problem("cmd-1", 1)], 0),
    );
    assert_eq!(w.problems(), [("web1".to_string(), "cmd-1".to_string())]);
    assert!(w.take_happenings().is_empty());
    // Chosen here: the open problem is taken over (announced by the other
    // supervisor: no second opening), and its clearing is notified here.
    w.send(OBS, &heartbeat_ours("web1", vec![open_problem("cmd-1", 1)]));
    let taken = w.take_happenings();
    assert!(
        matches!(taken.as_slice(), [Happening::Notifier { ours: true, open, .. }]
            if open.len() == 1 && open[0].0.check == "cmd-1"),
        "{taken:?}"
    );
    w.send(OBS, &heartbeat_ours("web1", Vec::new()));
    assert!(matches!(
        w.take_happenings().as_slice(),
        [Happening::Cleared { check, .. }] if check == "cmd-1"
    ));
}

#[test]
fn chosen_supervisor_is_this_one_when_the_run_id_is_ours() {
    let mut w = World::new(StreamFormat::Json, &["web1"]);
    let mut hb = heartbeat_v2("web1", Vec::new(), 0);
    if let Message::HeartbeatV2 { chosen, .. } = &mut hb {
        *chosen = Some(42);
    }
    w.send(OBS, &hb);
    let s = w.sup.fleet_snapshot(w.now);
    assert_eq!(
        s.host("web1").unwrap().chosen_supervisor.as_deref(),
        Some("sup1 (this supervisor)")
    );
}

#[test]
fn goodbye_stops_the_host_at_once_and_it_is_never_reported_inactive() {
    let mut w = World::new(StreamFormat::Classic, &["web1"]);
    w.send(OBS, &heartbeat_ours("web1", Vec::new()));
    assert_eq!(w.status("web1"), HostStatus::Up);
    w.send(
        OBS,
        &Message::Goodbye {
            host: "web1".into(),
        },
    );
    w.send(
        OBS,
        &Message::Goodbye {
            host: "web1".into(),
        },
    );
    assert_eq!(w.status("web1"), HostStatus::Stopped);
    for _ in 0..20 {
        w.advance(MAX_IDLE / 2);
    }
    let lines = w.lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].ends_with("%%SYSTEM%%NULL%%Host stopped (observer shut down)"));
    assert_eq!(w.status("web1"), HostStatus::Stopped);
    assert!(w.problems().is_empty());
    // Back: one `Host started`, not `Host is active again`.
    w.send(OBS, &heartbeat_ours("web1", Vec::new()));
    w.send(OBS, &heartbeat_ours("web1", Vec::new()));
    let lines = w.lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines[1].ends_with("%%SYSTEM%%NULL%%Host started"));
    assert_eq!(w.status("web1"), HostStatus::Up);
    let states: Vec<NotifyHostState> = w
        .take_happenings()
        .into_iter()
        .filter_map(|h| match h {
            Happening::HostState { state, .. } => Some(state),
            _ => None,
        })
        .collect();
    assert_eq!(states, [NotifyHostState::Stopped, NotifyHostState::Up]);
    // Watched for silence again from now.
    w.advance(MAX_IDLE + Duration::from_secs(1));
    assert_eq!(w.status("web1"), HostStatus::Inactive);
}

#[test]
fn inactivity_is_a_problem_of_the_host_until_it_is_heard_again() {
    let mut w = World::new(StreamFormat::Json, &["web1"]);
    w.send(
        OBS,
        &heartbeat_v2("web1", vec![open_problem("cmd-1", 1)], 0),
    );
    w.take_happenings();
    w.advance(MAX_IDLE + Duration::from_secs(1));
    assert_eq!(w.status("web1"), HostStatus::Inactive);
    let s = w.sup.fleet_snapshot(w.now);
    let inactive = s
        .problems
        .iter()
        .find(|p| p.check == HOST_INACTIVE_CHECK)
        .expect("inactivity is a problem");
    assert_eq!(inactive.tags, ["SYSTEM"]);
    assert_eq!(inactive.message, "Host is inactive");
    assert_eq!(s.problems.len(), 2, "the host's own problems stay");
    assert!(matches!(
        w.take_happenings().as_slice(),
        [Happening::HostState {
            state: NotifyHostState::Inactive,
            ..
        }]
    ));
    w.send(
        OBS,
        &heartbeat_v2("web1", vec![open_problem("cmd-1", 1)], 0),
    );
    assert_eq!(w.problems(), [("web1".to_string(), "cmd-1".to_string())]);
    let lines = w.json();
    let messages: Vec<String> = lines.iter().map(|v| v["message"].to_string()).collect();
    assert_eq!(
        messages,
        ["\"Host is inactive\"", "\"Host is active again\""]
    );
    // In the stream as a problem like any other: its check, opened, then
    // cleared with how long the host was silent after max_idle.
    for line in &lines {
        assert_eq!(line["check"], HOST_INACTIVE_CHECK, "{line}");
    }
    assert_eq!(lines[0]["state"], "open");
    assert!(lines[0].get("duration").is_none());
    assert_eq!(lines[1]["state"], "cleared");
    assert_eq!(lines[1]["duration"], 0, "heard again right after it opened");
}

#[test]
fn inactivity_lines_in_the_436_format_keep_the_python_servers_words() {
    let mut w = World::new(StreamFormat::Classic, &["web1"]);
    w.send(OBS, &heartbeat_v2("web1", Vec::new(), 0));
    w.advance(MAX_IDLE + Duration::from_secs(1));
    w.advance(Duration::from_secs(125));
    w.send(OBS, &heartbeat_v2("web1", Vec::new(), 0));
    let lines = w.lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].ends_with("%%SYSTEM%%NULL%%Host is inactive"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with("%%SYSTEM%%NULL%%Host is active again"),
        "{}",
        lines[1]
    );
}

#[test]
fn an_acknowledgement_is_recorded_and_shown_and_unknown_problems_are_refused() {
    let mut w = World::new(StreamFormat::Json, &["web1"]);
    w.send(OBS, &v2("web1", 1, vec![(1, "cmd-1", Transition::Open)]));
    w.take_happenings();
    assert!(
        w.sup
            .handle_ack(w.now, "web1", "cmd-9", "ana", "")
            .is_none()
    );
    assert!(
        w.sup
            .handle_ack(w.now, "nohost", "cmd-1", "ana", "")
            .is_none()
    );
    let ack = w
        .sup
        .handle_ack(w.now, "web1", "cmd-1", "ana", "replacing the disk")
        .unwrap();
    w.step();
    assert_eq!(ack.by, "ana");
    assert_eq!(ack.at_ms, w.now.wall_ms);
    let s = w.sup.fleet_snapshot(w.now);
    assert_eq!(
        s.problems[0].acknowledged.as_ref().unwrap().note,
        "replacing the disk"
    );
    assert!(matches!(
        w.take_happenings().as_slice(),
        [Happening::Acknowledged { check, .. }] if check == "cmd-1"
    ));
    // A heartbeat that still lists it keeps the acknowledgement.
    w.send(
        OBS,
        &heartbeat_v2("web1", vec![open_problem("cmd-1", 1)], 0),
    );
    let s = w.sup.fleet_snapshot(w.now);
    assert_eq!(s.problems[0].acknowledged, Some(ack));
}

#[test]
fn a_restart_keeps_states_problems_and_acknowledgements() {
    let mut w = World::new(StreamFormat::Classic, &["web1", "db1", "app1"]);
    w.send(OBS, &v2("web1", 1, vec![(1, "cmd-1", Transition::Open)]));
    w.sup
        .handle_ack(w.now, "web1", "cmd-1", "ana", "on it")
        .unwrap();
    w.send(OLD_OBS, &Message::Goodbye { host: "db1".into() });
    w.send(
        "10.0.0.9:40000",
        &Message::Heartbeat {
            host: "app1".into(),
            version: None,
            queue_len: 0,
            uptime_secs: 1,
        },
    );
    // app1 falls silent (web1 keeps talking).
    for _ in 0..4 {
        w.advance(MAX_IDLE / 3);
        w.send(
            OBS,
            &heartbeat_v2("web1", vec![open_problem("cmd-1", 1_790_000_000_000)], 0),
        );
    }
    assert_eq!(w.status("app1"), HostStatus::Inactive);
    assert!(w.sup.take_fleet_changed());
    assert!(!w.sup.take_fleet_changed(), "reported once");
    let saved = w.sup.fleet_state();
    // Through the file, as the shell does it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet-state.json");
    saved.save(&path).unwrap();
    let saved = FleetState::load(&path).unwrap().unwrap();

    let later = w.now.after(Duration::from_secs(30));
    let mut w2 = World::at(
        later,
        StreamFormat::Classic,
        &["web1", "db1", "app1"],
        Some(saved),
    );
    let s = w2.sup.fleet_snapshot(later);
    assert_eq!(s.host("web1").unwrap().status, HostStatus::Up);
    assert_eq!(s.host("db1").unwrap().status, HostStatus::Stopped);
    assert_eq!(s.host("app1").unwrap().status, HostStatus::Inactive);
    let web1 = s.problems.iter().find(|p| p.host == "web1").unwrap();
    assert_eq!(web1.check, "cmd-1");
    assert_eq!(web1.acknowledged.as_ref().unwrap().note, "on it");
    assert!(
        s.problems
            .iter()
            .any(|p| p.host == "app1" && p.check == HOST_INACTIVE_CHECK)
    );
    // Nothing is reported a second time: no inactivity of app1 or db1.
    for _ in 0..4 {
        w2.advance(MAX_IDLE / 2);
        w2.send(
            OBS,
            &heartbeat_v2("web1", vec![open_problem("cmd-1", 1_790_000_000_000)], 0),
        );
    }
    assert!(w2.lines().is_empty(), "{:#?}", w2.lines());
    // app1 back: active again, its inactivity cleared.
    w2.send(
        "10.0.0.9:40000",
        &Message::Heartbeat {
            host: "app1".into(),
            version: None,
            queue_len: 0,
            uptime_secs: 1,
        },
    );
    assert!(w2.lines()[0].ends_with("Host is active again"));
    assert!(w2.problems().iter().all(|(_, c)| c != HOST_INACTIVE_CHECK));
    let notified: Vec<(supervisor::notify::ProblemOpened, bool)> = w2.sup.open_problems();
    assert_eq!(notified.len(), 1);
    assert!(notified[0].1, "acknowledged");
    assert_eq!(
        w2.sup.hosts_down(),
        [("db1".to_string(), NotifyHostState::Stopped)]
    );
}

/// A point alert is notified once its line is in the stream: not when the
/// write fails (the observer re-sends the event), once when the re-sent
/// event is written, and not again for a duplicate.
#[test]
fn a_point_alert_is_notified_once_its_line_is_written() {
    let mut w = World::new(StreamFormat::Json, &["web1"]);
    let points = |h: &[Happening]| {
        h.iter()
            .filter(|h| matches!(h, Happening::Point(_)))
            .count()
    };
    let alert = Message::Events {
        host: "web1".into(),
        floor: 0,
        events: vec![event(1, "disk /dev/sda1 failed")],
    };
    let bytes = w.codec.encode(&alert, w.now.wall_ms).unwrap();
    w.sup.handle_datagram(w.now, OBS.parse().unwrap(), &bytes);
    let batch = w.sup.take_stream_batch().unwrap();
    assert!(!batch.lines.is_empty());
    w.sup
        .handle_stream_written(w.now, Err(std::io::Error::other("No space left on device")));
    w.step();
    assert_eq!(points(&w.take_happenings()), 0, "notified before written");
    assert!(w.lines().is_empty());

    w.advance(Duration::from_secs(1));
    w.send(OBS, &alert);
    assert_eq!(w.lines().len(), 1);
    assert_eq!(points(&w.take_happenings()), 1, "once written");
    w.send(OBS, &alert);
    assert_eq!(
        points(&w.take_happenings()),
        0,
        "a duplicate is not notified"
    );
}
