//! The typed values a host configuration parses into: what an operator wrote,
//! with regexes compiled and numbers checked, and where each group came from.

use std::fmt;
use std::time::Duration;

use regex::{Regex, RegexSet};

use crate::windows::ActiveWindows;

/// Where a configuration line came from: the file label as an operator knows
/// it (`hosts/web1`, `includes/common`), the 1-based line, and the chain of
/// `include:` lines that led there (outermost first).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub file: String,
    pub line: usize,
    /// `(file, line)` of each `include:` directive on the way, outermost first.
    pub included_from: Vec<(String, usize)>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A host's whole configuration: every group that built, in file order.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// `ps_command:` — when set, process watches match the lines of its output
    /// instead of the process table.
    pub ps_command: Option<CommandLine>,
    pub logs: Vec<LogWatch>,
    pub processes: Vec<ProcessWatch>,
    pub commands: Vec<CommandWatch>,
    /// `metric:` groups (system metrics read in-process).
    pub metrics: Vec<crate::checks_model::MetricWatch>,
    /// `probe:` groups (TCP, HTTP and ping probes).
    pub probes: Vec<crate::checks_model::ProbeWatch>,
}

impl HostConfig {
    /// Number of monitors of every kind, for one-line summaries.
    pub fn group_count(&self) -> usize {
        self.logs.len()
            + self.processes.len()
            + self.commands.len()
            + self.metrics.len()
            + self.probes.len()
    }
}

/// A command split into words the way a shell would (quotes honoured), to be
/// run without a shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// The text as written, for messages.
    pub text: String,
    /// Program and arguments; never empty.
    pub argv: Vec<String>,
}

/// `file:` + `match:` lines + one `alert_*` line.
#[derive(Debug, Clone)]
pub struct LogWatch {
    pub file: String,
    /// The `match:` patterns as written, in order.
    pub patterns: Vec<String>,
    /// The same patterns compiled as one set (size-limited).
    pub set: RegexSet,
    pub tags: String,
    pub alert: LogAlert,
    /// `active:` windows in front of the alert, if any.
    pub active: Option<ActiveWindows>,
    /// The group's id (see [`CheckId`]).
    pub check: CheckId,
    /// `for=`, `clear_for=`, `repeat=` of an `alert_inactive:` (defaults
    /// for the other alerts, which have no problem state).
    pub state: StateKeys,
    /// The `alert_*` line that closed the group.
    pub origin: Origin,
}

/// What a log group raises.
#[derive(Debug, Clone, PartialEq)]
pub enum LogAlert {
    /// `alert_all:` — an event per matching line; `message` replaces the line
    /// text when given.
    All { message: Option<String> },
    /// `alert_n:` — an event when more than `threshold` lines match within a
    /// fixed block of `block`.
    N {
        threshold: f64,
        block: Duration,
        message: String,
    },
    /// `alert_count:` — a metric event every `block` with the number of
    /// matching lines in that block.
    Count { block: Duration },
    /// `alert_inactive:` — an event when no line matched in a block.
    Inactive { block: Duration, message: String },
}

/// `process:` + `alert_running:`.
#[derive(Debug, Clone)]
pub struct ProcessWatch {
    pub pattern: Regex,
    pub tags: String,
    pub min: u64,
    pub max: u64,
    pub message: String,
    pub active: Option<ActiveWindows>,
    /// The check's id (see [`CheckId`]).
    pub check: CheckId,
    /// `every=`, `for=` (default 2), `clear_for=`, `repeat=`.
    pub state: StateKeys,
    pub origin: Origin,
}

/// `run:` + the `alert_if:` / `alert_metric:` lines attached to it.
#[derive(Debug, Clone)]
pub struct CommandWatch {
    pub command: CommandLine,
    pub extract: Regex,
    pub alerts: Vec<CommandAlert>,
    /// The `run:` line.
    pub origin: Origin,
}

/// One `alert_if:` or `alert_metric:` of a `run:`.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandAlert {
    pub tags: String,
    /// Which output lines it judges: one (`match=G,TEXT`) or each
    /// (`key=G`).
    pub select: LineSelect,
    pub rule: CommandRule,
    pub active: Option<ActiveWindows>,
    /// The check's id (see [`CheckId`]).
    pub check: CheckId,
    /// `every=`, `for=`, `clear_for=`, `repeat=` of an `alert_if:`
    /// (defaults for `alert_metric:`, which has no problem state).
    pub state: StateKeys,
    pub origin: Origin,
}

/// The id of a check: `KIND-XXXXXXXX`, stable across edits that do not
/// touch the check's own lines.
///
/// KIND is `log` (a `file:` group), `proc` (`process:` + `alert_running:`),
/// `cmd` (one `alert_if:`/`alert_metric:` of a `run:`), `metric` (a
/// `metric:` group) or `probe` (a `probe:` group). XXXXXXXX is
/// [`CheckId::hash_lines`] of the check's own lines: for a log group its
/// `file:` line, its `match:` lines and its `alert_*` line; for a process
/// check its `process:` and `alert_running:` lines; for a command alert the
/// `run:` line and that alert's line; for a metric or probe group its
/// `metric:` or `probe:` line and its alert line. Each line is taken as
/// `directive: argument` with both sides trimmed; on the `alert_*` line the
/// state keys (`every=`, `for=`, `clear_for=`, `repeat=`) are left out and
/// the other `key=value` words are joined by one space, `message=` last.
/// `active:` lines, line numbers and the file a line came from are never
/// part of it: moving a group, editing other groups, tuning its state keys
/// or its `active:` window keeps its id; changing a pattern, the command,
/// a limit, the tags or the message gives it a new one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckId(String);

impl CheckId {
    /// The id of a check of `kind` whose own lines are `lines`.
    pub fn new<'a>(kind: &str, lines: impl IntoIterator<Item = &'a str>) -> CheckId {
        CheckId(format!("{kind}-{:08x}", Self::hash_lines(lines)))
    }

    /// An id given as it is (observer-side conditions, `observer-ps`).
    pub fn named(id: impl Into<String>) -> CheckId {
        CheckId(id.into())
    }

    /// 64-bit FNV-1a over the lines joined by `\n`, folded to 32 bits
    /// (high half XOR low half). Stable: changing it renames every
    /// check of every fleet.
    pub fn hash_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> u32 {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut h = OFFSET;
        for (i, line) in lines.into_iter().enumerate() {
            let sep: &[u8] = if i == 0 { b"" } else { b"\n" };
            for b in sep.iter().chain(line.as_bytes()) {
                h ^= u64::from(*b);
                h = h.wrapping_mul(PRIME);
            }
        }
        ((h >> 32) ^ (h & 0xffff_ffff)) as u32
    }

    /// The id of one line's problem of an `alert_if:` with `key=`:
    /// `cmd-XXXXXXXX:KEY`, e.g. `cmd-1f3a9c02:/var`. A key that would make
    /// the id longer than [`CheckId::MAX_LEN`] keeps its first characters
    /// and ends in `~` and eight hex digits of its hash, so long keys stay
    /// apart.
    pub fn for_line(&self, key: &str) -> CheckId {
        let room = Self::MAX_LEN.saturating_sub(self.0.len() + 1);
        if key.len() <= room {
            return CheckId(format!("{}:{key}", self.0));
        }
        let keep = room.saturating_sub(9);
        let mut cut = keep.min(key.len());
        while !key.is_char_boundary(cut) {
            cut -= 1;
        }
        CheckId(format!(
            "{}:{}~{:08x}",
            self.0,
            &key[..cut],
            Self::hash_lines([key])
        ))
    }

    /// The longest id the wire carries (ids are cut there).
    pub const MAX_LEN: usize = 64;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The state keys of a stateful check's alert line, one type for every
/// kind of check (logs, processes, commands, metrics, probes) so they mean
/// the same everywhere and the observer's problem board reads one shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateKeys {
    /// `every=SECONDS`: how often the check runs; `None` keeps the
    /// observer's default for its kind (20 s for processes, 60 s for
    /// commands, metrics and probes). `alert_inactive:` has none: its
    /// `seconds=` block is when it judges.
    pub every: Option<Duration>,
    /// `for=N`: consecutive bad results before the problem opens.
    pub open_after: u32,
    /// `clear_for=N`: consecutive good results before it clears.
    pub clear_after: u32,
    /// `repeat=SECONDS`: re-send while open; `None`: never.
    pub repeat: Option<Duration>,
}

impl StateKeys {
    /// No key given, for a check that opens after one bad result.
    pub const DEFAULT: StateKeys = StateKeys {
        every: None,
        open_after: 1,
        clear_after: 1,
        repeat: None,
    };
    /// No key given on `alert_running:` (two bad counts, as the Python
    /// agent did).
    pub const PROCESS_DEFAULT: StateKeys = StateKeys {
        open_after: 2,
        ..StateKeys::DEFAULT
    };
}

impl Default for StateKeys {
    fn default() -> Self {
        StateKeys::DEFAULT
    }
}

/// The output lines a command alert judges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineSelect {
    /// `match=G,TEXT`: the first line whose capture group G equals TEXT.
    Equals(GroupEquals),
    /// `key=G` (an `alert_if:` without `match=`): every line the `extract=`
    /// regex matches, each a problem of its own named by capture group G
    /// (every mount point of `df`, every interface).
    Each { key: usize },
}

/// `match=G,TEXT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEquals {
    pub group: usize,
    pub text: String,
}

/// What a command alert does with a selected line.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandRule {
    /// `upper_limit=G,VALUE`: an event when group `group` is above `limit`.
    Above {
        group: usize,
        limit: f64,
        message: String,
    },
    /// `lower_limit=G,VALUE`: an event when group `group` is below `limit`.
    Below {
        group: usize,
        limit: f64,
        message: String,
    },
    /// `alert_metric: metric=G`: a metric event with group `group`'s value.
    Metric { group: usize },
}
