//! The supervisor's own log (not the event stream): lines to stderr and to
//! `log_file:`, rotated daily (`supervisor.log` → `supervisor.2026-11-21.log`)
//! and written by a thread of its own so a slow disk never delays the loop.

use std::io::IsTerminal;
use std::path::Path;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_appender::rolling::Rotation;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

use crate::rolling::{folder_of, rolling_appender};

/// Own log files kept (one a day).
pub const LOG_FILES_KEPT: usize = 14;

/// Lines of the supervisor's own log waiting for the writer thread.
const OWN_LOG_QUEUE_LINES: usize = 4096;

/// Colour codes only for a person at a terminal: never in a file, a pipe or
/// journald (a service's stderr is a socket there), nor with `NO_COLOR` set.
fn colour_on_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Logs to stderr and to `log_file`, rotated daily. The guard flushes the
/// writer thread when dropped: keep it until exit.
pub fn init_logging(log_file: &Path) -> Result<WorkerGuard, Box<dyn std::error::Error>> {
    let folder = folder_of(log_file);
    std::fs::create_dir_all(folder)?;
    let name = log_file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("supervisor.log");
    let appender = rolling_appender(folder, name, Rotation::DAILY, LOG_FILES_KEPT)?;
    // A short queue: the default (128,000 lines) allocates about 4 MB up
    // front. Log lines past a full queue are dropped, never waited for.
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(OWN_LOG_QUEUE_LINES)
        .finish(appender);
    tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(colour_on_stderr())
                .with_writer(std::io::stderr),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer),
        )
        .init();
    Ok(guard)
}
