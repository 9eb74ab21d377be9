//! `observer [PORT]`, `observer --try FILE` and `observer
//! install|uninstall` — the 436 observer binary: parses the command line, sets up its own log
//! (`observer.YYYY-MM-DD.log` in the log directory, one a day, plus stderr,
//! coloured only on a terminal) and runs [`observer::daemon::run`] on
//! tokio's current-thread runtime until SIGINT or SIGTERM, then flushes the
//! spool and exits 0. `install` / `uninstall` are [`observer::service`].
//!
//! Static build (one binary that runs on any x86_64 Linux box, checked by CI),
//! with the observer's own profile (`Cargo.toml`: full LTO, one codegen unit,
//! to stay under 8 MB):
//!
//! ```text
//! RUSTFLAGS='-C target-feature=+crt-static' \
//!     cargo build --profile observer --target x86_64-unknown-linux-gnu -p observer
//! ldd target/x86_64-unknown-linux-gnu/observer/observer   # "statically linked"
//! ```
//! The explicit `--target` is required: without it the proc-macro crates of
//! the build would be linked statically too, which fails. Probes resolve
//! names with hickory-resolver (`/etc/hosts`, `/etc/resolv.conf`), never
//! through glibc's NSS, so its static-linking caveats do not apply.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use conf::HostName;
use observer::daemon::{Options, node_name, run};
use observer::service::InstallOptions;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

/// `--version`: the release and the commit it was built from (`unknown`
/// when built without git, e.g. from a tarball without `AX436_COMMIT`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("AX436_COMMIT"),
    ")"
);

/// 436 observer: discovers a supervisor on the LAN, fetches this host's
/// configuration and reports events from log files, processes and commands.
#[derive(Parser, Debug)]
#[command(
    version = VERSION,
    about,
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    service: Option<Service>,
    #[command(flatten)]
    how: HowToRun,
    /// Directory of the event spool
    #[arg(long, value_name = "DIR", default_value = ".")]
    spool_dir: PathBuf,
    /// Directory of the observer's own log, written as observer.YYYY-MM-DD.log
    /// (a new file each day, 7 kept)
    #[arg(long, value_name = "DIR", default_value = ".")]
    log_dir: PathBuf,
    /// Run every check of this host file once here, with no supervisor,
    /// print what each would raise and exit (1 if the file has errors)
    #[arg(long = "try", value_name = "FILE")]
    try_file: Option<PathBuf>,
    /// With --try: the folder of include files [default: includes/ in or
    /// beside the host file's folder; none if there is no such folder]
    #[arg(long, value_name = "DIR", requires = "try_file")]
    includes: Option<PathBuf>,
}

/// What a start and an installed service share.
#[derive(clap::Args, Debug)]
struct HowToRun {
    /// UDP port P: beacons arrive on P, supervisors listen on P+1
    #[arg(default_value_t = 9000, value_parser = clap::value_parser!(u16).range(1..65535))]
    port: u16,
    /// Host name to report (default: the kernel's node name)
    #[arg(long)]
    name: Option<String>,
    /// File holding the LAN's pre-shared key (64 hex characters)
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Talk to supervisors from this IPv4 address of this machine and hear
    /// beacons only on its interface (default: every interface)
    #[arg(long, value_name = "ADDRESS")]
    bind: Option<std::net::Ipv4Addr>,
}

/// Running this binary as a systemd service.
#[derive(clap::Subcommand, Debug)]
enum Service {
    /// Run this binary as the systemd service ax436-observer with these
    /// options: write /etc/systemd/system/ax436-observer.service (root with
    /// only the capability to read any file, only its spool and log folders
    /// writable), enable and start it
    Install {
        #[command(flatten)]
        how: HowToRun,
        /// Directory of the event spool [default: /var/lib/436-observer]
        #[arg(long, value_name = "DIR")]
        spool_dir: Option<PathBuf>,
        /// Directory of the observer's own log [default: /var/log/436-observer]
        #[arg(long, value_name = "DIR")]
        log_dir: Option<PathBuf>,
        /// Write under DIR instead of / and run no systemctl (images, tests)
        #[arg(long, value_name = "DIR", hide = true)]
        root: Option<PathBuf>,
    },
    /// Stop, disable and remove the unit `observer install` wrote
    Uninstall {
        /// Remove under DIR instead of / and run no systemctl
        #[arg(long, value_name = "DIR", hide = true)]
        root: Option<PathBuf>,
    },
}

/// `observer install` / `uninstall`, reported on stdout and stderr.
fn service_command(service: Service) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let done = match service {
        Service::Install {
            how,
            spool_dir,
            log_dir,
            root,
        } => {
            let opts = InstallOptions {
                port: how.port,
                name: how.name,
                key_file: how.key_file,
                bind: how.bind,
                spool_dir,
                log_dir,
            };
            observer::service::install(opts, root.as_deref(), &mut out)
        }
        Service::Uninstall { root } => observer::service::uninstall(root.as_deref(), &mut out),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("observer: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut int, mut term) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        _ => {
            tracing::error!(
                "cannot install signal handlers; stop with SIGKILL (the spool survives it)"
            );
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

/// `observer --try FILE`: warnings on stderr, the report on stdout.
fn try_command(file: &std::path::Path, includes: Option<PathBuf>) -> ExitCode {
    tracing_subscriber::registry()
        .with(LevelFilter::ERROR)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(colour_on_stderr())
                .with_writer(std::io::stderr),
        )
        .init();
    let includes = includes.or_else(|| observer::try_file::default_includes(file));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("observer: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    match runtime.block_on(observer::try_file::try_file(
        file,
        includes.as_deref(),
        &mut out,
    )) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("observer: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Colour codes only for a person at a terminal: never in a file, a pipe or
/// journald (a service's stderr is a socket there), nor with `NO_COLOR` set.
fn colour_on_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Lines of the observer's own log waiting for the writer thread.
const OWN_LOG_QUEUE_LINES: usize = 1024;

/// Asks glibc's allocator for one arena, before the daemon starts a thread.
/// By default each thread that allocates (the log writer, the blocking
/// threads of readings and HTTP probes) gets an arena of its own, about
/// 100 kB resident each. The observer allocates little, and rarely from
/// two threads at once, so one lock is enough (docs/PERFORMANCE.md, "The
/// observer's memory, again").
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called while this
    // is the only thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(service) = args.service {
        return service_command(service);
    }
    if let Some(file) = &args.try_file {
        return try_command(file, args.includes.clone());
    }
    let how = args.how;
    one_malloc_arena();
    let file_appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("observer")
        .filename_suffix("log")
        .max_log_files(7)
        .build(&args.log_dir);
    let (file_layer, _guard) = match file_appender {
        Ok(app) => {
            // A short queue: the default (128,000 lines) allocates about
            // 4 MB up front, half of the observer's memory when idle. Log
            // lines past a full queue are dropped, never waited for.
            let (nb, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .buffered_lines_limit(OWN_LOG_QUEUE_LINES)
                .finish(app);
            (
                Some(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(nb),
                ),
                Some(guard),
            )
        }
        Err(e) => {
            eprintln!(
                "observer: cannot write its log in {}: {e}",
                args.log_dir.display()
            );
            (None, None)
        }
    };
    tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(colour_on_stderr())
                .with_writer(std::io::stderr),
        )
        .with(file_layer)
        .init();

    let raw_name = match how.name.clone().or_else(node_name) {
        Some(n) => n,
        None => {
            tracing::error!("cannot tell this host's name; start with --name NAME");
            return ExitCode::from(2);
        }
    };
    let name = match HostName::new(&raw_name) {
        Ok(n) => n,
        Err(e) => {
            tracing::error!("host name {raw_name:?} is not usable: {e}; start with --name NAME");
            return ExitCode::from(2);
        }
    };
    let key = match &how.key_file {
        Some(path) => match wire::Key::load(path) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::error!("key file {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let opts = Options {
        port: how.port,
        name,
        key,
        spool_dir: args.spool_dir,
        bind: how.bind,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_keep_alive(observer::timers::BLOCKING_THREAD_KEEP_ALIVE)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(opts, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        // A --bind address this machine does not have: restarting cannot
        // fix it (exit 2, as a bad name or key file).
        Err(e @ observer::daemon::DaemonError::NoSuchAddress(_)) => {
            tracing::error!("{e}");
            ExitCode::from(2)
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
