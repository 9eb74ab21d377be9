//! The real observer binary over loopback against the test supervisor:
//! discovery, configuration, an event from a tailed file, and a SIGKILL
//! restart that loses no spooled event.

mod common;

use std::time::Duration;

use common::{ObserverProcess, TestSupervisor, append, error_watch, test_port};

const WAIT: Duration = Duration::from_secs(15);

fn config_for(log: &std::path::Path) -> (u64, String) {
    let text = error_watch(log);
    (conf::ConfigVersion::of(&text).0, text)
}

#[test]
fn discovers_fetches_configuration_and_sends_an_event_from_a_tailed_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "ERROR before start is history\n");
    let port = test_port(0);
    let (version, text) = config_for(&log);
    let sup = TestSupervisor::start(port, Some((version, text)));
    let _obs = ObserverProcess::start(port, "lan-one", dir.path());
    sup.wait_for(WAIT, "a heartbeat with the configuration version", |s| {
        s.heartbeats
            .iter()
            .any(|(h, v)| h == "lan-one" && *v == Some(version))
            || s.config_requests > 0 && s.heartbeats.iter().any(|(h, _)| h == "lan-one")
    });
    // Give the configuration time to be applied, then write.
    let deadline = std::time::Instant::now() + WAIT;
    let mut n = 0;
    loop {
        n += 1;
        append(&log, format!("ERROR disk on fire {n}\n"));
        std::thread::sleep(Duration::from_millis(300));
        let s = sup.seen.lock().unwrap();
        if let Some(e) = s
            .events
            .values()
            .find(|e| e.message.starts_with("ERROR disk on fire"))
        {
            assert_eq!(e.tags, "app");
            assert_eq!(e.source.as_deref(), log.to_str());
            assert!(s.events.values().all(|e| !e.message.contains("history")));
            return;
        }
        drop(s);
        assert!(std::time::Instant::now() < deadline, "no event arrived");
    }
}

#[test]
fn sigkill_and_restart_lose_no_spooled_event() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::File::create(&log).unwrap();
    let port = test_port(5);
    let (version, text) = config_for(&log);
    let sup = TestSupervisor::start(port, Some((version, text)));
    sup.acking
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let mut obs = ObserverProcess::start(port, "lan-two", dir.path());
    // Configured when a heartbeat carries the version (sent at first
    // sighting, then every 15 s) or after the request was answered.
    sup.wait_for(WAIT, "a configuration request", |s| s.config_requests > 0);
    std::thread::sleep(Duration::from_millis(1500));
    for i in 0..50 {
        append(&log, format!("ERROR number {i}\n"));
    }
    sup.wait_for(WAIT, "unacknowledged event datagrams", |s| {
        s.event_datagrams >= 2
    });
    // The observer may read the file in several passes while it is being
    // written: kill it only once every line is in the spool, so what a
    // restart must re-send is all of it (the restarted observer follows the
    // file from its end).
    let spool = dir.path().join("observer-lan-two.spool");
    let deadline = std::time::Instant::now() + WAIT;
    while !std::fs::read(&spool)
        .unwrap_or_default()
        .windows(15)
        .any(|w| w == b"ERROR number 49")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the last line never reached the spool"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    obs.kill9();
    sup.acking.store(true, std::sync::atomic::Ordering::Relaxed);
    let _obs = ObserverProcess::start(port, "lan-two", dir.path());
    sup.wait_for(WAIT, "all 50 events after the restart", |s| {
        let got: std::collections::BTreeSet<String> =
            s.events.values().map(|e| e.message.clone()).collect();
        (0..50).all(|i| got.contains(&format!("ERROR number {i}")))
    });
}
