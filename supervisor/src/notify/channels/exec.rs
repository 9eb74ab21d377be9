//! `exec COMMAND`: runs the command (no shell) with the notification in
//! `NOTIFY_*` environment variables and as JSON on its stdin. Exit status 0
//! is delivered; anything else is retried. A command that outlives the
//! channel's `timeout:` is killed with its whole process group.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use conf::CommandLine;

use super::Sender;
use super::webhook::default_json;
use crate::notify::payload::{Escape, Notification};
use crate::notify::queue::Delivery;

/// How often a running command is checked for exit.
const EXIT_POLL: Duration = Duration::from_millis(20);
/// Most of its stderr kept for the error message.
const MAX_STDERR: u64 = 2048;

pub struct ExecSender {
    command: CommandLine,
    timeout: Duration,
}

impl ExecSender {
    pub fn new(command: CommandLine, timeout: Duration) -> Self {
        ExecSender { command, timeout }
    }
}

/// The environment a command gets: `NOTIFY_` and the placeholder's name in
/// capitals, for every placeholder.
pub fn environment(n: &Notification) -> Vec<(String, String)> {
    crate::notify::payload::PLACEHOLDERS
        .iter()
        .filter_map(|name| {
            n.placeholder(name)
                .map(|v| (format!("NOTIFY_{}", name.to_ascii_uppercase()), v))
        })
        .collect()
}

impl Sender for ExecSender {
    fn send(&mut self, n: &Notification) -> Delivery {
        // Placeholders in arguments are plain values: there is no shell to
        // inject into.
        let argv: Vec<String> = self
            .command
            .argv
            .iter()
            .map(|a| n.render(a, Escape::None))
            .collect();
        let Some((program, args)) = argv.split_first() else {
            return Delivery::Rejected("empty command".into());
        };
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(environment(n))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = match command.spawn() {
            Ok(c) => c,
            Err(e) => return Delivery::Retry(format!("cannot run {program}: {e}")),
        };
        let json = default_json(n).to_string();
        // Written from a thread: a command that never reads its stdin must
        // not block the time-out.
        let stdin = child.stdin.take();
        let writer = std::thread::spawn(move || {
            if let Some(mut stdin) = stdin {
                // A command that exits without reading closes the pipe;
                // that is its choice, not a failure.
                let _ = stdin.write_all(json.as_bytes());
            }
        });
        let outcome = wait(&mut child, self.timeout);
        let _ = writer.join();
        outcome
    }
}

fn wait(child: &mut Child, timeout: Duration) -> Delivery {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Delivery::Delivered,
            Ok(Some(status)) => {
                let mut stderr = String::new();
                if let Some(err) = child.stderr.take() {
                    let _ = err.take(MAX_STDERR).read_to_string(&mut stderr);
                }
                let stderr = stderr.lines().next().unwrap_or_default().to_string();
                return Delivery::Retry(format!("exited with {status}: {stderr}"));
            }
            Ok(None) if Instant::now() >= deadline => {
                kill_group(child);
                return Delivery::Retry(format!(
                    "still running after {} s; killed",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(EXIT_POLL),
            Err(e) => {
                kill_group(child);
                return Delivery::Retry(format!("cannot wait for the command: {e}"));
            }
        }
    }
}

/// Kills the command's process group (it leads it: `process_group(0)`),
/// then reaps it.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals that process group;
        // no memory is involved.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.wait();
}
