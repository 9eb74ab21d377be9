//! The words of notification-file lines: `KEY=VALUE` lists, URLs, mail
//! servers and addresses, each checked with a message an operator can act
//! on.

use std::time::Duration;

use crate::notify::parse_duration;

/// The first whitespace-separated word and the rest.
pub(crate) fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim_start()),
        None => (text, ""),
    }
}

pub(crate) fn check_url(url: &str, schemes: &[&str]) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "`{url}` is not a URL (expected {}://HOST...)",
            schemes.join(":// or ")
        ));
    };
    if !schemes.contains(&scheme) {
        return Err(format!(
            "`{url}`: the scheme must be {}",
            schemes.join(" or ")
        ));
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    Ok(())
}

/// `smtp://HOST[:PORT]` or `smtps://...` into scheme, host and port.
pub(crate) fn split_server(url: &str) -> Result<(&'static str, String, Option<u16>), String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("smtp://") {
        ("smtp", rest)
    } else if let Some(rest) = url.strip_prefix("smtps://") {
        ("smtps", rest)
    } else {
        return Err(format!(
            "`{url}`: the mail server must be smtp://HOST[:PORT] or smtps://HOST[:PORT]"
        ));
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
            Ok(port) if port > 0 => (h, Some(port)),
            _ => return Err(format!("`{url}`: `{p}` is not a port number")),
        },
        _ => (rest, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains('/') {
        return Err(format!("`{url}` names no mail server"));
    }
    Ok((scheme, host.to_string(), port))
}

pub(crate) fn looks_like_address(a: &str) -> bool {
    matches!(a.split_once('@'), Some((local, domain))
        if !local.is_empty() && !domain.is_empty() && !a.chars().any(char::is_whitespace))
}

/// `KEY=VALUE` words in any order; unknown and repeated keys are problems.
pub(crate) struct KeyValues<'a> {
    pub problems: Vec<String>,
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> KeyValues<'a> {
    pub fn parse(text: &'a str, keys: &[&str]) -> Self {
        let mut kv = KeyValues {
            pairs: Vec::new(),
            problems: Vec::new(),
        };
        for word in text.split_whitespace() {
            match word.split_once('=') {
                None => kv
                    .problems
                    .push(format!("expected KEY=VALUE, found `{word}`")),
                Some((k, _)) if !keys.contains(&k) => kv.problems.push(format!(
                    "unknown key `{k}=` (expected {})",
                    keys.join("=, ") + "="
                )),
                Some((k, _)) if kv.pairs.iter().any(|(seen, _)| *seen == k) => {
                    kv.problems.push(format!("key `{k}=` given twice"))
                }
                Some(pair) => kv.pairs.push(pair),
            }
        }
        kv
    }

    /// An optional key's value; an empty one is a problem.
    pub fn take(&mut self, key: &str) -> Option<&'a str> {
        match self.pairs.iter().find(|(k, _)| *k == key) {
            Some((_, "")) => {
                self.problems.push(format!("`{key}=` is empty"));
                None
            }
            Some((_, v)) => Some(v),
            None => None,
        }
    }

    pub fn require(&mut self, key: &str) -> Option<&'a str> {
        let value = self.take(key);
        if value.is_none() && !self.pairs.iter().any(|(k, _)| *k == key) {
            self.problems.push(format!("missing key `{key}=`"));
        }
        value
    }

    pub fn duration(&mut self, key: &str) -> Option<Duration> {
        let value = self.take(key)?;
        match parse_duration(value) {
            Ok(d) => Some(d),
            Err(e) => {
                self.problems.push(format!("`{key}=`: {e}"));
                None
            }
        }
    }

    pub fn has_zero(&self, key: &str) -> bool {
        self.pairs
            .iter()
            .any(|(k, v)| *k == key && parse_duration(v).is_ok_and(|d| d.is_zero()))
    }
}
