//! The `key=value ... message=TEXT` arguments of `alert_*` lines: keys in
//! any order, `message=` last and taking the rest of the line, and the
//! number formats values are read in. Problems are collected, never raised
//! at the first one.

use std::time::Duration;

use crate::error::shorten;
use crate::model::{GroupEquals, StateKeys};

/// The keys of a stateful check's alert line ([`StateKeys`]); left out of
/// the check's id so tuning them keeps it.
pub(crate) const STATE_KEYS: [&str; 4] = ["every", "for", "clear_for", "repeat"];

/// Largest `for=` / `clear_for=`: more consecutive results than this is a
/// typo (a year of 20 s checks is about 1.6 million).
pub const MAX_CONSECUTIVE: u64 = 100_000;

/// Longest `seconds=` block, a leap year: longer is surely a typo, and the
/// bound keeps the observer's deadline arithmetic far from overflow.
pub const MAX_BLOCK_SECONDS: u64 = 366 * 86_400;

/// Whether `message=` may, must or must not end an alert line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum MessageRule {
    Required,
    Optional,
    Forbidden,
}

/// The `key=value ... message=TEXT` arguments of one `alert_*` line, and the
/// problems found reading them.
pub(crate) struct Args<'a> {
    pairs: Vec<(&'a str, &'a str)>,
    pub(crate) message: Option<&'a str>,
    message_rule: MessageRule,
    pub(crate) problems: Vec<String>,
}

impl<'a> Args<'a> {
    /// Splits at any whitespace; `message=` takes the rest of the line. Keys
    /// may come in any order; unknown and repeated keys are problems.
    pub(crate) fn parse(argument: &'a str, keys: &[&str], message_rule: MessageRule) -> Args<'a> {
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
                if message_rule == MessageRule::Forbidden {
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

    /// The line as it counts for the check id: `directive: k=v ...
    /// message=TEXT`, words joined by one space, state keys left out.
    pub(crate) fn canonical(&self, directive: &str) -> String {
        let mut line = format!("{directive}:");
        for (k, v) in &self.pairs {
            if !STATE_KEYS.contains(k) {
                line.push(' ');
                line.push_str(k);
                line.push('=');
                line.push_str(v);
            }
        }
        if let Some(message) = self.message {
            line.push_str(" message=");
            line.push_str(message);
        }
        line
    }

    /// The optional state keys (the caller allowed them in
    /// [`Args::parse`]), over `default`; `None` when one has a problem.
    pub(crate) fn state_keys(&mut self, default: StateKeys) -> Option<StateKeys> {
        let mut keys = default;
        let mut ok = true;
        if self.has("every") {
            match self.seconds("every") {
                Some(d) => keys.every = Some(d),
                None => ok = false,
            }
        }
        if self.has("repeat") {
            match self.seconds("repeat") {
                Some(d) => keys.repeat = Some(d),
                None => ok = false,
            }
        }
        for key in ["for", "clear_for"] {
            if !self.has(key) {
                continue;
            }
            let n = self.typed(
                key,
                |v| match parse_whole(v) {
                    Some(n @ 1..=MAX_CONSECUTIVE) => u32::try_from(n).ok(),
                    _ => None,
                },
                &format!("a whole number of results from 1 to {MAX_CONSECUTIVE}"),
            );
            match (key, n) {
                ("for", Some(n)) => keys.open_after = n,
                (_, Some(n)) => keys.clear_after = n,
                (_, None) => ok = false,
            }
        }
        ok.then_some(keys)
    }

    pub(crate) fn has(&self, key: &str) -> bool {
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

    pub(crate) fn tags(&mut self) -> Option<String> {
        self.get("tags").map(str::to_string)
    }

    /// The required `message=` text.
    pub(crate) fn message(&mut self) -> Option<String> {
        debug_assert!(self.message_rule == MessageRule::Required);
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

    pub(crate) fn seconds(&mut self, key: &str) -> Option<Duration> {
        self.typed(
            key,
            |v| match parse_whole(v) {
                Some(n @ 1..=MAX_BLOCK_SECONDS) => Some(Duration::from_secs(n)),
                _ => None,
            },
            &format!("a whole number of seconds from 1 to {MAX_BLOCK_SECONDS}"),
        )
    }

    pub(crate) fn count(&mut self, key: &str) -> Option<u64> {
        self.typed(key, parse_whole, "a whole number (0 or more)")
    }

    pub(crate) fn non_negative(&mut self, key: &str) -> Option<f64> {
        self.typed(
            key,
            |v| parse_number(v).filter(|n| *n >= 0.0),
            "a non-negative decimal number",
        )
    }

    /// `KEY=VALUE`: any finite decimal number (a limit).
    pub(crate) fn number(&mut self, key: &str) -> Option<f64> {
        self.typed(key, parse_number, "a decimal number")
    }

    /// The value of `key` when given (any problem with it already noted).
    pub(crate) fn text(&mut self, key: &str) -> Option<&'a str> {
        self.get(key)
    }

    /// `KEY=G`: a capture group number.
    pub(crate) fn group_number(&mut self, key: &str) -> Option<usize> {
        self.typed(key, parse_group, "a capture group number")
    }

    /// `KEY=G,TEXT`.
    pub(crate) fn group_text(&mut self, key: &str) -> Option<GroupEquals> {
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
    pub(crate) fn group_limit(&mut self, key: &str) -> Option<(usize, f64)> {
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
