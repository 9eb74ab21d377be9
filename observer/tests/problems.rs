//! Problems as state, in virtual time: the REAL observer core runs its
//! checks against a scripted host (disk use, process count, a command that
//! fails, a service that answers or not) and a REAL supervisor state
//! machine writes the stream. Every stateful check — commands, processes,
//! logs, `metric:` and `probe:` groups — opens its problem once and clears
//! it once; `for=`, `clear_for=`, `repeat=`, flapping, a new configuration
//! while a problem is open, and `active:` windows.

mod sim;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use observer::checks::{JobOutput, Work};
use observer::clock::LocalMinute;
use observer::command::CommandFailure;
use observer::probe::{ProbeFailure, ProbeOutcome};
use observer::sysmetrics::{MetricValue, Sample};
use sim::{Link, Seeded, Sim};
use wire::Transition;

const WALL0: i64 = 1_800_000_000_000;

const DF_RUN: &str =
    "run: command=df -P extract=^(\\S+)\\s+\\d+\\s+\\d+\\s+\\d+\\s+(\\d+)%\\s+(\\S+)$\n";

/// The disk alert of the issue, with `keys` before its message.
fn disk_alert(keys: &str) -> String {
    format!(
        "{DF_RUN}alert_if: tags=disk match=3,/ upper_limit=2,90 {keys} message=Root file system nearly full\n"
    )
}

/// The simulated host: what its disk, process table and commands say.
#[derive(Clone)]
struct Host {
    disk: Rc<Cell<u32>>,
    processes: Rc<Cell<u64>>,
    failing: Rc<Cell<bool>>,
    /// Whether the service the probes connect to answers.
    answering: Rc<Cell<bool>>,
}

fn world(seed: u64, config: &str) -> (Sim, Host) {
    let host = Host {
        disk: Rc::new(Cell::new(50)),
        processes: Rc::new(Cell::new(1)),
        failing: Rc::new(Cell::new(false)),
        answering: Rc::new(Cell::new(true)),
    };
    let mut sim = Sim::new(seed);
    let h = host.clone();
    sim.jobs = Some(Box::new(move |work: &Work| match work {
        Work::RunCommand { text, .. } if h.failing.get() => {
            JobOutput::CommandLines(Err(CommandFailure::Exit {
                command: text.clone(),
                status: "exit status: 1".into(),
            }))
        }
        Work::RunCommand { .. } => JobOutput::CommandLines(Ok(vec![format!(
            "/dev/vda1 16381948 15211240 333136 {}% /",
            h.disk.get()
        )])),
        Work::CountProcesses { patterns, .. } => {
            JobOutput::ProcessCounts(Ok(vec![h.processes.get(); patterns.len()]))
        }
        // Every metric of this host is its one disk.
        Work::Metric { .. } => JobOutput::MetricSample(Ok(Sample::Gauge(MetricValue::Disk {
            used_percent: f64::from(h.disk.get()),
            free_bytes: 1,
            total_bytes: 2,
        }))),
        Work::Probe(_) if h.answering.get() => JobOutput::ProbeOutcome(Box::new(ProbeOutcome {
            failure: None,
            response_ms: Some(1.5),
            address: None,
            status: None,
            cert_days_left: None,
        })),
        Work::Probe(_) => JobOutput::ProbeOutcome(Box::new(ProbeOutcome {
            failure: Some(ProbeFailure::Refused {
                target: "127.0.0.1:5432".into(),
            }),
            response_ms: None,
            address: None,
            status: None,
            cert_days_left: None,
        })),
    }));
    sim.add_supervisor("s1", config, Link::clean());
    (sim, host)
}

/// The transitions spooled for checks whose id starts with `kind`, with
/// the second they were raised at.
fn transitions(sim: &Sim, kind: &str) -> Vec<(u64, Transition)> {
    sim.events
        .iter()
        .filter(|e| e.check.as_deref().is_some_and(|c| c.starts_with(kind)))
        .map(|e| (((e.event.time_ms - WALL0) / 1000) as u64, e.transition))
        .collect()
}

fn opens(t: &[(u64, Transition)]) -> usize {
    t.iter().filter(|(_, t)| *t == Transition::Open).count()
}

fn clears(t: &[(u64, Transition)]) -> usize {
    t.iter()
        .filter(|(_, t)| matches!(t, Transition::Clear { .. }))
        .count()
}

/// Over 590 s with `repeat=180`: one opening, then three repeats 180 s
/// apart.
fn assert_one_opening_repeated_every_180_s(t: &[(u64, Transition)]) {
    let repeats: Vec<u64> = t
        .iter()
        .filter(|(_, t)| *t == Transition::Repeat)
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(opens(t), 1, "{t:?}");
    assert_eq!(repeats.len(), 3, "{t:?}");
    assert!(
        repeats.windows(2).all(|w| w[1] - w[0] == 180),
        "{repeats:?}"
    );
}

fn minutes(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

/// Stream lines of the disk alert.
fn disk_lines(sim: &Sim) -> usize {
    sim.supervisors[0]
        .lines
        .iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Root file system nearly full"))
        })
        .count()
}

#[test]
fn a_disk_over_its_limit_for_ten_minutes_opens_once_and_clears_once() {
    let _s = Seeded(1, "full disk");
    let (mut sim, host) = world(1, &disk_alert(""));
    host.disk.set(95);
    sim.run_for(minutes(10));
    let t = transitions(&sim, "cmd-");
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0].1, Transition::Open);
    let open = &sim.observer.session().open_problems()[0];
    assert!(open.check.starts_with("cmd-"));
    assert_eq!(open.tags, "disk");
    assert_eq!(open.message, "Root file system nearly full [95]");
    assert_eq!(open.value, Some(95.0));
    // The figure of docs/PERFORMANCE.md: stream lines for the disk in ten
    // minutes (one per run, ten, before problems were state).
    let written = disk_lines(&sim);
    eprintln!("stream events for a disk over its limit for 10 minutes: {written}");
    assert_eq!(written, 1);
    host.disk.set(50);
    sim.run_for(minutes(2));
    let t = transitions(&sim, "cmd-");
    assert_eq!(t.len(), 2, "{t:?}");
    let Transition::Clear { open_ms } = t[1].1 else {
        panic!("{t:?}");
    };
    assert!((600_000..=660_000).contains(&open_ms), "{open_ms}");
    assert!(sim.observer.session().open_problems().is_empty());
    assert_eq!(disk_lines(&sim), 2);
}

#[test]
fn for_waits_for_consecutive_bad_results() {
    let (mut sim, host) = world(2, &disk_alert("for=3"));
    host.disk.set(95);
    sim.run_for(Duration::from_secs(100));
    assert!(transitions(&sim, "cmd-").is_empty());
    sim.run_for(minutes(5));
    let t = transitions(&sim, "cmd-");
    assert_eq!(t.len(), 1, "{t:?}");
    // Runs at about 0, 60 and 120 s: the third opens it.
    assert!((119..=125).contains(&t[0].0), "{t:?}");
}

#[test]
fn clear_for_waits_for_consecutive_good_results() {
    let (mut sim, host) = world(3, &disk_alert("clear_for=3"));
    host.disk.set(95);
    sim.run_for(minutes(2));
    assert_eq!(opens(&transitions(&sim, "cmd-")), 1);
    host.disk.set(50);
    // Two good runs (about 120 and 180 s): not yet.
    sim.run_for(Duration::from_secs(100));
    assert_eq!(clears(&transitions(&sim, "cmd-")), 0);
    sim.run_for(minutes(2));
    let t = transitions(&sim, "cmd-");
    assert_eq!((opens(&t), clears(&t)), (1, 1), "{t:?}");
}

#[test]
fn repeat_resends_while_open_and_only_then() {
    let (mut sim, host) = world(4, &disk_alert("repeat=180"));
    host.disk.set(95);
    sim.run_for(Duration::from_secs(590));
    let t = transitions(&sim, "cmd-");
    assert_one_opening_repeated_every_180_s(&t);
    host.disk.set(50);
    sim.run_for(minutes(10));
    let t = transitions(&sim, "cmd-");
    assert_eq!(clears(&t), 1);
    assert_eq!(t.len(), 5, "nothing repeats once cleared: {t:?}");
}

#[test]
fn flapping_is_absorbed_by_for_and_clear_for() {
    // Bad and good in turn, every minute.
    let flap = |sim: &mut Sim, host: &Host, n: u32| {
        for i in 0..n {
            host.disk.set(if i % 2 == 0 { 95 } else { 50 });
            sim.run_for(minutes(1));
        }
    };
    let (mut sim, host) = world(5, &disk_alert("for=2 clear_for=2"));
    flap(&mut sim, &host, 20);
    assert!(transitions(&sim, "cmd-").is_empty());
    // Opening on one bad result, clearing only on two good ones: it opens
    // once and stays open through the flapping.
    let (mut sim, host) = world(6, &disk_alert("clear_for=2"));
    flap(&mut sim, &host, 20);
    let t = transitions(&sim, "cmd-");
    assert_eq!((opens(&t), clears(&t)), (1, 0), "{t:?}");
    // With the defaults every flap is a transition, but each is one event.
    let (mut sim, host) = world(7, &disk_alert(""));
    flap(&mut sim, &host, 6);
    let t = transitions(&sim, "cmd-");
    assert_eq!((opens(&t), clears(&t)), (3, 3), "{t:?}");
}

#[test]
fn a_new_configuration_keeping_the_check_keeps_its_open_problem() {
    let (mut sim, host) = world(8, &disk_alert(""));
    host.disk.set(95);
    sim.run_for(minutes(3));
    let before = transitions(&sim, "cmd-");
    assert_eq!(before.len(), 1);
    // Moved down, another group before it, its state keys tuned: the same
    // check (same id).
    let kept = format!(
        "# edited\nprocess: nginx\nalert_running: tags=web min=0 max=5 message=nginx\n\n{}",
        disk_alert("every=30 repeat=86400")
    );
    sim.change_config(0, &kept);
    sim.run_for(minutes(5));
    let t = transitions(&sim, "cmd-");
    assert_eq!(t, before, "no second opening after a reset");
    assert_eq!(sim.observer.session().open_problems().len(), 1);
    // A configuration without it: cleared, once.
    sim.change_config(
        0,
        "process: nginx\nalert_running: tags=web min=0 max=5 message=nginx\n",
    );
    sim.run_for(minutes(3));
    let t = transitions(&sim, "cmd-");
    assert_eq!((opens(&t), clears(&t)), (1, 1), "{t:?}");
    assert!(sim.observer.session().open_problems().is_empty());
}

#[test]
fn outside_its_active_window_a_problem_does_not_open_but_still_clears() {
    let config = format!("active: 3;13:00-14:00\n{}", disk_alert(""));
    let (mut sim, host) = world(9, &config);
    host.disk.set(95);
    // Wednesday 12:00: outside.
    sim.run_for(minutes(5));
    assert!(transitions(&sim, "cmd-").is_empty());
    sim.local = LocalMinute {
        weekday: 3,
        hour: 13,
        minute: 0,
    };
    sim.run_for(minutes(2));
    assert_eq!(opens(&transitions(&sim, "cmd-")), 1);
    sim.local = LocalMinute {
        weekday: 3,
        hour: 15,
        minute: 0,
    };
    sim.run_for(minutes(2));
    assert_eq!(
        clears(&transitions(&sim, "cmd-")),
        0,
        "still open: no repeat"
    );
    host.disk.set(50);
    sim.run_for(minutes(2));
    let t = transitions(&sim, "cmd-");
    assert_eq!((opens(&t), clears(&t)), (1, 1), "{t:?}");
}

#[test]
fn a_command_that_fails_opens_the_problem_of_its_alert_with_its_tags() {
    let (mut sim, host) = world(10, &disk_alert(""));
    host.failing.set(true);
    sim.run_for(minutes(5));
    let failed: Vec<_> = sim
        .events
        .iter()
        .filter(|e| e.check.as_deref().is_some_and(|c| c.starts_with("cmd-")))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].transition, Transition::Open);
    assert_eq!(failed[0].event.tags, "disk");
    assert_eq!(
        failed[0].event.message,
        "could not run \"df -P\": exit status: 1"
    );
    // No untagged SYSTEM event about it.
    assert!(!sim.events.iter().any(|e| e.event.tags == "SYSTEM"));
    // Running again with the disk fine clears it.
    host.failing.set(false);
    sim.run_for(minutes(2));
    let t = transitions(&sim, "cmd-");
    assert_eq!((opens(&t), clears(&t)), (1, 1), "{t:?}");
}

#[test]
fn a_process_count_outside_its_range_opens_after_two_checks_and_clears_once() {
    let config = "process: nginx\nalert_running: tags=web min=1 max=1 message=nginx master\n";
    let (mut sim, host) = world(11, config);
    host.processes.set(0);
    sim.run_for(Duration::from_secs(10));
    assert!(
        transitions(&sim, "proc-").is_empty(),
        "one check is not enough"
    );
    sim.run_for(minutes(10));
    let t = transitions(&sim, "proc-");
    assert_eq!(t.len(), 1, "{t:?}");
    let opened = sim
        .events
        .iter()
        .find(|e| e.transition == Transition::Open)
        .unwrap();
    assert_eq!(opened.event.message, "nginx master [0]");
    host.processes.set(1);
    sim.run_for(minutes(1));
    let t = transitions(&sim, "proc-");
    assert_eq!((opens(&t), clears(&t)), (1, 1), "{t:?}");
}

#[test]
fn a_log_without_its_line_opens_alert_inactive_once_and_a_line_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("backup.log");
    std::fs::write(&log, "").unwrap();
    let config = format!(
        "file: {}\nmatch: backup done\nalert_inactive: tags=backup seconds=60 message=no backup\n",
        log.display()
    );
    let (mut sim, _host) = world(12, &config);
    sim.run_for(minutes(5));
    let t = transitions(&sim, "log-");
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0].1, Transition::Open);
    std::fs::write(&log, "backup done\n").unwrap();
    sim.run_for(minutes(2));
    let t = transitions(&sim, "log-");
    assert_eq!((opens(&t), clears(&t)), (1, 1), "{t:?}");
}

#[test]
fn a_missing_log_file_is_an_observer_problem_opened_once() {
    let config = "file: /nonexistent/436-sim/app.log\nmatch: x\nalert_all: tags=app\n";
    let (mut sim, _host) = world(13, config);
    sim.run_for(minutes(10));
    let t = transitions(&sim, "observer-file-");
    assert_eq!(t, [(t[0].0, Transition::Open)], "{t:?}");
    let open = &sim.observer.session().open_problems()[0];
    assert_eq!(open.tags, "SYSTEM");
    assert!(open.message.contains("does not exist"), "{}", open.message);
}

#[test]
fn configuration_errors_are_not_sent_by_the_observer() {
    // The supervisor reports them (once); the observer only logs them.
    let config = format!(
        "process: nginx(\nalert_running: tags=web min=1 max=1 message=m\n{}",
        disk_alert("")
    );
    let (mut sim, host) = world(14, &config);
    host.disk.set(95);
    sim.run_for(minutes(3));
    assert!(
        !sim.events.iter().any(|e| e.event.tags == "SYSTEM"),
        "{:?}",
        sim.events
    );
    // The rest of the file still runs.
    assert_eq!(opens(&transitions(&sim, "cmd-")), 1);
}

/// A built-in check (`metric:` or `probe:`) of the scripted host, bad while
/// the host says so.
struct BuiltIn {
    /// Its check ids start with this.
    kind: &'static str,
    /// Its group with `keys` on the alert line.
    config: fn(&str) -> String,
    /// Makes its condition bad or good.
    set: fn(&Host, bool),
    tags: &'static str,
    /// What the opening says.
    opening: &'static str,
}

fn disk_metric(keys: &str) -> String {
    format!(
        "metric: disk /var\nalert_if: tags=disk upper_limit=90 {keys} message=/var nearly full\n"
    )
}

fn postgres_probe(keys: &str) -> String {
    format!(
        "probe: tcp 127.0.0.1:5432 timeout=2\nalert_failed: tags=db,postgres {keys} message=PostgreSQL is not answering\n"
    )
}

const BUILT_INS: [BuiltIn; 2] = [
    BuiltIn {
        kind: "metric-",
        config: disk_metric,
        set: |h, bad| h.disk.set(if bad { 95 } else { 50 }),
        tags: "disk",
        opening: "/var nearly full [95]",
    },
    BuiltIn {
        kind: "probe-",
        config: postgres_probe,
        set: |h, bad| h.answering.set(!bad),
        tags: "db,postgres",
        opening: "PostgreSQL is not answering: connection to 127.0.0.1:5432 refused (nothing listening)",
    },
];

#[test]
fn metric_and_probe_problems_open_after_for_and_reach_heartbeats_and_the_supervisor() {
    for (seed, b) in (20..).zip(&BUILT_INS) {
        let _s = Seeded(seed, b.kind);
        let (mut sim, host) = world(seed, &(b.config)("for=3"));
        (b.set)(&host, true);
        // Runs at about 0 and 60 s: not yet.
        sim.run_for(Duration::from_secs(100));
        assert!(transitions(&sim, b.kind).is_empty(), "{}", b.kind);
        sim.run_for(minutes(10));
        let t = transitions(&sim, b.kind);
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!(t[0].1, Transition::Open);
        assert!((119..=125).contains(&t[0].0), "{t:?}");
        // What the heartbeats carry.
        let open = sim.observer.session().open_problems();
        assert_eq!(open.len(), 1, "{open:?}");
        assert!(open[0].check.starts_with(b.kind), "{open:?}");
        assert_eq!(open[0].tags, b.tags);
        assert_eq!(open[0].message, b.opening);
        // What the supervisor knows of the fleet.
        let fleet = sim.fleet(0);
        assert_eq!(fleet.problems.len(), 1, "{:?}", fleet.problems);
        let p = &fleet.problems[0];
        assert_eq!(
            (p.host.as_str(), p.check.as_str()),
            (sim::HOST, open[0].check.as_str())
        );
        assert_eq!(p.message, b.opening);
        // The stream line: the check and its state.
        let line = sim.supervisors[0]
            .lines
            .iter()
            .find(|l| l["check"] == open[0].check.as_str())
            .expect("the opening in the stream");
        assert_eq!(line["state"], "open");
        assert_eq!(line["tags"], b.tags);
    }
}

#[test]
fn metric_and_probe_problems_clear_after_clear_for_good_results() {
    for (seed, b) in (30..).zip(&BUILT_INS) {
        let _s = Seeded(seed, b.kind);
        let (mut sim, host) = world(seed, &(b.config)("clear_for=3"));
        (b.set)(&host, true);
        sim.run_for(minutes(2));
        assert_eq!(opens(&transitions(&sim, b.kind)), 1);
        (b.set)(&host, false);
        // Two good runs (about 120 and 180 s): not yet.
        sim.run_for(Duration::from_secs(100));
        assert_eq!(clears(&transitions(&sim, b.kind)), 0);
        sim.run_for(minutes(2));
        let t = transitions(&sim, b.kind);
        assert_eq!((opens(&t), clears(&t)), (1, 1), "{t:?}");
        assert!(sim.observer.session().open_problems().is_empty());
        assert!(sim.fleet(0).problems.is_empty());
        let cleared = sim.supervisors[0]
            .lines
            .iter()
            .find(|l| l["state"] == "cleared")
            .expect("the clearing in the stream");
        // The opening's words, with how long it was open.
        assert!(
            cleared["duration"].as_u64().is_some_and(|d| d >= 180),
            "{cleared}"
        );
        assert!(
            cleared["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(b.opening.split(" [").next().unwrap_or_default())),
            "{cleared}"
        );
    }
}

#[test]
fn metric_and_probe_problems_repeat_only_when_asked() {
    for (seed, b) in (40..).zip(&BUILT_INS) {
        let _s = Seeded(seed, b.kind);
        let (mut sim, host) = world(seed, &(b.config)("repeat=180"));
        (b.set)(&host, true);
        sim.run_for(Duration::from_secs(590));
        let t = transitions(&sim, b.kind);
        assert_one_opening_repeated_every_180_s(&t);
        (b.set)(&host, false);
        sim.run_for(minutes(10));
        let t = transitions(&sim, b.kind);
        assert_eq!((clears(&t), t.len()), (1, 5), "{t:?}");
        // Without `repeat=`, nothing while it stays open.
        let (mut sim, host) = world(seed, &(b.config)(""));
        (b.set)(&host, true);
        sim.run_for(minutes(30));
        assert_eq!(transitions(&sim, b.kind).len(), 1);
    }
}

#[test]
fn a_new_configuration_keeping_a_metric_or_probe_keeps_its_problem_and_one_removing_it_clears_it() {
    for (seed, b) in (50..).zip(&BUILT_INS) {
        let _s = Seeded(seed, b.kind);
        let (mut sim, host) = world(seed, &(b.config)(""));
        (b.set)(&host, true);
        sim.run_for(minutes(3));
        let before = transitions(&sim, b.kind);
        assert_eq!(before.len(), 1, "{before:?}");
        // Moved down, another group before it, its state keys tuned, an
        // `active:` line that allows now: the same check (same id).
        let kept = format!(
            "# edited\nprocess: nginx\nalert_running: tags=web min=0 max=5 message=nginx\n\nactive: 3;00:00-23:59\n{}",
            (b.config)("every=30 clear_for=2 repeat=86400")
        );
        sim.change_config(0, &kept);
        sim.run_for(minutes(5));
        assert_eq!(
            transitions(&sim, b.kind),
            before,
            "no second opening after a reset"
        );
        assert_eq!(sim.observer.session().open_problems().len(), 1);
        // Its message edited: a new check. The old problem clears, the new
        // one opens.
        sim.change_config(0, &(b.config)("").replace("message=", "message=Now: "));
        sim.run_for(minutes(3));
        let t = transitions(&sim, b.kind);
        assert_eq!((opens(&t), clears(&t)), (2, 1), "{t:?}");
        let open = sim.observer.session().open_problems();
        assert_eq!(open.len(), 1);
        assert!(open[0].message.starts_with("Now: "), "{open:?}");
        // A configuration without it: cleared, once, and the supervisor
        // forgets it.
        sim.change_config(
            0,
            "process: nginx\nalert_running: tags=web min=0 max=5 message=nginx\n",
        );
        sim.run_for(minutes(3));
        let t = transitions(&sim, b.kind);
        assert_eq!((opens(&t), clears(&t)), (2, 2), "{t:?}");
        assert!(sim.observer.session().open_problems().is_empty());
        assert!(
            sim.fleet(0).problems.is_empty(),
            "{:?}",
            sim.fleet(0).problems
        );
    }
}

#[test]
fn outside_its_active_window_a_metric_or_probe_problem_does_not_open_but_still_clears() {
    for (seed, b) in (60..).zip(&BUILT_INS) {
        let _s = Seeded(seed, b.kind);
        let config = format!("active: 3;13:00-14:00\n{}", (b.config)(""));
        let (mut sim, host) = world(seed, &config);
        (b.set)(&host, true);
        // Wednesday 12:00: outside.
        sim.run_for(minutes(5));
        assert!(transitions(&sim, b.kind).is_empty());
        sim.local = LocalMinute {
            weekday: 3,
            hour: 13,
            minute: 0,
        };
        sim.run_for(minutes(2));
        assert_eq!(opens(&transitions(&sim, b.kind)), 1);
        sim.local = LocalMinute {
            weekday: 3,
            hour: 15,
            minute: 0,
        };
        sim.run_for(minutes(2));
        assert_eq!(
            transitions(&sim, b.kind).len(),
            1,
            "still open: nothing more"
        );
        (b.set)(&host, false);
        sim.run_for(minutes(2));
        let t = transitions(&sim, b.kind);
        assert_eq!((opens(&t), clears(&t)), (1, 1), "{t:?}");
    }
}
