//! `run:` with its `alert_if:` / `alert_metric:` lines (SPEC §4).
//!
//! [`run_command`] runs argv without a shell in its own process group, keeps
//! at most [`COMMAND_OUTPUT_CAP`](crate::timers::COMMAND_OUTPUT_CAP) bytes of
//! stdout (the rest is read and discarded so the command never blocks on a
//! full pipe), and kills the whole group when the command finishes, times
//! out, or the run is cancelled (its future dropped, as at shutdown), so a
//! `sh -c "..."` pipeline leaves nothing behind. [`CommandCheck::evaluate`] is the pure
//! part: output lines in, events out.

use std::process::Stdio;
use std::time::Duration;

use conf::{CommandAlert, CommandRule, CommandWatch, HostConfig};
use regex::Regex;
use tokio::io::AsyncReadExt;

use crate::checks::{Check, JobOutput, Work};
use crate::clock::{LocalMinute, Now};
use crate::problems::ProblemBoard;
use crate::raised::{Raised, format_number};
use crate::timers::COMMAND_INTERVAL;

/// Problem keys of commands start with this.
pub const COMMAND_PROBLEM_PREFIX: &str = "command:";

/// Problem key of a command.
pub fn command_problem_key(text: &str) -> String {
    format!("{COMMAND_PROBLEM_PREFIX}{text}")
}

/// Why a command run failed; each is reported once centrally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandFailure {
    #[error("command `{command}` cannot be started: {reason}")]
    Start { command: String, reason: String },
    #[error("command `{command}` exited with {status}")]
    Exit { command: String, status: String },
    #[error("command `{command}` did not finish within {secs} s and was killed")]
    TimedOut { command: String, secs: u64 },
    #[error("command `{command}` output cannot be read: {reason}")]
    Read { command: String, reason: String },
}

/// Runs `argv` (no shell), returning its stdout lines (lossy UTF-8), at most
/// `cap` bytes of them. The process group is killed after `timeout`.
pub async fn run_command(
    argv: &[String],
    text: &str,
    timeout: Duration,
    cap: usize,
) -> Result<Vec<String>, CommandFailure> {
    let Some((program, args)) = argv.split_first() else {
        return Err(CommandFailure::Start {
            command: text.to_string(),
            reason: "empty command".into(),
        });
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| CommandFailure::Start {
        command: text.to_string(),
        reason: e.to_string(),
    })?;
    // Dropped on every way out of this function, including cancellation.
    let _group = GroupKiller(child.id());
    let Some(mut stdout) = child.stdout.take() else {
        return Err(CommandFailure::Read {
            command: text.to_string(),
            reason: "no stdout pipe".into(),
        });
    };
    let work = async {
        let mut kept = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = stdout.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            let room = cap.saturating_sub(kept.len());
            kept.extend_from_slice(&chunk[..n.min(room)]);
        }
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((kept, status))
    };
    let result = tokio::time::timeout(timeout, work).await;
    match result {
        Err(_) => Err(CommandFailure::TimedOut {
            command: text.to_string(),
            secs: timeout.as_secs(),
        }),
        Ok(Err(e)) => Err(CommandFailure::Read {
            command: text.to_string(),
            reason: e.to_string(),
        }),
        Ok(Ok((out, status))) => {
            // Background children of a finished command die with it (when
            // `_group` is dropped on return).
            if !status.success() {
                return Err(CommandFailure::Exit {
                    command: text.to_string(),
                    status: status.to_string(),
                });
            }
            Ok(String::from_utf8_lossy(&out)
                .lines()
                .map(str::to_string)
                .collect())
        }
    }
}

/// Kills the command's process group when dropped.
struct GroupKiller(Option<u32>);

impl Drop for GroupKiller {
    fn drop(&mut self) {
        kill_group(self.0);
    }
}

fn kill_group(pgid: Option<u32>) {
    let Some(pgid) = pgid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid signals a process group we
    // created with process_group(0); no memory is involved.
    let rc = unsafe { libc::kill(-pgid, libc::SIGKILL) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ESRCH) {
            tracing::warn!("cannot kill process group {pgid}: {err}");
        }
    }
}

/// One `run:` and its alerts.
#[derive(Debug, Clone)]
pub struct CommandCheck {
    pub argv: Vec<String>,
    pub text: String,
    extract: Regex,
    alerts: Vec<CommandAlert>,
    every: Duration,
}

/// The number in `text` (`93`, `93%`, ` 1.5 `).
fn parse_number(text: &str) -> Option<f64> {
    text.trim().trim_end_matches('%').trim().parse().ok()
}

impl CommandCheck {
    pub fn new(watch: &CommandWatch) -> CommandCheck {
        CommandCheck {
            argv: watch.command.argv.clone(),
            text: watch.command.text.clone(),
            extract: watch.extract.clone(),
            alerts: watch.alerts.clone(),
            every: COMMAND_INTERVAL,
        }
    }

    /// One check per `run:` of `config`.
    pub fn from_config(config: &HostConfig) -> Vec<Box<dyn Check>> {
        config
            .commands
            .iter()
            .map(|c| Box::new(CommandCheck::new(c)) as Box<dyn Check>)
            .collect()
    }

    /// Events for one run's output lines.
    pub fn evaluate(&self, lines: &[String], local: LocalMinute, time_ms: i64) -> Vec<Raised> {
        let mut out = Vec::new();
        for line in lines {
            let Some(caps) = self.extract.captures(line) else {
                continue;
            };
            for a in &self.alerts {
                if caps.get(a.select.group).map(|m| m.as_str()) != Some(a.select.text.as_str()) {
                    continue;
                }
                if !local.allows(a.active.as_ref()) {
                    continue;
                }
                let group = match &a.rule {
                    CommandRule::Above { group, .. }
                    | CommandRule::Below { group, .. }
                    | CommandRule::Metric { group } => *group,
                };
                let Some(value) = caps.get(group).and_then(|m| parse_number(m.as_str())) else {
                    continue;
                };
                match &a.rule {
                    CommandRule::Above { limit, message, .. } if value > *limit => {
                        out.push(Raised::alert(
                            time_ms,
                            &a.tags,
                            None,
                            format!("{message} [{}]", format_number(value)),
                        ));
                    }
                    CommandRule::Below { limit, message, .. } if value < *limit => {
                        out.push(Raised::alert(
                            time_ms,
                            &a.tags,
                            None,
                            format!("{message} [{}]", format_number(value)),
                        ));
                    }
                    CommandRule::Metric { .. } => {
                        out.push(Raised::metric(time_ms, &a.tags, None, value))
                    }
                    _ => {}
                }
            }
        }
        out
    }
}

impl Check for CommandCheck {
    fn interval(&self) -> Duration {
        self.every
    }

    fn work(&self) -> Work {
        Work::RunCommand {
            argv: self.argv.clone(),
            text: self.text.clone(),
        }
    }

    fn problem_key(&self) -> String {
        command_problem_key(&self.text)
    }

    fn on_output(
        &mut self,
        output: JobOutput,
        now: Now,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        let key = self.problem_key();
        match output {
            JobOutput::CommandLines(Ok(lines)) => {
                let mut out: Vec<Raised> = problems.clear(&key, now.wall_ms).into_iter().collect();
                out.extend(self.evaluate(&lines, now.local, now.wall_ms));
                out
            }
            JobOutput::CommandLines(Err(e)) => problems
                .raise(&key, &e.to_string(), now.wall_ms)
                .into_iter()
                .collect(),
            other => {
                tracing::error!("command check given {other:?}");
                Vec::new()
            }
        }
    }
}
