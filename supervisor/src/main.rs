//! `supervisor [--check] [--gen-key FILE] CONFIG`, `supervisor status
//! CONFIG`, `supervisor ack HOST CHECK`, `supervisor hash-password NAME
//! ROLE`, `supervisor rebuild-history CONFIG`, `supervisor backup-history
//! CONFIG FILE` and `supervisor install|uninstall`: the thin binary around [`supervisor::run`]:
//! arguments, logging, signals.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use conf::SupervisorConfig;
use supervisor::own_log::init_logging;

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
    command: Option<Command>,
    /// Path of ax436.conf
    #[arg(required_unless_present = "gen_key")]
    config: Option<PathBuf>,
    /// Check ax436.conf and every host file, print every error (or a summary
    /// per host) and exit: 0 when all is well
    #[arg(long)]
    check: bool,
    /// Write a new pre-shared key to FILE (mode 0600) and exit
    #[arg(long, value_name = "FILE")]
    gen_key: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Print hosts and open problems from the running supervisor's API
    /// (credentials from AX436_HTTP_USER and AX436_HTTP_PASSWORD)
    Status {
        /// Path of ax436.conf
        config: PathBuf,
    },
    /// Acknowledge an open problem through the running supervisor's API:
    /// no more reminders or escalations for it (credentials from
    /// AX436_HTTP_USER and AX436_HTTP_PASSWORD; needs the operator role)
    Ack {
        /// The host the problem is on
        host: String,
        /// The problem's check id (as `supervisor status` shows it)
        check: String,
        /// A note kept with the acknowledgement
        #[arg(long, default_value = "")]
        note: String,
        /// Path of ax436.conf
        #[arg(long, default_value = "/etc/436/ax436.conf")]
        config: PathBuf,
    },
    /// Read a password (from the terminal, or one line of standard input)
    /// and print the `NAME ROLE HASH` line of the HTTP users file
    HashPassword {
        /// User name
        name: String,
        /// `viewer` or `operator`
        role: String,
    },
    /// Delete the history database (history.db beside the stream) and build
    /// it again from the stream files; stop the supervisor first, or
    /// restart it afterwards
    RebuildHistory {
        /// Path of ax436.conf
        config: PathBuf,
    },
    /// Write a consistent copy of the history database to FILE (which must
    /// not exist), also while the supervisor runs
    BackupHistory {
        /// Path of ax436.conf
        config: PathBuf,
        /// Where the copy goes
        file: PathBuf,
    },
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
    match &args.command {
        Some(Command::Status { config }) => return status(config),
        Some(Command::Ack {
            host,
            check,
            note,
            config,
        }) => return ack(config, host, check, note),
        Some(Command::HashPassword { name, role }) => return hash_password(name, role),
        Some(Command::RebuildHistory { config }) => return rebuild_history(config),
        Some(Command::BackupHistory { config, file }) => return backup_history(config, file),
        Some(Command::Install { config, root }) => {
            let mut out = std::io::stdout().lock();
            return service_done(supervisor::service::install(
                config,
                root.as_deref(),
                &mut out,
            ));
        }
        Some(Command::Uninstall { root }) => {
            let mut out = std::io::stdout().lock();
            return service_done(supervisor::service::uninstall(root.as_deref(), &mut out));
        }
        None => {}
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
        let reload = match reload_on_sighup(&config_path) {
            Ok(reload) => reload,
            Err(e) => {
                tracing::error!("cannot install the SIGHUP handler: {e}");
                return Err(());
            }
        };
        supervisor::run_reloadable(config, Some(reload), shutdown)
            .await
            .map_err(|e| {
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

fn status(config_path: &Path) -> ExitCode {
    let config = match SupervisorConfig::load(config_path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    match supervisor::status::status(&config) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("supervisor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ack(config_path: &Path, host: &str, check: &str, note: &str) -> ExitCode {
    let config = match SupervisorConfig::load(config_path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    match supervisor::status::acknowledge(&config, host, check, note) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("supervisor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn hash_password(name: &str, role: &str) -> ExitCode {
    use supervisor::http::users::{Role, hash_password, valid_user_name};
    if !valid_user_name(name) {
        eprintln!(
            "supervisor: user name `{name}` may hold only letters, digits, `.`, `_`, `-` and `@`"
        );
        return ExitCode::from(2);
    }
    let Some(role) = Role::parse(role) else {
        eprintln!("supervisor: role must be `viewer` or `operator`, found `{role}`");
        return ExitCode::from(2);
    };
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("Password for {name}: "))
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map(|_| line.trim_end_matches(['\r', '\n']).to_string())
    };
    let password = match password {
        Ok(p) => p,
        Err(e) => {
            eprintln!("supervisor: cannot read the password: {e}");
            return ExitCode::FAILURE;
        }
    };
    match hash_password(&password) {
        Ok(hash) => {
            println!("{name} {} {hash}", role.name());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("supervisor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn rebuild_history(config_path: &Path) -> ExitCode {
    let config = match SupervisorConfig::load(config_path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    let started = std::time::Instant::now();
    match supervisor::history::maintenance::rebuild(&config) {
        Ok(done) => {
            println!(
                "rebuilt {} from {} stream files: {} lines ({} unreadable, {} repeated) in {:.1} s, {} bytes in use",
                supervisor::history::database_path(&config).display(),
                done.files,
                done.ingested.lines,
                done.ingested.unreadable,
                done.ingested.known,
                started.elapsed().as_secs_f64(),
                done.bytes
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("supervisor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn backup_history(config_path: &Path, file: &Path) -> ExitCode {
    let config = match SupervisorConfig::load(config_path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    match supervisor::history::maintenance::backup(&config, file) {
        Ok(bytes) => {
            println!("wrote {} ({bytes} bytes)", file.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("supervisor: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The exit of `install` / `uninstall`.
fn service_done<E: std::fmt::Display>(done: Result<(), E>) -> ExitCode {
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("supervisor: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One reload request per SIGHUP (`systemctl reload`). The handler is
/// installed before the loop starts, so an early SIGHUP never kills the
/// process (its default action).
fn reload_on_sighup(config_path: &Path) -> std::io::Result<supervisor::reload::Reload> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    // One waiting request is enough: signals coming faster than reloads
    // fold into it.
    let (tx, requests) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            if let Err(tokio::sync::mpsc::error::TrySendError::Closed(())) = tx.try_send(()) {
                break;
            }
        }
    });
    Ok(supervisor::reload::Reload {
        path: config_path.to_path_buf(),
        requests,
    })
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
