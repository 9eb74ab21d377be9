//! `observer install` / `observer uninstall`: the systemd unit for an
//! observer binary copied to a box by hand (the Debian package ships its own
//! unit, `observer/systemd/ax436-observer.service`, which runs as the
//! `ax436-observer` user in the `adm` group).
//!
//! A copied binary has no user of its own, so this unit runs it as root
//! with one capability left, `CAP_DAC_READ_SEARCH`: it reads any log file
//! and the whole process table, and the configured commands run with the
//! same rights; the file system is read-only except the spool and log
//! folders, and it cannot gain privileges or change the system.

use std::path::{Path, PathBuf};

use installer::{SANDBOX, ServiceUnit, UnitError};

/// The unit's name, the same as the package's (the copied-binary unit in
/// `/etc/systemd/system` would override the package's).
pub const UNIT_NAME: &str = "ax436-observer";

/// Spool folder when none is given: systemd's `StateDirectory=`.
pub const STATE_FOLDER: &str = "/var/lib/436-observer";
/// Own-log folder when none is given: systemd's `LogsDirectory=`.
pub const LOG_FOLDER: &str = "/var/log/436-observer";

/// How the installed observer runs: the options of a plain start, folders
/// absolute or `None` for the service's own state and log folders.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    pub port: u16,
    pub name: Option<String>,
    pub key_file: Option<PathBuf>,
    /// `--bind ADDRESS`.
    pub bind: Option<std::net::Ipv4Addr>,
    pub spool_dir: Option<PathBuf>,
    pub log_dir: Option<PathBuf>,
}

impl InstallOptions {
    /// Folders given on the command line, which the unit must make
    /// writable and which must exist before it starts.
    pub fn own_folders(&self) -> Vec<PathBuf> {
        let mut folders: Vec<PathBuf> = Vec::new();
        for folder in [&self.spool_dir, &self.log_dir].into_iter().flatten() {
            if !folders.contains(folder) {
                folders.push(folder.clone());
            }
        }
        folders
    }
}

/// The unit running `exe` (absolute) with `opts` and the sandbox.
pub fn unit(exe: &Path, opts: &InstallOptions) -> Result<ServiceUnit, UnitError> {
    let text = |p: &Path| p.to_string_lossy().into_owned();
    let mut argv = vec![text(exe), opts.port.to_string()];
    if let Some(name) = &opts.name {
        argv.extend(["--name".to_string(), name.clone()]);
    }
    if let Some(key) = &opts.key_file {
        argv.extend(["--key-file".to_string(), text(key)]);
    }
    if let Some(bind) = &opts.bind {
        argv.extend(["--bind".to_string(), bind.to_string()]);
    }
    let spool = opts.spool_dir.as_deref().unwrap_or(Path::new(STATE_FOLDER));
    let log = opts.log_dir.as_deref().unwrap_or(Path::new(LOG_FOLDER));
    argv.extend(["--spool-dir".to_string(), text(spool)]);
    argv.extend(["--log-dir".to_string(), text(log)]);

    let mut unit = ServiceUnit::new(UNIT_NAME, "436 observer", argv);
    // Exit 2 is a bad host name or key file: restarting cannot fix it.
    unit.set("Restart", "on-failure")
        .set("RestartSec", "5")
        .set("RestartPreventExitStatus", "2");
    if opts.spool_dir.is_none() {
        unit.set("StateDirectory", "436-observer");
    }
    if opts.log_dir.is_none() {
        unit.set("LogsDirectory", "436-observer");
    }
    for (key, value) in SANDBOX {
        unit.set(key, value);
    }
    // No system-call filter, no MemoryDenyWriteExecute and no private /dev:
    // the configured commands run inside this sandbox too, and may need
    // any of them (a JIT, a device query).
    unit.set("CapabilityBoundingSet", "CAP_DAC_READ_SEARCH")
        .set(
            "RestrictAddressFamilies",
            "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        );
    let folders = opts.own_folders();
    if !folders.is_empty() {
        unit.set_paths("ReadWritePaths", &folders)?;
    }
    Ok(unit)
}

/// Why `observer install` / `uninstall` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Key(#[from] wire::KeyError),
    #[error("{path}: {source}")]
    Path {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot tell where this binary is: {0}")]
    Executable(std::io::Error),
    #[error(transparent)]
    Unit(#[from] UnitError),
    #[error(transparent)]
    Install(#[from] installer::InstallError),
}

/// `observer install`: checks the key file, makes the given folders
/// absolute and creates them, writes the unit running this binary, enables
/// and starts it. With `root`, writes everything under that folder and runs
/// no systemctl.
pub fn install(
    mut opts: InstallOptions,
    root: Option<&Path>,
    out: &mut impl std::io::Write,
) -> Result<(), ServiceError> {
    let absolute = |path: &Path| {
        std::path::absolute(path).map_err(|source| ServiceError::Path {
            path: path.to_path_buf(),
            source,
        })
    };
    if let Some(key) = &opts.key_file {
        wire::Key::load(key)?;
        opts.key_file = Some(
            std::fs::canonicalize(key).map_err(|source| ServiceError::Path {
                path: key.clone(),
                source,
            })?,
        );
    }
    for folder in [&mut opts.spool_dir, &mut opts.log_dir]
        .into_iter()
        .flatten()
    {
        *folder = absolute(folder)?;
    }
    for folder in opts.own_folders() {
        let path = installer::under(root, &folder);
        std::fs::create_dir_all(&path).map_err(|source| ServiceError::Path { path, source })?;
    }
    let exe = std::env::current_exe().map_err(ServiceError::Executable)?;
    installer::install(&unit(&exe, &opts)?, root, out)?;
    Ok(())
}

/// `observer uninstall`: stops, disables and removes the unit.
pub fn uninstall(root: Option<&Path>, out: &mut impl std::io::Write) -> Result<(), ServiceError> {
    installer::uninstall(&format!("{UNIT_NAME}.service"), root, out)?;
    Ok(())
}
