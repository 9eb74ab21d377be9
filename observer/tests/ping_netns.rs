//! `probe: ping` for real, with the real `observer --try` binary, in network
//! namespaces of our own: the root namespace of a test box usually refuses
//! unprivileged ICMP sockets (`net.ipv4.ping_group_range` = `1 0`), and
//! changing it there would change the box. A namespace has its own value of
//! the sysctl and its own `lo`, so one namespace allows the sockets and
//! another refuses them, whatever the box says.
//!
//! Needs root (`ip netns`); as anyone else it prints `SKIPPED: needs root`,
//! unless `AX436_REQUIRE_TOOLS=1` (CI), where it fails instead. Every
//! namespace is deleted at the end, also when an assertion fails (a Drop
//! guard), and every command runs with a bound on its time.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Bound on each command: `ip` takes milliseconds, a `--try` of two pings
/// with `timeout=` 2 s and 1 s at most about 3 s.
const PATIENCE: Duration = Duration::from_secs(30);

/// Whether this run may skip for lack of privileges or tools; prints why.
fn skip(why: &str) -> bool {
    if std::env::var_os("AX436_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
        panic!("{why} and AX436_REQUIRE_TOOLS=1");
    }
    println!("SKIPPED: {why}");
    true
}

/// Runs `program args` with its output captured, killed after [`PATIENCE`].
fn run(program: &str, args: &[&str]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} {args:?} did not finish within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `program args` must succeed.
fn must(program: &str, args: &[&str]) {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace of this test, deleted when dropped.
struct Namespace(String);

impl Namespace {
    /// `ax436-ping-<pid>-<what>` with its `lo` up; `None` (after saying
    /// why) when this run may not create one.
    fn new(what: &str) -> Option<Namespace> {
        // SAFETY: geteuid has no preconditions and touches no memory.
        if unsafe { libc::geteuid() } != 0 {
            skip("needs root");
            return None;
        }
        let name = format!("ax436-ping-{}-{what}", std::process::id());
        let added = Command::new("ip")
            .args(["netns", "add", &name])
            .stdin(Stdio::null())
            .output();
        match added {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                skip(&format!(
                    "`ip netns add` failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                return None;
            }
            Err(e) => {
                skip(&format!("cannot run `ip`: {e}"));
                return None;
            }
        }
        let ns = Namespace(name);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        Some(ns)
    }

    /// `args` run in the namespace; must succeed.
    fn exec(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.0];
        all.extend(args);
        must("ip", &all);
    }

    /// Which groups may open unprivileged ICMP sockets here.
    fn ping_groups(&self, range: &str) {
        self.exec(&[
            "sysctl",
            "-q",
            "-w",
            &format!("net.ipv4.ping_group_range={range}"),
        ]);
    }

    /// `observer --try FILE` in the namespace: its exit status and stdout.
    fn try_file(&self, file: &Path) -> (bool, String) {
        let file = file.to_str().expect("a UTF-8 temporary path");
        let out = run(
            "ip",
            &[
                "netns",
                "exec",
                &self.0,
                env!("CARGO_BIN_EXE_observer"),
                "--try",
                file,
            ],
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        (out.status.success(), stdout)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Not `must`: a failed delete must not hide the test's own panic.
        let out = Command::new("ip")
            .args(["netns", "del", &self.0])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            other => eprintln!("cannot delete network namespace {}: {other:?}", self.0),
        }
    }
}

/// Loopback, which answers; and an address of 198.18.0.0/15 (benchmark
/// tests, RFC 2544: never a real host) on a link where nothing answers.
const PINGS: &str = "\
probe: ping 127.0.0.1 timeout=2
alert_failed: tags=net,lo message=loopback does not answer

probe: ping 198.18.255.254 timeout=1
alert_failed: tags=net,lab message=the lab router does not answer
";

fn host_file(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("pinger");
    std::fs::write(&file, PINGS).unwrap();
    file
}

/// The `--try` lines of the probe of line `line`: the result, then what it
/// would raise.
fn probe_lines(stdout: &str, line: usize) -> (String, String) {
    let head = format!("probe hosts/pinger:{line}: ");
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with(&head));
    let result = lines
        .next()
        .unwrap_or_else(|| panic!("no {head}: {stdout}"));
    let raised = lines.next().unwrap_or_default();
    (result[head.len()..].to_string(), raised.trim().to_string())
}

#[test]
fn ping_where_icmp_sockets_are_allowed_answers_on_loopback_and_times_out_elsewhere() {
    let Some(ns) = Namespace::new("allowed") else {
        return;
    };
    ns.ping_groups("0 2147483647");
    // A link of its own for 198.18.0.0/15: echoes go out of it (a veth
    // whose peer has no address) and nothing ever answers, so the probe
    // waits out its timeout instead of failing at once with no route.
    ns.exec(&[
        "ip", "link", "add", "ax436a", "type", "veth", "peer", "name", "ax436b",
    ]);
    ns.exec(&["ip", "addr", "add", "198.18.0.1/15", "dev", "ax436a"]);
    ns.exec(&["ip", "link", "set", "ax436a", "up"]);
    ns.exec(&["ip", "link", "set", "ax436b", "up"]);
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout) = ns.try_file(&host_file(dir.path()));
    assert!(ok, "no configuration error expected: {stdout}");

    let (result, raised) = probe_lines(&stdout, 2);
    let ms: f64 = result
        .strip_prefix("ping 127.0.0.1 answered in ")
        .and_then(|r| r.strip_suffix(" ms"))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("{result}"));
    assert!((0.0..2000.0).contains(&ms), "{result}");
    assert_eq!(raised, "would raise nothing");

    let (result, raised) = probe_lines(&stdout, 5);
    let reason = "no answer from 198.18.255.254 within 1.0 s";
    assert_eq!(result, format!("ping 198.18.255.254 failed: {reason}"));
    assert_eq!(
        raised,
        format!("would raise alert [net,lab] the lab router does not answer: {reason}")
    );
}

#[test]
fn ping_where_icmp_sockets_are_refused_says_it_cannot_ping_and_why() {
    let Some(ns) = Namespace::new("refused") else {
        return;
    };
    // The kernel's default: no group at all.
    ns.ping_groups("1 0");
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout) = ns.try_file(&host_file(dir.path()));
    assert!(ok, "no configuration error expected: {stdout}");
    // SAFETY: getgid has no preconditions and touches no memory.
    let gid = unsafe { libc::getgid() };
    let why = format!(
        "the kernel does not allow unprivileged ICMP (ping) sockets for this observer's group (gid {gid}); \
         allow it with: sysctl -w net.ipv4.ping_group_range=\"{gid} {gid}\""
    );
    for (line, tags, message) in [
        (2, "net,lo", "loopback does not answer"),
        (5, "net,lab", "the lab router does not answer"),
    ] {
        let (result, raised) = probe_lines(&stdout, line);
        assert!(
            result.contains("failed: ") && result.contains(&why),
            "{result}"
        );
        assert!(
            raised.starts_with(&format!("would raise alert [{tags}] {message}: {why}")),
            "{raised}"
        );
    }
}
