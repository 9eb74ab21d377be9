//! The supervisor binary's command line: `--check` finds what would stop a
//! start, `--version`, and `install` / `uninstall` under `--root`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn supervisor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .args(args)
        .output()
        .unwrap()
}

/// A configuration folder with empty hosts/ and includes/ and an
/// `ax436.conf` made of the given lines.
fn config_folder(lines: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("hosts")).unwrap();
    std::fs::create_dir(dir.path().join("includes")).unwrap();
    std::fs::write(
        dir.path().join("hosts/web1"),
        "file: /var/log/a\nmatch: x\nalert_all: tags=a\n",
    )
    .unwrap();
    let conf = dir.path().join("ax436.conf");
    std::fs::write(
        &conf,
        format!(
            "port: 9000\nbroadcast: 127.255.255.255\nhosts: hosts\nincludes: includes\n{lines}"
        ),
    )
    .unwrap();
    (dir, conf)
}

fn check(conf: &Path) -> (Option<i32>, String) {
    let out = supervisor(&["--check", conf.to_str().unwrap()]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

const WRITABLE: &str = "event_stream: stream/events.436\nlog_file: log/supervisor.log\n";

#[test]
fn check_fails_on_a_missing_key_file() {
    let (dir, conf) = config_folder(&format!("{WRITABLE}key_file: 436.key\n"));
    let (code, text) = check(&conf);
    assert_eq!(code, Some(1), "{text}");
    let key = dir.path().join("436.key");
    assert!(
        text.contains(&format!("cannot read key file {}", key.display())),
        "{text}"
    );
}

#[test]
fn check_fails_on_a_malformed_key_file() {
    let (dir, conf) = config_folder(&format!("{WRITABLE}key_file: 436.key\n"));
    std::fs::write(dir.path().join("436.key"), "not hex at all\n").unwrap();
    let (code, text) = check(&conf);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("a key file holds exactly 64 hex characters"),
        "{text}"
    );
}

#[test]
fn check_accepts_a_good_key_and_creates_nothing() {
    let (dir, conf) = config_folder(&format!("{WRITABLE}key_file: 436.key\n"));
    let key = dir.path().join("436.key");
    assert!(
        supervisor(&["--gen-key", key.to_str().unwrap()])
            .status
            .success()
    );
    let (code, text) = check(&conf);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("web1: 1 log watch"), "{text}");
    assert!(!text.contains("warning"), "{text}");
    assert!(
        !dir.path().join("stream").exists(),
        "--check created the stream folder"
    );
    assert!(
        !dir.path().join("log").exists(),
        "--check created the log folder"
    );
}

#[test]
fn check_warns_about_open_mode_without_failing() {
    let (_dir, conf) = config_folder(WRITABLE);
    let (code, text) = check(&conf);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("warning: no key_file"), "{text}");
}

#[test]
fn check_fails_when_the_stream_folder_cannot_be_made() {
    // A file where the folder should be: refused for root too.
    let (dir, conf) =
        config_folder("event_stream: blocked/events.436\nlog_file: log/supervisor.log\n");
    std::fs::write(dir.path().join("blocked"), "").unwrap();
    let (code, text) = check(&conf);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("events.436: the event stream cannot be written"),
        "{text}"
    );
    assert!(!text.contains("the log cannot"), "{text}");
}

#[test]
fn check_fails_when_the_log_cannot_be_written() {
    let (dir, conf) =
        config_folder("event_stream: stream/events.436\nlog_file: log/supervisor.log\n");
    // A folder where the log file should be: cannot be opened for appending.
    std::fs::create_dir_all(dir.path().join("log/supervisor.log")).unwrap();
    let (code, text) = check(&conf);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("supervisor.log: the log cannot be written"),
        "{text}"
    );
}

#[test]
fn version_names_the_release_and_the_commit() {
    let out = supervisor(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let commit = text
        .trim()
        .strip_prefix(&format!(
            "supervisor {} (commit ",
            env!("CARGO_PKG_VERSION")
        ))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected --version output {text:?}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{text}"
    );
}

fn unit_under(root: &Path) -> PathBuf {
    root.join("etc/systemd/system/ax436-supervisor.service")
}

#[test]
fn install_under_a_root_writes_the_unit_and_uninstall_removes_it() {
    let (dir, conf) = config_folder(&format!("{WRITABLE}key_file: 436.key\n"));
    let key = dir.path().join("436.key");
    assert!(
        supervisor(&["--gen-key", key.to_str().unwrap()])
            .status
            .success()
    );
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_str().unwrap();
    let out = supervisor(&["install", conf.to_str().unwrap(), "--root", root_arg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let text = std::fs::read_to_string(unit_under(root.path())).unwrap();
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_supervisor")).unwrap();
    let conf = std::fs::canonicalize(&conf).unwrap();
    let base = conf.parent().unwrap();
    assert!(
        text.contains(&format!(
            "\nExecStart={} {}\n",
            exe.display(),
            conf.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "\nReadWritePaths={} {}\n",
            base.join("stream").display(),
            base.join("log").display()
        )),
        "{text}"
    );
    assert!(text.contains("\nCapabilityBoundingSet=\n"), "{text}");
    assert!(
        text.contains("\nExecReload=/bin/kill -HUP $MAINPID\n"),
        "{text}"
    );
    assert!(text.contains("\nProtectSystem=strict\n"), "{text}");
    // The same system-call filter as the packaged unit, line for line and
    // in order (systemd reads them in order), which CI checks against a
    // traced run as root.
    let packaged = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/ax436-supervisor.service"
    ))
    .unwrap();
    let filter = |unit: &str| -> Vec<String> {
        unit.lines()
            .filter(|l| l.starts_with("SystemCall"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(filter(&text), filter(&packaged));
    assert!(
        filter(&text).contains(&"SystemCallErrorNumber=EPERM".to_owned()),
        "{text}"
    );
    // The sandbox opens only folders that exist: made (under the root).
    for folder in ["stream", "log"] {
        let made = root
            .path()
            .join(base.join(folder).strip_prefix("/").unwrap());
        assert!(made.is_dir(), "{} not made", made.display());
    }

    let out = supervisor(&["uninstall", "--root", root_arg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!unit_under(root.path()).exists());
}

#[test]
fn install_refuses_what_would_stop_a_start_and_writes_nothing() {
    let (_dir, conf) = config_folder(&format!("{WRITABLE}key_file: missing.key\n"));
    let root = tempfile::tempdir().unwrap();
    let out = supervisor(&[
        "install",
        conf.to_str().unwrap(),
        "--root",
        root.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("cannot read key file"), "{text}");
    assert!(text.contains("not installed"), "{text}");
    assert!(!unit_under(root.path()).exists());
}

#[test]
fn packaged_configuration_points_at_the_packaged_folders() {
    let conf = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/debian/ax436.conf"));
    let config = conf::SupervisorConfig::load(conf).unwrap();
    assert_eq!(
        config.event_stream,
        Path::new("/var/lib/436-supervisor/stream/events.436")
    );
    assert_eq!(
        config.log_file,
        Path::new("/var/log/436-supervisor/supervisor.log")
    );
    let etc = conf.parent().unwrap();
    assert_eq!(config.hosts, etc.join("hosts"));
    assert_eq!(config.includes, etc.join("includes"));
    assert_eq!(config.key_file, Some(etc.join("436.key")));
}

#[test]
fn packaged_unit_has_the_whole_sandbox_and_writes_only_its_folders() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/ax436-supervisor.service"
    ))
    .unwrap();
    for (key, _) in installer::SANDBOX {
        assert!(
            unit.lines().any(|l| l.starts_with(&format!("{key}="))),
            "{key} missing"
        );
    }
    for line in [
        "User=ax436",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=",
        "StateDirectory=436-supervisor",
        "LogsDirectory=436-supervisor",
        "ExecStart=/usr/bin/supervisor /etc/436/ax436.conf",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
    assert!(
        !unit
            .lines()
            .any(|l| l.starts_with("ReadWritePaths") || l.starts_with("ReadWriteDirectories")),
        "nothing else writable"
    );
}

#[test]
fn stderr_that_is_not_a_terminal_gets_no_colour_codes() {
    // A start that fails after logging is set up: the key is checked by
    // the running supervisor, and its error goes through the log.
    let (dir, conf) = config_folder(&format!("{WRITABLE}key_file: 436.key\n"));
    std::fs::write(dir.path().join("436.key"), "not a key\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .arg(&conf)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("64 hex characters"), "{stderr}");
    assert!(
        !out.stderr.contains(&0x1b),
        "escape codes on a pipe: {stderr:?}"
    );
}
