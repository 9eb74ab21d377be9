//! The monitors of one applied configuration: log files, process checks and
//! commands, with their schedules. Blocking work (the process table,
//! `ps_command`, commands) is handed to the shell as [`Job`]s and comes back
//! through [`Monitors::on_process_counts`] / [`Monitors::on_command_output`];
//! results of an older configuration (its `generation`) are ignored.

use std::time::Instant;

use conf::{CommandLine, HostConfig};
use regex::Regex;

use crate::clock::LocalMinute;
use crate::command::{CommandCheck, CommandFailure};
use crate::logs::LogFiles;
use crate::problems::ProblemBoard;
use crate::process::ProcessCheck;
use crate::raised::Raised;
use crate::timers::{COMMAND_INTERVAL, PROCESS_CHECK_INTERVAL};

/// Problem key of the process table (or `ps_command`).
pub const PROCESS_PROBLEM: &str = "process-table";

/// Problem keys of commands start with this.
pub const COMMAND_PROBLEM_PREFIX: &str = "command:";

/// Problem key of a command.
pub fn command_problem_key(text: &str) -> String {
    format!("{COMMAND_PROBLEM_PREFIX}{text}")
}

/// Blocking work the shell must run.
#[derive(Debug, Clone)]
#[must_use = "a job must be run"]
pub enum Job {
    /// Count processes matching each pattern, from the table or from the
    /// output of `ps_command`.
    CountProcesses {
        generation: u64,
        patterns: Vec<Regex>,
        ps_command: Option<CommandLine>,
    },
    RunCommand {
        generation: u64,
        index: usize,
        argv: Vec<String>,
        text: String,
    },
}

struct CommandSlot {
    check: CommandCheck,
    next: Instant,
    running: bool,
}

/// See the module doc.
#[derive(Default)]
pub struct Monitors {
    pub logs: LogFiles,
    processes: Vec<ProcessCheck>,
    ps_command: Option<CommandLine>,
    next_process_check: Option<Instant>,
    process_running: bool,
    commands: Vec<CommandSlot>,
    generation: u64,
}

impl Monitors {
    pub fn new() -> Monitors {
        Monitors::default()
    }

    /// Runs exactly the monitors of `config` from `now`; followed files keep
    /// their read positions. Checks and commands run at once, then on their
    /// schedule.
    pub fn apply(&mut self, config: &HostConfig, now: Instant) {
        self.generation += 1;
        self.logs.apply(&config.logs, now);
        self.processes = config.processes.iter().map(ProcessCheck::new).collect();
        self.ps_command = config.ps_command.clone();
        self.next_process_check = (!self.processes.is_empty()).then_some(now);
        self.process_running = false;
        self.commands = config
            .commands
            .iter()
            .map(|c| CommandSlot {
                check: CommandCheck::new(c),
                next: now,
                running: false,
            })
            .collect();
    }

    /// Runs nothing.
    pub fn clear(&mut self, now: Instant) {
        self.apply(&HostConfig::default(), now);
    }

    pub fn command_texts(&self) -> impl Iterator<Item = &str> {
        self.commands.iter().map(|c| c.check.text.as_str())
    }

    /// Work that is due at `now`.
    pub fn due_jobs(&mut self, now: Instant) -> Vec<Job> {
        let mut jobs = Vec::new();
        if let Some(at) = self.next_process_check
            && now >= at
            && !self.process_running
        {
            self.process_running = true;
            self.next_process_check = Some(now + PROCESS_CHECK_INTERVAL);
            jobs.push(Job::CountProcesses {
                generation: self.generation,
                patterns: self.processes.iter().map(|p| p.pattern().clone()).collect(),
                ps_command: self.ps_command.clone(),
            });
        }
        for (index, c) in self.commands.iter_mut().enumerate() {
            if now >= c.next && !c.running {
                c.running = true;
                c.next = now + COMMAND_INTERVAL;
                jobs.push(Job::RunCommand {
                    generation: self.generation,
                    index,
                    argv: c.check.argv.clone(),
                    text: c.check.text.clone(),
                });
            }
        }
        jobs
    }

    /// The counts of a [`Job::CountProcesses`], one per pattern (from the
    /// process table or from `ps_command`'s output lines).
    pub fn on_process_counts(
        &mut self,
        generation: u64,
        result: Result<Vec<u64>, String>,
        local: LocalMinute,
        time_ms: i64,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        if generation != self.generation {
            return Vec::new();
        }
        self.process_running = false;
        let counts = match result {
            Ok(counts) => counts,
            Err(e) => {
                return problems
                    .raise(PROCESS_PROBLEM, &e, time_ms)
                    .into_iter()
                    .collect();
            }
        };
        let mut out: Vec<Raised> = problems
            .clear(PROCESS_PROBLEM, time_ms)
            .into_iter()
            .collect();
        for (p, n) in self.processes.iter_mut().zip(counts) {
            out.extend(p.observe(n, local, time_ms));
        }
        out
    }

    /// The output of a [`Job::RunCommand`].
    pub fn on_command_output(
        &mut self,
        generation: u64,
        index: usize,
        result: Result<Vec<String>, CommandFailure>,
        local: LocalMinute,
        time_ms: i64,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        if generation != self.generation {
            return Vec::new();
        }
        let Some(c) = self.commands.get_mut(index) else {
            return Vec::new();
        };
        c.running = false;
        let key = command_problem_key(&c.check.text);
        match result {
            Ok(lines) => {
                let mut out: Vec<Raised> = problems.clear(&key, time_ms).into_iter().collect();
                out.extend(c.check.evaluate(&lines, local, time_ms));
                out
            }
            Err(e) => problems
                .raise(&key, &e.to_string(), time_ms)
                .into_iter()
                .collect(),
        }
    }

    /// The next scheduled check, command or block end.
    pub fn next_deadline(&self) -> Option<Instant> {
        let checks = self.next_process_check.filter(|_| !self.process_running);
        let commands = self
            .commands
            .iter()
            .filter(|c| !c.running)
            .map(|c| c.next)
            .min();
        [checks, commands, self.logs.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }
}
