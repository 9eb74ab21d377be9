//! Observer-side problems reported centrally (SPEC §6): a missing log file, a
//! failing command, an unreadable process table, a configuration group that
//! failed to load, spool overflow. Each raises one SYSTEM event when it
//! starts and one when it clears, and is logged locally; repeats in between
//! are silent.

use std::collections::BTreeMap;

use crate::raised::Raised;

/// The problems currently standing, by a key naming the thing that has it
/// (`log:/var/log/x`, `command:df -P`).
#[derive(Debug, Default)]
pub struct ProblemBoard {
    standing: BTreeMap<String, String>,
}

impl ProblemBoard {
    pub fn new() -> Self {
        Self::default()
    }

    /// `key` has the problem `message`: an event the first time (or when the
    /// message changed), nothing while it persists.
    pub fn raise(&mut self, key: &str, message: &str, time_ms: i64) -> Option<Raised> {
        if self.standing.get(key).map(String::as_str) == Some(message) {
            return None;
        }
        tracing::warn!(problem = key, "{message}");
        self.standing.insert(key.to_string(), message.to_string());
        Some(Raised::system(time_ms, format!("problem: {message}")))
    }

    /// `key` works again: an event if it had a problem.
    pub fn clear(&mut self, key: &str, time_ms: i64) -> Option<Raised> {
        let message = self.standing.remove(key)?;
        tracing::info!(problem = key, "cleared: {message}");
        Some(Raised::system(time_ms, format!("cleared: {message}")))
    }

    /// Clears every problem whose key starts with `prefix` and is not in
    /// `keep` (monitors that no longer exist after a new configuration).
    pub fn clear_stale(
        &mut self,
        prefix: &str,
        keep: &dyn Fn(&str) -> bool,
        time_ms: i64,
    ) -> Vec<Raised> {
        let stale: Vec<String> = self
            .standing
            .keys()
            .filter(|k| k.starts_with(prefix) && !keep(k))
            .cloned()
            .collect();
        stale
            .iter()
            .filter_map(|k| self.clear(k, time_ms))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_reported_once_and_cleared_once() {
        let mut b = ProblemBoard::new();
        assert!(b.raise("log:/x", "/x is missing", 1).is_some());
        assert!(b.raise("log:/x", "/x is missing", 2).is_none());
        let c = b.clear("log:/x", 3).unwrap();
        assert_eq!(c.message, "cleared: /x is missing");
        assert_eq!(c.tags, "SYSTEM");
        assert!(b.clear("log:/x", 4).is_none());
    }
}
