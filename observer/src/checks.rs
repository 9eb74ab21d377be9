//! Periodic checks and their one scheduler. A check says which [`Work`] it
//! needs run, how often ([`Check::interval`]), and turns the [`JobOutput`]
//! into events and problem changes ([`Check::on_output`]); the shell only
//! runs the work ([`crate::jobs`]). [`Checks`] runs every check of one
//! applied configuration on its own interval, one run of a check at a time,
//! and discards results that belong to a replaced configuration (each
//! [`Ticket`] carries the configuration's generation).
//!
//! A new kind of check is a directive in `conf`, one module implementing
//! [`Check`] (with its `from_config`, listed in [`Checks::apply`]), and one
//! [`Work`] / [`JobOutput`] pair run by the job runner.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use conf::{CommandLine, HostConfig};
use regex::Regex;

use std::sync::Arc;

use crate::clock::Now;
use crate::command::CommandFailure;
use crate::probe::{ProbeOutcome, ProbeSpec};
use crate::problems::ProblemBoard;
use crate::raised::Raised;
use crate::sysmetrics::{MetricSpec, Sample};

/// Blocking work a check needs the shell to run.
#[derive(Debug, Clone)]
pub enum Work {
    /// Count processes matching each pattern, from the process table or
    /// from the output lines of `ps_command`.
    CountProcesses {
        patterns: Vec<Regex>,
        ps_command: Option<CommandLine>,
    },
    /// Run a command and return its output lines.
    RunCommand { argv: Vec<String>, text: String },
    /// Read one system metric in-process.
    Metric { spec: MetricSpec },
    /// Run one probe; `Err` when the probe could not be built from its
    /// line (the reason is the probe's failure).
    Probe(Arc<Result<ProbeSpec, String>>),
}

/// What running a [`Work`] produced.
#[derive(Debug, Clone)]
pub enum JobOutput {
    /// One count per pattern.
    ProcessCounts(Result<Vec<u64>, String>),
    CommandLines(Result<Vec<String>, CommandFailure>),
    /// One reading of a metric, or why it could not be read.
    MetricSample(Result<Sample, String>),
    ProbeOutcome(Box<ProbeOutcome>),
}

/// Which check of which configuration a job belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    generation: u64,
    check: usize,
}

impl Ticket {
    /// A ticket of no configuration, for running one check's work outside
    /// the scheduler (`observer --try`).
    pub fn detached() -> Ticket {
        Ticket {
            generation: u64::MAX,
            check: 0,
        }
    }
}

/// Work to run for a check.
#[derive(Debug, Clone)]
#[must_use = "a job must be run"]
pub struct Job {
    pub ticket: Ticket,
    pub work: Work,
}

/// A finished job, handed back to [`Checks::handle_output`].
#[derive(Debug)]
pub struct JobResult {
    pub ticket: Ticket,
    pub output: JobOutput,
}

/// One periodic check; see the module doc.
pub trait Check: Send {
    /// How often it runs (the first run is at once).
    fn interval(&self) -> Duration;
    /// What the shell must run for one check.
    fn work(&self) -> Work;
    /// The problem ids it reports (its checks' ids, and the observer
    /// condition its work can hit); cleared when no configured check has
    /// them any more.
    fn problem_keys(&self) -> Vec<String>;
    /// Events and problem changes for one run's output.
    fn on_output(
        &mut self,
        output: JobOutput,
        now: Now,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised>;
}

struct Slot {
    check: Box<dyn Check>,
    next: Instant,
    running: bool,
}

/// The scheduler of the checks of one applied configuration.
#[derive(Default)]
pub struct Checks {
    slots: Vec<Slot>,
    generation: u64,
}

impl Checks {
    pub fn new() -> Checks {
        Checks::default()
    }

    /// Runs exactly the checks of `config` from `now` (each at once, then
    /// on its interval); problems of checks no longer configured are
    /// cleared.
    pub fn apply(
        &mut self,
        config: &HostConfig,
        now: Now,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        let mut checks: Vec<Box<dyn Check>> = Vec::new();
        checks.extend(crate::process::ProcessesCheck::from_config(config));
        checks.extend(crate::command::CommandCheck::from_config(config));
        checks.extend(crate::metric_check::MetricCheck::from_config(config));
        checks.extend(crate::probe_check::ProbeCheck::from_config(config));
        self.replace(checks, now, problems)
    }

    /// Runs exactly `checks`; see [`Checks::apply`].
    pub fn replace(
        &mut self,
        checks: Vec<Box<dyn Check>>,
        now: Now,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        let old: BTreeSet<String> = self.problem_keys().collect();
        self.generation += 1;
        self.slots = checks
            .into_iter()
            .map(|check| Slot {
                check,
                next: now.mono,
                running: false,
            })
            .collect();
        let kept: BTreeSet<String> = self.problem_keys().collect();
        old.difference(&kept)
            .flat_map(|k| problems.clear_check(k, now.wall_ms))
            .collect()
    }

    pub fn problem_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.slots.iter().flat_map(|s| s.check.problem_keys())
    }

    /// Jobs due at `now`; a check still running is not started again.
    pub fn due_jobs(&mut self, now: Instant) -> Vec<Job> {
        let generation = self.generation;
        let mut jobs = Vec::new();
        for (check, slot) in self.slots.iter_mut().enumerate() {
            if now >= slot.next && !slot.running {
                slot.running = true;
                slot.next = now + slot.check.interval();
                jobs.push(Job {
                    ticket: Ticket { generation, check },
                    work: slot.check.work(),
                });
            }
        }
        jobs
    }

    /// A finished job: events and problem changes, or nothing when it
    /// belongs to a replaced configuration.
    pub fn handle_output(
        &mut self,
        result: JobResult,
        now: Now,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        if result.ticket.generation != self.generation {
            return Vec::new();
        }
        let Some(slot) = self.slots.get_mut(result.ticket.check) else {
            return Vec::new();
        };
        slot.running = false;
        slot.check.on_output(result.output, now, problems)
    }

    /// The next moment a check is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter(|s| !s.running)
            .map(|s| s.next)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::LocalMinute;

    struct Counting {
        every: Duration,
        seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Check for Counting {
        fn interval(&self) -> Duration {
            self.every
        }
        fn work(&self) -> Work {
            Work::RunCommand {
                argv: vec!["true".into()],
                text: "true".into(),
            }
        }
        fn problem_keys(&self) -> Vec<String> {
            vec![format!("test:{}", self.every.as_secs())]
        }
        fn on_output(&mut self, _: JobOutput, _: Now, _: &mut ProblemBoard) -> Vec<Raised> {
            self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            vec![Raised::system(0, "ran".into())]
        }
    }

    fn now(t0: Instant, secs: u64) -> Now {
        Now {
            mono: t0 + Duration::from_secs(secs),
            wall_ms: 0,
            local: LocalMinute {
                weekday: 1,
                hour: 12,
                minute: 0,
            },
        }
    }

    fn ok() -> JobOutput {
        JobOutput::CommandLines(Ok(Vec::new()))
    }

    #[test]
    fn each_check_runs_at_its_own_interval_and_never_twice_at_once() {
        let t0 = Instant::now();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut checks = Checks::new();
        let mut problems = ProblemBoard::new();
        let make = |s| -> Box<dyn Check> {
            Box::new(Counting {
                every: Duration::from_secs(s),
                seen: seen.clone(),
            })
        };
        let _ = checks.replace(vec![make(20), make(60)], now(t0, 0), &mut problems);
        let first = checks.due_jobs(t0);
        assert_eq!(first.len(), 2);
        // Not finished: not started again even when due.
        assert!(checks.due_jobs(t0 + Duration::from_secs(100)).is_empty());
        for j in first {
            let out = checks.handle_output(
                JobResult {
                    ticket: j.ticket,
                    output: ok(),
                },
                now(t0, 1),
                &mut problems,
            );
            assert_eq!(out.len(), 1);
        }
        assert_eq!(checks.next_deadline(), Some(t0 + Duration::from_secs(20)));
        let mut runs = [0, 0];
        for s in 1..=120 {
            for j in checks.due_jobs(t0 + Duration::from_secs(s)) {
                runs[j.ticket.check] += 1;
                let _ = checks.handle_output(
                    JobResult {
                        ticket: j.ticket,
                        output: ok(),
                    },
                    now(t0, s),
                    &mut problems,
                );
            }
        }
        assert_eq!(runs, [6, 2]);
    }

    #[test]
    fn results_of_a_replaced_configuration_are_discarded() {
        let t0 = Instant::now();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut checks = Checks::new();
        let mut problems = ProblemBoard::new();
        let make = || -> Box<dyn Check> {
            Box::new(Counting {
                every: Duration::from_secs(20),
                seen: seen.clone(),
            })
        };
        let _ = checks.replace(vec![make()], now(t0, 0), &mut problems);
        let old = checks.due_jobs(t0);
        let _ = checks.replace(vec![make()], now(t0, 1), &mut problems);
        let out = checks.handle_output(
            JobResult {
                ticket: old[0].ticket,
                output: ok(),
            },
            now(t0, 2),
            &mut problems,
        );
        assert!(out.is_empty());
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 0);
        // The new configuration's check runs at once.
        assert_eq!(checks.due_jobs(t0 + Duration::from_secs(1)).len(), 1);
    }

    #[test]
    fn problems_of_checks_no_longer_configured_are_cleared() {
        let t0 = Instant::now();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut checks = Checks::new();
        let mut problems = ProblemBoard::new();
        let c: Box<dyn Check> = Box::new(Counting {
            every: Duration::from_secs(20),
            seen,
        });
        let _ = checks.replace(vec![c], now(t0, 0), &mut problems);
        assert!(problems.raise("test:20", "broken", 0).is_some());
        let cleared = checks.replace(Vec::new(), now(t0, 1), &mut problems);
        assert_eq!(cleared.len(), 1);
        assert_eq!(cleared[0].message, "broken");
        assert!(matches!(
            cleared[0].transition,
            wire::Transition::Clear { .. }
        ));
    }
}
