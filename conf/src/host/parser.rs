//! The parser of host texts: reads directive lines top to bottom, keeps the
//! group being built and the pending `active:`, and builds each group once
//! its closing line is read. A group with any error is left out; the rest
//! of the file still builds. Errors carry the line's position so they can be
//! merged, in line order, with the errors of include expansion.

use regex::Regex;

use crate::error::{ConfError, shorten};
use crate::host::arguments::{self, AlertLine, CommandAlertLine, RunningRange};
use crate::host::directive::{CommandAlertKind, Directive, DirectiveLine, LogAlertKind};
use crate::host::keys::Args;
use crate::host::regexes::{check_syntax, compile, compile_set};
use crate::marker::parse_marker;
use crate::model::{
    CheckId, CommandAlert, CommandLine, CommandWatch, HostConfig, LogWatch, Origin, ProcessWatch,
};
use crate::windows::ActiveWindows;

mod watches;

/// Label of lines that carry no origin marker (a file parsed directly).
pub const UNMARKED_LABEL: &str = "config";

/// Parses a host configuration. `text` is normally [`crate::expand_host`]'s
/// output, whose markers give each line its file and line; text without
/// markers is labelled `config` with its physical line numbers.
///
/// Never fails as a whole: it returns what built and every error, in line
/// order.
pub fn parse_host(text: &str) -> (HostConfig, Vec<ConfError>) {
    let (config, errors) = parse_host_positioned(text);
    (config, errors.into_iter().map(|(_, e)| e).collect())
}

/// [`parse_host`], with each error's position: the index of the directive
/// line (not blank, not a comment) it names.
pub(crate) fn parse_host_positioned(text: &str) -> (HostConfig, Vec<(usize, ConfError)>) {
    let mut parser = Parser::default();
    let mut cursor = Origin {
        file: UNMARKED_LABEL.to_string(),
        line: 1,
        included_from: Vec::new(),
    };
    let mut pos = 0;
    for raw in text.split('\n') {
        if let Some(origin) = parse_marker(raw.trim_end()) {
            cursor = origin;
            continue;
        }
        let origin = cursor.clone();
        cursor.line = cursor.line.saturating_add(1);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        parser.line(At { origin, pos }, line);
        pos += 1;
    }
    parser.close_group();
    let Parser {
        config, mut errors, ..
    } = parser;
    // Errors about an unclosed group are found later than the line they name.
    errors.sort_by_key(|(pos, _)| *pos);
    (config, errors)
}

/// A group line as it counts for the check id: `directive: argument`.
fn id_line(directive: Directive, argument: &str) -> String {
    format!("{}: {argument}", directive.name())
}

/// Where a line is: its origin for messages and its position for ordering.
#[derive(Debug, Clone)]
struct At {
    origin: Origin,
    pos: usize,
}

/// The group being built, waiting for its `alert_*` line(s).
enum Group {
    Log {
        at: At,
        file: String,
        patterns: Vec<String>,
        /// Where each of `patterns` was given, to name the line of one that
        /// is too large when the set will not compile.
        pattern_at: Vec<At>,
        bad: bool,
        /// The `file:` and `match:` lines, for the check id.
        lines: Vec<String>,
    },
    Process {
        at: At,
        /// `None` when the regex did not compile.
        pattern: Option<Regex>,
        /// The `process:` line, for the check id.
        line: String,
    },
    Command {
        at: At,
        /// `None` when the `run:` line had an error.
        run: Option<(CommandLine, Regex)>,
        /// The `run:` line, for the check ids of its alerts.
        line: String,
        alerts: Vec<CommandAlert>,
        bad: bool,
    },
    /// `metric:`; `None` when its line had an error.
    Metric {
        at: At,
        metric: Option<crate::checks_model::MetricSpec>,
        /// The `metric:` line, for the check id.
        line: String,
    },
    /// `probe:`; `None` when its line had an error.
    Probe {
        at: At,
        probe: Option<crate::checks_model::Probe>,
        /// The `probe:` line, for the check id.
        line: String,
    },
}

/// An `active:` line waiting for its `alert_*`; `None` when it was bad, so
/// that alert is left out rather than run at the wrong times.
struct PendingActive(Option<ActiveWindows>);

#[derive(Default)]
struct Parser {
    config: HostConfig,
    errors: Vec<(usize, ConfError)>,
    group: Option<Group>,
    active: Option<PendingActive>,
    ps_command_at: Option<Origin>,
}

impl Parser {
    fn error(&mut self, at: &At, message: impl Into<String>) {
        self.errors
            .push((at.pos, ConfError::new(at.origin.clone(), message)));
    }

    fn line(&mut self, at: At, line: &str) {
        let (directive, argument) = match DirectiveLine::read(line) {
            DirectiveLine::Known(directive, argument) => (directive, argument),
            DirectiveLine::Unknown(name) => {
                self.error(&at, format!("unknown directive `{}:`", shorten(name)));
                return;
            }
            DirectiveLine::NotADirective => {
                self.error(
                    &at,
                    format!("expected `directive: argument`, found `{}`", shorten(line)),
                );
                return;
            }
        };
        match directive {
            Directive::Include => self.error(
                &at,
                "`include:` must be expanded before parsing (the supervisor does it)",
            ),
            Directive::Active => self.active(at, argument),
            Directive::File => self.file(at, argument),
            Directive::Match => self.pattern(at, argument),
            Directive::LogAlert(kind) => self.log_alert(at, kind, argument),
            Directive::PsCommand => self.ps_command(at, argument),
            Directive::Process => self.process(at, argument),
            Directive::AlertRunning => self.running_alert(at, argument),
            Directive::Run => self.run(at, argument),
            Directive::CommandAlert(kind) => self.command_alert(at, kind, argument),
            Directive::Metric => self.metric(at, argument),
            Directive::Probe => self.probe(at, argument),
            Directive::AlertFailed => self.watch_alert(at, directive, argument),
        }
    }

    /// Ends the open group: a log or process group still open here never got
    /// its `alert_*` line; a command group is complete.
    fn close_group(&mut self) {
        match self.group.take() {
            None => {}
            // Its patterns' syntax was checked line by line; an ignored
            // group is not compiled, so a pattern too large is named once
            // the group has its alert line.
            Some(Group::Log { at, file, .. }) => self.error(
                &at,
                format!(
                    "`file: {}` has no alert_* line after its `match:` lines; the group is ignored",
                    shorten(&file)
                ),
            ),
            Some(Group::Process { at, .. }) => self.error(
                &at,
                "`process:` has no `alert_running:` line after it; it is ignored",
            ),
            Some(Group::Command {
                at,
                run,
                alerts,
                bad,
                ..
            }) => {
                if alerts.is_empty() && !bad {
                    self.error(
                        &at,
                        "`run:` has no `alert_if:` or `alert_metric:` line after it; it is ignored",
                    );
                } else if let (false, Some((command, extract))) = (bad, run) {
                    self.config.commands.push(CommandWatch {
                        command,
                        extract,
                        alerts,
                        origin: at.origin,
                    });
                }
            }
            Some(Group::Metric { at, .. }) => self.error(
                &at,
                "`metric:` has no `alert_if:` or `alert_metric:` line after it; it is ignored",
            ),
            Some(Group::Probe { at, .. }) => self.error(
                &at,
                "`probe:` has no `alert_failed:`, `alert_if:` or `alert_metric:` line after it; it is ignored",
            ),
        }
    }

    /// The windows for the alert on this line: `Err` when its `active:` was
    /// bad (already reported).
    fn take_active(&mut self) -> Result<Option<ActiveWindows>, ()> {
        match self.active.take() {
            None => Ok(None),
            Some(PendingActive(Some(windows))) => Ok(Some(windows)),
            Some(PendingActive(None)) => Err(()),
        }
    }

    fn active(&mut self, at: At, argument: &str) {
        // A second `active:` before any alert replaces the first, as the
        // Python agent did.
        match ActiveWindows::parse(argument) {
            Ok(windows) => self.active = Some(PendingActive(Some(windows))),
            Err(e) => {
                self.error(&at, format!("bad `active:` {e}"));
                self.active = Some(PendingActive(None));
            }
        }
    }

    fn file(&mut self, at: At, argument: &str) {
        self.close_group();
        let bad = argument.is_empty();
        if bad {
            self.error(&at, "`file:` needs the path of the log file");
        }
        self.group = Some(Group::Log {
            at,
            file: argument.to_string(),
            patterns: Vec::new(),
            pattern_at: Vec::new(),
            bad,
            lines: vec![id_line(Directive::File, argument)],
        });
    }

    fn pattern(&mut self, at: At, argument: &str) {
        let problem = if argument.is_empty() {
            Some("`match:` needs a regex".to_string())
        } else {
            // Syntax only: the group's set is compiled once, at its alert
            // line, and a pattern too large alone is named then.
            check_syntax(argument)
                .err()
                .map(|e| format!("bad regex `{}`: {e}", shorten(argument)))
        };
        match &mut self.group {
            Some(Group::Log {
                patterns,
                pattern_at,
                bad,
                lines,
                ..
            }) => {
                patterns.push(argument.to_string());
                pattern_at.push(at.clone());
                lines.push(id_line(Directive::Match, argument));
                if problem.is_some() {
                    *bad = true;
                }
            }
            _ => {
                self.error(&at, "`match:` without `file:` before it");
            }
        }
        if let Some(problem) = problem {
            self.error(&at, problem);
        }
    }

    fn log_alert(&mut self, at: At, kind: LogAlertKind, argument: &str) {
        let directive = Directive::LogAlert(kind);
        let active = self.take_active();
        let AlertLine {
            args,
            tags,
            alert,
            state,
        } = arguments::log_alert(kind, argument);
        self.report(&at, directive, &args);
        let kind = directive.name();

        let (file, patterns, pattern_at, group_bad, mut lines) = match self.group.take() {
            Some(Group::Log {
                at: file_at,
                file,
                patterns,
                pattern_at,
                bad,
                lines,
            }) => {
                if patterns.is_empty() {
                    self.error(
                        &at,
                        format!(
                            "`{kind}:` without `match:` before it (the group's `file:` is at {})",
                            file_at.origin
                        ),
                    );
                    return;
                }
                (file, patterns, pattern_at, bad, lines)
            }
            other => {
                self.group = other;
                self.error(
                    &at,
                    format!("`{kind}:` without `file:` and `match:` before it"),
                );
                return;
            }
        };
        let (Some(tags), Some(alert), Some(state), Ok(active), false) =
            (tags, alert, state, active, group_bad)
        else {
            return;
        };
        lines.push(args.canonical(kind));
        let check = CheckId::new("log", lines.iter().map(String::as_str));
        let set = match compile_set(&patterns) {
            Ok(set) => set,
            // A pattern too large alone is named at its own line; when each
            // fits alone, the set is too large together.
            Err(_) if self.name_oversized_patterns(&patterns, &pattern_at) => return,
            Err(e) => {
                self.error(
                    &at,
                    format!(
                        "the {} `match:` patterns of this group together are too large: {e}",
                        patterns.len(),
                    ),
                );
                return;
            }
        };
        self.config.logs.push(LogWatch {
            file,
            patterns,
            set,
            tags,
            alert,
            active,
            check,
            state,
            origin: at.origin,
        });
    }

    /// Compiles each of a log group's patterns alone (their syntax is
    /// already checked) and reports, at its `match:` line, each that does
    /// not fit the size limit. Returns whether any did not.
    fn name_oversized_patterns(&mut self, patterns: &[String], at: &[At]) -> bool {
        let mut any = false;
        for (pattern, at) in patterns.iter().zip(at) {
            if let Err(e) = compile(pattern) {
                self.error(at, format!("bad regex `{}`: {e}", shorten(pattern)));
                any = true;
            }
        }
        any
    }

    fn ps_command(&mut self, at: At, argument: &str) {
        if let Some(first) = &self.ps_command_at {
            let first = first.clone();
            self.error(&at, format!("`ps_command:` given twice (first at {first})"));
            return;
        }
        self.ps_command_at = Some(at.origin.clone());
        match CommandLine::parse(argument) {
            Ok(command) => self.config.ps_command = Some(command),
            Err(e) => self.error(&at, format!("bad `ps_command:`: {e}")),
        }
    }

    fn process(&mut self, at: At, argument: &str) {
        self.close_group();
        let pattern = if argument.is_empty() {
            self.error(&at, "`process:` needs a regex");
            None
        } else {
            match compile(argument) {
                Ok(regex) => Some(regex),
                Err(e) => {
                    self.error(&at, format!("bad regex `{}`: {e}", shorten(argument)));
                    None
                }
            }
        };
        self.group = Some(Group::Process {
            at,
            pattern,
            line: id_line(Directive::Process, argument),
        });
    }

    fn running_alert(&mut self, at: At, argument: &str) {
        let active = self.take_active();
        let AlertLine {
            args,
            tags,
            alert,
            state,
        } = arguments::running_alert(argument);
        self.report(&at, Directive::AlertRunning, &args);
        let (pattern, line) = match self.group.take() {
            Some(Group::Process { pattern, line, .. }) => (pattern, line),
            other => {
                self.group = other;
                self.error(&at, "`alert_running:` without `process:` before it");
                return;
            }
        };
        if let (Some(pattern), Some(tags), Some(range), Some(state), Ok(active), true) = (
            pattern,
            tags,
            alert,
            state,
            active,
            args.problems.is_empty(),
        ) {
            let RunningRange { min, max, message } = range;
            let alert_line = args.canonical(Directive::AlertRunning.name());
            self.config.processes.push(ProcessWatch {
                pattern,
                tags,
                min,
                max,
                message,
                active,
                check: CheckId::new("proc", [line.as_str(), alert_line.as_str()]),
                state,
                origin: at.origin,
            });
        }
    }

    fn run(&mut self, at: At, argument: &str) {
        self.close_group();
        let run = match arguments::run_line(argument) {
            Ok(run) => Some(run),
            Err(problems) => {
                for p in problems {
                    self.error(&at, p);
                }
                None
            }
        };
        let bad = run.is_none();
        self.group = Some(Group::Command {
            at,
            run,
            line: id_line(Directive::Run, argument),
            alerts: Vec::new(),
            bad,
        });
    }

    fn command_alert(&mut self, at: At, kind: CommandAlertKind, argument: &str) {
        let directive = Directive::CommandAlert(kind);
        if matches!(self.group, Some(Group::Metric { .. } | Group::Probe { .. })) {
            return self.watch_alert(at, directive, argument);
        }
        let active = self.take_active();
        let mut line = arguments::command_alert(kind, argument);
        let Some(Group::Command {
            run,
            alerts,
            bad,
            line: run_line,
            ..
        }) = &mut self.group
        else {
            self.report(&at, directive, &line.args);
            self.error(
                &at,
                format!("`{}:` without `run:` before it", directive.name()),
            );
            return;
        };
        if let Some((_, extract)) = run {
            line.check_groups(extract);
        }
        let CommandAlertLine {
            args,
            tags,
            select,
            rule,
            state,
        } = line;
        let complete = args.problems.is_empty() && active.is_ok();
        match (tags, select, rule, state, active, complete) {
            (Some(tags), Some(select), Some(rule), Some(state), Ok(active), true) => {
                let alert_line = args.canonical(directive.name());
                alerts.push(CommandAlert {
                    tags,
                    select,
                    rule,
                    active,
                    check: CheckId::new("cmd", [run_line.as_str(), alert_line.as_str()]),
                    state,
                    origin: at.origin.clone(),
                });
            }
            _ => *bad = true,
        }
        self.report(&at, directive, &args);
    }

    fn report(&mut self, at: &At, directive: Directive, args: &Args<'_>) {
        for p in &args.problems {
            self.error(at, format!("`{}:` {p}", directive.name()));
        }
    }
}
