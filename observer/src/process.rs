//! `process:` + `alert_running:` (SPEC §4): the two-checks rule
//! ([`ProcessCheck`]) and counting matching processes, from the process
//! table ([`ProcessTable`], sysinfo, reused between checks) or from the
//! output lines of `ps_command`.

use std::time::Duration;

use conf::{ActiveWindows, CommandLine, HostConfig, ProcessWatch, StateKeys};
use regex::Regex;
use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

use crate::checks::{Check, JobOutput, Work};
use crate::clock::{LocalMinute, Now};
use crate::problems::{CheckRef, PROCESS_PROBLEM, ProblemBoard};
use crate::raised::Raised;
use crate::timers::PROCESS_CHECK_INTERVAL;

/// The `alert_running:` checks of a configuration that run on one interval
/// (`every=`, default 20 s) as one periodic check: one count of the process
/// table (or one `ps_command` run) serves them all.
pub struct ProcessesCheck {
    watches: Vec<ProcessCheck>,
    ps_command: Option<CommandLine>,
    every: Duration,
}

impl ProcessesCheck {
    /// The checks of `config`: one per distinct interval.
    pub fn from_config(config: &HostConfig) -> Vec<Box<dyn Check>> {
        let mut by_interval: Vec<ProcessesCheck> = Vec::new();
        for w in &config.processes {
            let every = w.state.every.unwrap_or(PROCESS_CHECK_INTERVAL);
            match by_interval.iter_mut().find(|c| c.every == every) {
                Some(c) => c.watches.push(ProcessCheck::new(w)),
                None => by_interval.push(ProcessesCheck {
                    watches: vec![ProcessCheck::new(w)],
                    ps_command: config.ps_command.clone(),
                    every,
                }),
            }
        }
        by_interval
            .into_iter()
            .map(|c| Box::new(c) as Box<dyn Check>)
            .collect()
    }
}

impl Check for ProcessesCheck {
    fn interval(&self) -> Duration {
        self.every
    }

    fn work(&self) -> Work {
        Work::CountProcesses {
            patterns: self.watches.iter().map(|p| p.pattern.clone()).collect(),
            ps_command: self.ps_command.clone(),
        }
    }

    fn problem_keys(&self) -> Vec<String> {
        let mut keys = vec![PROCESS_PROBLEM.to_string()];
        keys.extend(self.watches.iter().map(|w| w.check.clone()));
        keys
    }

    fn on_output(
        &mut self,
        output: JobOutput,
        now: Now,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        let counts = match output {
            JobOutput::ProcessCounts(Ok(counts)) => counts,
            JobOutput::ProcessCounts(Err(e)) => {
                return problems
                    .raise(PROCESS_PROBLEM, &e, now.wall_ms)
                    .into_iter()
                    .collect();
            }
            other => {
                tracing::error!("process check given {other:?}");
                return Vec::new();
            }
        };
        let mut out: Vec<Raised> = problems
            .clear(PROCESS_PROBLEM, now.wall_ms)
            .into_iter()
            .collect();
        for (p, n) in self.watches.iter().zip(counts) {
            out.extend(p.observe(n, now.local, now.wall_ms, problems));
        }
        out
    }
}

/// One `alert_running:` check; its counters live on the [`ProblemBoard`].
#[derive(Debug, Clone)]
pub struct ProcessCheck {
    pattern: Regex,
    tags: String,
    min: u64,
    max: u64,
    message: String,
    active: Option<ActiveWindows>,
    check: String,
    keys: StateKeys,
}

impl ProcessCheck {
    pub fn new(watch: &ProcessWatch) -> ProcessCheck {
        ProcessCheck {
            pattern: watch.pattern.clone(),
            tags: watch.tags.clone(),
            min: watch.min,
            max: watch.max,
            message: watch.message.clone(),
            active: watch.active.clone(),
            check: watch.check.to_string(),
            keys: watch.state,
        }
    }

    pub fn pattern(&self) -> &Regex {
        &self.pattern
    }

    /// The result of one check: `count` matching processes. Bad when the
    /// count is outside `[min, max]`; the opening and the clearing both say
    /// `TEXT [COUNT]`.
    pub fn observe(
        &self,
        count: u64,
        local: LocalMinute,
        time_ms: i64,
        problems: &mut ProblemBoard,
    ) -> Option<Raised> {
        let check = CheckRef {
            id: &self.check,
            tags: &self.tags,
            source: None,
            keys: self.keys,
            active: local.allows(self.active.as_ref()),
        };
        let bad = count < self.min || count > self.max;
        problems.result(
            check,
            bad,
            format!("{} [{count}]", self.message),
            Some(count as f64),
            time_ms,
        )
    }
}

/// Counts of lines in `lines` matching each pattern (for `ps_command`).
pub fn count_lines(patterns: &[Regex], lines: &[String]) -> Vec<u64> {
    patterns
        .iter()
        .map(|p| lines.iter().filter(|l| p.is_match(l)).count() as u64)
        .collect()
}

/// The process table, kept between checks so only command lines of new
/// processes are read.
pub struct ProcessTable {
    system: System,
    me: Option<sysinfo::Pid>,
}

/// The process table could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the process table cannot be read: {0}")]
pub struct ProcessTableError(String);

impl ProcessTable {
    pub fn new() -> Result<ProcessTable, ProcessTableError> {
        let system = System::new().map_err(|e| ProcessTableError(e.to_string()))?;
        Ok(ProcessTable {
            system,
            me: sysinfo::get_current_pid().ok(),
        })
    }

    /// Counts, for each pattern, the processes whose full command line
    /// (arguments joined by spaces) matches. Threads and kernel threads are
    /// not processes here; the observer does not count itself. Blocking:
    /// run it off the async loop.
    pub fn count(&mut self, patterns: &[Regex]) -> Result<Vec<u64>, ProcessTableError> {
        // `nothing()` still includes tasks: without `without_tasks` every
        // thread would count as a process. Command lines are re-read every
        // check (`Always`, a few ms every 20 s): with `OnlyIfNotSet` a
        // process seen between fork and exec keeps its parent's command
        // line forever.
        let kind = ProcessRefreshKind::nothing()
            .with_cmd(UpdateKind::Always)
            .without_tasks();
        self.system
            .refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
        if self.system.processes().is_empty() {
            return Err(ProcessTableError("no process is visible".into()));
        }
        let mut counts = vec![0u64; patterns.len()];
        for (pid, p) in self.system.processes() {
            if Some(*pid) == self.me
                || p.cmd().is_empty()
                || p.thread_kind()
                    .is_some_and(|k| k == sysinfo::ThreadKind::Userland)
            {
                continue;
            }
            let cmdline = p
                .cmd()
                .iter()
                .map(|s| s.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ");
            for (c, pat) in counts.iter_mut().zip(patterns) {
                if pat.is_match(&cmdline) {
                    *c += 1;
                }
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conf::Origin;

    fn check(min: u64, max: u64) -> ProcessCheck {
        ProcessCheck::new(&ProcessWatch {
            pattern: Regex::new("nginx").unwrap(),
            tags: "web".into(),
            min,
            max,
            message: "nginx count".into(),
            active: None,
            check: conf::CheckId::named("proc-test"),
            state: conf::StateKeys::PROCESS_DEFAULT,
            origin: Origin {
                file: "hosts/h".into(),
                line: 1,
                included_from: vec![],
            },
        })
    }

    const L: LocalMinute = LocalMinute {
        weekday: 3,
        hour: 12,
        minute: 0,
    };

    #[test]
    fn two_consecutive_checks_outside_open_once_then_one_clearing() {
        let c = check(1, 4);
        let mut b = ProblemBoard::new();
        assert!(c.observe(0, L, 0, &mut b).is_none());
        let open = c.observe(0, L, 20_000, &mut b).unwrap();
        assert_eq!(open.message, "nginx count [0]");
        assert_eq!(open.transition, wire::Transition::Open);
        assert_eq!(open.check.as_deref(), Some("proc-test"));
        // Still outside: nothing more, however long.
        for i in 2..100 {
            assert!(c.observe(5, L, i * 20_000, &mut b).is_none());
        }
        let cleared = c.observe(2, L, 100 * 20_000, &mut b).unwrap();
        assert_eq!(cleared.message, "nginx count [2]");
        assert_eq!(cleared.tags, "web");
        assert_eq!(
            cleared.transition,
            wire::Transition::Clear {
                open_ms: 99 * 20_000
            }
        );
        assert!(c.observe(2, L, 0, &mut b).is_none());
    }

    #[test]
    fn a_single_check_outside_opens_nothing_and_no_clearing() {
        let c = check(1, 4);
        let mut b = ProblemBoard::new();
        assert!(c.observe(0, L, 0, &mut b).is_none());
        assert!(c.observe(1, L, 0, &mut b).is_none());
        assert!(c.observe(0, L, 0, &mut b).is_none());
        assert!(c.observe(1, L, 0, &mut b).is_none());
    }

    #[test]
    fn process_table_counts_a_marked_process_once() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30; exit 0 # proc-table-marker-436"])
            .spawn()
            .unwrap();
        // Let sh fork and exec sleep first.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut table = ProcessTable::new().unwrap();
        let pats = [Regex::new("proc-table-marker-436").unwrap()];
        let counts = table.count(&pats).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(counts, vec![1]);
    }
}
