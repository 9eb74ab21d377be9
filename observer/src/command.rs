//! `run:` with its `alert_if:` / `alert_metric:` lines (SPEC §4).
//!
//! [`run_command`] runs argv without a shell in its own process group, keeps
//! at most [`COMMAND_OUTPUT_CAP`](crate::timers::COMMAND_OUTPUT_CAP) bytes of
//! stdout (the rest is read and discarded so the command never blocks on a
//! full pipe), and kills the whole group when the command finishes, times
//! out, or the run is cancelled (its future dropped, as at shutdown), so a
//! `sh -c "..."` pipeline leaves nothing behind. [`CommandCheck::evaluate`] is the pure
//! part: output lines in, results (and point events) out. An `alert_if:` is
//! a stateful check whose problem lives on the [`ProblemBoard`]; a run that
//! fails is a bad result of each of them, with their tags.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use conf::{CheckId, CommandAlert, CommandRule, CommandWatch, HostConfig, LineSelect, StateKeys};
use regex::Regex;
use tokio::io::AsyncReadExt;

use crate::checks::{Check, JobOutput, Work};
use crate::clock::{LocalMinute, Now};
use crate::problems::{CheckRef, ProblemBoard};
use crate::raised::{Raised, format_number};
use crate::timers::COMMAND_INTERVAL;

// A line's problem id is cut to what the wire carries.
const _: () = assert!(CheckId::MAX_LEN == wire::limits::MAX_CHECK_ID);

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

impl CommandFailure {
    /// What went wrong, without the command (`exit status: 1`).
    pub fn reason(&self) -> String {
        match self {
            CommandFailure::Start { reason, .. } => format!("cannot be started: {reason}"),
            CommandFailure::Exit { status, .. } => status.clone(),
            CommandFailure::TimedOut { secs, .. } => {
                format!("did not finish within {secs} s and was killed")
            }
            CommandFailure::Read { reason, .. } => format!("output cannot be read: {reason}"),
        }
    }
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
        // The smallest `every=` of its alerts sets the run's interval.
        let every = watch
            .alerts
            .iter()
            .filter_map(|a| a.state.every)
            .min()
            .unwrap_or(COMMAND_INTERVAL);
        CommandCheck {
            argv: watch.command.argv.clone(),
            text: watch.command.text.clone(),
            extract: watch.extract.clone(),
            alerts: watch.alerts.clone(),
            every,
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

    /// Events for one run's output lines: an `alert_if:` with `match=`
    /// judges the first line it selects, one with `key=` every line (each
    /// its own problem, and a key gone from the output is a good result);
    /// each `alert_metric:` raises a point event per line it selects.
    pub fn evaluate(
        &self,
        lines: &[String],
        local: LocalMinute,
        time_ms: i64,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        let mut out = Vec::new();
        // Per alert: the problem ids judged by this run.
        let mut judged: Vec<BTreeSet<CheckId>> = vec![BTreeSet::new(); self.alerts.len()];
        for line in lines {
            let Some(caps) = self.extract.captures(line) else {
                continue;
            };
            for (i, a) in self.alerts.iter().enumerate() {
                // The problem's id, and the line's key for `key=`.
                let (id, name) = match &a.select {
                    LineSelect::Equals(sel) => {
                        if caps.get(sel.group).map(|m| m.as_str()) != Some(sel.text.as_str()) {
                            continue;
                        }
                        (a.check.clone(), None)
                    }
                    LineSelect::Each { key } => match caps.get(*key).map(|m| m.as_str().trim()) {
                        Some(name) if !name.is_empty() => (a.check.for_line(name), Some(name)),
                        _ => continue,
                    },
                };
                let group = match &a.rule {
                    CommandRule::Above { group, .. }
                    | CommandRule::Below { group, .. }
                    | CommandRule::Metric { group } => *group,
                };
                let Some(value) = caps.get(group).and_then(|m| parse_number(m.as_str())) else {
                    continue;
                };
                let (bad, message) = match &a.rule {
                    CommandRule::Above { limit, message, .. } => (value > *limit, message),
                    CommandRule::Below { limit, message, .. } => (value < *limit, message),
                    CommandRule::Metric { .. } => {
                        if local.allows(a.active.as_ref()) {
                            out.push(
                                Raised::metric(time_ms, &a.tags, None, value)
                                    .in_check(a.check.as_str(), wire::Transition::Point),
                            );
                        }
                        continue;
                    }
                };
                if !judged[i].insert(id.clone()) {
                    continue;
                }
                let text = match name {
                    None => format!("{message} [{}]", format_number(value)),
                    Some(name) => format!("{message}: {name} [{}]", format_number(value)),
                };
                let check = CheckRef {
                    id: id.as_str(),
                    ..check_ref(a, local)
                };
                out.extend(problems.result(check, bad, text, Some(value), time_ms));
            }
        }
        for (a, judged) in self.alerts.iter().zip(&judged) {
            if !matches!(a.select, LineSelect::Each { .. }) {
                continue;
            }
            // A line gone from the output (a file system unmounted) is
            // judged good, so its problem clears rather than staying open
            // for ever.
            for gone in problems.lines_of(a.check.as_str()) {
                if !judged.iter().any(|id| id.as_str() == gone) {
                    let check = CheckRef {
                        id: &gone,
                        ..check_ref(a, local)
                    };
                    out.extend(problems.result(check, false, String::new(), None, time_ms));
                }
            }
        }
        // A run-failure problem of an alert whose own id is not judged by
        // a successful run (`alert_metric:`, `alert_if:` with `key=`)
        // clears when the command runs again.
        for a in self.failure_checks() {
            if !matches!(a.select, LineSelect::Equals(_))
                || matches!(a.rule, CommandRule::Metric { .. })
            {
                out.extend(problems.result(
                    check_ref(a, local),
                    false,
                    String::new(),
                    None,
                    time_ms,
                ));
            }
        }
        out
    }

    /// A run that failed: a bad result of each `alert_if:` (or, for a run
    /// with only `alert_metric:`, of each of those), with its tags.
    pub fn failed(
        &self,
        failure: &CommandFailure,
        local: LocalMinute,
        time_ms: i64,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        tracing::warn!("{failure}");
        let message = format!("could not run \"{}\": {}", self.text, failure.reason());
        self.failure_checks()
            .filter_map(|a| {
                problems.result(check_ref(a, local), true, message.clone(), None, time_ms)
            })
            .collect()
    }

    /// The alerts a failed run is reported on.
    fn failure_checks(&self) -> impl Iterator<Item = &CommandAlert> {
        let has_if = self
            .alerts
            .iter()
            .any(|a| !matches!(a.rule, CommandRule::Metric { .. }));
        self.alerts
            .iter()
            .filter(move |a| has_if != matches!(a.rule, CommandRule::Metric { .. }))
    }
}

fn check_ref(a: &CommandAlert, local: LocalMinute) -> CheckRef<'_> {
    CheckRef {
        id: a.check.as_str(),
        tags: &a.tags,
        source: None,
        keys: match a.rule {
            CommandRule::Metric { .. } => StateKeys::DEFAULT,
            _ => a.state,
        },
        active: local.allows(a.active.as_ref()),
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

    fn problem_keys(&self) -> Vec<String> {
        self.alerts.iter().map(|a| a.check.to_string()).collect()
    }

    fn on_output(
        &mut self,
        output: JobOutput,
        now: Now,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        match output {
            JobOutput::CommandLines(Ok(lines)) => {
                self.evaluate(&lines, now.local, now.wall_ms, problems)
            }
            JobOutput::CommandLines(Err(e)) => self.failed(&e, now.local, now.wall_ms, problems),
            other => {
                tracing::error!("command check given {other:?}");
                Vec::new()
            }
        }
    }
}
