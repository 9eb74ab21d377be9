//! What the argument of each group directive says: `run:`'s command and
//! extract regex, and the keys of each `alert_*` line read into typed
//! values. Pure reading; which group a line belongs to, and whether the
//! group builds, is the parser's business ([`super::parser`]).

use regex::Regex;

use crate::error::shorten;
use crate::host::directive::{CommandAlertKind, LogAlertKind};
use crate::host::keys::{Args, MessageRule};
use crate::host::regexes::compile;
use crate::model::{CommandLine, CommandRule, LineSelect, LogAlert, StateKeys};

/// One `alert_*` line read: what read cleanly (`None` where a value had a
/// problem) and, in `args`, every problem found.
pub(crate) struct AlertLine<'a, T> {
    pub(crate) args: Args<'a>,
    pub(crate) tags: Option<String>,
    pub(crate) alert: Option<T>,
    /// The state keys (defaults on alerts without problem state).
    pub(crate) state: Option<StateKeys>,
}

/// `alert_all:`, `alert_n:`, `alert_count:` or `alert_inactive:`.
pub(crate) fn log_alert(kind: LogAlertKind, argument: &str) -> AlertLine<'_, LogAlert> {
    match kind {
        LogAlertKind::All => {
            let mut args = Args::parse(argument, &["tags"], MessageRule::Optional);
            let tags = args.tags();
            let alert = Some(LogAlert::All {
                message: args.message.filter(|m| !m.is_empty()).map(str::to_string),
            });
            point(args, tags, alert)
        }
        LogAlertKind::N => {
            let mut args = Args::parse(
                argument,
                &["tags", "threshold", "seconds"],
                MessageRule::Required,
            );
            let tags = args.tags();
            let threshold = args.non_negative("threshold");
            let block = args.seconds("seconds");
            let message = args.message();
            let alert = match (threshold, block, message) {
                (Some(threshold), Some(block), Some(message)) => Some(LogAlert::N {
                    threshold,
                    block,
                    message,
                }),
                _ => None,
            };
            point(args, tags, alert)
        }
        LogAlertKind::Count => {
            let mut args = Args::parse(argument, &["tags", "seconds"], MessageRule::Forbidden);
            let tags = args.tags();
            let alert = args
                .seconds("seconds")
                .map(|block| LogAlert::Count { block });
            point(args, tags, alert)
        }
        LogAlertKind::Inactive => {
            // `every=` is not one of its keys: `seconds=` is how often it
            // judges.
            let mut args = Args::parse(
                argument,
                &["tags", "seconds", "for", "clear_for", "repeat"],
                MessageRule::Required,
            );
            let tags = args.tags();
            let block = args.seconds("seconds");
            let message = args.message();
            let state = args.state_keys(StateKeys::DEFAULT);
            let alert = match (block, message) {
                (Some(block), Some(message)) => Some(LogAlert::Inactive { block, message }),
                _ => None,
            };
            AlertLine {
                args,
                tags,
                alert,
                state,
            }
        }
    }
}

/// An alert line without problem state: default state keys.
fn point<'a, T>(args: Args<'a>, tags: Option<String>, alert: Option<T>) -> AlertLine<'a, T> {
    AlertLine {
        args,
        tags,
        alert,
        state: Some(StateKeys::DEFAULT),
    }
}

/// What `alert_running:` asks of the process count.
pub(crate) struct RunningRange {
    pub(crate) min: u64,
    pub(crate) max: u64,
    pub(crate) message: String,
}

/// `alert_running: tags=T min=N max=N message=TEXT`.
pub(crate) fn running_alert(argument: &str) -> AlertLine<'_, RunningRange> {
    let mut args = Args::parse(
        argument,
        &["tags", "min", "max", "every", "for", "clear_for", "repeat"],
        MessageRule::Required,
    );
    let tags = args.tags();
    let min = args.count("min");
    let max = args.count("max");
    let message = args.message();
    let state = args.state_keys(StateKeys::PROCESS_DEFAULT);
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        args.problems
            .push(format!("`min={min}` is above `max={max}`"));
    }
    let alert = match (min, max, message) {
        (Some(min), Some(max), Some(message)) => Some(RunningRange { min, max, message }),
        _ => None,
    };
    AlertLine {
        args,
        tags,
        alert,
        state,
    }
}

/// An `alert_if:` or `alert_metric:` line: the line it selects and what it
/// does with it.
pub(crate) struct CommandAlertLine<'a> {
    pub(crate) args: Args<'a>,
    pub(crate) tags: Option<String>,
    pub(crate) select: Option<LineSelect>,
    pub(crate) rule: Option<CommandRule>,
    pub(crate) state: Option<StateKeys>,
}

/// `alert_if: tags=T match=G,TEXT|key=G upper_limit=G,V|lower_limit=G,V
/// message=TEXT` or `alert_metric: tags=T match=G,TEXT metric=G`.
pub(crate) fn command_alert(kind: CommandAlertKind, argument: &str) -> CommandAlertLine<'_> {
    let mut args = match kind {
        CommandAlertKind::Metric => Args::parse(
            argument,
            &["tags", "match", "metric"],
            MessageRule::Forbidden,
        ),
        CommandAlertKind::If => Args::parse(
            argument,
            &[
                "tags",
                "match",
                "key",
                "upper_limit",
                "lower_limit",
                "every",
                "for",
                "clear_for",
                "repeat",
            ],
            MessageRule::Required,
        ),
    };
    let tags = args.tags();
    let select = match kind {
        CommandAlertKind::Metric => args.group_text("match").map(LineSelect::Equals),
        CommandAlertKind::If => line_select(&mut args),
    };
    let rule = match kind {
        CommandAlertKind::Metric => args
            .group_number("metric")
            .map(|group| CommandRule::Metric { group }),
        CommandAlertKind::If => limit_rule(&mut args),
    };
    let state = args.state_keys(StateKeys::DEFAULT);
    CommandAlertLine {
        args,
        tags,
        select,
        rule,
        state,
    }
}

/// The lines an `alert_if:` judges: `match=G,TEXT` (one line), or without
/// it every line, each its own problem named by group `key=G` (default 1).
fn line_select(args: &mut Args<'_>) -> Option<LineSelect> {
    match (args.has("match"), args.has("key")) {
        (true, true) => {
            args.problems.push(
                "give either `match=G,TEXT` (one line) or `key=G` (every line), not both"
                    .to_string(),
            );
            None
        }
        (true, false) => args.group_text("match").map(LineSelect::Equals),
        (false, true) => args.group_number("key").map(|key| LineSelect::Each { key }),
        (false, false) => Some(LineSelect::Each { key: 1 }),
    }
}

/// The `upper_limit=` or `lower_limit=` of an `alert_if:`, with its message.
fn limit_rule(args: &mut Args<'_>) -> Option<CommandRule> {
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
}

impl CommandAlertLine<'_> {
    /// Problems for capture groups beyond the `extract=` regex's: they would
    /// never match anything.
    pub(crate) fn check_groups(&mut self, extract: &Regex) {
        let groups = extract.captures_len() - 1;
        let mut used = Vec::new();
        match &self.select {
            Some(LineSelect::Equals(select)) => used.push(("match", select.group)),
            Some(LineSelect::Each { key }) => used.push(("key", *key)),
            None => {}
        }
        match &self.rule {
            Some(CommandRule::Above { group, .. }) => used.push(("upper_limit", *group)),
            Some(CommandRule::Below { group, .. }) => used.push(("lower_limit", *group)),
            Some(CommandRule::Metric { group }) => used.push(("metric", *group)),
            None => {}
        }
        for (key, group) in used {
            if group > groups {
                self.args.problems.push(format!(
                    "`{key}=` names group {group} but the `extract=` regex has {groups} capture group{}",
                    if groups == 1 { "" } else { "s" }
                ));
            }
        }
    }
}

/// `run: command=COMMAND extract=REGEX`: the command is everything up to the
/// first ` extract=`, the regex the rest of the line.
pub(crate) fn run_line(argument: &str) -> Result<(CommandLine, Regex), Vec<String>> {
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
