//! The host configuration language (`hosts/<name>`, `includes/<name>`):
//! turns an expanded text into a [`HostConfig`], collecting every error with
//! the `FILE:LINE` an operator edits.
//!
//! Directives are read top to bottom. `file:` + `match:`, `process:` and
//! `run:` open a group; `alert_all/n/count/inactive` and `alert_running`
//! close theirs, while `alert_if`/`alert_metric` attach to the open `run:`
//! (several may follow it). `active:` applies to the next `alert_*` only.
//! A group with any error is left out; the rest of the file still builds.

use std::time::Duration;

use regex::{Regex, RegexBuilder, RegexSetBuilder};

use crate::error::ConfError;
use crate::expand::parse_marker;
use crate::model::{
    CommandAlert, CommandLine, CommandRule, CommandWatch, GroupEquals, HostConfig, LogAlert,
    LogWatch, Origin, ProcessWatch,
};
use crate::windows::ActiveWindows;

/// Compiled size limit of every regex and of each `match:` set. Above the
/// engine's default of 10 MiB a single pattern could cost an observer tens
/// of megabytes; below it ordinary patterns like `\w{100}` still fit.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Longest `seconds=` block, a leap year: longer is surely a typo, and the
/// bound keeps the observer's deadline arithmetic far from overflow.
pub const MAX_BLOCK_SECONDS: u64 = 366 * 86_400;

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
        bad: bool,
    },
    Process {
        at: At,
        /// `None` when the regex did not compile.
        pattern: Option<Regex>,
    },
    Command {
        at: At,
        /// `None` when the `run:` line had an error.
        run: Option<(CommandLine, Regex)>,
        alerts: Vec<CommandAlert>,
        bad: bool,
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
        let Some((directive, argument)) = line.split_once(':') else {
            self.error(
                &at,
                format!("expected `directive: argument`, found `{}`", shorten(line)),
            );
            return;
        };
        let directive = directive.trim();
        let argument = argument.trim();
        match directive {
            "include" => self.error(
                &at,
                "`include:` must be expanded before parsing (the supervisor does it)",
            ),
            "active" => self.active(at, argument),
            "file" => self.file(at, argument),
            "match" => self.pattern(at, argument),
            "alert_all" | "alert_n" | "alert_count" | "alert_inactive" => {
                self.log_alert(at, directive, argument)
            }
            "ps_command" => self.ps_command(at, argument),
            "process" => self.process(at, argument),
            "alert_running" => self.process_alert(at, argument),
            "run" => self.run(at, argument),
            "alert_if" | "alert_metric" => self.command_alert(at, directive, argument),
            other => self.error(&at, format!("unknown directive `{}:`", shorten(other))),
        }
    }

    /// Ends the open group: a log or process group still open here never got
    /// its `alert_*` line; a command group is complete.
    fn close_group(&mut self) {
        match self.group.take() {
            None => {}
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
            bad,
        });
    }

    fn pattern(&mut self, at: At, argument: &str) {
        let problem = if argument.is_empty() {
            Some("`match:` needs a regex".to_string())
        } else {
            compile(argument)
                .err()
                .map(|e| format!("bad regex `{}`: {e}", shorten(argument)))
        };
        match &mut self.group {
            Some(Group::Log { patterns, bad, .. }) => {
                patterns.push(argument.to_string());
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

    fn log_alert(&mut self, at: At, kind: &str, argument: &str) {
        let active = self.take_active();
        let mut args = match kind {
            "alert_all" => Args::parse(argument, &["tags"], Message::Optional),
            "alert_n" => Args::parse(
                argument,
                &["tags", "threshold", "seconds"],
                Message::Required,
            ),
            "alert_count" => Args::parse(argument, &["tags", "seconds"], Message::Forbidden),
            _ => Args::parse(argument, &["tags", "seconds"], Message::Required),
        };
        let tags = args.tags();
        let alert = match kind {
            "alert_all" => Some(LogAlert::All {
                message: args.message.filter(|m| !m.is_empty()).map(str::to_string),
            }),
            "alert_n" => {
                let threshold = args.non_negative("threshold");
                let block = args.seconds("seconds");
                let message = args.message();
                match (threshold, block, message) {
                    (Some(threshold), Some(block), Some(message)) => Some(LogAlert::N {
                        threshold,
                        block,
                        message,
                    }),
                    _ => None,
                }
            }
            "alert_count" => args
                .seconds("seconds")
                .map(|block| LogAlert::Count { block }),
            _ => {
                let block = args.seconds("seconds");
                let message = args.message();
                match (block, message) {
                    (Some(block), Some(message)) => Some(LogAlert::Inactive { block, message }),
                    _ => None,
                }
            }
        };
        self.report(&at, kind, &args);

        let (file, patterns, group_bad) = match self.group.take() {
            Some(Group::Log {
                at: file_at,
                file,
                patterns,
                bad,
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
                (file, patterns, bad)
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
        let (Some(tags), Some(alert), Ok(active), false) = (tags, alert, active, group_bad) else {
            return;
        };
        // Each pattern compiled alone already; together they can still
        // exceed the limit.
        let set = match RegexSetBuilder::new(&patterns)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(set) => set,
            Err(e) => {
                self.error(
                    &at,
                    format!(
                        "the {} `match:` patterns of this group together are too large: {}",
                        patterns.len(),
                        regex_message(&e)
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
            origin: at.origin,
        });
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
        self.group = Some(Group::Process { at, pattern });
    }

    fn process_alert(&mut self, at: At, argument: &str) {
        let active = self.take_active();
        let mut args = Args::parse(argument, &["tags", "min", "max"], Message::Required);
        let tags = args.tags();
        let min = args.count("min");
        let max = args.count("max");
        let message = args.message();
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            args.problems
                .push(format!("`min={min}` is above `max={max}`"));
        }
        self.report(&at, "alert_running", &args);
        let pattern = match self.group.take() {
            Some(Group::Process { pattern, .. }) => pattern,
            other => {
                self.group = other;
                self.error(&at, "`alert_running:` without `process:` before it");
                return;
            }
        };
        if let (Some(pattern), Some(tags), Some(min), Some(max), Some(message), Ok(active), true) = (
            pattern,
            tags,
            min,
            max,
            message,
            active,
            args.problems.is_empty(),
        ) {
            self.config.processes.push(ProcessWatch {
                pattern,
                tags,
                min,
                max,
                message,
                active,
                origin: at.origin,
            });
        }
    }

    fn run(&mut self, at: At, argument: &str) {
        self.close_group();
        let run = match parse_run(argument) {
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
            alerts: Vec::new(),
            bad,
        });
    }

    fn command_alert(&mut self, at: At, kind: &str, argument: &str) {
        let active = self.take_active();
        let metric = kind == "alert_metric";
        let mut args = if metric {
            Args::parse(argument, &["tags", "match", "metric"], Message::Forbidden)
        } else {
            Args::parse(
                argument,
                &["tags", "match", "upper_limit", "lower_limit"],
                Message::Required,
            )
        };
        let tags = args.tags();
        let select = args.group_text("match");
        let rule = if metric {
            args.group_number("metric")
                .map(|group| CommandRule::Metric { group })
        } else {
            let upper = args.has("upper_limit");
            let lower = args.has("lower_limit");
            let message = args.message();
            match (upper, lower) {
                (true, true) => {
                    args.problems
                        .push("give either `upper_limit=` or `lower_limit=`, not both".to_string());
                    None
                }
                (false, false) => {
                    args.problems
                        .push("missing key `upper_limit=` or `lower_limit=`".to_string());
                    None
                }
                (true, false) => match (args.group_limit("upper_limit"), message) {
                    (Some((group, limit)), Some(message)) => Some(CommandRule::Above {
                        group,
                        limit,
                        message,
                    }),
                    _ => None,
                },
                (false, true) => match (args.group_limit("lower_limit"), message) {
                    (Some((group, limit)), Some(message)) => Some(CommandRule::Below {
                        group,
                        limit,
                        message,
                    }),
                    _ => None,
                },
            }
        };

        let Some(Group::Command {
            run, alerts, bad, ..
        }) = &mut self.group
        else {
            self.report(&at, kind, &args);
            self.error(&at, format!("`{kind}:` without `run:` before it"));
            return;
        };
        // Groups beyond the extract regex's would never match anything.
        if let Some((_, extract)) = run {
            let groups = extract.captures_len() - 1;
            let mut used = Vec::new();
            if let Some(select) = &select {
                used.push(("match", select.group));
            }
            match &rule {
                Some(CommandRule::Above { group, .. }) => used.push(("upper_limit", *group)),
                Some(CommandRule::Below { group, .. }) => used.push(("lower_limit", *group)),
                Some(CommandRule::Metric { group }) => used.push(("metric", *group)),
                None => {}
            }
            for (key, group) in used {
                if group > groups {
                    args.problems.push(format!(
                        "`{key}=` names group {group} but the `extract=` regex has {groups} capture group{}",
                        if groups == 1 { "" } else { "s" }
                    ));
                }
            }
        }
        let complete = args.problems.is_empty() && active.is_ok();
        match (tags, select, rule, active, complete) {
            (Some(tags), Some(select), Some(rule), Ok(active), true) => {
                alerts.push(CommandAlert {
                    tags,
                    select,
                    rule,
                    active,
                    origin: at.origin.clone(),
                });
            }
            _ => *bad = true,
        }
        self.report(&at, kind, &args);
    }

    fn report(&mut self, at: &At, kind: &str, args: &Args<'_>) {
        for p in &args.problems {
            self.error(at, format!("`{kind}:` {p}"));
        }
    }
}

/// `run: command=COMMAND extract=REGEX`: the command is everything up to the
/// first ` extract=`, the regex the rest of the line.
fn parse_run(argument: &str) -> Result<(CommandLine, Regex), Vec<String>> {
    let Some(rest) = argument.strip_prefix("command=") else {
        return Err(vec![
            "`run:` expects `command=COMMAND extract=REGEX`".to_string(),
        ]);
    };
    let split = rest
        .match_indices("extract=")
        .map(|(i, _)| i)
        .find(|&i| i > 0 && rest[..i].ends_with(char::is_whitespace));
    let Some(split) = split else {
        return Err(vec![
            "`run:` has no ` extract=REGEX` after the command".to_string(),
        ]);
    };
    let command_text = rest[..split].trim();
    let extract_text = rest[split + "extract=".len()..].trim();
    let mut problems = Vec::new();
    let command = CommandLine::parse(command_text)
        .map_err(|e| problems.push(format!("bad `command=`: {e}")))
        .ok();
    let extract = if extract_text.is_empty() {
        problems.push("`extract=` needs a regex".to_string());
        None
    } else {
        compile(extract_text)
            .map_err(|e| {
                problems.push(format!(
                    "bad regex `{}` in `extract=`: {e}",
                    shorten(extract_text)
                ))
            })
            .ok()
    };
    match (command, extract) {
        (Some(command), Some(extract)) => Ok((command, extract)),
        _ => Err(problems),
    }
}

/// Whether `message=` may, must or must not end an alert line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Message {
    Required,
    Optional,
    Forbidden,
}

/// The `key=value ... message=TEXT` arguments of one `alert_*` line, and the
/// problems found reading them.
struct Args<'a> {
    pairs: Vec<(&'a str, &'a str)>,
    message: Option<&'a str>,
    message_rule: Message,
    problems: Vec<String>,
}

impl<'a> Args<'a> {
    /// Splits at any whitespace; `message=` takes the rest of the line. Keys
    /// may come in any order; unknown and repeated keys are problems.
    fn parse(argument: &'a str, keys: &[&str], message_rule: Message) -> Args<'a> {
        let mut args = Args {
            pairs: Vec::new(),
            message: None,
            message_rule,
            problems: Vec::new(),
        };
        let mut rest = argument;
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            if let Some(message) = rest.strip_prefix("message=") {
                if message_rule == Message::Forbidden {
                    args.problems.push("unknown key `message=`".to_string());
                } else {
                    args.message = Some(message.trim());
                }
                break;
            }
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let token = &rest[..end];
            rest = &rest[end..];
            match token.split_once('=') {
                None => args
                    .problems
                    .push(format!("expected KEY=VALUE, found `{}`", shorten(token))),
                Some((key, _)) if !keys.contains(&key) => args
                    .problems
                    .push(format!("unknown key `{}=`", shorten(key))),
                Some((key, _)) if args.pairs.iter().any(|(k, _)| *k == key) => {
                    args.problems.push(format!("key `{key}=` given twice"))
                }
                Some((key, value)) => args.pairs.push((key, value)),
            }
        }
        args
    }

    fn has(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| *k == key)
    }

    /// A required key's value; a missing or empty one is a problem.
    fn get(&mut self, key: &str) -> Option<&'a str> {
        match self.pairs.iter().find(|(k, _)| *k == key) {
            None => {
                self.problems.push(format!("missing key `{key}=`"));
                None
            }
            Some((_, "")) => {
                self.problems.push(format!("`{key}=` is empty"));
                None
            }
            Some((_, value)) => Some(value),
        }
    }

    fn tags(&mut self) -> Option<String> {
        self.get("tags").map(str::to_string)
    }

    /// The required `message=` text.
    fn message(&mut self) -> Option<String> {
        debug_assert!(self.message_rule == Message::Required);
        match self.message {
            None => {
                self.problems.push(
                    "missing key `message=` (it comes last and takes the rest of the line)"
                        .to_string(),
                );
                None
            }
            Some("") => {
                self.problems.push("`message=` is empty".to_string());
                None
            }
            Some(m) => Some(m.to_string()),
        }
    }

    /// `KEY=VALUE` parsed by `parse`; when it does not parse, a problem
    /// saying the value `must be {expected}`.
    fn typed<T>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&str) -> Option<T>,
        expected: &str,
    ) -> Option<T> {
        let value = self.get(key)?;
        let parsed = parse(value);
        if parsed.is_none() {
            self.problems
                .push(format!("`{key}={}` must be {expected}", shorten(value)));
        }
        parsed
    }

    fn seconds(&mut self, key: &str) -> Option<Duration> {
        self.typed(
            key,
            |v| match parse_whole(v) {
                Some(n @ 1..=MAX_BLOCK_SECONDS) => Some(Duration::from_secs(n)),
                _ => None,
            },
            &format!("a whole number of seconds from 1 to {MAX_BLOCK_SECONDS}"),
        )
    }

    fn count(&mut self, key: &str) -> Option<u64> {
        self.typed(key, parse_whole, "a whole number (0 or more)")
    }

    fn non_negative(&mut self, key: &str) -> Option<f64> {
        self.typed(
            key,
            |v| parse_number(v).filter(|n| *n >= 0.0),
            "a non-negative decimal number",
        )
    }

    /// `KEY=G`: a capture group number.
    fn group_number(&mut self, key: &str) -> Option<usize> {
        self.typed(key, parse_group, "a capture group number")
    }

    /// `KEY=G,TEXT`.
    fn group_text(&mut self, key: &str) -> Option<GroupEquals> {
        let value = self.get(key)?;
        match value.split_once(',') {
            Some((g, text)) if parse_group(g).is_some() => Some(GroupEquals {
                group: parse_group(g)?,
                text: text.to_string(),
            }),
            _ => {
                self.problems.push(format!(
                    "`{key}={}` must be GROUP,TEXT (a capture group number, a comma, the text)",
                    shorten(value)
                ));
                None
            }
        }
    }

    /// `KEY=G,VALUE`.
    fn group_limit(&mut self, key: &str) -> Option<(usize, f64)> {
        let value = self.get(key)?;
        let parsed = value
            .split_once(',')
            .and_then(|(g, v)| Some((parse_group(g)?, parse_number(v)?)));
        if parsed.is_none() {
            self.problems.push(format!(
                "`{key}={}` must be GROUP,VALUE (a capture group number, a comma, a decimal number)",
                shorten(value)
            ));
        }
        parsed
    }
}

/// Digits only: no sign, no fraction.
fn parse_whole(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

fn parse_group(value: &str) -> Option<usize> {
    usize::try_from(parse_whole(value)?).ok()
}

/// A finite decimal number (`inf` and `NaN` would make every comparison
/// meaningless).
fn parse_number(value: &str) -> Option<f64> {
    value.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Compiles one pattern within [`REGEX_SIZE_LIMIT`]; the error is the
/// engine's message on one line.
fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| regex_message(&e))
}

/// The regex engine's message on one line: a syntax error's Display is the
/// pattern, a caret line and `error: WHAT`; WHAT is what the operator needs.
fn regex_message(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(|l| l.strip_prefix("error: ").unwrap_or(l))
            .unwrap_or("invalid regex")
            .to_string(),
        other => other.to_string().trim().to_string(),
    }
}

/// At most 80 characters of operator text in a message: lines can be up to
/// a megabyte long.
fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

impl CommandLine {
    /// Splits `text` into words as a POSIX shell would, without running one:
    /// whitespace separates words; `'...'` is literal; in `"..."` a backslash
    /// escapes only `$`, `` ` ``, `"` and `\`; outside quotes a backslash
    /// escapes any character. No variables, globs or pipes: write
    /// `sh -c "..."` for those.
    pub fn parse(text: &str) -> Result<CommandLine, String> {
        let mut argv = Vec::new();
        let mut word = String::new();
        let mut in_word = false;
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\'' => {
                    in_word = true;
                    loop {
                        match chars.next() {
                            Some('\'') => break,
                            Some(c) => word.push(c),
                            None => return Err("unbalanced single quote".to_string()),
                        }
                    }
                }
                '"' => {
                    in_word = true;
                    loop {
                        match chars.next() {
                            Some('"') => break,
                            Some('\\') => match chars.next() {
                                Some(c @ ('$' | '`' | '"' | '\\')) => word.push(c),
                                Some('\n') => {}
                                Some(c) => {
                                    word.push('\\');
                                    word.push(c);
                                }
                                None => return Err("unbalanced double quote".to_string()),
                            },
                            Some(c) => word.push(c),
                            None => return Err("unbalanced double quote".to_string()),
                        }
                    }
                }
                '\\' => {
                    in_word = true;
                    match chars.next() {
                        Some('\n') => {}
                        Some(c) => word.push(c),
                        None => return Err("the command ends with a lone backslash".to_string()),
                    }
                }
                c if c.is_whitespace() => {
                    if in_word {
                        argv.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                }
                c => {
                    in_word = true;
                    word.push(c);
                }
            }
        }
        if in_word {
            argv.push(word);
        }
        if argv.is_empty() {
            return Err("the command is empty".to_string());
        }
        Ok(CommandLine {
            text: text.to_string(),
            argv,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        CommandLine::parse(text).unwrap().argv
    }

    #[test]
    fn command_words_split_like_a_shell() {
        assert_eq!(words("df -P"), ["df", "-P"]);
        assert_eq!(words("  df\t -P  "), ["df", "-P"]);
        assert_eq!(
            words(r#"sh -c "ps ax | grep -c 'ng inx'""#),
            ["sh", "-c", "ps ax | grep -c 'ng inx'"]
        );
        assert_eq!(words(r#"echo 'a "b" \c'"#), ["echo", r#"a "b" \c"#]);
        assert_eq!(
            words(r#"echo "a \"b\" \$x \n""#),
            ["echo", r#"a "b" $x \n"#]
        );
        assert_eq!(words(r"echo a\ b\'c"), ["echo", "a b'c"]);
        assert_eq!(words(r#"echo '' "" x"#), ["echo", "", "", "x"]);
        assert_eq!(words(r#"a'b'"c"d"#), ["abcd"]);
        assert_eq!(words("echo $HOME *"), ["echo", "$HOME", "*"]);
    }

    #[test]
    fn bad_command_lines_are_refused() {
        for bad in ["", "   ", "echo 'a", "echo \"a", "echo a\\", "echo \"a\\"] {
            assert!(CommandLine::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn regex_message_is_the_engine_sentence() {
        let unclosed = String::from("foo(") + "bar";
        let e = RegexBuilder::new(&unclosed).build().unwrap_err();
        assert_eq!(regex_message(&e), "unclosed group");
        let e = RegexBuilder::new(r"\w{1000}")
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .unwrap_err();
        assert_eq!(
            regex_message(&e),
            "Compiled regex exceeds size limit of 1048576 bytes."
        );
    }

    #[test]
    fn shorten_cuts_long_text_on_a_character_boundary() {
        assert_eq!(shorten("abc"), "abc");
        let long = "é".repeat(100);
        assert_eq!(shorten(&long).chars().count(), 81);
    }
}
