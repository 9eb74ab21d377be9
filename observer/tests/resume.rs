//! Resuming after a restart. The tailer against real files: a checkpoint
//! taken, the file grown, rotated or rewritten, and a new tailer resumed
//! from the checkpoint. Then the real observer binary against the real
//! supervisor (in-process, loopback): killed with SIGKILL while its log
//! grows, its log rotated while it is down, and a log grown past the bound
//! — every line in the stream exactly once, or the skip reported once; lines
//! read again after a restart while their window is inactive stay silent.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{ObserverProcess, append, error_watch, test_port};
use observer::positions::{PositionsFile, positions_path};
use observer::tailer::{Checkpoint, LogTailer};
use observer::timers::RESUME_MAX_BEHIND;

const WAIT: Duration = Duration::from_secs(30);

fn poll(t: &mut LogTailer) -> Vec<String> {
    let mut lines = Vec::new();
    t.poll(Instant::now(), &mut Vec::new(), &mut |l: &[u8]| {
        lines.push(String::from_utf8_lossy(l).into_owned())
    });
    lines
}

/// The lines of `path` from its start, and the checkpoint after them.
fn read_all(path: &Path) -> (Vec<String>, Vec<Checkpoint>) {
    // Without checkpoints a tailer starts at the end; its checkpoint moved
    // to 0 starts one at the beginning.
    let at_end = LogTailer::at_end(path, Instant::now()).checkpoints();
    let start: Vec<Checkpoint> = at_end
        .into_iter()
        .map(|c| Checkpoint { offset: 0, ..c })
        .collect();
    let (mut t, _) = LogTailer::resume(path, &start, Instant::now());
    (poll(&mut t), t.checkpoints())
}

#[test]
fn a_tailer_resumes_after_the_last_complete_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("app.log");
    append(&p, "a\nb\nhalf");
    let (lines, cps) = read_all(&p);
    assert_eq!(lines, ["a", "b"]);
    assert_eq!(cps.len(), 1);
    // Down: the half line is finished and more written.
    append(&p, " done\nc\n");
    let (mut t, resumed) = LogTailer::resume(&p, &cps, Instant::now());
    assert_eq!((resumed.files, resumed.skipped), (1, 0));
    assert_eq!(poll(&mut t), ["half done", "c"]);
}

#[test]
fn a_file_rotated_while_down_is_finished_first_then_the_new_one_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("app.log");
    append(&p, "a\n");
    let (_, cps) = read_all(&p);
    append(&p, "b\n");
    std::fs::rename(&p, dir.path().join("app.log.1")).unwrap();
    append(&p, "c\n");
    let (mut t, resumed) = LogTailer::resume(&p, &cps, Instant::now());
    assert_eq!(resumed.files, 1);
    assert_eq!(poll(&mut t), ["b", "c"]);
}

#[test]
fn a_file_rotated_away_and_gone_leaves_the_new_one_read_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("app.log");
    append(&p, "a\n");
    let (_, cps) = read_all(&p);
    std::fs::rename(&p, dir.path().join("old")).unwrap();
    append(&p, "new 1\n");
    // The rotated file compressed away: only the new file is left.
    std::fs::remove_file(dir.path().join("old")).unwrap();
    let (mut t, resumed) = LogTailer::resume(&p, &cps, Instant::now());
    assert_eq!(resumed.files, 0);
    assert_eq!(poll(&mut t), ["new 1"]);
}

#[test]
fn a_file_rewritten_while_down_is_not_taken_for_the_checkpointed_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("app.log");
    append(&p, "first version\n");
    let (_, cps) = read_all(&p);
    // Same inode, other first bytes (truncated and refilled).
    let mut f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(0).unwrap();
    f.write_all(b"second version, longer\n").unwrap();
    let (mut t, resumed) = LogTailer::resume(&p, &cps, Instant::now());
    assert_eq!(resumed.files, 0);
    assert_eq!(poll(&mut t), ["second version, longer"]);
}

#[test]
fn a_file_far_behind_resumes_at_the_bound_on_a_line_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("app.log");
    append(&p, "seen\n");
    let (_, cps) = read_all(&p);
    // 100-byte lines past the bound, then one last line.
    let line = format!("{}\n", "x".repeat(99));
    let count = (RESUME_MAX_BEHIND / 100) as usize + 1000;
    append(&p, line.repeat(count));
    append(&p, "last\n");
    let size = std::fs::metadata(&p).unwrap().len();
    let (mut t, resumed) = LogTailer::resume(&p, &cps, Instant::now());
    assert_eq!(resumed.skipped, size - RESUME_MAX_BEHIND - 5);
    let mut lines = Vec::new();
    while lines.last().map(String::as_str) != Some("last") {
        let more = poll(&mut t);
        assert!(!more.is_empty(), "never reached the last line");
        lines.extend(more);
    }
    // The line the bound cut is dropped, never handed out as a fragment.
    assert!(lines[..lines.len() - 1].iter().all(|l| *l == line[..99]));
    let whole_lines_behind = (RESUME_MAX_BEHIND - 5) / 100;
    assert_eq!(lines.len() as u64 - 1, whole_lines_behind);
}

/// The real supervisor, running on a thread of this test until dropped.
struct InProcessSupervisor {
    _running: supervisor::Background,
    stream: PathBuf,
}

impl InProcessSupervisor {
    fn start(dir: &Path, port: u16, host: &str, text: String) -> Self {
        std::fs::create_dir_all(dir.join("hosts")).unwrap();
        std::fs::create_dir_all(dir.join("includes")).unwrap();
        std::fs::write(dir.join("hosts").join(host), text).unwrap();
        let config = conf::SupervisorConfig::loopback(dir, port).unwrap();
        let stream = config.event_stream.clone();
        InProcessSupervisor {
            _running: supervisor::Background::start(config).unwrap(),
            stream,
        }
    }

    /// Messages of the stream's events with `tags`, in stream order.
    fn messages(&self, tags: &str) -> Vec<String> {
        let text = std::fs::read_to_string(&self.stream).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["tags"] == tags)
            .map(|v| v["message"].as_str().unwrap().to_string())
            .collect()
    }

    fn counts(&self) -> BTreeMap<String, usize> {
        let mut seen = BTreeMap::new();
        for m in self.messages("app") {
            *seen.entry(m).or_insert(0) += 1;
        }
        seen
    }

    fn wait_for(&self, what: &str, cond: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; stream:\n{}",
                std::fs::read_to_string(&self.stream).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until each of `want` is in the stream, then checks that none
    /// is there twice.
    fn expect_each_once(&self, want: &[String]) {
        self.wait_for("every line", |s| {
            let seen = s.counts();
            want.iter().all(|m| seen.contains_key(m))
        });
        let doubled: Vec<_> = self.counts().into_iter().filter(|(_, n)| *n > 1).collect();
        assert!(doubled.is_empty(), "written twice: {doubled:?}");
    }
}

/// Appends a probe line every 200 ms until one reaches the stream.
fn wait_until_followed(sup: &InProcessSupervisor, log: &Path, what: &str) {
    let deadline = Instant::now() + WAIT;
    let mut n = 0;
    loop {
        n += 1;
        append(log, format!("ERROR {what} probe {n}\n"));
        std::thread::sleep(Duration::from_millis(200));
        let probe = format!("ERROR {what} probe");
        if sup.messages("app").iter().any(|m| m.starts_with(&probe)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never followed {}",
            log.display()
        );
    }
}

/// Lines `from..to`, as the writer writes them and the stream shows them.
fn lines(from: usize, to: usize) -> Vec<String> {
    (from..to).map(|i| format!("ERROR line {i}")).collect()
}

fn write_lines(log: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    append(log, text);
}

#[test]
fn observer_killed_while_its_log_grows_resumes_with_every_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::File::create(&log).unwrap();
    let port = test_port(1);
    let sup = InProcessSupervisor::start(dir.path(), port, "resume-one", error_watch(&log));
    let mut obs = ObserverProcess::start(port, "resume-one", dir.path());
    wait_until_followed(&sup, &log, "first");
    // A writer at about 1,000 lines/s through the kill and the restart.
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for chunk in 0..60 {
                write_lines(&log, &lines(chunk * 50, chunk * 50 + 50));
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    sup.wait_for("the first lines", |s| {
        s.counts().contains_key("ERROR line 100")
    });
    obs.kill9();
    // Down for a while: these lines are only in the file.
    std::thread::sleep(Duration::from_millis(800));
    let _obs = ObserverProcess::start(port, "resume-one", dir.path());
    writer.join().unwrap();
    sup.expect_each_once(&lines(0, 3000));
    assert!(positions_path(dir.path(), "resume-one").exists());
}

#[test]
fn a_log_rotated_while_the_observer_is_down_is_finished_first() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::File::create(&log).unwrap();
    let port = test_port(2);
    let sup = InProcessSupervisor::start(dir.path(), port, "resume-two", error_watch(&log));
    let mut obs = ObserverProcess::start(port, "resume-two", dir.path());
    wait_until_followed(&sup, &log, "first");
    write_lines(&log, &lines(0, 100));
    sup.expect_each_once(&lines(0, 100));
    obs.kill9();
    // While down: the end of the old file, a rename rotation, a new file.
    write_lines(&log, &lines(100, 200));
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    write_lines(&log, &lines(200, 300));
    let _obs = ObserverProcess::start(port, "resume-two", dir.path());
    sup.expect_each_once(&lines(0, 300));
    // In order: the rotated file's lines before the new file's.
    let order: Vec<String> = sup
        .messages("app")
        .into_iter()
        .filter(|m| m.starts_with("ERROR line"))
        .collect();
    assert_eq!(order, lines(0, 300));
}

#[test]
fn a_log_grown_past_the_bound_while_down_is_skipped_and_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::File::create(&log).unwrap();
    let port = test_port(3);
    let sup = InProcessSupervisor::start(dir.path(), port, "resume-three", error_watch(&log));
    let mut obs = ObserverProcess::start(port, "resume-three", dir.path());
    wait_until_followed(&sup, &log, "first");
    obs.kill9();
    // While down: one line that will be skipped, then more than the bound
    // of lines that match nothing, then one line within the bound.
    write_lines(&log, &["ERROR too far back".to_string()]);
    let filler = format!("{}\n", "quiet ".repeat(16));
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let block = filler.repeat(10_000);
    let mut written = 0;
    while written < RESUME_MAX_BEHIND + (4 << 20) {
        f.write_all(block.as_bytes()).unwrap();
        written += block.len() as u64;
    }
    drop(f);
    write_lines(&log, &["ERROR within the bound".to_string()]);
    let _obs = ObserverProcess::start(port, "resume-three", dir.path());
    sup.expect_each_once(&["ERROR within the bound".to_string()]);
    assert!(!sup.counts().contains_key("ERROR too far back"));
    let skips: Vec<String> = sup
        .messages("SYSTEM")
        .into_iter()
        .filter(|m| m.contains("were skipped"))
        .collect();
    assert_eq!(skips.len(), 1, "{skips:?}");
    assert!(skips[0].contains(&log.display().to_string()), "{skips:?}");
}

#[test]
fn a_damaged_positions_file_falls_back_to_the_end_of_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::File::create(&log).unwrap();
    std::fs::write(positions_path(dir.path(), "resume-four"), "garbage\n").unwrap();
    assert!(PositionsFile::load(&positions_path(dir.path(), "resume-four")).is_err());
    append(&log, "ERROR before the start\n");
    let port = test_port(4);
    let sup = InProcessSupervisor::start(dir.path(), port, "resume-four", error_watch(&log));
    let _obs = ObserverProcess::start(port, "resume-four", dir.path());
    wait_until_followed(&sup, &log, "first");
    assert!(!sup.counts().contains_key("ERROR before the start"));
}

#[test]
fn lines_replayed_while_their_window_is_inactive_stay_silent() {
    use chrono::Datelike;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let probe = dir.path().join("probe.log");
    std::fs::File::create(&log).unwrap();
    // A one-minute window three days from today: inactive now.
    let day = (chrono::Local::now().weekday().num_days_from_sunday() + 3) % 7;
    let text = format!(
        "file: {}\nmatch: ERROR\nactive: {day};10:00-10:01\nalert_all: tags=app\n\
         file: {}\nmatch: ERROR\nalert_all: tags=always\n\
         file: {}\nmatch: ERROR\nalert_all: tags=probe\n",
        log.display(),
        log.display(),
        probe.display()
    );
    let port = test_port(5);
    let sup = InProcessSupervisor::start(dir.path(), port, "resume-five", text);
    let probe_arrives = |n: &mut usize| {
        let deadline = Instant::now() + WAIT;
        let seen = |s: &InProcessSupervisor| s.messages("probe").len();
        let before = seen(&sup);
        while seen(&sup) == before {
            *n += 1;
            append(&probe, format!("ERROR probe {n}\n"));
            std::thread::sleep(Duration::from_millis(200));
            assert!(Instant::now() < deadline, "probe never arrived");
        }
    };
    let mut n = 0;
    let mut obs = ObserverProcess::start(port, "resume-five", dir.path());
    probe_arrives(&mut n);
    obs.kill9();
    write_lines(&log, &lines(0, 10));
    let _obs = ObserverProcess::start(port, "resume-five", dir.path());
    probe_arrives(&mut n);
    // Read again after the restart (the group without a window raises
    // them) and judged now, so the windowed group stays silent.
    sup.wait_for("the replayed lines", |s| {
        s.messages("always") == lines(0, 10)
    });
    let size = std::fs::metadata(&log).unwrap().len();
    let path = positions_path(dir.path(), "resume-five");
    let deadline = Instant::now() + WAIT;
    loop {
        let file = PositionsFile::load(&path).unwrap();
        let read = file
            .positions
            .of(&log)
            .last()
            .is_some_and(|c| c.offset == size);
        if read {
            break;
        }
        assert!(Instant::now() < deadline, "{log:?} never read to {size}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(sup.messages("app").is_empty(), "{:?}", sup.messages("app"));
}
