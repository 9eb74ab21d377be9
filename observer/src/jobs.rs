//! Running the blocking work of checks (the shell's part of a check): the
//! process table and system metrics on one blocking thread at a time, probes as tasks
//! on the runtime, `ps_command` and `run:` commands as child processes in
//! their own process groups. Every job started is held
//! in one [`JoinSet`], so [`JobRunner::shutdown`] can cancel and wait for
//! all of them: a cancelled command's future is dropped, which kills its
//! whole process group (see [`run_command`]), so no child outlives the
//! observer.

use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::checks::{Job, JobOutput, JobResult, Ticket, Work};
use crate::command::run_command;
use crate::probe::{ProbeFailure, ProbeOutcome, Prober, ResolverFiles};
use crate::process::{ProcessTable, count_lines};
use crate::sysmetrics::SystemReader;
use crate::timers::{COMMAND_OUTPUT_CAP, COMMAND_TIMEOUT};

/// Blocking threads reading the process table or a system metric at once.
/// One: both readers sit behind a mutex, so more threads would only wait on
/// it, each with its own stack and malloc arena (the observer's memory; with
/// every metric due together, eleven threads were started to wait).
const READING_THREADS: usize = 1;

/// The jobs running now; see the module doc.
pub struct JobRunner {
    running: JoinSet<JobResult>,
    /// Permits for [`READING_THREADS`].
    readings: Arc<Semaphore>,
    /// Kept between runs for its read buffer.
    table: Arc<Mutex<ProcessTable>>,
    /// Kept between readings: sysinfo's objects are built once.
    reader: Arc<Mutex<SystemReader>>,
    /// Built at the first probe (it reads /etc/hosts and resolv.conf).
    prober: Option<Prober>,
}

impl Default for JobRunner {
    fn default() -> JobRunner {
        JobRunner {
            running: JoinSet::new(),
            readings: Arc::new(Semaphore::new(READING_THREADS)),
            table: Arc::default(),
            reader: Arc::default(),
            prober: None,
        }
    }
}

impl JobRunner {
    pub fn new() -> JobRunner {
        JobRunner::default()
    }

    /// Runs `read` on a blocking thread once a reading permit is free.
    fn spawn_reading(&mut self, ticket: Ticket, read: impl FnOnce() -> JobOutput + Send + 'static) {
        let slots = self.readings.clone();
        self.running.spawn(async move {
            // The semaphore is never closed, so this waits and never fails.
            let _permit = slots.acquire_owned().await.ok();
            match tokio::task::spawn_blocking(read).await {
                Ok(output) => JobResult { ticket, output },
                // A panic goes on as this task's, logged by `next_result`.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Cancelled: only when the runtime shuts down.
                Err(_) => std::future::pending().await,
            }
        });
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
                self.spawn_reading(ticket, move || {
                    let mut table = table.lock().unwrap_or_else(|e| e.into_inner());
                    let output = table.count(&patterns);
                    JobOutput::ProcessCounts(output.map_err(|e| e.to_string()))
                });
            }
            Work::Metric { spec } => {
                let reader = self.reader.clone();
                self.spawn_reading(ticket, move || {
                    let mut reader = reader.lock().unwrap_or_else(|e| e.into_inner());
                    JobOutput::MetricSample(reader.sample(&spec).map_err(|e| e.to_string()))
                });
            }
            Work::Probe(spec) => {
                let prober = self
                    .prober
                    .get_or_insert_with(|| Prober::new(ResolverFiles::default()))
                    .clone();
                self.running.spawn(async move {
                    let outcome = match &*spec {
                        Ok(spec) => prober.run(spec).await,
                        Err(reason) => ProbeOutcome::failed(ProbeFailure::Setup(reason.clone())),
                    };
                    JobResult {
                        ticket,
                        output: JobOutput::ProbeOutcome(Box::new(outcome)),
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

    /// Runs `work` alone and waits for its output (`observer --try`; no
    /// other job may be running).
    pub async fn run_now(&mut self, work: Work) -> JobOutput {
        self.start(Job {
            ticket: Ticket::detached(),
            work,
        });
        self.next_result().await.output
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
