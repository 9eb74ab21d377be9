//! Shutdown stops every job the observer started: a `run:` command that is
//! a real `sh -c` pipeline with background children is still running when
//! the observer is told to stop, and neither the shell nor any of its
//! children outlives the observer; then the supervisor is told `Goodbye`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{TestSupervisor, test_port};

const WAIT: Duration = Duration::from_secs(20);

/// Whether `pid` still runs (a zombie has finished running).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn pids_in(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

#[test]
fn shutdown_kills_a_running_pipeline_and_all_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "echo $$ >> {p}; sleep 300 & echo $! >> {p}; sleep 301 | sleep 302 & echo $! >> {p}; wait",
        p = pids.display()
    );
    let config = format!(
        "run: command=sh -c \"{script}\" extract=^(\\S+)$\nalert_metric: tags=t match=1,x metric=1\n"
    );
    let port = test_port(12);
    let sup = TestSupervisor::start(port, Some((7, config)));
    let opts = observer::daemon::Options {
        port,
        name: conf::HostName::new("shutdown-one").unwrap(),
        key: None,
        spool_dir: dir.path().to_path_buf(),
        bind: None,
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(observer::daemon::run(opts, async {
            let _ = stop_rx.await;
        }))
    });
    let deadline = Instant::now() + WAIT;
    while pids_in(&pids).len() < 3 {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = pids_in(&pids);
    assert!(started.iter().all(|p| running(*p)), "{started:?}");
    stop_tx.send(()).unwrap();
    daemon.join().unwrap().unwrap();
    // The observer has returned: every process it started has been sent
    // SIGKILL, which the kernel delivers within moments.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left: Vec<u32> = started.clone();
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        left.retain(|p| running(*p));
    }
    for p in &left {
        // Clean up before failing.
        unsafe { libc::kill(*p as i32, libc::SIGKILL) };
    }
    assert!(left.is_empty(), "still running after shutdown: {left:?}");
    // And the supervisor was told: a clean stop, not a crash.
    let deadline = Instant::now() + WAIT;
    loop {
        let goodbyes = sup.seen.lock().unwrap().goodbyes.clone();
        if !goodbyes.is_empty() {
            assert!(goodbyes.iter().all(|h| h == "shutdown-one"), "{goodbyes:?}");
            assert!(goodbyes.len() <= 2, "{goodbyes:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no goodbye after a clean stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}
