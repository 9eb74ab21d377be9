//! `supervisor install` / `supervisor uninstall`: the systemd unit for a
//! supervisor binary copied to a box by hand (the Debian package ships its
//! own unit, `supervisor/systemd/ax436-supervisor.service`, which runs as the
//! `ax436` user).
//!
//! A copied binary has no user of its own, so this unit runs it as root
//! stripped of every capability: it can still read the root-owned key file,
//! but the whole file system is read-only except the stream and log folders,
//! it cannot bind ports below 1024, change the system or gain privileges.

use std::path::{Path, PathBuf};

use conf::SupervisorConfig;
use installer::{SANDBOX, ServiceUnit, UnitError};

use crate::rolling::folder_of;

/// The unit's name, the same as the package's (the copied-binary unit in
/// `/etc/systemd/system` would override the package's).
pub const UNIT_NAME: &str = "ax436-supervisor";

/// The folders a running supervisor writes: the stream's and its own log's.
pub fn writable_folders(config: &SupervisorConfig) -> Vec<PathBuf> {
    let mut folders = vec![folder_of(&config.event_stream).to_path_buf()];
    let log = folder_of(&config.log_file).to_path_buf();
    if !folders.contains(&log) {
        folders.push(log);
    }
    folders
}

/// The unit running `exe config_path` (both absolute) with the sandbox.
pub fn unit(
    exe: &Path,
    config_path: &Path,
    config: &SupervisorConfig,
) -> Result<ServiceUnit, UnitError> {
    let mut unit = ServiceUnit::new(
        UNIT_NAME,
        "436 supervisor",
        vec![
            exe.to_string_lossy().into_owned(),
            config_path.to_string_lossy().into_owned(),
        ],
    );
    unit.set("Restart", "on-failure").set("RestartSec", "5");
    // `systemctl reload`: the supervisor reads ax436.conf again on SIGHUP.
    unit.set("ExecReload", "/bin/kill -HUP $MAINPID");
    for (key, value) in SANDBOX {
        unit.set(key, value);
    }
    unit.set("CapabilityBoundingSet", "")
        .set("PrivateDevices", "yes")
        .set("MemoryDenyWriteExecute", "yes")
        .set("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX")
        .set("SystemCallFilter", "@system-service")
        .set("SystemCallFilter", "~@privileged @resources")
        // Taken back from those two sets: SQLite run as root gives its
        // journal the database's owner (fchown, a no-op without
        // CAP_CHOWN), and the history thread lowers its own priority
        // (SCHED_IDLE, or a nice value where that is refused).
        .set("SystemCallFilter", "@chown setpriority sched_setscheduler")
        // A call outside the filter fails with EPERM instead of killing
        // the supervisor.
        .set("SystemCallErrorNumber", "EPERM");
    unit.set_paths("ReadWritePaths", &writable_folders(config))?;
    Ok(unit)
}

/// Why `supervisor install` / `uninstall` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{path}: {source}")]
    Config {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(conf::ConfErrors),
    #[error("not installed: a start would fail for the reasons above")]
    NotReady,
    #[error("cannot tell where this binary is: {0}")]
    Executable(std::io::Error),
    #[error("cannot create {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Unit(#[from] UnitError),
    #[error(transparent)]
    Install(#[from] installer::InstallError),
    #[error("cannot write the report: {0}")]
    Report(#[from] std::io::Error),
}

/// `supervisor install CONFIG`: checks what a start needs, creates the
/// writable folders (the sandbox can only open existing ones), writes the
/// unit running this binary, enables and starts it. With `root`, writes
/// everything under that folder and runs no systemctl.
pub fn install(
    config: &Path,
    root: Option<&Path>,
    out: &mut impl std::io::Write,
) -> Result<(), ServiceError> {
    let config_path = std::fs::canonicalize(config).map_err(|source| ServiceError::Config {
        path: config.to_path_buf(),
        source,
    })?;
    let parsed = SupervisorConfig::load(&config_path).map_err(ServiceError::Invalid)?;
    if !crate::check::check_start_needs(&parsed, out)? {
        return Err(ServiceError::NotReady);
    }
    let exe = std::env::current_exe().map_err(ServiceError::Executable)?;
    for folder in writable_folders(&parsed) {
        let path = installer::under(root, &folder);
        std::fs::create_dir_all(&path).map_err(|source| ServiceError::Folder { path, source })?;
    }
    installer::install(&unit(&exe, &config_path, &parsed)?, root, out)?;
    Ok(())
}

/// `supervisor uninstall`: stops, disables and removes the unit.
pub fn uninstall(root: Option<&Path>, out: &mut impl std::io::Write) -> Result<(), ServiceError> {
    installer::uninstall(&format!("{UNIT_NAME}.service"), root, out)?;
    Ok(())
}
