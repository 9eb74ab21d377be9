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
