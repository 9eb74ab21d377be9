//! Installs a program as a systemd system service, the way an operator who
//! copied one binary to a box wants it: write the unit to
//! `/etc/systemd/system`, `systemctl daemon-reload`, enable and start it;
//! uninstalling stops, disables and removes it. It knows nothing of either
//! 436 program: each renders its own [`ServiceUnit`].
//!
//! * Units are written whole (temporary file, then rename), mode 0644.
//! * With a `root` folder (images, tests) the unit is written under it and
//!   no `systemctl` runs.
//! * Without systemd as PID 1 (a container, a chroot) the unit is written
//!   and enabled offline, and the caller is told it was not started.
//! * Values are quoted as systemd reads them: `%` and `$` cannot expand,
//!   spaces and quotes survive; control characters are refused.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where an administrator's units go (relative to the root folder).
pub const UNIT_FOLDER: &str = "etc/systemd/system";

/// Present only while systemd runs as PID 1 (sd_booted(3)).
const SYSTEMD_RUNNING: &str = "/run/systemd/system";

/// Sandbox settings every unit of a network daemon that reads its own files
/// can take, whatever user it runs as: read-only system, no kernel or
/// control-group changes, no new privileges, native system calls only.
/// Each program adds what it needs on top (writable folders, address
/// families, capabilities, system-call filter).
pub const SANDBOX: &[(&str, &str)] = &[
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "read-only"),
    ("PrivateTmp", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectHostname", "yes"),
    ("RestrictNamespaces", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    ("SystemCallArchitectures", "native"),
    ("UMask", "0027"),
];

/// Why a unit could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    #[error("{0:?} contains a control character, which a unit file cannot hold")]
    ControlCharacter(String),
    #[error("{0} is not an absolute path; a unit needs absolute paths")]
    RelativePath(PathBuf),
}

/// Why installing or uninstalling stopped.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Unit(#[from] UnitError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot remove {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("{path} does not exist: nothing to uninstall")]
    NotInstalled { path: PathBuf },
    #[error("`systemctl {args}` failed ({status}): {stderr}")]
    Systemctl {
        args: String,
        status: String,
        stderr: String,
    },
    #[error("cannot run systemctl: {0}")]
    NoSystemctl(io::Error),
    #[error(
        "{0} is in a temporary folder, which the service's private /tmp hides: \
         copy the binary to e.g. /usr/local/bin and install from there"
    )]
    TemporaryExecutable(PathBuf),
}

/// A `[Service]` unit for one long-running program, started at boot.
#[derive(Debug, Clone)]
pub struct ServiceUnit {
    name: String,
    description: String,
    exec_start: Vec<String>,
    service: Vec<(String, String)>,
}

impl ServiceUnit {
    /// `name` without `.service`; `exec_start` the program (an absolute
    /// path) and its arguments, each quoted when rendered.
    pub fn new(name: &str, description: &str, exec_start: Vec<String>) -> Self {
        ServiceUnit {
            name: name.to_string(),
            description: description.to_string(),
            exec_start,
            service: Vec::new(),
        }
    }

    /// Adds a `[Service]` line, written as given after `ExecStart=`.
    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.service.push((key.to_string(), value.to_string()));
        self
    }

    /// Adds a `[Service]` line listing absolute paths, each quoted.
    pub fn set_paths(&mut self, key: &str, paths: &[PathBuf]) -> Result<&mut Self, UnitError> {
        let mut words = Vec::new();
        for path in paths {
            if !path.is_absolute() {
                return Err(UnitError::RelativePath(path.clone()));
            }
            words.push(quote(&path.to_string_lossy(), false)?);
        }
        Ok(self.set(key, &words.join(" ")))
    }

    /// `NAME.service`.
    pub fn file_name(&self) -> String {
        format!("{}.service", self.name)
    }

    /// The unit file's text.
    pub fn render(&self) -> Result<String, UnitError> {
        let exec = self
            .exec_start
            .iter()
            .map(|word| quote(word, true))
            .collect::<Result<Vec<_>, _>>()?
            .join(" ");
        let description = quote_free(&self.description)?;
        let mut text = format!(
            "# Written by `{program} install`; `{program} uninstall` stops and removes it.\n\
             [Unit]\nDescription={description}\n\
             After=network-online.target\nWants=network-online.target\n\n\
             [Service]\nType=exec\nExecStart={exec}\n",
            program = self
                .exec_start
                .first()
                .and_then(|p| Path::new(p).file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        for (key, value) in &self.service {
            text.push_str(&format!("{key}={}\n", quote_free(value)?));
        }
        text.push_str("\n[Install]\nWantedBy=multi-user.target\n");
        Ok(text)
    }
}

/// One word as systemd reads it back: `%` doubled (no specifier expands),
/// `$` doubled in command lines (no variable expands), and double quotes
/// with `\` escapes when it holds spaces, quotes or backslashes.
fn quote(word: &str, command_line: bool) -> Result<String, UnitError> {
    let word = quote_free(word)?;
    let mut escaped = word.replace('%', "%%");
    if command_line {
        escaped = escaped.replace('$', "$$");
    }
    let needs_quotes = escaped.is_empty()
        || escaped
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';'));
    if !needs_quotes {
        return Ok(escaped);
    }
    Ok(format!(
        "\"{}\"",
        escaped.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// `text` unchanged, or an error when a control character would break the
/// line it goes on.
fn quote_free(text: &str) -> Result<&str, UnitError> {
    if text.chars().any(char::is_control) {
        return Err(UnitError::ControlCharacter(text.to_string()));
    }
    Ok(text)
}

/// `path` (absolute) as seen under `root`, or itself without a root.
pub fn under(root: Option<&Path>, path: &Path) -> PathBuf {
    match root {
        Some(root) => root.join(path.strip_prefix("/").unwrap_or(path)),
        None => path.to_path_buf(),
    }
}

/// Where `unit` lives under `root` (`/` for the running system).
pub fn unit_path(root: &Path, file_name: &str) -> PathBuf {
    root.join(UNIT_FOLDER).join(file_name)
}

/// Writes the unit; then, on the running system (`root` is `None`), reloads
/// systemd, enables and starts it. Says what it did on `out`.
pub fn install(
    unit: &ServiceUnit,
    root: Option<&Path>,
    out: &mut impl Write,
) -> Result<(), InstallError> {
    let text = unit.render()?;
    if root.is_none()
        && let Some(exe) = unit.exec_start.first().map(Path::new)
        && (exe.starts_with("/tmp") || exe.starts_with("/var/tmp"))
    {
        return Err(InstallError::TemporaryExecutable(exe.to_path_buf()));
    }
    let path = unit_path(root.unwrap_or(Path::new("/")), &unit.file_name());
    write_whole(&path, &text)?;
    say(out, format!("wrote {}", path.display()));
    if root.is_some() {
        return Ok(());
    }
    let name = unit.file_name();
    if systemd_is_running() {
        systemctl(&["daemon-reload"])?;
        systemctl(&["enable", "--now", &name])?;
        say(
            out,
            format!("enabled and started {name}; see `systemctl status {name}`"),
        );
    } else {
        // Enabling only makes links, which works without systemd running.
        systemctl(&["enable", &name])?;
        say(
            out,
            format!("enabled {name}; systemd is not running here, so it was not started"),
        );
    }
    Ok(())
}

/// Stops, disables and removes a unit written by [`install`] (on the running
/// system when `root` is `None`, else only the file under `root`).
pub fn uninstall(
    file_name: &str,
    root: Option<&Path>,
    out: &mut impl Write,
) -> Result<(), InstallError> {
    let path = unit_path(root.unwrap_or(Path::new("/")), file_name);
    if !path.exists() {
        return Err(InstallError::NotInstalled { path });
    }
    let running = root.is_none() && systemd_is_running();
    if root.is_none() {
        if running {
            systemctl(&["disable", "--now", file_name])?;
            say(out, format!("stopped and disabled {file_name}"));
        } else {
            systemctl(&["disable", file_name])?;
            say(out, format!("disabled {file_name}"));
        }
    }
    std::fs::remove_file(&path).map_err(|source| InstallError::Remove {
        path: path.clone(),
        source,
    })?;
    say(out, format!("removed {}", path.display()));
    if running {
        systemctl(&["daemon-reload"])?;
    }
    Ok(())
}

fn say(out: &mut impl Write, line: String) {
    // Progress lines only; the outcome is the return value.
    if writeln!(out, "{line}").is_err() {
        // Nowhere to report to (stdout closed): the work itself went on.
    }
}

fn systemd_is_running() -> bool {
    Path::new(SYSTEMD_RUNNING).is_dir()
}

fn systemctl(args: &[&str]) -> Result<(), InstallError> {
    let out = Command::new("systemctl")
        .args(args)
        .output()
        .map_err(InstallError::NoSystemctl)?;
    if out.status.success() {
        return Ok(());
    }
    Err(InstallError::Systemctl {
        args: args.join(" "),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Writes `text` to `path` through a temporary file renamed over it, so a
/// crash never leaves half a unit; creates the folder if needed.
fn write_whole(path: &Path, text: &str) -> Result<(), InstallError> {
    use std::os::unix::fs::OpenOptionsExt;
    let failed = |source| InstallError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(failed)?;
    }
    let tmp = path.with_extension("service.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(failed)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(failed)?;
    std::fs::rename(&tmp, path).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit() -> ServiceUnit {
        ServiceUnit::new(
            "demo",
            "A demo",
            vec!["/opt/demo bin/demo".into(), "50%".into(), "$HOME".into()],
        )
    }

    #[test]
    fn words_are_quoted_so_systemd_reads_them_back_unchanged() {
        assert_eq!(quote("/usr/bin/x", true).unwrap(), "/usr/bin/x");
        assert_eq!(quote("a b", true).unwrap(), "\"a b\"");
        assert_eq!(quote("50%", true).unwrap(), "50%%");
        assert_eq!(quote("$HOME", true).unwrap(), "$$HOME");
        assert_eq!(quote("$HOME", false).unwrap(), "$HOME");
        assert_eq!(quote(r#"say "hi"\"#, true).unwrap(), r#""say \"hi\"\\""#);
        assert_eq!(quote("", true).unwrap(), "\"\"");
        assert!(matches!(
            quote("a\nb", true),
            Err(UnitError::ControlCharacter(_))
        ));
    }

    #[test]
    fn unit_has_exec_start_settings_and_install_section() {
        let mut u = unit();
        u.set("Restart", "on-failure");
        u.set_paths("ReadWritePaths", &["/var/lib/my data".into()])
            .unwrap();
        let text = u.render().unwrap();
        assert!(
            text.contains("\nExecStart=\"/opt/demo bin/demo\" 50%% $$HOME\n"),
            "{text}"
        );
        assert!(text.contains("\nRestart=on-failure\n"), "{text}");
        assert!(
            text.contains("\nReadWritePaths=\"/var/lib/my data\"\n"),
            "{text}"
        );
        assert!(text.ends_with("[Install]\nWantedBy=multi-user.target\n"));
        assert!(
            text.starts_with("# Written by `demo install`; `demo uninstall` "),
            "{text}"
        );
    }

    #[test]
    fn relative_paths_are_refused() {
        assert!(matches!(
            unit().set_paths("ReadWritePaths", &["var/lib".into()]),
            Err(UnitError::RelativePath(_))
        ));
    }

    #[test]
    fn install_under_a_root_writes_only_the_unit_and_uninstall_removes_it() {
        let root = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        install(&unit(), Some(root.path()), &mut out).unwrap();
        let path = root.path().join("etc/systemd/system/demo.service");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            unit().render().unwrap()
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let files: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(files.len(), 1, "no temporary file left");
        uninstall("demo.service", Some(root.path()), &mut out).unwrap();
        assert!(!path.exists());
        assert!(matches!(
            uninstall("demo.service", Some(root.path()), &mut out),
            Err(InstallError::NotInstalled { .. })
        ));
    }
}
