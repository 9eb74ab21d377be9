//! An `alert_if:` without `match=`: every line of a real command's output
//! is its own problem, named by its `key=` group (every mount point of a
//! `df`-like listing), opening and clearing on its own; a line gone from the
//! output clears; a run that fails opens the check's own problem; a new
//! configuration without the check clears what was open.

use std::path::Path;
use std::time::{Duration, Instant};

use observer::checks::{Checks, JobOutput, JobResult};
use observer::clock::{LocalMinute, Now};
use observer::command::run_command;
use observer::problems::ProblemBoard;
use observer::raised::Raised;
use wire::Transition;

const L: LocalMinute = LocalMinute {
    weekday: 2,
    hour: 12,
    minute: 0,
};

struct Run {
    rt: tokio::runtime::Runtime,
    checks: Checks,
    problems: ProblemBoard,
    t0: Instant,
    minute: u64,
}

impl Run {
    fn at(&self, minute: u64) -> Now {
        Now {
            mono: self.t0 + Duration::from_secs(60 * minute),
            wall_ms: 60_000 * minute as i64,
            local: L,
        }
    }

    /// The next run of the configured command, for real.
    fn next(&mut self, argv: &[String]) -> Vec<Raised> {
        let now = self.at(self.minute);
        self.minute += 1;
        let jobs = self.checks.due_jobs(now.mono);
        assert_eq!(jobs.len(), 1, "one run: due every 60 s");
        let lines = self.rt.block_on(run_command(
            argv,
            "cat listing",
            Duration::from_secs(15),
            1 << 20,
        ));
        let result = JobResult {
            ticket: jobs[0].ticket,
            output: JobOutput::CommandLines(lines),
        };
        self.checks.handle_output(result, now, &mut self.problems)
    }
}

fn shown(out: &[Raised]) -> Vec<(String, String, Transition)> {
    out.iter()
        .map(|r| {
            (
                r.check.clone().unwrap_or_default(),
                r.message.clone(),
                r.transition,
            )
        })
        .collect()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn every_mount_point_is_a_problem_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let listing = dir.path().join("listing");
    let host = format!(
        "run: command=cat {} extract=^(\\S+)\\s+(\\d+)%\\s+(\\S+)$\n\
         alert_if: tags=disk key=3 upper_limit=2,90 for=2 message=File system nearly full\n",
        listing.display()
    );
    let (config, errors) = conf::parse_host(&host);
    assert!(errors.is_empty(), "{errors:?}");
    let check = config.commands[0].alerts[0].check.clone();
    let argv = config.commands[0].command.argv.clone();
    let mut run = Run {
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        checks: Checks::new(),
        problems: ProblemBoard::new(),
        t0: Instant::now(),
        minute: 0,
    };
    let now = run.at(0);
    assert!(run.checks.apply(&config, now, &mut run.problems).is_empty());

    let full = "/dev/vda1 93% /\n/dev/vdb1 95% /data\n/dev/vda2 10% /boot\n";
    write(&listing, full);
    // for=2: the first bad run opens nothing.
    assert!(run.next(&argv).is_empty());
    let root = format!("{check}:/");
    let data = format!("{check}:/data");
    assert_eq!(
        shown(&run.next(&argv)),
        [
            (
                root.clone(),
                "File system nearly full: / [93]".into(),
                Transition::Open
            ),
            (
                data.clone(),
                "File system nearly full: /data [95]".into(),
                Transition::Open
            ),
        ]
    );
    let open: Vec<String> = run
        .problems
        .open_problems()
        .into_iter()
        .map(|p| p.check)
        .collect();
    assert_eq!(open, [root.clone(), data.clone()]);
    // Still full: nothing repeats.
    assert!(run.next(&argv).is_empty());

    // /data unmounted: its line is gone, its problem clears; / stays open.
    write(&listing, "/dev/vda1 93% /\n/dev/vda2 10% /boot\n");
    assert_eq!(
        shown(&run.next(&argv)),
        [(
            data.clone(),
            "File system nearly full: /data [95]".into(),
            Transition::Clear { open_ms: 120_000 }
        )]
    );

    // The command cannot run (twice: `for=2` counts failures too): the
    // check's own problem, with its tags.
    std::fs::remove_file(&listing).unwrap();
    assert!(run.next(&argv).is_empty());
    let failed = run.next(&argv);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].check.as_deref(), Some(check.as_str()));
    assert_eq!(failed[0].transition, Transition::Open);
    assert_eq!(failed[0].tags, "disk");
    assert!(failed[0].message.starts_with("could not run"), "{failed:?}");
    // It runs again: that problem clears; / was never judged good.
    write(&listing, full);
    let back = shown(&run.next(&argv));
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0].0, check.as_str());
    assert!(matches!(back[0].2, Transition::Clear { .. }));

    // A configuration without the check clears every line's problem.
    let now = run.at(run.minute);
    let cleared = run
        .checks
        .apply(&conf::HostConfig::default(), now, &mut run.problems);
    let ids: Vec<String> = cleared.iter().filter_map(|r| r.check.clone()).collect();
    assert_eq!(ids, [root]);
    assert!(run.problems.open_problems().is_empty());
}
