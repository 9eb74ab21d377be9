//! A failing `probe:` is a problem of its check on the wire, with real
//! sockets and the real observer binary: a TCP probe of a closed port opens
//! a problem that the observer's heartbeats carry (to a small test
//! supervisor) and that the real supervisor lists among the fleet's open
//! problems; a listener on the port clears it, once.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{ObserverProcess, TestSupervisor, test_port};

/// Bound on every wait: a configuration fetch, a probe a second and a
/// heartbeat every 15 s fit in it many times over.
const WAIT: Duration = Duration::from_secs(45);

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The PostgreSQL probe, run every second against `port`.
fn postgres_probe(port: u16) -> String {
    format!(
        "probe: tcp 127.0.0.1:{port} timeout=1\n\
         alert_failed: tags=db,postgres every=1 message=PostgreSQL is not answering\n"
    )
}

/// The check id conf gives the probe, as the observer will.
fn check_id(config: &str) -> String {
    let (c, errors) = conf::parse_host(config);
    assert!(errors.is_empty(), "{errors:?}");
    c.probes[0].check.to_string()
}

fn refused(port: u16) -> String {
    format!(
        "PostgreSQL is not answering: connection to 127.0.0.1:{port} refused (nothing listening)"
    )
}

#[test]
fn a_failing_tcp_probe_is_an_open_problem_in_the_observers_heartbeats() {
    let dir = tempfile::tempdir().unwrap();
    let closed = closed_port();
    let config = postgres_probe(closed);
    let id = check_id(&config);
    let sup = TestSupervisor::start(test_port(1), Some((1, config)));
    let _obs = ObserverProcess::start(sup.port, "probe-one", dir.path());
    sup.wait_for(WAIT, "a heartbeat carrying the probe's problem", |s| {
        s.heartbeat_problems
            .iter()
            .any(|ps| ps.iter().any(|p| p.check == id))
    });
    let seen = sup.seen.lock().unwrap();
    let problem = seen
        .heartbeat_problems
        .iter()
        .flatten()
        .find(|p| p.check == id)
        .expect("found above");
    assert!(id.starts_with("probe-"), "{id}");
    assert_eq!(problem.tags, "db,postgres");
    assert_eq!(problem.message, refused(closed));
    // The opening was sent as an event of its own, once, although the
    // probe failed every second until the heartbeat.
    let openings = seen
        .events
        .values()
        .filter(|e| e.message == refused(closed))
        .count();
    assert_eq!(openings, 1, "{:?}", seen.events);
}

/// The real supervisor on a thread of this test, with its HTTP API on
/// `http`, until dropped.
fn real_supervisor(dir: &Path, port: u16, http: SocketAddr) -> supervisor::Background {
    let text = format!(
        "event_stream: stream/events.json\nport: {port}\nbroadcast: 127.255.255.255\n\
         hosts: hosts\nincludes: includes\nbeacon_interval: 1\nstream_format: json\n\
         stream_rotation: never\nlog_file: supervisor.log\nhttp: {http}\n"
    );
    let config = conf::SupervisorConfig::parse(&text, "test", dir).unwrap();
    supervisor::Background::start(config).unwrap()
}

/// `GET path` of the supervisor's API; `None` while nothing listens yet
/// (the HTTP listener starts on its own task).
fn get_json(addr: SocketAddr, path: &str) -> Option<serde_json::Value> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert_eq!(head.split(' ').nth(1), Some("200"), "{head}\n{body}");
    Some(serde_json::from_str(body).unwrap())
}

/// Polls `path` until `ready` accepts it (at most [`WAIT`]).
fn wait_json(
    addr: SocketAddr,
    path: &str,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let doc = get_json(addr, path);
        if let Some(doc) = doc.as_ref().filter(|d| ready(d)) {
            return doc.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{path} never became ready: {doc:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_failing_tcp_probe_is_an_open_problem_of_the_real_supervisor_and_clears_once() {
    let dir = tempfile::tempdir().unwrap();
    let sup_dir = dir.path().join("supervisor");
    let obs_dir = dir.path().join("observer");
    for d in ["hosts", "includes"] {
        std::fs::create_dir_all(sup_dir.join(d)).unwrap();
    }
    std::fs::create_dir_all(&obs_dir).unwrap();
    let closed = closed_port();
    let config = postgres_probe(closed);
    let id = check_id(&config);
    std::fs::write(sup_dir.join("hosts/probe-two"), &config).unwrap();
    let http: SocketAddr = ([127, 0, 0, 1], closed_port()).into();
    let port = test_port(2);
    let _sup = real_supervisor(&sup_dir, port, http);
    let _obs = ObserverProcess::start(port, "probe-two", &obs_dir);

    let doc = wait_json(http, "/api/v1/problems", |d| {
        d["problems"].as_array().is_some_and(|p| !p.is_empty())
    });
    let p = &doc["problems"][0];
    assert_eq!(p["host"], "probe-two");
    assert_eq!(p["check"], id.as_str());
    assert_eq!(p["tags"], serde_json::json!(["db", "postgres"]));
    assert_eq!(p["message"], refused(closed).as_str());

    // The service answers: the problem clears.
    let _listener = TcpListener::bind(("127.0.0.1", closed)).unwrap();
    wait_json(http, "/api/v1/problems", |d| {
        d["problems"].as_array().is_some_and(Vec::is_empty)
    });
    // In the stream: one opening and one clearing of the check, the
    // clearing in the opening's words with how long it was open.
    let stream = std::fs::read_to_string(sup_dir.join("stream/events.json")).unwrap();
    let lines: Vec<serde_json::Value> = stream
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &serde_json::Value| l["check"] == id.as_str())
        .collect();
    let states: Vec<&str> = lines.iter().filter_map(|l| l["state"].as_str()).collect();
    assert_eq!(states, ["open", "cleared"], "{stream}");
    assert_eq!(lines[1]["tags"], "db,postgres");
    let cleared = format!("{} cleared after ", refused(closed));
    assert!(
        lines[1]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(&cleared)),
        "{}",
        lines[1]
    );
    assert!(lines[1]["duration"].is_number(), "{}", lines[1]);
}
