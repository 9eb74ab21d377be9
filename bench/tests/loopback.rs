//! Runs the real `loadgen` binary over loopback against a tiny supervisor
//! built from the `wire` crate (which can drop datagrams on purpose and
//! counts what it got), and against the real supervisor. Every wait is
//! bounded.

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wire::limits::MAX_DATAGRAM;
use wire::{AckBuilder, Codec, Key, Message};

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// What the fake supervisor saw.
#[derive(Default)]
struct Seen {
    events: HashSet<(String, u64)>,
    duplicates: u64,
    heartbeats: u64,
    hosts: HashSet<String>,
}

/// A supervisor that writes nothing: it acknowledges events (except every
/// `drop_every`-th event datagram, to force re-sends), serves a fixed
/// configuration, and optionally beacons to 127.0.0.1:`beacon_port`.
struct FakeSupervisor {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeSupervisor {
    fn start(key: Option<Key>, drop_every: u64, beacon_port: Option<u16>) -> FakeSupervisor {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut codec = match &key {
                Some(k) => Codec::sealed(k),
                None => Codec::open(),
            };
            let config = "file: /var/log/app.log\nmatch: ERROR\nalert_all: tags=x\n".repeat(60);
            let mut buf = vec![0u8; MAX_DATAGRAM + 1];
            let mut event_datagrams = 0u64;
            let mut last_beacon = Instant::now() - Duration::from_secs(1);
            while !stop2.load(Ordering::Relaxed) {
                if let Some(port) = beacon_port
                    && last_beacon.elapsed() > Duration::from_millis(100)
                {
                    let beacon = Message::Beacon {
                        supervisor: "fake".into(),
                        run_id: 7,
                    };
                    let bytes = codec.encode(&beacon, unix_ms()).unwrap();
                    socket.send_to(&bytes, ("127.0.0.1", port)).unwrap();
                    last_beacon = Instant::now();
                }
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(msg) = codec.decode(&buf[..n], unix_ms()) else {
                    continue;
                };
                let mut replies = Vec::new();
                match msg {
                    Message::Events { host, events, .. } => {
                        event_datagrams += 1;
                        if drop_every > 0 && event_datagrams.is_multiple_of(drop_every) {
                            continue;
                        }
                        let mut seen = seen2.lock().unwrap();
                        let mut ack = AckBuilder::new(&host, &codec);
                        for e in &events {
                            if !seen.events.insert((host.clone(), e.id)) {
                                seen.duplicates += 1;
                            }
                            assert!(ack.try_push(e.id), "an ack fits every event of a batch");
                        }
                        seen.hosts.insert(host);
                        replies.push(ack.finish());
                    }
                    Message::ConfigRequest { host, .. } => {
                        replies.extend(wire::split_config(&host, 99, config.as_bytes()).unwrap());
                    }
                    Message::Heartbeat { .. } => seen2.lock().unwrap().heartbeats += 1,
                    _ => {}
                }
                for reply in replies {
                    let bytes = codec.encode(&reply, unix_ms()).unwrap();
                    socket.send_to(&bytes, from).unwrap();
                }
            }
        });
        FakeSupervisor {
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeSupervisor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

/// Runs loadgen, killing it if it outlives `limit`.
fn loadgen(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            let out = child.wait_with_output().unwrap();
            panic!(
                "loadgen ran past {limit:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn summary(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "loadgen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().expect("a summary line");
    serde_json::from_str(last).unwrap()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn steady_load_is_fully_acknowledged_despite_dropped_datagrams() {
    let sup = FakeSupervisor::start(None, 7, None);
    let addr = sup.addr.to_string();
    let out = loadgen(
        &[
            "--supervisor",
            &addr,
            "--observers",
            "40",
            "--rate",
            "5",
            "--duration",
            "2",
            "--retry-ms",
            "100",
            "--heartbeat",
            "1",
            "--fetch-config",
        ],
        Duration::from_secs(30),
    );
    let s = summary(&out);
    assert_eq!(s["observers"], 40);
    assert_eq!(s["events_sent"], 400, "{s}");
    assert_eq!(s["events_acked"], 400, "{s}");
    assert_eq!(s["events_unacked"], 0, "{s}");
    assert!(s["retransmits"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["configs_complete"], 40, "{s}");
    assert_eq!(s["malformed"], 0, "{s}");
    assert!(s["ack_p50_ms"].as_f64().is_some());
    let seen = sup.seen.lock().unwrap();
    assert_eq!(seen.events.len(), 400);
    assert_eq!(seen.hosts.len(), 40);
    assert!(seen.hosts.contains("lg00039"));
    assert!(seen.heartbeats >= 40);
}

#[test]
fn flood_sends_every_event_once_acknowledged() {
    let sup = FakeSupervisor::start(None, 0, None);
    let addr = sup.addr.to_string();
    let out = loadgen(
        &[
            "--supervisor",
            &addr,
            "--flood",
            "--events",
            "20000",
            "--window",
            "16",
            "--observers",
            "2",
        ],
        Duration::from_secs(30),
    );
    let s = summary(&out);
    assert_eq!(s["mode"], "flood");
    assert_eq!(s["events_acked"], 20000, "{s}");
    assert_eq!(s["events_unacked"], 0, "{s}");
    assert!(s["events_per_s"].as_f64().unwrap() > 0.0);
    // Full batches: far fewer datagrams than events.
    assert!(s["datagrams_sent"].as_u64().unwrap() < 20000 / 5, "{s}");
    assert_eq!(sup.seen.lock().unwrap().duplicates, 0);
}

#[test]
fn sealed_supervisor_is_found_from_its_beacon() {
    let key = Key::generate().unwrap();
    let dir = std::env::temp_dir().join(format!("loadgen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("436.key");
    std::fs::write(&key_file, key.to_hex()).unwrap();
    let port = free_udp_port();
    let _sup = FakeSupervisor::start(Some(key), 0, Some(port));
    let out = loadgen(
        &[
            "--port",
            &port.to_string(),
            "--key-file",
            key_file.to_str().unwrap(),
            "--observers",
            "3",
            "--rate",
            "10",
            "--duration",
            "1",
            "--discover-timeout",
            "10",
        ],
        Duration::from_secs(30),
    );
    std::fs::remove_dir_all(&dir).ok();
    let s = summary(&out);
    assert_eq!(s["sealed"], true);
    assert_eq!(s["events_acked"], 30, "{s}");
    assert_eq!(s["events_unacked"], 0, "{s}");
}

#[test]
fn silent_supervisor_loses_everything_and_says_so() {
    // A bound socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let out = loadgen(
        &[
            "--supervisor",
            &addr,
            "--rate",
            "10",
            "--duration",
            "0.5",
            "--drain",
            "0.5",
            "--retry-ms",
            "100",
        ],
        Duration::from_secs(20),
    );
    let s = summary(&out);
    assert_eq!(s["events_sent"], 5, "{s}");
    assert_eq!(s["events_unacked"], 5, "{s}");
    assert_eq!(s["ack_p99_ms"], serde_json::Value::Null);
}

#[test]
fn no_beacon_is_an_error() {
    let port = free_udp_port();
    let out = loadgen(
        &["--port", &port.to_string(), "--discover-timeout", "0.3"],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no supervisor beacon"));
}

#[test]
fn bad_arguments_exit_non_zero() {
    for args in [
        &["--observers", "0"][..],
        &["--rate", "abc"][..],
        &["--bogus"][..],
    ] {
        let out = loadgen(args, Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
    }
}

/// A port P with P and P+1 both free just now (beacons on P, requests on
/// P+1).
fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let p = free_udp_port();
        if p < u16::MAX
            && UdpSocket::bind(("0.0.0.0", p)).is_ok()
            && UdpSocket::bind(("0.0.0.0", p + 1)).is_ok()
        {
            return p;
        }
    }
    panic!("no free port pair");
}

#[test]
fn real_supervisor_writes_every_simulated_event_once() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["hosts", "includes"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    let port = free_port_pair();
    let config = conf::SupervisorConfig::loopback(dir.path(), port).unwrap();
    let stream = config.event_stream.clone();
    let running = supervisor::Background::start(config).unwrap();

    let out = loadgen(
        &[
            "--port",
            &port.to_string(),
            "--observers",
            "25",
            "--rate",
            "20",
            "--duration",
            "2",
            "--heartbeat",
            "1",
        ],
        Duration::from_secs(60),
    );
    let s = summary(&out);
    running.stop().unwrap();
    assert_eq!(s["events_sent"], 1000, "{s}");
    assert_eq!(s["events_acked"], 1000, "{s}");
    assert_eq!(s["events_unacked"], 0, "{s}");

    // Every acknowledged event is in the stream exactly once.
    let text = std::fs::read_to_string(&stream).unwrap();
    let mut written = HashSet::new();
    let mut lines = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["tags"] == "SYSTEM" {
            continue;
        }
        lines += 1;
        let host = v["host"].as_str().unwrap().to_string();
        assert!(host.starts_with("lg"), "{line}");
        written.insert((host, v["id"].as_u64().unwrap()));
    }
    assert_eq!(lines, 1000, "no event written twice");
    assert_eq!(written.len(), 1000);
    assert_eq!(
        written.iter().map(|(h, _)| h).collect::<HashSet<_>>().len(),
        25
    );
}
