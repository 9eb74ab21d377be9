//! The observer binary with its spool folder on a small tmpfs that fills
//! up, against the real supervisor (in-process, loopback): it keeps
//! delivering while the spool cannot be written, reports it as a `spool`
//! problem, and clears the problem once space returns; a restart after
//! that reads no line twice.
//!
//! Mounting needs root: without it the test says why and passes, unless
//! `AX436_REQUIRE_TOOLS=1` is set (CI), where it fails.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{ObserverProcess, append, error_watch, test_port};

const WAIT: Duration = Duration::from_secs(30);

/// A tmpfs of `size` mounted on `dir` until dropped.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        // SAFETY: geteuid(2) has no preconditions.
        let why = if unsafe { libc::geteuid() } != 0 {
            "not root".to_string()
        } else {
            match Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir)
                .status()
            {
                Ok(s) if s.success() => {
                    return Some(SmallDisk {
                        dir: dir.to_path_buf(),
                    });
                }
                Ok(s) => format!("mount failed: {s}"),
                Err(e) => format!("mount cannot run: {e}"),
            }
        };
        assert!(
            std::env::var("AX436_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "cannot mount a tmpfs ({why}) and AX436_REQUIRE_TOOLS=1"
        );
        eprintln!("SKIPPED: a small tmpfs cannot be mounted ({why})");
        None
    }

    fn fill(&self) {
        let mut f = std::fs::File::create(self.dir.join("filler")).unwrap();
        let block = vec![0u8; 4096];
        for step in [4096, 512, 64, 1] {
            while f.write_all(&block[..step]).is_ok() {}
        }
    }

    fn free(&self) {
        std::fs::remove_file(self.dir.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("could not unmount {}", self.dir.display());
        }
    }
}

/// The real supervisor, running on a thread of this test until dropped.
struct InProcessSupervisor {
    _running: supervisor::Background,
    stream: PathBuf,
}

impl InProcessSupervisor {
    fn start(dir: &Path, port: u16, host: &str, text: String) -> Self {
        std::fs::create_dir_all(dir.join("hosts")).unwrap();
        std::fs::create_dir_all(dir.join("includes")).unwrap();
        std::fs::write(dir.join("hosts").join(host), text).unwrap();
        let config = conf::SupervisorConfig::loopback(dir, port).unwrap();
        let stream = config.event_stream.clone();
        InProcessSupervisor {
            _running: supervisor::Background::start(config).unwrap(),
            stream,
        }
    }

    /// (tags, message) of every event of the stream, in order.
    fn events(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&self.stream).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| {
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                (s("tags"), s("message"))
            })
            .collect()
    }

    fn count(&self, message: &str) -> usize {
        self.events().iter().filter(|(_, m)| m == message).count()
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

    fn has_system(&self, starts: &str) -> bool {
        self.events()
            .iter()
            .any(|(t, m)| t == "SYSTEM" && m.starts_with(starts))
    }
}

#[test]
fn a_full_spool_disk_does_not_stop_delivery_and_is_reported_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::File::create(&log).unwrap();
    let spool = dir.path().join("spool");
    let Some(disk) = SmallDisk::mount(&spool, "512k") else {
        return;
    };
    let port = test_port(5);
    let sup = InProcessSupervisor::start(dir.path(), port, "full-one", error_watch(&log));
    let mut obs = ObserverProcess::start(port, "full-one", &spool);
    // The first event reserves a block of ids on the still empty disk.
    let deadline = Instant::now() + WAIT;
    let mut n = 0;
    while !sup
        .events()
        .iter()
        .any(|(_, m)| m.starts_with("ERROR probe"))
    {
        n += 1;
        append(&log, format!("ERROR probe {n}\n"));
        std::thread::sleep(Duration::from_millis(200));
        assert!(Instant::now() < deadline, "never followed");
    }

    disk.fill();
    let lines: Vec<String> = (0..500).map(|i| format!("ERROR while full {i}")).collect();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    append(&log, text);
    sup.wait_for("every line while the spool is full", |s| {
        lines.iter().all(|l| s.count(l) == 1)
    });
    sup.wait_for("the spool problem", |s| {
        s.has_system("events cannot be written to the spool")
    });

    disk.free();
    append(&log, "ERROR after space returned\n");
    sup.wait_for("the problem cleared", |s| {
        s.events().iter().any(|(t, m)| {
            t == "SYSTEM"
                && m.starts_with("events cannot be written to the spool")
                && m.contains(" cleared after ")
        })
    });
    sup.wait_for("the line after", |s| {
        s.count("ERROR after space returned") == 1
    });
    assert!(lines.iter().all(|l| sup.count(l) == 1), "doubled");

    // The read positions are written again with space: a restart reads
    // none of those lines again.
    obs.kill9();
    let _obs = ObserverProcess::start(port, "full-one", &spool);
    append(&log, "ERROR after the restart\n");
    sup.wait_for("the line after the restart", |s| {
        s.count("ERROR after the restart") == 1
    });
    assert!(lines.iter().all(|l| sup.count(l) == 1), "doubled");
    assert_eq!(sup.count("ERROR after space returned"), 1);
}
