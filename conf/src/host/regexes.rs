//! Regexes as the host language compiles them: one size limit for every
//! pattern and every `match:` set, and the engine's error cut to the
//! sentence an operator needs.

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

/// Compiled size limit of every regex and of each `match:` set. Above the
/// engine's default of 10 MiB a single pattern could cost an observer tens
/// of megabytes; below it ordinary patterns like `\w{100}` still fit.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles one pattern within [`REGEX_SIZE_LIMIT`]; the error is the
/// engine's message on one line.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| regex_message(&e))
}

/// Checks one pattern's syntax only, without compiling it: the cheap test
/// each `match:` line gets, before its group's set is compiled once
/// ([`compile_set`]). The error reads as [`compile`]'s would.
pub(crate) fn check_syntax(pattern: &str) -> Result<(), String> {
    regex_syntax::Parser::new()
        .parse(pattern)
        .map(drop)
        .map_err(|e| syntax_message(&e.to_string()))
}

/// Compiles the patterns of one log group as a set within
/// [`REGEX_SIZE_LIMIT`]: each may fit alone and the set still exceed it.
pub(crate) fn compile_set(patterns: &[String]) -> Result<RegexSet, String> {
    RegexSetBuilder::new(patterns)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| regex_message(&e))
}

/// The regex engine's message on one line: a syntax error's Display is the
/// pattern, a caret line and `error: WHAT`; WHAT is what the operator needs.
fn regex_message(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => syntax_message(text),
        other => other.to_string().trim().to_string(),
    }
}

/// The last line of a syntax error's Display, without its `error: `.
fn syntax_message(text: &str) -> String {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .unwrap_or("invalid regex")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_message_is_the_engine_sentence() {
        let unclosed = String::from("foo(") + "bar";
        let e = RegexBuilder::new(&unclosed).build().unwrap_err();
        assert_eq!(regex_message(&e), "unclosed group");
        assert_eq!(check_syntax(&unclosed), Err("unclosed group".to_string()));
        assert_eq!(check_syntax(r"\w{1000}"), Ok(()));
        let e = RegexBuilder::new(r"\w{1000}")
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .unwrap_err();
        assert_eq!(
            regex_message(&e),
            "Compiled regex exceeds size limit of 1048576 bytes."
        );
    }
}
