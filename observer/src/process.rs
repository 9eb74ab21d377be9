//! `process:` + `alert_running:` (SPEC §4): the two-checks rule
//! ([`ProcessCheck`]) and counting matching processes, from the process
//! table ([`ProcessTable`], `/proc/PID/cmdline`) or from the
//! output lines of `ps_command`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use conf::{ActiveWindows, CommandLine, HostConfig, ProcessWatch, StateKeys};
use regex::Regex;

use crate::checks::{Check, JobOutput, Work};
use crate::clock::{LocalMinute, Now};
use crate::problems::{CheckRef, PROCESS_PROBLEM, ProblemBoard};
use crate::raised::Raised;
use crate::timers::PROCESS_CHECK_INTERVAL;

/// The `alert_running:` checks of a configuration that run on one interval
/// (`every=`, default 20 s) as one periodic check: one count of the process
/// table (or one `ps_command` run) serves them all.
pub struct ProcessesCheck {
    watches: Vec<ProcessCheck>,
    ps_command: Option<CommandLine>,
    every: Duration,
}

impl ProcessesCheck {
    /// The checks of `config`: one per distinct interval.
    pub fn from_config(config: &HostConfig) -> Vec<Box<dyn Check>> {
        let mut by_interval: Vec<ProcessesCheck> = Vec::new();
        for w in &config.processes {
            let every = w.state.every.unwrap_or(PROCESS_CHECK_INTERVAL);
            match by_interval.iter_mut().find(|c| c.every == every) {
                Some(c) => c.watches.push(ProcessCheck::new(w)),
                None => by_interval.push(ProcessesCheck {
                    watches: vec![ProcessCheck::new(w)],
                    ps_command: config.ps_command.clone(),
                    every,
                }),
            }
        }
        by_interval
            .into_iter()
            .map(|c| Box::new(c) as Box<dyn Check>)
            .collect()
    }
}

impl Check for ProcessesCheck {
    fn interval(&self) -> Duration {
        self.every
    }

    fn work(&self) -> Work {
        Work::CountProcesses {
            patterns: self.watches.iter().map(|p| p.pattern.clone()).collect(),
            ps_command: self.ps_command.clone(),
        }
    }

    fn problem_keys(&self) -> Vec<String> {
        let mut keys = vec![PROCESS_PROBLEM.to_string()];
        keys.extend(self.watches.iter().map(|w| w.check.clone()));
        keys
    }

    fn on_output(
        &mut self,
        output: JobOutput,
        now: Now,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        let counts = match output {
            JobOutput::ProcessCounts(Ok(counts)) => counts,
            JobOutput::ProcessCounts(Err(e)) => {
                return problems
                    .raise(PROCESS_PROBLEM, &e, now.wall_ms)
                    .into_iter()
                    .collect();
            }
            other => {
                tracing::error!("process check given {other:?}");
                return Vec::new();
            }
        };
        let mut out: Vec<Raised> = problems
            .clear(PROCESS_PROBLEM, now.wall_ms)
            .into_iter()
            .collect();
        for (p, n) in self.watches.iter().zip(counts) {
            out.extend(p.observe(n, now.local, now.wall_ms, problems));
        }
        out
    }
}

/// One `alert_running:` check; its counters live on the [`ProblemBoard`].
#[derive(Debug, Clone)]
pub struct ProcessCheck {
    pattern: Regex,
    tags: String,
    min: u64,
    max: u64,
    message: String,
    active: Option<ActiveWindows>,
    check: String,
    keys: StateKeys,
}

impl ProcessCheck {
    pub fn new(watch: &ProcessWatch) -> ProcessCheck {
        ProcessCheck {
            pattern: watch.pattern.clone(),
            tags: watch.tags.clone(),
            min: watch.min,
            max: watch.max,
            message: watch.message.clone(),
            active: watch.active.clone(),
            check: watch.check.to_string(),
            keys: watch.state,
        }
    }

    pub fn pattern(&self) -> &Regex {
        &self.pattern
    }

    /// The result of one check: `count` matching processes. Bad when the
    /// count is outside `[min, max]`; the opening and the clearing both say
    /// `TEXT [COUNT]`.
    pub fn observe(
        &self,
        count: u64,
        local: LocalMinute,
        time_ms: i64,
        problems: &mut ProblemBoard,
    ) -> Option<Raised> {
        let check = CheckRef {
            id: &self.check,
            tags: &self.tags,
            source: None,
            keys: self.keys,
            active: local.allows(self.active.as_ref()),
        };
        let bad = count < self.min || count > self.max;
        problems.result(
            check,
            bad,
            format!("{} [{count}]", self.message),
            Some(count as f64),
            time_ms,
        )
    }
}

/// Counts of lines in `lines` matching each pattern (for `ps_command`).
pub fn count_lines(patterns: &[Regex], lines: &[String]) -> Vec<u64> {
    patterns
        .iter()
        .map(|p| lines.iter().filter(|l| p.is_match(l)).count() as u64)
        .collect()
}

/// The process table, read straight from `/proc`: one `cmdline` file per
/// process and nothing else (sysinfo, used before, opened about four files
/// per process every count; docs/PERFORMANCE.md, "Idle CPU on a quiet
/// machine").
pub struct ProcessTable {
    proc_dir: PathBuf,
    me: u32,
    buf: Vec<u8>,
}

/// The process table could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the process table cannot be read: {0}")]
pub struct ProcessTableError(String);

/// A command line longer than this is matched on its start.
const MAX_CMDLINE: usize = 64 * 1024;

impl Default for ProcessTable {
    /// The table of this box, `/proc`.
    fn default() -> ProcessTable {
        ProcessTable::at(Path::new("/proc"))
    }
}

impl ProcessTable {
    fn at(proc_dir: &Path) -> ProcessTable {
        ProcessTable {
            proc_dir: proc_dir.to_path_buf(),
            me: std::process::id(),
            buf: Vec::with_capacity(4096),
        }
    }

    /// Counts, for each pattern, the processes whose full command line
    /// (arguments joined by spaces) matches. Threads are not processes
    /// here (`/proc` lists only processes); kernel threads and zombies,
    /// whose command line is empty, are not counted; nor is the observer
    /// itself. Command lines are read again at every count: a process
    /// seen between fork and exec would otherwise keep its parent's.
    /// Blocking: run it off the async loop.
    pub fn count(&mut self, patterns: &[Regex]) -> Result<Vec<u64>, ProcessTableError> {
        let entries = std::fs::read_dir(&self.proc_dir)
            .map_err(|e| ProcessTableError(format!("{}: {e}", self.proc_dir.display())))?;
        let mut counts = vec![0u64; patterns.len()];
        let mut seen = 0usize;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            seen += 1;
            if pid == self.me {
                continue;
            }
            // Gone since the listing, or not ours to read: not counted.
            if read_whole(&entry.path().join("cmdline"), &mut self.buf).is_err() {
                continue;
            }
            let cmdline = join_arguments(&self.buf);
            if cmdline.is_empty() {
                continue;
            }
            for (c, pat) in counts.iter_mut().zip(patterns) {
                if pat.is_match(&cmdline) {
                    *c += 1;
                }
            }
        }
        if seen == 0 {
            return Err(ProcessTableError(format!(
                "no process is visible in {}",
                self.proc_dir.display()
            )));
        }
        Ok(counts)
    }
}

/// Reads a file of `/proc` into `buf` (up to [`MAX_CMDLINE`]) with plain
/// reads: such files have no size to ask for first.
fn read_whole(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Read;
    buf.clear();
    let mut file = std::fs::File::open(path)?;
    let mut chunk = [0u8; 4096];
    while buf.len() < MAX_CMDLINE {
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The arguments of a `cmdline` file (NUL-separated) joined by spaces,
/// empty ones left out.
fn join_arguments(raw: &[u8]) -> String {
    raw.split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use conf::Origin;

    fn check(min: u64, max: u64) -> ProcessCheck {
        ProcessCheck::new(&ProcessWatch {
            pattern: Regex::new("nginx").unwrap(),
            tags: "web".into(),
            min,
            max,
            message: "nginx count".into(),
            active: None,
            check: conf::CheckId::named("proc-test"),
            state: conf::StateKeys::PROCESS_DEFAULT,
            origin: Origin {
                file: "hosts/h".into(),
                line: 1,
                included_from: vec![],
            },
        })
    }

    const L: LocalMinute = LocalMinute {
        weekday: 3,
        hour: 12,
        minute: 0,
    };

    #[test]
    fn two_consecutive_checks_outside_open_once_then_one_clearing() {
        let c = check(1, 4);
        let mut b = ProblemBoard::new();
        assert!(c.observe(0, L, 0, &mut b).is_none());
        let open = c.observe(0, L, 20_000, &mut b).unwrap();
        assert_eq!(open.message, "nginx count [0]");
        assert_eq!(open.transition, wire::Transition::Open);
        assert_eq!(open.check.as_deref(), Some("proc-test"));
        // Still outside: nothing more, however long.
        for i in 2..100 {
            assert!(c.observe(5, L, i * 20_000, &mut b).is_none());
        }
        let cleared = c.observe(2, L, 100 * 20_000, &mut b).unwrap();
        assert_eq!(cleared.message, "nginx count [2]");
        assert_eq!(cleared.tags, "web");
        assert_eq!(
            cleared.transition,
            wire::Transition::Clear {
                open_ms: 99 * 20_000
            }
        );
        assert!(c.observe(2, L, 0, &mut b).is_none());
    }

    #[test]
    fn a_single_check_outside_opens_nothing_and_no_clearing() {
        let c = check(1, 4);
        let mut b = ProblemBoard::new();
        assert!(c.observe(0, L, 0, &mut b).is_none());
        assert!(c.observe(1, L, 0, &mut b).is_none());
        assert!(c.observe(0, L, 0, &mut b).is_none());
        assert!(c.observe(1, L, 0, &mut b).is_none());
    }

    #[test]
    fn process_table_counts_a_marked_process_once() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30; exit 0 # proc-table-marker-436"])
            .spawn()
            .unwrap();
        // Let sh fork and exec sleep first.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut table = ProcessTable::default();
        let pats = [Regex::new("proc-table-marker-436").unwrap()];
        let counts = table.count(&pats).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(counts, vec![1]);
    }

    #[test]
    fn a_table_counts_command_lines_joined_and_skips_empty_ones() {
        let dir = tempfile::tempdir().unwrap();
        let write = |pid: &str, cmdline: &[u8]| {
            std::fs::create_dir(dir.path().join(pid)).unwrap();
            std::fs::write(dir.path().join(pid).join("cmdline"), cmdline).unwrap();
        };
        write("10", b"/usr/sbin/nginx\0-g\0daemon off;\0");
        write("11", b"nginx: worker process\0\0\0");
        write("12", b""); // a kernel thread or a zombie
        write("self", b"nginx");
        std::fs::create_dir(dir.path().join("13")).unwrap(); // gone meanwhile
        let mut table = ProcessTable::at(dir.path());
        let pats = [
            Regex::new("nginx").unwrap(),
            Regex::new("^/usr/sbin/nginx -g daemon off;$").unwrap(),
            Regex::new("^$").unwrap(),
        ];
        assert_eq!(table.count(&pats).unwrap(), vec![2, 1, 0]);
        let empty = tempfile::tempdir().unwrap();
        assert!(ProcessTable::at(empty.path()).count(&pats).is_err());
    }
}
