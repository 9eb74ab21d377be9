//! The observer binary's command line: what it prints to a pipe, where its
//! log goes, `--version`, and `install` / `uninstall` under `--root`.

use std::process::{Command, Output};

fn observer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_observer"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

#[test]
fn stderr_that_is_not_a_terminal_gets_no_colour_codes() {
    let logs = tempfile::tempdir().unwrap();
    let log_dir = logs.path().to_str().unwrap();
    // An unusable host name: logged through the same subscriber as every
    // other message, then exit 2, before any socket is opened.
    let out = observer(&["--name", "not a host!", "--log-dir", log_dir]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not usable"), "{stderr}");
    assert!(
        !out.stderr.contains(&0x1b),
        "escape codes on a pipe: {stderr:?}"
    );
}

#[test]
fn own_log_is_named_as_help_says() {
    let logs = tempfile::tempdir().unwrap();
    let out = observer(&[
        "--name",
        "not a host!",
        "--log-dir",
        logs.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let names: Vec<String> = std::fs::read_dir(logs.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let name = &names[0];
    let date = name
        .strip_prefix("observer.")
        .and_then(|rest| rest.strip_suffix(".log"))
        .unwrap_or_else(|| panic!("unexpected log name {name}"));
    assert!(
        chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(),
        "{name}"
    );
    let help = String::from_utf8_lossy(&observer(&["--help"]).stdout).to_string();
    assert!(help.contains("observer.YYYY-MM-DD.log"), "{help}");
    assert!(!help.contains("observer.log"), "{help}");
}

/// The commit `--version` should name: git's HEAD when this workspace is a
/// git work tree of its own (as the build script decides), else `unknown`.
fn expected_commit() -> String {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .canonicalize()
        .unwrap();
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&workspace)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--show-toplevel"]) {
        Some(top) if std::path::Path::new(&top).canonicalize().unwrap() == workspace => {
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap()
        }
        _ => "unknown".to_string(),
    }
}

#[test]
fn version_names_the_release_and_the_commit() {
    if std::env::var_os("AX436_COMMIT").is_some() {
        return; // built with a commit given from outside: nothing to compare
    }
    let out = observer(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "observer {} (commit {})",
            env!("CARGO_PKG_VERSION"),
            expected_commit()
        )
    );
}

fn unit_under(root: &std::path::Path) -> std::path::PathBuf {
    root.join("etc/systemd/system/ax436-observer.service")
}

#[test]
fn install_under_a_root_writes_the_unit_with_the_start_options() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    let key = work.path().join("436.key");
    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
    let spool = work.path().join("spool");
    let out = observer(&[
        "install",
        "9100",
        "--name",
        "web1",
        "--key-file",
        key.to_str().unwrap(),
        "--spool-dir",
        spool.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(unit_under(&root)).unwrap();
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_observer")).unwrap();
    let key = std::fs::canonicalize(&key).unwrap();
    assert!(
        text.contains(&format!(
            "\nExecStart={} 9100 --name web1 --key-file {} --spool-dir {} --log-dir /var/log/436-observer\n",
            exe.display(),
            key.display(),
            spool.display()
        )),
        "{text}"
    );
    // The given spool folder is writable and made; the log folder is the
    // service's own.
    assert!(
        text.contains(&format!("\nReadWritePaths={}\n", spool.display())),
        "{text}"
    );
    assert!(text.contains("\nLogsDirectory=436-observer\n"), "{text}");
    assert!(!text.contains("StateDirectory"), "{text}");
    assert!(
        text.contains("\nCapabilityBoundingSet=CAP_DAC_READ_SEARCH\n"),
        "{text}"
    );
    assert!(text.contains("\nProtectSystem=strict\n"), "{text}");
    assert!(text.contains("\nWantedBy=multi-user.target\n"), "{text}");
    let spool_under_root = root.join(spool.strip_prefix("/").unwrap());
    assert!(
        spool_under_root.is_dir(),
        "spool folder made under the root"
    );
    assert!(!spool.exists(), "nothing made outside the root");

    let out = observer(&["uninstall", "--root", root.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!unit_under(&root).exists());
    let again = observer(&["uninstall", "--root", root.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("nothing to uninstall"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn install_without_folders_uses_the_service_folders() {
    let root = tempfile::tempdir().unwrap();
    let out = observer(&["install", "--root", root.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(unit_under(root.path())).unwrap();
    assert!(
        text.contains(" 9000 --spool-dir /var/lib/436-observer --log-dir /var/log/436-observer\n"),
        "{text}"
    );
    assert!(text.contains("\nStateDirectory=436-observer\n"), "{text}");
    assert!(text.contains("\nLogsDirectory=436-observer\n"), "{text}");
    assert!(!text.contains("ReadWritePaths"), "{text}");
}

#[test]
fn install_passes_bind_on_to_the_unit() {
    let root = tempfile::tempdir().unwrap();
    let out = observer(&[
        "install",
        "--bind",
        "198.18.0.21",
        "--root",
        root.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(unit_under(root.path())).unwrap();
    assert!(
        text.contains(" 9000 --bind 198.18.0.21 --spool-dir "),
        "{text}"
    );
}

#[test]
fn install_refuses_a_bad_key_file_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("436.key");
    std::fs::write(&key, "too short\n").unwrap();
    let root = work.path().join("root");
    let out = observer(&[
        "install",
        "--key-file",
        key.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("64 hex characters"), "{stderr}");
    assert!(!unit_under(&root).exists());
}

#[test]
fn packaged_unit_has_the_whole_sandbox() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/ax436-observer.service"
    ))
    .unwrap();
    for (key, _) in installer::SANDBOX {
        assert!(
            unit.lines().any(|l| l.starts_with(&format!("{key}="))),
            "{key} missing"
        );
    }
    for line in [
        "User=ax436-observer",
        "SupplementaryGroups=adm ax436",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=",
        "EnvironmentFile=/etc/436/observer.env",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
}
