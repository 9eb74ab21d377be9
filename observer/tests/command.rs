//! Commands for real: time-out kills the command and its children, failures
//! reported once, and alert_if / alert_metric extraction from df output.

use std::time::{Duration, Instant};

use conf::{CommandAlert, CommandLine, CommandRule, CommandWatch, GroupEquals, LineSelect, Origin};
use observer::checks::{Checks, JobOutput, JobResult};
use observer::clock::LocalMinute;
use observer::clock::Now;
use observer::command::{CommandCheck, CommandFailure, run_command};
use observer::problems::ProblemBoard;
use regex::Regex;
use wire::Transition;

const L: LocalMinute = LocalMinute {
    weekday: 2,
    hour: 12,
    minute: 0,
};

fn argv(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn origin() -> Origin {
    Origin {
        file: "hosts/h".into(),
        line: 1,
        included_from: vec![],
    }
}

fn df_watch(command: &[&str]) -> CommandWatch {
    let alert = |rule: CommandRule| CommandAlert {
        check: conf::CheckId::named(match &rule {
            CommandRule::Above { .. } => "cmd-above",
            CommandRule::Below { .. } => "cmd-below",
            CommandRule::Metric { .. } => "cmd-metric",
        }),
        tags: "disk".into(),
        select: LineSelect::Equals(GroupEquals {
            group: 2,
            text: "/".into(),
        }),
        rule,
        active: None,
        state: conf::StateKeys::DEFAULT,
        origin: origin(),
    };
    CommandWatch {
        command: CommandLine {
            text: command.join(" "),
            argv: argv(command),
        },
        extract: Regex::new(r"(\d+)%\s+(\S+)$").unwrap(),
        alerts: vec![
            alert(CommandRule::Above {
                group: 1,
                limit: 90.0,
                message: "root almost full".into(),
            }),
            alert(CommandRule::Below {
                group: 1,
                limit: 5.0,
                message: "root almost empty".into(),
            }),
            alert(CommandRule::Metric { group: 1 }),
        ],
        origin: origin(),
    }
}

const DF: &str = "Filesystem     1024-blocks      Used Available Capacity Mounted on
/dev/vda1         16381948  15211240    333136      93% /
tmpfs               504636         0    504636       0% /dev/shm
/dev/vdb1         10000000    100000   9900000       1% /data
";

#[test]
fn time_out_kills_the_command_and_its_children() {
    let marker = format!("sleep 1000{}", std::process::id() % 7);
    let script = format!("{marker} & {marker}");
    let started = Instant::now();
    let r = rt().block_on(run_command(
        &argv(&["sh", "-c", &script]),
        "sleepers",
        Duration::from_millis(300),
        1 << 20,
    ));
    assert!(matches!(r, Err(CommandFailure::TimedOut { .. })), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Neither sleep survives (bounded wait for the kernel to reap them).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = std::process::Command::new("pgrep")
            .args(["-f", &marker])
            .output();
        let alive = match out {
            Ok(o) => !o.stdout.is_empty(),
            Err(_) => false, // no pgrep: cannot check further
        };
        if !alive {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "children of the timed-out command survive"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn output_beyond_the_cap_is_ignored_and_the_command_still_finishes() {
    let r = rt()
        .block_on(run_command(
            &argv(&["sh", "-c", "yes line | head -n 100000"]),
            "yes",
            Duration::from_secs(15),
            1000,
        ))
        .unwrap();
    assert!(r.len() <= 200 && r.len() >= 100);
}

#[test]
fn failures_are_reported_once_and_cleared_when_it_works_again() {
    let rt = rt();
    let mut checks = Checks::new();
    let watch = df_watch(&["sh", "-c", "exit 3"]);
    let t0 = Instant::now();
    let at = |secs: u64| Now {
        mono: t0 + Duration::from_secs(secs),
        wall_ms: secs as i64 * 1000,
        local: L,
    };
    let mut problems = ProblemBoard::new();
    let _ = checks.apply(
        &conf::HostConfig {
            commands: vec![watch],
            ..Default::default()
        },
        at(0),
        &mut problems,
    );
    let mut reports = Vec::new();
    for i in 0..3u64 {
        let r = rt.block_on(run_command(
            &argv(&["sh", "-c", "exit 3"]),
            "sh -c exit 3",
            Duration::from_secs(10),
            1 << 20,
        ));
        assert!(matches!(r, Err(CommandFailure::Exit { .. })));
        let jobs = checks.due_jobs(t0 + Duration::from_secs(3600 * i));
        assert_eq!(jobs.len(), 1);
        let result = JobResult {
            ticket: jobs[0].ticket,
            output: JobOutput::CommandLines(r),
        };
        reports.extend(checks.handle_output(result, at(3600 * i), &mut problems));
    }
    // One opening per `alert_if:` (not per run), with that alert's tags.
    assert_eq!(reports.len(), 2, "{reports:?}");
    for r in &reports {
        assert_eq!(r.transition, Transition::Open);
        assert_eq!(r.tags, "disk");
        assert_eq!(r.message, "could not run \"sh -c exit 3\": exit status: 3");
    }
    let ids: Vec<_> = reports.iter().map(|r| r.check.clone().unwrap()).collect();
    assert_eq!(ids, ["cmd-above", "cmd-below"]);
    let ok = rt.block_on(run_command(
        &argv(&["printf", "%s", DF]),
        "printf",
        Duration::from_secs(10),
        1 << 20,
    ));
    let jobs = checks.due_jobs(t0 + Duration::from_secs(3600 * 5));
    let result = JobResult {
        ticket: jobs[0].ticket,
        output: JobOutput::CommandLines(ok),
    };
    let out = checks.handle_output(result, at(3600 * 5), &mut problems);
    // `/` is at 93 %: above 90 keeps the first open (no second opening);
    // not below 5: the second clears.
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0].check.as_deref(), Some("cmd-below"));
    assert_eq!(
        out[0].transition,
        Transition::Clear {
            open_ms: 5 * 3_600_000
        }
    );
    assert_eq!(out[1].transition, Transition::Point);
    assert_eq!(out[1].value, Some(93.0));
}

#[test]
fn upper_limit_and_metric_from_canned_df_output() {
    let lines = rt()
        .block_on(run_command(
            &argv(&["sh", "-c", &format!("printf '%s' '{DF}'")]),
            "df",
            Duration::from_secs(10),
            1 << 20,
        ))
        .unwrap();
    let check = CommandCheck::new(&df_watch(&["df", "-P"]));
    let out = check.evaluate(&lines, L, 5, &mut ProblemBoard::new());
    let msgs: Vec<_> = out.iter().map(|r| (r.message.as_str(), r.value)).collect();
    assert_eq!(
        msgs,
        vec![("root almost full [93]", Some(93.0)), ("93", Some(93.0))]
    );
    assert_eq!(out[0].transition, Transition::Open);
    assert_eq!(out[0].tags, "disk");
}

#[test]
fn lower_limit_fires_below_the_value() {
    let mut w = df_watch(&["df"]);
    for a in &mut w.alerts[..2] {
        a.select = LineSelect::Equals(GroupEquals {
            group: 2,
            text: "/data".into(),
        });
    }
    let lines: Vec<String> = DF.lines().map(str::to_string).collect();
    let out = CommandCheck::new(&w).evaluate(&lines, L, 0, &mut ProblemBoard::new());
    assert!(out.iter().any(|r| r.message == "root almost empty [1]"));
}

#[test]
fn real_df_of_root_gives_a_metric() {
    let lines = rt()
        .block_on(run_command(
            &argv(&["df", "-P", "/"]),
            "df -P /",
            Duration::from_secs(15),
            1 << 20,
        ))
        .unwrap();
    let mut w = df_watch(&["df", "-P", "/"]);
    w.alerts
        .retain(|a| matches!(a.rule, CommandRule::Metric { .. }));
    let out = CommandCheck::new(&w).evaluate(&lines, L, 0, &mut ProblemBoard::new());
    assert_eq!(out.len(), 1, "{lines:?}");
    let v = out[0].value.unwrap();
    assert!((0.0..=100.0).contains(&v));
}

#[test]
fn a_command_that_cannot_start_says_so() {
    let r = rt().block_on(run_command(
        &argv(&["/nonexistent/436-cmd"]),
        "x",
        Duration::from_secs(5),
        10,
    ));
    assert!(matches!(r, Err(CommandFailure::Start { .. })));
}
