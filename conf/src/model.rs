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
    /// `match=G,TEXT`: the line is considered when capture group `group`
    /// equals `text`.
    pub select: GroupEquals,
    pub rule: CommandRule,
    pub active: Option<ActiveWindows>,
    pub origin: Origin,
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
