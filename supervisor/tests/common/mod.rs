//! A supervisor binary in a temporary folder, and a small observer made of
//! the `wire` crate, for tests over real loopback sockets.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub mod browser;
pub mod web;

use socket2::{Domain, Protocol, Socket, Type};
use wire::{Codec, Message, Reassembly};

/// Every wait in these tests ends by this.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A port P with P and P+1 free for UDP right now.
pub fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let a = UdpSocket::bind("0.0.0.0:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p >= 65534 {
            continue;
        }
        if UdpSocket::bind(("0.0.0.0", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free port pair");
}

/// A socket on 0.0.0.0:P, where observers hear beacons and broadcast resets.
pub fn listen_on(port: u16) -> UdpSocket {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    s.set_reuse_address(true).unwrap();
    s.set_broadcast(true).unwrap();
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())
        .unwrap();
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    s
}

/// Waits for a datagram on `socket` that `codec` decodes and `want` accepts.
pub fn wait_for(
    socket: &UdpSocket,
    codec: &mut Codec,
    what: &str,
    mut want: impl FnMut(&Message, SocketAddr) -> bool,
) -> (Message, SocketAddr) {
    let deadline = Instant::now() + PATIENCE;
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        if let Ok((n, from)) = socket.recv_from(&mut buf)
            && let Ok(msg) = codec.decode(&buf[..n], wall_ms())
            && want(&msg, from)
        {
            return (msg, from);
        }
    }
    panic!("no {what} within {PATIENCE:?}");
}

/// A supervisor configuration folder: ax436.conf, hosts/, includes/.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub child: Option<Child>,
}

impl Fixture {
    /// `extra` lines are appended to ax436.conf (format, rotation, key…).
    /// The HTTP listener is off unless `extra` names `http:` (tests run at
    /// once and must not all take the default port).
    pub fn new(extra: &str) -> Fixture {
        let http_off = if extra.contains("http:") {
            ""
        } else {
            "http: off\n"
        };
        let dir = tempfile::tempdir().unwrap();
        let port = free_port_pair();
        std::fs::create_dir_all(dir.path().join("hosts")).unwrap();
        std::fs::create_dir_all(dir.path().join("includes")).unwrap();
        std::fs::write(
            dir.path().join("ax436.conf"),
            format!(
                "event_stream: stream/events.436\nport: {port}\nbroadcast: 127.255.255.255\n\
                 hosts: hosts\nincludes: includes\nbeacon_interval: 1\nmax_idle: 60\n\
                 log_file: log/supervisor.log\n{http_off}{extra}"
            ),
        )
        .unwrap();
        Fixture {
            dir,
            port,
            child: None,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.path(rel), text).unwrap();
    }

    /// Starts the supervisor and waits for its first beacon on `listener`
    /// (bound to P before the start so nothing is missed).
    pub fn start(&mut self, listener: &UdpSocket, codec: &mut Codec) {
        let child = Command::new(env!("CARGO_BIN_EXE_supervisor"))
            .arg(self.path("ax436.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for(listener, codec, "beacon", |m, _| {
            matches!(m, Message::Beacon { .. })
        });
    }

    /// Binds P, starts the supervisor and waits for its first beacon;
    /// returns the listening socket and the codec that read the beacon.
    pub fn start_listening(&mut self, mut codec: Codec) -> (UdpSocket, Codec) {
        let listener = listen_on(self.port);
        self.start(&listener, &mut codec);
        (listener, codec)
    }

    pub fn supervisor_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port + 1))
    }

    /// Replaces the line starting with `name:` in ax436.conf by `line`, or
    /// appends `line` when there is none.
    pub fn set_conf(&self, name: &str, line: &str) {
        let path = self.path("ax436.conf");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{name}:")))
            .map(String::from)
            .collect();
        lines.push(line.to_string());
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }

    /// Sends `signal` (e.g. SIGHUP) to the running supervisor.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = self.child.as_ref().expect("started").id() as libc::pid_t;
        // SAFETY: plain kill(2) on the child this fixture started.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Every line of the supervisor's own log so far (every file in log/).
    pub fn log_text(&self) -> String {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.path("log"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect()
    }

    /// Waits until the supervisor's log holds `times` lines containing
    /// `text`; returns the last of them.
    pub fn wait_for_log(&self, text: &str, times: usize) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let log = self.log_text();
            let found: Vec<&str> = log.lines().filter(|l| l.contains(text)).collect();
            if found.len() >= times
                && let Some(line) = found.last()
            {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {text:?} within {PATIENCE:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("started");
        let pid = child.id() as libc::pid_t;
        // SAFETY: plain kill(2) on the child this fixture started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                child.kill().unwrap();
                panic!("supervisor did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every line of every stream file, in file-name order.
    pub fn stream_text(&self) -> String {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.path("stream"))
            .map(|d| {
                d.flatten()
                    .filter(|e| !kept_beside_stream(&e.file_name().to_string_lossy()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    pub fn stream_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path("stream"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().into_string().unwrap())
                    .filter(|n| !kept_beside_stream(n))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Waits until the stream holds `n` lines.
    pub fn wait_for_lines(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let lines: Vec<String> = self.stream_text().lines().map(String::from).collect();
            if lines.len() >= n {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "stream has {} lines, expected {n}",
                lines.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Err(e) = child.kill() {
                eprintln!("could not kill the supervisor: {e}");
            }
            if let Err(e) = child.wait() {
                eprintln!("could not reap the supervisor: {e}");
            }
        }
    }
}

/// A minimal observer: one ephemeral socket, talking to one supervisor.
pub struct TestObserver {
    pub socket: UdpSocket,
    pub codec: Codec,
    pub supervisor: SocketAddr,
}

impl TestObserver {
    pub fn new(supervisor: SocketAddr, codec: Codec) -> TestObserver {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        TestObserver {
            socket,
            codec,
            supervisor,
        }
    }

    pub fn send(&self, msg: &Message) {
        let bytes = self.codec.encode(msg, wall_ms()).unwrap();
        self.socket.send_to(&bytes, self.supervisor).unwrap();
    }

    pub fn wait_for(&mut self, what: &str, want: impl FnMut(&Message) -> bool) -> Message {
        let mut want = want;
        wait_for(&self.socket, &mut self.codec, what, |m, _| want(m)).0
    }

    /// Sends a configuration request for `host` (nothing missing).
    pub fn request_config(&self, host: &str, have: Option<u64>) {
        self.send(&Message::ConfigRequest {
            host: host.into(),
            have,
            missing: None,
        });
    }

    /// Asks for `host`'s configuration and reassembles it, re-asking for
    /// missing chunks; returns (version, text, datagrams received).
    pub fn fetch_config(&mut self, host: &str) -> (u64, String, usize) {
        self.request_config(host, None);
        let mut reassembly: Option<Reassembly> = None;
        let mut received = 0;
        let deadline = Instant::now() + PATIENCE;
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            let Ok((n, _)) = self.socket.recv_from(&mut buf) else {
                if let Some(r) = &reassembly {
                    self.send(&Message::ConfigRequest {
                        host: host.into(),
                        have: None,
                        missing: Some(r.missing()),
                    });
                }
                continue;
            };
            let Ok(Message::ConfigChunk {
                version,
                index,
                total,
                data,
                ..
            }) = self.codec.decode(&buf[..n], wall_ms())
            else {
                continue;
            };
            received += 1;
            let r = reassembly.get_or_insert_with(|| Reassembly::new(version, total).unwrap());
            r.insert(index, total, &data).unwrap();
            if let Some(text) = r.text() {
                return (version, text.unwrap(), received);
            }
        }
        panic!("configuration of {host} not received within {PATIENCE:?}");
    }
}

/// Files the supervisor keeps beside the stream that are not the stream:
/// the fleet state, the notification queue and the history database.
pub fn kept_beside_stream(name: &str) -> bool {
    name.starts_with("fleet-state.json")
        || name.starts_with("notify.db")
        || name.starts_with("history.db")
}

/// The stream files' folder holds only the stream (and the files kept
/// beside it).
pub fn only_stream_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().all(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.starts_with("events") || kept_beside_stream(&name)
    })
}

/// A test that needs an outside tool (a browser, a mail server, Prometheus)
/// which is not installed: says SKIPPED on a developer's machine, and fails
/// where `AX436_REQUIRE_TOOLS=1` says every tool must be there (CI).
pub fn missing_tool(why: &str) {
    if std::env::var_os("AX436_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
        panic!("required tool missing (AX436_REQUIRE_TOOLS=1): {why}");
    }
    eprintln!("SKIPPED: {why}");
}
