//! Shared by the observer's tests: a small test supervisor built from
//! `wire` (beacons to 127.255.255.255, serves one configuration text,
//! acknowledges events when told to and records everything it receives),
//! the observer binary as a child process, and small helpers.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wire::{Codec, Event, Message, OpenProblem, split_config};

#[derive(Default)]
pub struct Seen {
    pub events: BTreeMap<u64, Event>,
    pub event_datagrams: usize,
    pub heartbeats: Vec<(String, Option<u64>)>,
    /// The open problems each heartbeat carried, in order.
    pub heartbeat_problems: Vec<Vec<OpenProblem>>,
    /// Hosts that said goodbye (a clean stop).
    pub goodbyes: Vec<String>,
    pub config_requests: usize,
}

pub struct TestSupervisor {
    pub port: u16,
    pub seen: Arc<Mutex<Seen>>,
    pub acking: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

impl TestSupervisor {
    /// Beacons on `port`, listens on `port + 1`, serves `config` (version,
    /// text) to every host.
    pub fn start(port: u16, config: Option<(u64, String)>) -> TestSupervisor {
        let sock = UdpSocket::bind(("0.0.0.0", port + 1)).unwrap();
        sock.set_broadcast(true).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let acking = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, a2, st2) = (seen.clone(), acking.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut codec = Codec::open();
            let beacon_to: SocketAddr = format!("127.255.255.255:{port}").parse().unwrap();
            let mut next_beacon = Instant::now();
            let mut buf = vec![0u8; 2048];
            while !st2.load(Ordering::Relaxed) {
                if Instant::now() >= next_beacon {
                    next_beacon = Instant::now() + Duration::from_millis(200);
                    let b = Message::Beacon {
                        supervisor: "test-sup".into(),
                        run_id: 1,
                    };
                    let _ = sock.send_to(&codec.encode(&b, now_ms()).unwrap(), beacon_to);
                }
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(msg) = codec.decode(&buf[..n], now_ms()) else {
                    continue;
                };
                let mut replies = Vec::new();
                match msg {
                    Message::ConfigRequest {
                        host,
                        have,
                        missing,
                    } => {
                        s2.lock().unwrap().config_requests += 1;
                        match &config {
                            None => replies.push(Message::NoConfig { host }),
                            Some((v, _)) if have == Some(*v) && missing.is_none() => {
                                replies.push(Message::ConfigUnchanged { host, version: *v })
                            }
                            Some((v, text)) => {
                                replies.extend(split_config(&host, *v, text.as_bytes()).unwrap())
                            }
                        }
                    }
                    Message::HeartbeatV2 {
                        host,
                        version,
                        problems,
                        ..
                    } => {
                        let mut s = s2.lock().unwrap();
                        s.heartbeats.push((host, version));
                        s.heartbeat_problems.push(problems);
                    }
                    Message::Goodbye { host } => s2.lock().unwrap().goodbyes.push(host),
                    Message::EventsV2 { host, events, .. } => {
                        let mut s = s2.lock().unwrap();
                        s.event_datagrams += 1;
                        if a2.load(Ordering::Relaxed) {
                            let ids = events.iter().map(|e| e.event.id).collect();
                            for e in events {
                                s.events.insert(e.event.id, e.event);
                            }
                            replies.push(Message::Ack { host, ids });
                        }
                    }
                    _ => {}
                }
                for r in replies {
                    let _ = sock.send_to(&codec.encode(&r, now_ms()).unwrap(), from);
                }
            }
        });
        TestSupervisor {
            port,
            seen,
            acking,
            stop,
            thread: Some(thread),
        }
    }

    /// Waits (at most `limit`) until `cond` holds on what was seen.
    pub fn wait_for(&self, limit: Duration, what: &str, cond: impl Fn(&Seen) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            if cond(&self.seen.lock().unwrap()) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestSupervisor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A running observer binary, killed when dropped.
pub struct ObserverProcess(pub std::process::Child);

impl ObserverProcess {
    pub fn start(port: u16, name: &str, dir: &std::path::Path) -> ObserverProcess {
        Self::start_with(port, name, dir, &[])
    }

    /// As [`ObserverProcess::start`] with more options (`--bind …`).
    pub fn start_with(
        port: u16,
        name: &str,
        dir: &std::path::Path,
        extra: &[&str],
    ) -> ObserverProcess {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_observer"))
            .arg(port.to_string())
            .args(extra)
            .args(["--name", name, "--spool-dir"])
            .arg(dir)
            .arg("--log-dir")
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        ObserverProcess(child)
    }
    pub fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ObserverProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A port pair unique to this test process and `slot`.
pub fn test_port(slot: u16) -> u16 {
    20_000 + (std::process::id() % 2000) as u16 * 20 + slot * 2
}

/// Appends `bytes` to `path`, creating it if needed.
pub fn append(path: &std::path::Path, bytes: impl AsRef<[u8]>) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes.as_ref()).unwrap();
}

/// A host file with one group: every `ERROR` line of `log` as an event
/// tagged `app`.
pub fn error_watch(log: &std::path::Path) -> String {
    format!(
        "file: {}\nmatch: ERROR\nalert_all: tags=app\n",
        log.display()
    )
}

/// A small seeded generator (xorshift) for reproducible generated tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}
