//! `process:` + `alert_running:` (SPEC §4): the two-checks rule
//! ([`ProcessCheck`]) and counting matching processes, from the process
//! table ([`ProcessTable`], sysinfo, reused between checks) or from the
//! output lines of `ps_command`.

use std::time::Duration;

use conf::{ActiveWindows, CommandLine, HostConfig, ProcessWatch};
use regex::Regex;
use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

use crate::checks::{Check, JobOutput, Work};
use crate::clock::{LocalMinute, Now};
use crate::problems::ProblemBoard;
use crate::raised::Raised;
use crate::timers::PROCESS_CHECK_INTERVAL;

/// Problem key of the process table (or `ps_command`).
pub const PROCESS_PROBLEM: &str = "process-table";

/// Every `alert_running:` of a configuration as one periodic check: one
/// count of the process table (or one `ps_command` run) serves them all.
pub struct ProcessesCheck {
    watches: Vec<ProcessCheck>,
    ps_command: Option<CommandLine>,
    every: Duration,
}

impl ProcessesCheck {
    /// The check of `config`, if it watches any process.
    pub fn from_config(config: &HostConfig) -> Option<Box<dyn Check>> {
        if config.processes.is_empty() {
            return None;
        }
        Some(Box::new(ProcessesCheck {
            watches: config.processes.iter().map(ProcessCheck::new).collect(),
            ps_command: config.ps_command.clone(),
            every: PROCESS_CHECK_INTERVAL,
        }))
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

    fn problem_key(&self) -> String {
        PROCESS_PROBLEM.to_string()
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
        for (p, n) in self.watches.iter_mut().zip(counts) {
            out.extend(p.observe(n, now.local, now.wall_ms));
        }
        out
    }
}

/// One `alert_running:` watch and its consecutive-check state.
#[derive(Debug, Clone)]
pub struct ProcessCheck {
    pattern: Regex,
    tags: String,
    min: u64,
    max: u64,
    message: String,
    active: Option<ActiveWindows>,
    /// Consecutive checks outside [min, max].
    outside: u32,
    /// An alert was raised and no `cleared` yet.
    alerted: bool,
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
            outside: 0,
            alerted: false,
        }
    }

    pub fn pattern(&self) -> &Regex {
        &self.pattern
    }

    /// The result of one check: `count` matching processes.
    pub fn observe(&mut self, count: u64, local: LocalMinute, time_ms: i64) -> Option<Raised> {
        let active = local.allows(self.active.as_ref());
        if count < self.min || count > self.max {
            self.outside += 1;
            // Second consecutive check, then every second check after it.
            if self.outside >= 2 && self.outside.is_multiple_of(2) && active {
                self.alerted = true;
                return Some(Raised::alert(
                    time_ms,
                    &self.tags,
                    None,
                    format!("{} [{count}]", self.message),
                ));
            }
            None
        } else {
            self.outside = 0;
            if std::mem::take(&mut self.alerted) && active {
                return Some(Raised::alert(
                    time_ms,
                    &self.tags,
                    None,
                    format!("{} cleared [{count}]", self.message),
                ));
            }
            None
        }
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
    fn two_consecutive_checks_outside_raise_then_every_second_check_then_cleared() {
        let mut c = check(1, 4);
        assert!(c.observe(0, L, 0).is_none());
        assert_eq!(c.observe(0, L, 0).unwrap().message, "nginx count [0]");
        assert!(c.observe(0, L, 0).is_none());
        assert_eq!(c.observe(5, L, 0).unwrap().message, "nginx count [5]");
        assert!(c.observe(6, L, 0).is_none());
        let cleared = c.observe(2, L, 0).unwrap();
        assert_eq!(cleared.message, "nginx count cleared [2]");
        assert_eq!(cleared.tags, "web");
        assert!(c.observe(2, L, 0).is_none());
    }

    #[test]
    fn a_single_check_outside_raises_nothing_and_no_cleared() {
        let mut c = check(1, 4);
        assert!(c.observe(0, L, 0).is_none());
        assert!(c.observe(1, L, 0).is_none());
        assert!(c.observe(0, L, 0).is_none());
        assert!(c.observe(1, L, 0).is_none());
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
