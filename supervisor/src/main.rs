//! `supervisor [--check] [--gen-key FILE] CONFIG` and `supervisor
//! install|uninstall`: the thin binary around [`supervisor::run`]:
//! arguments, logging, signals.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use conf::SupervisorConfig;
use supervisor::stream::{folder_of, rolling_appender};
use tracing_appender::rolling::Rotation;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

/// Own log files kept (one a day).
const LOG_FILES_KEPT: usize = 14;

/// `--version`: the release and the commit it was built from (`unknown`
/// when built without git, e.g. from a tarball without `AX436_COMMIT`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("AX436_COMMIT"),
    ")"
);

/// The 436 supervisor: beacons, serves host configurations, watches them,
/// tracks liveness and writes acknowledged events to the event stream.
#[derive(Parser, Debug)]
#[command(
    version = VERSION,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    #[command(subcommand)]
    service: Option<Service>,
    /// Path of ax436.conf
    #[arg(required_unless_present = "gen_key")]
    config: Option<PathBuf>,
    /// Check ax436.conf, every host file, the key file and that the stream
    /// and log folders can be written; print every error (or a summary per
    /// host) and exit: 0 when all is well
    #[arg(long)]
    check: bool,
    /// Write a new pre-shared key to FILE (mode 0600) and exit
    #[arg(long, value_name = "FILE")]
    gen_key: Option<PathBuf>,
}

/// Running this binary as a systemd service.
#[derive(clap::Subcommand, Debug)]
enum Service {
    /// Run this binary as the systemd service ax436-supervisor: check what a
    /// start needs, write /etc/systemd/system/ax436-supervisor.service (root
    /// without capabilities, only the stream and log folders writable),
    /// enable and start it
    Install {
        /// Path of ax436.conf
        config: PathBuf,
        /// Write under DIR instead of / and run no systemctl (images, tests)
        #[arg(long, value_name = "DIR", hide = true)]
        root: Option<PathBuf>,
    },
    /// Stop, disable and remove the unit `supervisor install` wrote
    Uninstall {
        /// Remove under DIR instead of / and run no systemctl
        #[arg(long, value_name = "DIR", hide = true)]
        root: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(service) = &args.service {
        let mut out = std::io::stdout().lock();
        let done = match service {
            Service::Install { config, root } => {
                supervisor::service::install(config, root.as_deref(), &mut out)
            }
            Service::Uninstall { root } => {
                supervisor::service::uninstall(root.as_deref(), &mut out)
            }
        };
        return match done {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("supervisor: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(path) = &args.gen_key {
        return match supervisor::check::generate_key_file(path) {
            Ok(()) => {
                println!("wrote a new key to {}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("supervisor: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let Some(config_path) = args.config else {
        eprintln!("supervisor: no configuration file given");
        return ExitCode::from(2);
    };
    if args.check {
        let mut out = std::io::stdout().lock();
        return match supervisor::check::check_configuration(&config_path, &mut out) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("supervisor: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match SupervisorConfig::load(&config_path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    // The guard flushes the log thread at exit; it must live until then.
    let _log_guard = match init_logging(&config.log_file) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!(
                "supervisor: cannot open the log {}: {e}",
                config.log_file.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = match shutdown_signal() {
            Ok(signal) => signal,
            Err(e) => {
                tracing::error!("cannot install signal handlers: {e}");
                return Err(());
            }
        };
        supervisor::run(config, shutdown).await.map_err(|e| {
            tracing::error!("{e}");
        })
    });
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(()) => ExitCode::FAILURE,
    }
}

/// Resolves at the first SIGINT or SIGTERM.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
    })
}

/// Colour codes only for a person at a terminal: never in a file, a pipe or
/// journald (a service's stderr is a socket there), nor with `NO_COLOR` set.
fn colour_on_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Lines of the supervisor's own log waiting for the writer thread.
const OWN_LOG_QUEUE_LINES: usize = 4096;

/// Logs to stderr and to `log_file`, rotated daily (`supervisor.log` →
/// `supervisor.2026-11-21.log`).
fn init_logging(
    log_file: &Path,
) -> Result<tracing_appender::non_blocking::WorkerGuard, Box<dyn std::error::Error>> {
    let folder = folder_of(log_file);
    std::fs::create_dir_all(folder)?;
    let name = log_file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("supervisor.log");
    let appender = rolling_appender(folder, name, Rotation::DAILY, LOG_FILES_KEPT)?;
    // A short queue: the default (128,000 lines) allocates about 4 MB up
    // front. Log lines past a full queue are dropped, never waited for.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
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
