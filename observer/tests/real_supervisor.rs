//! The real observer binary against the real supervisor, run in-process on
//! loopback: discovery, configuration, events from a tailed file in the
//! stream, and a SIGKILL of the observer in the middle of a burst that loses
//! and doubles nothing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{ObserverProcess, append, error_watch, test_port};

const WAIT: Duration = Duration::from_secs(20);

/// The real supervisor, running on a thread of this test until dropped.
struct InProcessSupervisor {
    _running: supervisor::Background,
    stream: PathBuf,
}

impl InProcessSupervisor {
    fn start(dir: &Path, port: u16, hosts: &[(&str, String)]) -> Self {
        std::fs::create_dir_all(dir.join("hosts")).unwrap();
        std::fs::create_dir_all(dir.join("includes")).unwrap();
        for (name, text) in hosts {
            std::fs::write(dir.join("hosts").join(name), text).unwrap();
        }
        let config = conf::SupervisorConfig::loopback(dir, port).unwrap();
        let stream = config.event_stream.clone();
        InProcessSupervisor {
            _running: supervisor::Background::start(config).unwrap(),
            stream,
        }
    }

    /// Messages of the stream's events for `host`, with how often each was
    /// written.
    fn messages(&self, host: &str) -> BTreeMap<String, usize> {
        let text = std::fs::read_to_string(&self.stream).unwrap_or_default();
        let mut seen = BTreeMap::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["host"] == host && v["tags"] == "app" {
                *seen
                    .entry(v["message"].as_str().unwrap().to_string())
                    .or_insert(0) += 1;
            }
        }
        seen
    }

    fn wait_for(&self, what: &str, cond: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; stream:\n{}",
                std::fs::read_to_string(&self.stream).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Appends a probe line every 200 ms until one reaches the stream: the
/// configuration is then applied and the file followed.
fn wait_until_followed(sup: &InProcessSupervisor, host: &str, log: &Path) {
    let deadline = Instant::now() + WAIT;
    let mut n = 0;
    loop {
        n += 1;
        append(log, format!("ERROR probe {n}\n"));
        std::thread::sleep(Duration::from_millis(200));
        if sup
            .messages(host)
            .keys()
            .any(|m| m.starts_with("ERROR probe"))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{host} never followed {}",
            log.display()
        );
    }
}

#[test]
fn event_from_a_tailed_file_lands_in_the_real_stream() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "ERROR written before the observer started\n");
    let port = test_port(8);
    let sup = InProcessSupervisor::start(dir.path(), port, &[("real-one", error_watch(&log))]);
    let _obs = ObserverProcess::start(port, "real-one", dir.path());
    wait_until_followed(&sup, "real-one", &log);
    append(&log, "INFO fine\nERROR disk on fire\n");
    sup.wait_for("the ERROR line", |s| {
        s.messages("real-one").get("ERROR disk on fire") == Some(&1)
    });
    let seen = sup.messages("real-one");
    assert!(!seen.contains_key("ERROR written before the observer started"));
    assert!(!seen.keys().any(|m| m.contains("INFO")));
}

/// `--bind 127.0.0.1`: the beacon socket is tied to `lo` and still hears
/// the broadcasts to 127.255.255.255; requests and events leave from
/// 127.0.0.1.
#[test]
fn observer_bound_to_loopback_is_configured_and_its_events_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::File::create(&log).unwrap();
    let port = test_port(7);
    let sup = InProcessSupervisor::start(dir.path(), port, &[("bound-one", error_watch(&log))]);
    let _obs = ObserverProcess::start_with(port, "bound-one", dir.path(), &["--bind", "127.0.0.1"]);
    wait_until_followed(&sup, "bound-one", &log);
    append(&log, "ERROR from a bound observer\n");
    sup.wait_for("the ERROR line", |s| {
        s.messages("bound-one").get("ERROR from a bound observer") == Some(&1)
    });
}

#[test]
fn bind_to_an_address_of_no_interface_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_observer"))
        .args([
            "9000",
            "--name",
            "x",
            "--bind",
            "203.0.113.7",
            "--spool-dir",
        ])
        .arg(dir.path())
        .arg("--log-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--bind 203.0.113.7: no interface of this machine has that address"),
        "{stderr}"
    );
}

#[test]
fn observer_killed_mid_burst_and_restarted_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::File::create(&log).unwrap();
    let port = test_port(9);
    let sup = InProcessSupervisor::start(dir.path(), port, &[("real-two", error_watch(&log))]);
    let mut obs = ObserverProcess::start(port, "real-two", dir.path());
    wait_until_followed(&sup, "real-two", &log);
    let burst: String = (0..2000).map(|i| format!("ERROR burst {i}\n")).collect();
    append(&log, &burst);
    // Kill as soon as the first of the burst is in the stream: the rest is
    // in the spool, in flight, or not yet read.
    sup.wait_for("the burst to start arriving", |s| {
        s.messages("real-two")
            .keys()
            .any(|m| m.starts_with("ERROR burst"))
    });
    obs.kill9();
    let _obs = ObserverProcess::start(port, "real-two", dir.path());
    sup.wait_for("every line of the burst", |s| {
        let seen = s.messages("real-two");
        (0..2000).all(|i| seen.contains_key(&format!("ERROR burst {i}")))
    });
    let doubled: Vec<_> = sup
        .messages("real-two")
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(doubled.is_empty(), "written twice: {doubled:?}");
}
