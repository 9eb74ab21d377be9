//! Running the blocking work of checks (the shell's part of a check): the
//! process table on a blocking thread, `ps_command` and `run:` commands as
//! child processes in their own process groups. Every job started is held
//! in one [`JoinSet`], so [`JobRunner::shutdown`] can cancel and wait for
//! all of them: a cancelled command's future is dropped, which kills its
//! whole process group (see [`run_command`]), so no child outlives the
//! observer.

use std::sync::{Arc, Mutex};

use tokio::task::JoinSet;

use crate::checks::{Job, JobOutput, JobResult};
use crate::command::run_command;
use crate::process::{ProcessTable, count_lines};
use crate::timers::{COMMAND_OUTPUT_CAP, COMMAND_TIMEOUT};

/// The jobs running now; see the module doc.
#[derive(Default)]
pub struct JobRunner {
    running: JoinSet<JobResult>,
    /// Kept between runs: refreshing a table is cheaper than building one.
    table: Arc<Mutex<Option<ProcessTable>>>,
}

impl JobRunner {
    pub fn new() -> JobRunner {
        JobRunner::default()
    }

    /// Starts `job`; its result comes out of [`JobRunner::next_result`].
    pub fn start(&mut self, job: Job) {
        let Job { ticket, work } = job;
        match work {
            crate::checks::Work::CountProcesses {
                patterns,
                ps_command: Some(cmd),
            } => {
                self.running.spawn(async move {
                    let output =
                        run_command(&cmd.argv, &cmd.text, COMMAND_TIMEOUT, COMMAND_OUTPUT_CAP)
                            .await
                            .map(|lines| count_lines(&patterns, &lines))
                            .map_err(|e| e.to_string());
                    JobResult {
                        ticket,
                        output: JobOutput::ProcessCounts(output),
                    }
                });
            }
            crate::checks::Work::CountProcesses {
                patterns,
                ps_command: None,
            } => {
                let table = self.table.clone();
                self.running.spawn_blocking(move || {
                    let mut guard = table.lock().unwrap_or_else(|e| e.into_inner());
                    let output = match &mut *guard {
                        Some(t) => t.count(&patterns),
                        slot => ProcessTable::new().and_then(|mut t| {
                            let r = t.count(&patterns);
                            *slot = Some(t);
                            r
                        }),
                    };
                    JobResult {
                        ticket,
                        output: JobOutput::ProcessCounts(output.map_err(|e| e.to_string())),
                    }
                });
            }
            crate::checks::Work::RunCommand { argv, text } => {
                self.running.spawn(async move {
                    let output =
                        run_command(&argv, &text, COMMAND_TIMEOUT, COMMAND_OUTPUT_CAP).await;
                    JobResult {
                        ticket,
                        output: JobOutput::CommandLines(output),
                    }
                });
            }
        }
    }

    /// The next finished job; pending forever while none runs (for
    /// `select!`).
    pub async fn next_result(&mut self) -> JobResult {
        loop {
            match self.running.join_next().await {
                Some(Ok(r)) => return r,
                Some(Err(e)) => tracing::error!("a check's job failed: {e}"),
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// Cancels every job and waits until each is gone: commands (and their
    /// process groups) are killed, a process-table count is waited for.
    pub async fn shutdown(&mut self) {
        let n = self.running.len();
        if n > 0 {
            tracing::info!("stopping {n} running checks");
        }
        self.running.shutdown().await;
    }
}
