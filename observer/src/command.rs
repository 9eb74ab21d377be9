//! `run:` with its `alert_if:` / `alert_metric:` lines (SPEC §4).
//!
//! [`run_command`] runs argv without a shell in its own process group, keeps
//! at most [`COMMAND_OUTPUT_CAP`](crate::timers::COMMAND_OUTPUT_CAP) bytes of
//! stdout (the rest is read and discarded so the command never blocks on a
//! full pipe), and kills the whole group at the time-out, so a `sh -c "..."`
//! pipeline leaves nothing behind. [`CommandCheck::evaluate`] is the pure
//! part: output lines in, events out.

use std::process::Stdio;
use std::time::Duration;

use conf::{CommandAlert, CommandRule, CommandWatch};
use regex::Regex;
use tokio::io::AsyncReadExt;

use crate::clock::LocalMinute;
use crate::raised::{Raised, format_number};

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
    let pgid = child.id();
    let Some(mut stdout) = child.stdout.take() else {
        kill_group(pgid);
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
        Err(_) => {
            kill_group(pgid);
            Err(CommandFailure::TimedOut {
                command: text.to_string(),
                secs: timeout.as_secs(),
            })
        }
        Ok(Err(e)) => {
            kill_group(pgid);
            Err(CommandFailure::Read {
                command: text.to_string(),
                reason: e.to_string(),
            })
        }
        Ok(Ok((out, status))) => {
            // Background children of a finished command die with it.
            kill_group(pgid);
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
        }
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
