//! Every followed log file and the groups fed by it. A file followed by
//! several groups is opened once and searched a block of lines at a time
//! for any pattern of any of its groups ([`LineScan`]); each line found is
//! matched once per group. Applying a new configuration keeps the tailers
//! (and so the read positions) of files that are still followed; a file
//! newly followed resumes from the positions read at start
//! ([`LogFiles::resume_from`]), if any, or starts at its end.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use conf::LogWatch;
use conf::host::REGEX_SIZE_LIMIT;

use crate::clock::Now;
use crate::log_rule::LogRule;
use crate::positions::Positions;
use crate::problems::ProblemBoard;
use crate::raised::Raised;
use crate::scan::{GroupPatterns, LineScan};
use crate::tailer::{LogTailer, TailState};

struct Group {
    patterns: GroupPatterns,
    rule: LogRule,
}

struct FollowedFile {
    tailer: LogTailer,
    groups: Vec<Group>,
    /// Every pattern of `groups` at once.
    scan: LineScan,
}

/// The log files of the applied configuration.
#[derive(Default)]
pub struct LogFiles {
    files: BTreeMap<PathBuf, FollowedFile>,
    /// One read buffer for every file.
    buf: Vec<u8>,
    /// Positions from the last run, until the first configuration is
    /// applied.
    resume: Option<Positions>,
    /// Files resumed with bytes skipped, not reported yet.
    skipped: Vec<(PathBuf, u64)>,
}

/// Problem ids of log files start with this.
pub const LOG_PROBLEM_PREFIX: &str = crate::problems::FILE_PROBLEM_PREFIX;

/// Problem id of a log file: `observer-file-` and the hash of its path (as
/// check ids are made; see [`conf::CheckId`]).
pub fn problem_key(path: &Path) -> String {
    let path = path.to_string_lossy();
    format!(
        "{LOG_PROBLEM_PREFIX}{:08x}",
        conf::CheckId::hash_lines([path.as_ref()])
    )
}

impl LogFiles {
    pub fn new() -> Self {
        Self::default()
    }

    /// Positions of the last run: files the next configuration follows
    /// resume from them.
    pub fn resume_from(&mut self, positions: Positions) {
        self.resume = Some(positions);
    }

    /// The read positions of every followed file (and, before the first
    /// configuration, those of the last run, kept as they were).
    pub fn checkpoints(&self) -> Positions {
        if let Some(p) = &self.resume {
            return p.clone();
        }
        let files = self.files.iter().flat_map(|(path, f)| {
            f.tailer
                .checkpoints()
                .into_iter()
                .map(move |cp| (path.clone(), cp))
        });
        Positions {
            files: files.collect(),
        }
    }

    /// Follows exactly the files of `watches`; tailers of files already
    /// followed keep their position, new ones resume from the positions of
    /// the last run or start at the end.
    pub fn apply(&mut self, watches: &[LogWatch], now: Instant) {
        let mut old = std::mem::take(&mut self.files);
        let resume = self.resume.take().unwrap_or_default();
        for w in watches {
            let path = PathBuf::from(&w.file);
            let entry = self.files.entry(path.clone()).or_insert_with(|| {
                let tailer = match old.remove(&path) {
                    Some(f) => f.tailer,
                    None => {
                        let (t, resumed) = LogTailer::resume(&path, &resume.of(&path), now);
                        if resumed.skipped > 0 {
                            self.skipped.push((path.clone(), resumed.skipped));
                        }
                        t
                    }
                };
                FollowedFile {
                    tailer,
                    groups: Vec::new(),
                    scan: LineScan::new([], 0),
                }
            });
            entry.groups.push(Group {
                patterns: GroupPatterns::new(&w.set, REGEX_SIZE_LIMIT),
                rule: LogRule::new(w, now),
            });
        }
        for f in self.files.values_mut() {
            // Each group's set fits conf's limit, so all of them fit this.
            let limit = REGEX_SIZE_LIMIT.saturating_mul(f.groups.len());
            let patterns = f.groups.iter().flat_map(|g| g.patterns.patterns());
            f.scan = LineScan::new(patterns.map(String::as_str), limit);
        }
    }

    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.keys().map(PathBuf::as_path)
    }

    /// Reads `path` if it is followed; returns whether more is waiting.
    pub fn poll_file(
        &mut self,
        path: &Path,
        at: Now,
        problems: &mut ProblemBoard,
        out: &mut Vec<Raised>,
    ) -> bool {
        let (now, local, time_ms) = (at.mono, at.local, at.wall_ms);
        let Some(f) = self.files.get_mut(path) else {
            return false;
        };
        if let Some(i) = self.skipped.iter().position(|(p, _)| p == path) {
            let (_, bytes) = self.skipped.swap_remove(i);
            let msg = format!(
                "log file {}: {bytes} bytes written while the observer was down were skipped \
                 (it resumes at most {} MiB behind the end)",
                path.display(),
                crate::timers::RESUME_MAX_BEHIND >> 20
            );
            tracing::warn!("{msg}");
            out.push(Raised::system(time_ms, msg));
        }
        for g in &mut f.groups {
            out.extend(g.rule.on_tick(now, local, time_ms, problems));
        }
        let FollowedFile {
            tailer,
            groups,
            scan,
        } = f;
        let mut judge = |bytes: &[u8]| {
            // The plain check is far faster than the lossy decoder, and
            // nearly every line passes it.
            let text = match std::str::from_utf8(bytes) {
                Ok(text) => Cow::Borrowed(text),
                Err(_) => String::from_utf8_lossy(bytes),
            };
            for g in groups.iter_mut() {
                if g.patterns.is_match(&text) {
                    out.extend(g.rule.on_match(now, local, time_ms, &text, problems));
                }
            }
        };
        let outcome = tailer.poll_blocks(now, &mut self.buf, &mut |block: &[u8]| {
            scan.for_each_candidate(block, &mut judge)
        });
        let key = problem_key(path);
        let report = match &outcome.state {
            TailState::Following => problems.clear(&key, time_ms),
            TailState::Missing => problems.raise(
                &key,
                &format!("log file {} does not exist", path.display()),
                time_ms,
            ),
            TailState::Unreadable(e) => problems.raise(
                &key,
                &format!("log file {} cannot be read: {e}", path.display()),
                time_ms,
            ),
        };
        out.extend(report);
        outcome.more
    }

    /// Reads every followed file; returns whether any has more waiting.
    pub fn poll_all(
        &mut self,
        at: Now,
        problems: &mut ProblemBoard,
        out: &mut Vec<Raised>,
    ) -> bool {
        let paths: Vec<PathBuf> = self.files.keys().cloned().collect();
        let mut more = false;
        for p in paths {
            more |= self.poll_file(&p, at, problems, out);
        }
        more
    }

    /// Closes the blocks that ended by `now`.
    pub fn tick(&mut self, at: Now, problems: &mut ProblemBoard, out: &mut Vec<Raised>) {
        let (now, local, time_ms) = (at.mono, at.local, at.wall_ms);
        for f in self.files.values_mut() {
            for g in &mut f.groups {
                out.extend(g.rule.on_tick(now, local, time_ms, problems));
            }
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.files
            .values()
            .flat_map(|f| f.groups.iter())
            .filter_map(|g| g.rule.next_deadline())
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::LocalMinute;
    use std::io::Write;

    const NOON: LocalMinute = LocalMinute {
        weekday: 1,
        hour: 12,
        minute: 0,
    };

    fn messages(files: &mut LogFiles, path: &Path, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        let at = Now {
            mono: now,
            wall_ms: 0,
            local: NOON,
        };
        files.poll_all(at, &mut ProblemBoard::new(), &mut out);
        assert!(files.paths().any(|p| p == path));
        out.into_iter().map(|r| r.message).collect()
    }

    #[test]
    fn a_line_with_invalid_bytes_is_matched_as_text_and_sent_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, b"").unwrap();
        let text = format!(
            "file: {}\nmatch: bad .* bytes\nmatch: ^plain\nalert_all: tags=t\n",
            path.display()
        );
        let (config, errors) = conf::parse_host(&text);
        assert!(errors.is_empty(), "{errors:?}");
        let now = Instant::now();
        let mut files = LogFiles::new();
        files.apply(&config.logs, now);

        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"bad \xff\xfe bytes\nplain \xc3\xa9t\xc3\xa9\nno match \xff\n")
            .unwrap();
        assert_eq!(
            messages(&mut files, &path, now),
            ["bad \u{fffd}\u{fffd} bytes", "plain été"]
        );
    }
}
