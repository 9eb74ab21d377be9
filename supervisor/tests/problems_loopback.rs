//! Problems as state with the real supervisor binary over loopback: a
//! goodbye, a supervisor that learns open problems from heartbeats only,
//! an acknowledgement by `supervisor ack` that survives a restart, and a
//! webhook received when a problem opens and when it clears.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Fixture, PATIENCE, TestObserver};
use wire::{CheckEvent, Codec, Event, EventKind, Message, OpenProblem, Transition};

const WEB1: &str = "file: /var/log/syslog\nmatch: error\nalert_all: tags=web\n";

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert_eq!(head.split(' ').nth(1), Some("200"), "{head}\n{body}");
    serde_json::from_str(body).unwrap()
}

/// Polls `path` until `ready` accepts it.
fn wait_json(
    addr: SocketAddr,
    path: &str,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let doc = get_json(addr, path);
        if ready(&doc) {
            return doc;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never became ready: {doc}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn heartbeat_v2(host: &str, problems: Vec<OpenProblem>) -> Message {
    Message::HeartbeatV2 {
        host: host.into(),
        version: None,
        queue_len: 0,
        uptime_secs: 5,
        chosen: Some(7),
        problems,
        omitted: 0,
    }
}

fn disk_problem() -> OpenProblem {
    OpenProblem {
        check: "cmd-0a1b2c3d".into(),
        since_ms: common::wall_ms() as i64 - 60_000,
        tags: "disk,root".into(),
        message: "Root file system nearly full [91]".into(),
        value: Some(91.0),
    }
}

fn disk_event(id: u64, transition: Transition) -> Message {
    Message::EventsV2 {
        host: "web1".into(),
        floor: id,
        events: vec![CheckEvent {
            event: Event {
                id,
                time_ms: common::wall_ms() as i64,
                tags: "disk,root".into(),
                source: None,
                kind: EventKind::Alert,
                message: "Root file system nearly full [91]".into(),
                value: Some(91.0),
            },
            check: Some("cmd-0a1b2c3d".into()),
            transition,
        }],
    }
}

#[test]
fn goodbye_writes_one_stopped_event_and_the_host_starts_again() {
    let mut fx = Fixture::new("");
    fx.write("hosts/web1", WEB1);
    fx.start_listening(Codec::open());
    let obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    obs.send(&heartbeat_v2("web1", Vec::new()));
    // Twice, as an observer sends it.
    obs.send(&Message::Goodbye {
        host: "web1".into(),
    });
    obs.send(&Message::Goodbye {
        host: "web1".into(),
    });
    let lines = fx.wait_for_lines(1);
    assert!(
        lines[0].ends_with("%%SYSTEM%%NULL%%Host stopped (observer shut down)"),
        "{lines:#?}"
    );
    obs.send(&heartbeat_v2("web1", Vec::new()));
    let lines = fx.wait_for_lines(2);
    assert!(
        lines[1].ends_with("%%SYSTEM%%NULL%%Host started"),
        "{lines:#?}"
    );
    // Nothing more: one event each.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(fx.stream_text().lines().count(), 2);
}

#[test]
fn a_supervisor_learns_open_problems_from_heartbeats_and_keeps_an_ack_across_a_restart() {
    let port = free_tcp_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut fx = Fixture::new(&format!("http: {addr}\n"));
    fx.write("hosts/web1", WEB1);
    let (listener, mut codec) = fx.start_listening(Codec::open());
    // This supervisor was not chosen: it only hears heartbeats.
    let obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    obs.send(&heartbeat_v2("web1", vec![disk_problem()]));
    let doc = wait_json(addr, "/api/v1/problems", |d| {
        d["problems"].as_array().is_some_and(|p| !p.is_empty())
    });
    let p = &doc["problems"][0];
    assert_eq!(p["id"], "web1/cmd-0a1b2c3d");
    assert_eq!(p["host"], "web1");
    assert_eq!(p["check"], "cmd-0a1b2c3d");
    assert_eq!(p["tags"], serde_json::json!(["disk", "root"]));
    assert!(p["acknowledged"].is_null());
    let hosts = get_json(addr, "/api/v1/hosts");
    assert_eq!(
        hosts["hosts"][0]["supervisor"],
        "another (run 0000000000000007)"
    );

    // `supervisor ack` through the API.
    let out = Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .args(["ack", "web1", "cmd-0a1b2c3d", "--note", "new disk ordered"])
        .arg("--config")
        .arg(fx.path("ax436.conf"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("web1 cmd-0a1b2c3d acknowledged by local at "),
        "{stdout}"
    );
    // Shown at once.
    let doc = get_json(addr, "/api/v1/problems");
    assert_eq!(
        doc["problems"][0]["acknowledged"]["note"],
        "new disk ordered"
    );
    assert_eq!(doc["problems"][0]["acknowledged"]["by"], "local");
    // An unknown problem: the command fails and says why.
    let out = Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .args(["ack", "web1", "cmd-ffffffff"])
        .arg("--config")
        .arg(fx.path("ax436.conf"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));

    // Restart: the problem and its acknowledgement are there before any
    // heartbeat, and the host is not "never seen".
    assert_eq!(fx.terminate().code(), Some(0));
    assert!(fx.path("stream/fleet-state.json").exists());
    fx.start(&listener, &mut codec);
    let doc = wait_json(addr, "/api/v1/problems", |d| {
        d["problems"].as_array().is_some_and(|p| !p.is_empty())
    });
    assert_eq!(
        doc["problems"][0]["acknowledged"]["note"],
        "new disk ordered"
    );
    let hosts = get_json(addr, "/api/v1/hosts");
    assert_eq!(hosts["hosts"][0]["state"], "up");
    // A heartbeat without it: cleared.
    obs.send(&heartbeat_v2("web1", Vec::new()));
    wait_json(addr, "/api/v1/problems", |d| {
        d["problems"].as_array().is_some_and(Vec::is_empty)
    });
}

/// A small HTTP receiver on a thread: records every request body.
struct Hook {
    port: u16,
    bodies: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hook {
    fn start() -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, s) = (bodies.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        if let Some(body) = read_body(conn) {
                            b.lock().unwrap().push(body);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Hook {
            port,
            bodies,
            stop,
            thread: Some(thread),
        }
    }

    fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.bodies.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "only {} webhooks: {got:#?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_body(conn: TcpStream) -> Option<String> {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(conn);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut conn = reader.into_inner();
    conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        .ok()?;
    Some(String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn a_problem_opened_by_a_datagram_reaches_a_webhook_and_so_does_its_clearing() {
    let hook = Hook::start();
    let addr: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let mut fx = Fixture::new(&format!("notify: notify.conf\nhttp: {addr}\n"));
    fx.write("hosts/web1", WEB1);
    fx.write(
        "notify.conf",
        &format!(
            "channel: ops webhook http://127.0.0.1:{}/hook\nroute: tags=disk channel=ops wait=0\n",
            hook.port
        ),
    );
    fx.start_listening(Codec::open());
    let mut obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    obs.send(&disk_event(1, Transition::Open));
    obs.wait_for("ack of the opening", |m| matches!(m, Message::Ack { .. }));
    let bodies = hook.wait_for(1);
    assert!(bodies[0].contains("web1"), "{bodies:#?}");
    assert!(bodies[0].contains("cmd-0a1b2c3d"), "{bodies:#?}");
    assert!(
        bodies[0].contains("Root file system nearly full"),
        "{bodies:#?}"
    );
    obs.send(&disk_event(2, Transition::Clear { open_ms: 125_000 }));
    let bodies = hook.wait_for(2);
    assert!(bodies[1].contains("cmd-0a1b2c3d"), "{bodies:#?}");
    assert_ne!(bodies[0], bodies[1]);
    // The stream has both, the clearing with its duration.
    let lines = fx.wait_for_lines(2);
    assert!(
        lines[1].ends_with("Root file system nearly full [91] cleared after 2m5s"),
        "{lines:#?}"
    );
    // The queue lives beside the stream.
    assert!(fx.path("stream/notify.db").exists());
    // The channel's health is shown.
    let doc = wait_json(addr, "/api/v1/supervisor", |d| {
        d["notify_channels"][0]["delivered"] == 2
    });
    assert_eq!(doc["notify_channels"][0]["channel"], "ops");
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut metrics = String::new();
    s.read_to_string(&mut metrics).unwrap();
    assert!(
        metrics.contains("ax436_notify_delivered_total{channel=\"ops\"} 2\n"),
        "{metrics}"
    );
    assert_eq!(fx.terminate().code(), Some(0));
}
