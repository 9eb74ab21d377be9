//! `supervisor --check` (every configuration error, or a summary per host
//! and of the notification file, and everything else a start needs: the key
//! file, writable stream and log folders, the HTTP users and TLS files) and
//! `supervisor --gen-key` (a new pre-shared key file).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use conf::{HostName, SupervisorConfig};
use wire::{Key, KeyError};

use crate::catalog::{config_file_names, load_entry};

/// Checks `ax436.conf`, what a start needs besides it (the key file, the
/// stream and log folders writable by this user) and every host file of
/// its hosts folder (with includes). Writes each error as `FILE:LINE:
/// message` or `PATH: message` and a one-line summary per host to `out`;
/// returns whether everything is well. Creates and changes nothing.
pub fn check_configuration(config_path: &Path, out: &mut impl Write) -> io::Result<bool> {
    let config = match SupervisorConfig::load(config_path) {
        Ok(config) => config,
        Err(errors) => {
            for e in &errors.0 {
                writeln!(out, "{e}")?;
            }
            return Ok(false);
        }
    };
    let mut ok = check_start_needs(&config, out)?;
    // The users file and TLS files, as the HTTP listener reads them at start.
    if let Err(e) = crate::http::HttpSettings::from_config(&config) {
        writeln!(out, "{e}")?;
        ok = false;
    }
    let names = match config_file_names(&config.hosts) {
        Ok(names) => names,
        Err(e) => {
            writeln!(
                out,
                "{}: cannot read the hosts folder: {e}",
                config.hosts.display()
            )?;
            return Ok(false);
        }
    };
    if !config.includes.is_dir() {
        writeln!(
            out,
            "{}: the includes folder does not exist",
            config.includes.display()
        )?;
        ok = false;
    }
    let mut hosts = 0;
    for name in names {
        let host = match HostName::new(&name) {
            Ok(host) => host,
            Err(e) => {
                writeln!(out, "hosts/{name}: skipped, not a host name: {e}")?;
                ok = false;
                continue;
            }
        };
        let Some(entry) = load_entry(&config.hosts, &config.includes, &host) else {
            continue;
        };
        hosts += 1;
        if entry.errors.is_empty() {
            writeln!(out, "{}", entry.summary)?;
        } else {
            ok = false;
            for e in &entry.errors {
                writeln!(out, "{e}")?;
            }
        }
    }
    if hosts == 0 {
        writeln!(out, "{}: no host files", config.hosts.display())?;
    }
    if let Some(path) = &config.notify {
        match conf::NotifyConfig::load(path) {
            Ok(n) => writeln!(
                out,
                "{}: {} channels, {} routes",
                path.display(),
                n.channels.len(),
                n.routes.len()
            )?,
            Err(errors) => {
                ok = false;
                for e in &errors.0 {
                    writeln!(out, "{e}")?;
                }
            }
        }
    }
    Ok(ok)
}

/// What [`crate::run`] needs before it serves anyone: a readable, well-formed
/// key file, a `listen:` address of this machine, and stream and log
/// folders it can create files in.
pub fn check_start_needs(config: &SupervisorConfig, out: &mut impl Write) -> io::Result<bool> {
    let mut ok = true;
    match &config.key_file {
        Some(path) => {
            if let Err(e) = Key::load(path) {
                writeln!(out, "{e}")?;
                ok = false;
            }
        }
        None => writeln!(
            out,
            "warning: no key_file: the supervisor would run open (anyone on the LAN can \
             send observers commands)"
        )?,
    }
    // An ephemeral port: the address is what matters, and a running
    // supervisor holds port + 1.
    if !config.listen.is_unspecified()
        && let Err(e) = std::net::UdpSocket::bind((config.listen, 0))
    {
        writeln!(
            out,
            "listen: {}: the supervisor could not listen there ({e}); is it an address of this machine?",
            config.listen
        )?;
        ok = false;
    }
    for (what, file) in [
        ("event stream", &config.event_stream),
        ("log", &config.log_file),
    ] {
        if let Err(problem) = check_writable(file) {
            writeln!(
                out,
                "{}: the {what} cannot be written: {problem}",
                file.display()
            )?;
            ok = false;
        }
    }
    Ok(ok)
}

/// Whether a start could append to `file`: the file itself when it exists
/// (rotation may write a dated name instead, so its folder matters too),
/// and its folder, or the nearest existing parent a start would create the
/// folder in. Probes with a hidden file it removes again, so the answer is
/// the kernel's, for this user, whatever the modes say.
fn check_writable(file: &Path) -> Result<(), String> {
    if file.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(file)
            .map_err(|e| e.to_string())?;
    }
    let mut folder = crate::rolling::folder_of(file);
    while !folder.exists() {
        match folder.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => folder = parent,
            _ => return Err(format!("no folder of {} exists", file.display())),
        }
    }
    if !folder.is_dir() {
        return Err(format!("{} is not a folder", folder.display()));
    }
    let probe = folder.join(format!(".436-check.{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| format!("cannot create files in {}: {e}", folder.display()))?;
    std::fs::remove_file(&probe)
        .map_err(|e| format!("cannot remove the probe {}: {e}", probe.display()))
}

/// Why a key file was not written.
#[derive(Debug, thiserror::Error)]
pub enum GenKeyError {
    #[error("{0} already exists; not overwriting a key (remove it first to replace it)")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Writes a new random key to `path` (64 hex characters and a newline),
/// readable by its owner only; never overwrites an existing file.
pub fn generate_key_file(path: &Path) -> Result<(), GenKeyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let key = Key::generate()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                GenKeyError::Exists(path.to_path_buf())
            } else {
                GenKeyError::Write {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
    let write = |file: &mut std::fs::File| -> io::Result<()> {
        file.write_all(format!("{}\n", key.to_hex()).as_bytes())?;
        file.sync_all()
    };
    write(&mut file).map_err(|source| GenKeyError::Write {
        path: path.to_path_buf(),
        source,
    })
}
