//! The `alert_*` rule of one log group (SPEC §4) over fixed time blocks.
//!
//! Blocks are aligned from the moment the group started and last `S`
//! seconds. Matching lines are counted whether or not the group is active;
//! events are only raised while it is active, judged at the moment the event
//! would be raised (the line for `alert_all`/`alert_n`, the block's end for
//! `alert_count`/`alert_inactive`). A threshold crossed while inactive counts
//! as spent for its block, so it never fires late.
//!
//! `alert_inactive` is stateful: each block end is a result on the
//! [`ProblemBoard`] (bad when no line matched), so its problem opens once
//! and clears once; the other alerts raise point events.

use std::time::{Duration, Instant};

use conf::{ActiveWindows, LogAlert, LogWatch, StateKeys};
use wire::Transition;

use crate::clock::LocalMinute;
use crate::problems::{CheckRef, ProblemBoard};
use crate::raised::Raised;

/// One log group's rule and its block state.
#[derive(Debug, Clone)]
pub struct LogRule {
    tags: String,
    source: String,
    alert: LogAlert,
    active: Option<ActiveWindows>,
    check: String,
    keys: StateKeys,
    block_start: Instant,
    count: u64,
    /// `alert_n` already fired (or was suppressed) in this block.
    spent: bool,
}

impl LogRule {
    /// The rule of `watch`, its first block starting at `now`.
    pub fn new(watch: &LogWatch, now: Instant) -> LogRule {
        LogRule {
            tags: watch.tags.clone(),
            source: watch.file.clone(),
            alert: watch.alert.clone(),
            active: watch.active.clone(),
            check: watch.check.to_string(),
            keys: watch.state,
            block_start: now,
            count: 0,
            spent: false,
        }
    }

    fn block(&self) -> Option<Duration> {
        match &self.alert {
            LogAlert::All { .. } => None,
            LogAlert::N { block, .. }
            | LogAlert::Count { block }
            | LogAlert::Inactive { block, .. } => Some((*block).max(Duration::from_secs(1))),
        }
    }

    /// When the current block ends, for rules that have blocks.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.block().map(|b| self.block_start + b)
    }

    /// Closes every block that ended by `now`, returning what their ends
    /// raise.
    pub fn on_tick(
        &mut self,
        now: Instant,
        local: LocalMinute,
        time_ms: i64,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        let mut out = Vec::new();
        let Some(block) = self.block() else {
            return out;
        };
        let mut first = true;
        while self.block_start + block <= now {
            // Only the block that just ended reports; blocks skipped while
            // the process was stopped are folded into it.
            let active = local.allows(self.active.as_ref());
            if first {
                match &self.alert {
                    LogAlert::Count { .. } if active => {
                        out.push(
                            Raised::metric(
                                time_ms,
                                &self.tags,
                                Some(&self.source),
                                self.count as f64,
                            )
                            .in_check(&self.check, Transition::Point),
                        );
                    }
                    LogAlert::Inactive { message, .. } => {
                        // Judged in and out of the window: outside it the
                        // problem does not open, but it still clears.
                        let check = CheckRef {
                            id: &self.check,
                            tags: &self.tags,
                            source: Some(&self.source),
                            keys: self.keys,
                            active,
                        };
                        let bad = self.count == 0;
                        let text = if bad { message.clone() } else { String::new() };
                        out.extend(problems.result(check, bad, text, None, time_ms));
                    }
                    _ => {}
                }
            }
            first = false;
            self.block_start += block;
            self.count = 0;
            self.spent = false;
        }
        out
    }

    /// One matching line at `now`. Call [`LogRule::on_tick`] first so the
    /// line lands in the right block.
    pub fn on_match(
        &mut self,
        now: Instant,
        local: LocalMinute,
        time_ms: i64,
        line: &str,
        problems: &mut ProblemBoard,
    ) -> Option<Raised> {
        let mut closed = self.on_tick(now, local, time_ms, problems);
        self.count += 1;
        let active = local.allows(self.active.as_ref());
        let raised = match &self.alert {
            LogAlert::All { message } if active => Some(
                Raised::alert(
                    time_ms,
                    &self.tags,
                    Some(&self.source),
                    message.clone().unwrap_or_else(|| line.to_string()),
                )
                .in_check(&self.check, Transition::Point),
            ),
            LogAlert::N {
                threshold, message, ..
            } if !self.spent && self.count as f64 > *threshold => {
                self.spent = true;
                active.then(|| {
                    Raised::alert(time_ms, &self.tags, Some(&self.source), message.clone())
                        .in_check(&self.check, Transition::Point)
                })
            }
            _ => None,
        };
        // on_tick normally runs before, so `closed` is empty; keep the rare
        // block end it found rather than dropping it.
        match (closed.pop(), raised) {
            (Some(c), None) => Some(c),
            (_, r) => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conf::{ActiveWindows, Origin};
    use regex::RegexSet;

    fn watch(alert: LogAlert, active: Option<&str>) -> LogWatch {
        LogWatch {
            file: "/var/log/app".into(),
            patterns: vec!["ERR".into()],
            set: RegexSet::new(["ERR"]).unwrap(),
            tags: "app".into(),
            alert,
            active: active.map(|a| ActiveWindows::parse(a).unwrap()),
            check: conf::CheckId::named("log-test"),
            state: conf::StateKeys::DEFAULT,
            origin: Origin {
                file: "hosts/h".into(),
                line: 3,
                included_from: vec![],
            },
        }
    }

    // Monday 10:00 is inside `1;09:00-17:00`; Monday 18:00 is outside.
    const IN: LocalMinute = LocalMinute {
        weekday: 1,
        hour: 10,
        minute: 0,
    };
    const OUT: LocalMinute = LocalMinute {
        weekday: 1,
        hour: 18,
        minute: 0,
    };

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn alert_all_raises_per_line_with_text_or_line() {
        let t0 = Instant::now();
        let mut b = ProblemBoard::new();
        let mut r = LogRule::new(&watch(LogAlert::All { message: None }, None), t0);
        assert_eq!(
            r.on_match(t0, IN, 0, "ERR 1", &mut b).unwrap().message,
            "ERR 1"
        );
        let mut r = LogRule::new(
            &watch(
                LogAlert::All {
                    message: Some("boom".into()),
                },
                None,
            ),
            t0,
        );
        assert_eq!(
            r.on_match(t0, IN, 0, "ERR 1", &mut b).unwrap().message,
            "boom"
        );
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn alert_n_fires_once_per_block_when_count_exceeds_threshold() {
        let t0 = Instant::now();
        let mut b = ProblemBoard::new();
        let alert = LogAlert::N {
            threshold: 2.0,
            block: s(10),
            message: "many".into(),
        };
        let mut r = LogRule::new(&watch(alert, None), t0);
        assert!(r.on_match(t0, IN, 0, "x", &mut b).is_none());
        assert!(r.on_match(t0 + s(1), IN, 0, "x", &mut b).is_none());
        assert_eq!(
            r.on_match(t0 + s(2), IN, 0, "x", &mut b).unwrap().message,
            "many"
        );
        assert!(r.on_match(t0 + s(3), IN, 0, "x", &mut b).is_none());
        // The block ending at exactly 10 s starts a new count.
        assert!(r.on_match(t0 + s(9), IN, 0, "x", &mut b).is_none());
        assert!(r.on_match(t0 + s(10), IN, 0, "x", &mut b).is_none());
        assert!(r.on_match(t0 + s(11), IN, 0, "x", &mut b).is_none());
        assert!(r.on_match(t0 + s(19), IN, 0, "x", &mut b).is_some());
        // Two lines in one block and one in the next never add up.
        assert!(r.on_match(t0 + s(29), IN, 0, "x", &mut b).is_none());
        assert!(r.on_match(t0 + s(29), IN, 0, "x", &mut b).is_none());
        assert!(r.on_match(t0 + s(30), IN, 0, "x", &mut b).is_none());
    }

    #[test]
    fn alert_count_reports_each_block_count_at_its_end() {
        let t0 = Instant::now();
        let mut b = ProblemBoard::new();
        let mut r = LogRule::new(&watch(LogAlert::Count { block: s(60) }, None), t0);
        assert_eq!(r.next_deadline(), Some(t0 + s(60)));
        for i in 0..5 {
            assert!(r.on_match(t0 + s(i), IN, 0, "x", &mut b).is_none());
        }
        assert!(r.on_tick(t0 + s(59), IN, 0, &mut b).is_empty());
        let ev = r.on_tick(t0 + s(60), IN, 0, &mut b);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].value, Some(5.0));
        assert_eq!(ev[0].kind, wire::EventKind::Metric);
        let ev = r.on_tick(t0 + s(120), IN, 0, &mut b);
        assert_eq!(ev[0].value, Some(0.0));
        assert_eq!(r.next_deadline(), Some(t0 + s(180)));
    }

    #[test]
    fn alert_inactive_fires_only_for_an_empty_block() {
        let t0 = Instant::now();
        let mut b = ProblemBoard::new();
        let alert = LogAlert::Inactive {
            block: s(30),
            message: "quiet".into(),
        };
        let mut r = LogRule::new(&watch(alert, None), t0);
        assert!(r.on_match(t0 + s(29), IN, 0, "x", &mut b).is_none());
        assert!(r.on_tick(t0 + s(30), IN, 0, &mut b).is_empty());
        let ev = r.on_tick(t0 + s(60), IN, 0, &mut b);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].message, "quiet");
        assert_eq!(ev[0].source.as_deref(), Some("/var/log/app"));
    }

    #[test]
    fn active_windows_suppress_but_do_not_delay() {
        let t0 = Instant::now();
        let mut b = ProblemBoard::new();
        let w = Some("1;09:00-17:00");
        // alert_all: a line outside the window raises nothing, ever.
        let mut r = LogRule::new(&watch(LogAlert::All { message: None }, w), t0);
        assert!(r.on_match(t0, OUT, 0, "x", &mut b).is_none());
        assert!(r.on_tick(t0 + s(3600), IN, 0, &mut b).is_empty());
        assert!(r.on_match(t0 + s(3600), IN, 0, "y", &mut b).is_some());
        // alert_n: threshold crossed while inactive does not fire when the
        // window opens within the same block.
        let alert = LogAlert::N {
            threshold: 1.0,
            block: s(100),
            message: "m".into(),
        };
        let mut r = LogRule::new(&watch(alert, w), t0);
        assert!(r.on_match(t0, OUT, 0, "x", &mut b).is_none());
        assert!(r.on_match(t0 + s(1), OUT, 0, "x", &mut b).is_none());
        assert!(r.on_match(t0 + s(2), IN, 0, "x", &mut b).is_none());
        // Next block, active: fires immediately on crossing (no delay).
        assert!(r.on_match(t0 + s(100), IN, 0, "x", &mut b).is_none());
        assert!(r.on_match(t0 + s(101), IN, 0, "x", &mut b).is_some());
        // alert_count: a block ending outside the window raises nothing.
        let mut r = LogRule::new(&watch(LogAlert::Count { block: s(10) }, w), t0);
        assert!(r.on_match(t0, IN, 0, "x", &mut b).is_none());
        assert!(r.on_tick(t0 + s(10), OUT, 0, &mut b).is_empty());
        assert_eq!(r.on_tick(t0 + s(20), IN, 0, &mut b).len(), 1);
        // alert_inactive likewise.
        let alert = LogAlert::Inactive {
            block: s(10),
            message: "q".into(),
        };
        let mut r = LogRule::new(&watch(alert, w), t0);
        assert!(r.on_tick(t0 + s(10), OUT, 0, &mut b).is_empty());
        assert_eq!(r.on_tick(t0 + s(20), IN, 0, &mut b).len(), 1);
    }
}
