//! Problems as state: every stateful check's consecutive bad and good
//! results, and the problems open now. A check's problem opens once (after
//! `for=` bad results, inside its `active:` window) and clears once (after
//! `clear_for=` good results, in or out of the window); while it stays open
//! nothing is re-sent unless `repeat=` asks. The observer's own conditions
//! (`observer-file-…`, `observer-ps`, `observer-spool`) open at their first
//! bad result and clear at the first good one.
//!
//! The board is keyed by problem id (the check id) and belongs to the core,
//! not to the checks, so a new configuration that keeps a check (same id)
//! keeps its counters and its open problem: no second opening. The core
//! clears the problems of checks a new configuration no longer has.

use std::collections::BTreeMap;
use std::time::Duration;

use conf::StateKeys;
use wire::{EventKind, OpenProblem, Transition};

use crate::raised::Raised;

/// Check id of the spool's problem (full, or not writable).
pub const SPOOL_PROBLEM: &str = "observer-spool";
/// Check id of the process table's problem (cannot be read).
pub const PROCESS_PROBLEM: &str = "observer-ps";
/// Check ids of followed log files start with this.
pub const FILE_PROBLEM_PREFIX: &str = "observer-file-";

/// The check whose result is reported, as the configuration gives it.
#[derive(Debug, Clone, Copy)]
pub struct CheckRef<'a> {
    pub id: &'a str,
    pub tags: &'a str,
    /// The log file, for log checks.
    pub source: Option<&'a str>,
    pub keys: StateKeys,
    /// Inside its `active:` window (or it has none).
    pub active: bool,
}

#[derive(Debug, Clone, Default)]
struct Tracked {
    /// Consecutive bad results.
    bad: u32,
    /// Consecutive good results.
    good: u32,
    open: Option<Open>,
}

#[derive(Debug, Clone)]
struct Open {
    since_ms: i64,
    /// When the opening (or the last repeat) was sent.
    sent_ms: i64,
    tags: String,
    source: Option<String>,
    kind: EventKind,
    message: String,
    value: Option<f64>,
}

/// Every check's problem state; see the module doc.
#[derive(Debug, Default)]
pub struct ProblemBoard {
    tracked: BTreeMap<String, Tracked>,
    /// The open problems changed since [`ProblemBoard::take_changed`].
    changed: bool,
}

impl ProblemBoard {
    pub fn new() -> Self {
        Self::default()
    }

    /// One result of `check`: bad (`message` is what the opening says) or
    /// good (`message` is what the clearing says). Returns the transition's
    /// event, if any.
    pub fn result(
        &mut self,
        check: CheckRef<'_>,
        bad: bool,
        message: String,
        value: Option<f64>,
        time_ms: i64,
    ) -> Option<Raised> {
        let t = self.tracked.entry(check.id.to_string()).or_default();
        if bad {
            t.bad = t.bad.saturating_add(1);
            t.good = 0;
            match &mut t.open {
                Some(open) => {
                    if open.value != value {
                        open.value = value;
                        self.changed = true;
                    }
                    let repeat_ms = check.keys.repeat.map(|r| duration_ms(r) as i64);
                    match repeat_ms {
                        Some(r) if time_ms.saturating_sub(open.sent_ms) >= r => {
                            open.sent_ms = time_ms;
                            let mut raised =
                                Raised::alert(time_ms, check.tags, check.source, message);
                            raised.value = value;
                            Some(raised.in_check(check.id, Transition::Repeat))
                        }
                        _ => None,
                    }
                }
                None if t.bad >= check.keys.open_after && check.active => {
                    tracing::info!(check = check.id, "problem opened: {message}");
                    t.open = Some(Open {
                        since_ms: time_ms,
                        sent_ms: time_ms,
                        tags: check.tags.to_string(),
                        source: check.source.map(str::to_string),
                        kind: EventKind::Alert,
                        message: message.clone(),
                        value,
                    });
                    self.changed = true;
                    let mut raised = Raised::alert(time_ms, check.tags, check.source, message);
                    raised.value = value;
                    Some(raised.in_check(check.id, Transition::Open))
                }
                None => None,
            }
        } else {
            t.good = t.good.saturating_add(1);
            t.bad = 0;
            if t.open.is_none() {
                // Nothing left to remember: forgetting it keeps the board
                // as small as what is bad now (keys of per-line checks come
                // and go with the command's output).
                self.tracked.remove(check.id);
                return None;
            }
            if t.good < check.keys.clear_after {
                return None;
            }
            let open = t.open.take()?;
            self.changed = true;
            // No words of its own: the clearing repeats the opening's.
            let message = if message.is_empty() {
                open.message.clone()
            } else {
                message
            };
            tracing::info!(check = check.id, "problem cleared: {message}");
            let mut raised = Raised::alert(time_ms, check.tags, check.source, message);
            raised.value = value;
            Some(raised.in_check(check.id, clear(&open, time_ms)))
        }
    }

    /// An observer condition `id` is bad (`message` says how): a `SYSTEM`
    /// problem opens at once; nothing while it stays open.
    pub fn raise(&mut self, id: &str, message: &str, time_ms: i64) -> Option<Raised> {
        let t = self.tracked.entry(id.to_string()).or_default();
        t.bad = t.bad.saturating_add(1);
        t.good = 0;
        if let Some(open) = &mut t.open {
            // Logged, not re-sent: the heartbeat shows the newest words.
            if open.message != message {
                tracing::warn!(problem = id, "{message}");
                open.message = message.to_string();
                self.changed = true;
            }
            return None;
        }
        tracing::warn!(problem = id, "{message}");
        t.open = Some(Open {
            since_ms: time_ms,
            sent_ms: time_ms,
            tags: "SYSTEM".to_string(),
            source: None,
            kind: EventKind::System,
            message: message.to_string(),
            value: None,
        });
        self.changed = true;
        Some(Raised::system(time_ms, message.to_string()).in_check(id, Transition::Open))
    }

    /// Problem `id` is gone (an observer condition that works again, or a
    /// check no longer configured): its clearing if it was open. Its
    /// counters are forgotten.
    pub fn clear(&mut self, id: &str, time_ms: i64) -> Option<Raised> {
        let open = self.tracked.remove(id)?.open?;
        self.changed = true;
        tracing::info!(problem = id, "cleared: {}", open.message);
        let mut raised = Raised {
            time_ms,
            tags: open.tags.clone(),
            source: open.source.clone(),
            kind: open.kind,
            message: open.message.clone(),
            value: open.value,
            check: None,
            transition: Transition::Point,
        };
        raised.check = Some(id.to_string());
        raised.transition = clear(&open, time_ms);
        Some(raised)
    }

    /// Clears check `id`'s problem and those of its lines (`id:KEY`, see
    /// [`conf::CheckId::for_line`]): the check is no longer configured.
    pub fn clear_check(&mut self, id: &str, time_ms: i64) -> Vec<Raised> {
        let mut ids = self.lines_of(id);
        ids.push(id.to_string());
        ids.iter().filter_map(|k| self.clear(k, time_ms)).collect()
    }

    /// The ids of check `id`'s lines that are bad or open now.
    pub fn lines_of(&self, id: &str) -> Vec<String> {
        let prefix = format!("{id}:");
        self.tracked
            .range(prefix.clone()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(&prefix))
            .cloned()
            .collect()
    }

    /// Clears every problem whose id starts with `prefix` and is not kept
    /// by `keep` (checks that no longer exist after a new configuration).
    pub fn clear_stale(
        &mut self,
        prefix: &str,
        keep: &dyn Fn(&str) -> bool,
        time_ms: i64,
    ) -> Vec<Raised> {
        let stale: Vec<String> = self
            .tracked
            .keys()
            .filter(|k| k.starts_with(prefix) && !keep(k))
            .cloned()
            .collect();
        stale
            .iter()
            .filter_map(|k| self.clear(k, time_ms))
            .collect()
    }

    /// Whether problem `id` is open.
    pub fn is_open(&self, id: &str) -> bool {
        self.tracked.get(id).is_some_and(|t| t.open.is_some())
    }

    /// Every open problem, oldest first, as heartbeats carry them.
    pub fn open_problems(&self) -> Vec<OpenProblem> {
        let mut out: Vec<OpenProblem> = self
            .tracked
            .iter()
            .filter_map(|(id, t)| {
                let o = t.open.as_ref()?;
                Some(OpenProblem {
                    check: id.clone(),
                    since_ms: o.since_ms,
                    tags: o.tags.clone(),
                    message: o.message.clone(),
                    value: o.value,
                })
            })
            .collect();
        out.sort_by(|a, b| a.since_ms.cmp(&b.since_ms).then(a.check.cmp(&b.check)));
        out
    }

    /// Whether the open problems changed since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }
}

fn clear(open: &Open, time_ms: i64) -> Transition {
    Transition::Clear {
        open_ms: u64::try_from(time_ms.saturating_sub(open.since_ms)).unwrap_or(0),
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(keys: StateKeys, active: bool) -> CheckRef<'static> {
        CheckRef {
            id: "cmd-00000001",
            tags: "disk",
            source: None,
            keys,
            active,
        }
    }

    /// Feeds results (`b` bad, `g` good), one a minute; returns the
    /// transitions raised, with the minute they came at.
    fn run(board: &mut ProblemBoard, keys: StateKeys, results: &str) -> Vec<(usize, Transition)> {
        results
            .chars()
            .enumerate()
            .filter_map(|(i, c)| {
                let r = board.result(
                    check(keys, true),
                    c == 'b',
                    "full [95]".into(),
                    Some(95.0),
                    i as i64 * 60_000,
                )?;
                assert_eq!(r.check.as_deref(), Some("cmd-00000001"));
                assert_eq!(r.tags, "disk");
                Some((i, r.transition))
            })
            .collect()
    }

    #[test]
    fn opens_once_and_clears_once_with_how_long_it_was_open() {
        let mut b = ProblemBoard::new();
        let t = run(&mut b, StateKeys::DEFAULT, "gbbbbbbbbbbgg");
        assert_eq!(
            t,
            [
                (1, Transition::Open),
                (
                    11,
                    Transition::Clear {
                        open_ms: 10 * 60_000
                    }
                )
            ]
        );
        assert!(b.open_problems().is_empty());
    }

    #[test]
    fn the_observers_own_condition_opens_and_clears_as_system() {
        let mut b = ProblemBoard::new();
        let o = b.raise("observer-ps", "no process is visible", 1).unwrap();
        assert_eq!(
            (o.tags.as_str(), o.transition),
            ("SYSTEM", Transition::Open)
        );
        assert!(b.raise("observer-ps", "no process is visible", 2).is_none());
        assert_eq!(b.open_problems()[0].check, "observer-ps");
        let c = b.clear("observer-ps", 5).unwrap();
        assert_eq!(c.transition, Transition::Clear { open_ms: 4 });
        assert_eq!(c.message, "no process is visible");
        assert!(b.clear("observer-ps", 6).is_none());
    }
}
