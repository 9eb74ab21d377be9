//! The open/clear state of one stateful check (`for=`, `clear_for=`,
//! `repeat=`): consecutive bad and good results, whether its problem is
//! open, and when it was last (re)sent. Pure: a result and the time in, a
//! [`Change`] out. Kept apart from the checks so one state machine serves
//! every kind of check.

use std::time::Instant;

use conf::CheckTiming;

use crate::clock::Now;

/// What one result changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing to raise.
    Nothing,
    /// `for=` bad results in a row: the problem opens.
    Open,
    /// Still bad and `repeat=` seconds since it was last sent.
    Repeat,
    /// `clear_for=` good results in a row: the problem clears after being
    /// open `open_ms` milliseconds.
    Clear { open_ms: i64 },
}

/// The state of one check; see the module doc.
#[derive(Debug, Clone)]
pub struct Streak {
    timing: CheckTiming,
    bad: u32,
    good: u32,
    /// Wall time it opened and the last time it was sent.
    open: Option<(i64, Instant)>,
}

impl Streak {
    pub fn new(timing: CheckTiming) -> Streak {
        Streak {
            timing,
            bad: 0,
            good: 0,
            open: None,
        }
    }

    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// One result. `may_open` is false outside the check's `active:`
    /// windows: bad results still count, but no problem opens (one already
    /// open stays open and still clears).
    pub fn judge(&mut self, bad: bool, may_open: bool, now: &Now) -> Change {
        if bad {
            self.good = 0;
            self.bad = self.bad.saturating_add(1);
            match &mut self.open {
                None if may_open && self.bad >= self.timing.open_after => {
                    self.open = Some((now.wall_ms, now.mono));
                    Change::Open
                }
                Some((_, sent))
                    if self
                        .timing
                        .repeat
                        .is_some_and(|r| now.mono.saturating_duration_since(*sent) >= r) =>
                {
                    *sent = now.mono;
                    Change::Repeat
                }
                _ => Change::Nothing,
            }
        } else {
            self.bad = 0;
            self.good = self.good.saturating_add(1);
            match self.open {
                Some((since, _)) if self.good >= self.timing.clear_after => {
                    self.open = None;
                    Change::Clear {
                        open_ms: now.wall_ms.saturating_sub(since).max(0),
                    }
                }
                _ => Change::Nothing,
            }
        }
    }
}

/// The alert event of one judged result of a metric or probe check: the
/// message with the value shown, `cleared: …` on a clearing, nothing when
/// the streak did not change.
pub fn raised_for(
    change: Change,
    now: &Now,
    tags: &str,
    message: &str,
    shown: &str,
) -> Vec<crate::raised::Raised> {
    let text = match change {
        Change::Nothing => return Vec::new(),
        Change::Open | Change::Repeat => format!("{message} [{shown}]"),
        Change::Clear { .. } => format!("cleared: {message} [{shown}]"),
    };
    vec![crate::raised::Raised::alert(now.wall_ms, tags, None, text)]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::LocalMinute;

    fn at(t0: Instant, s: u64) -> Now {
        Now {
            mono: t0 + Duration::from_secs(s),
            wall_ms: s as i64 * 1000,
            local: LocalMinute {
                weekday: 1,
                hour: 12,
                minute: 0,
            },
        }
    }

    fn run(timing: CheckTiming, results: &[bool]) -> Vec<Change> {
        let t0 = Instant::now();
        let mut s = Streak::new(timing);
        results
            .iter()
            .enumerate()
            .map(|(i, bad)| s.judge(*bad, true, &at(t0, i as u64 * 60)))
            .collect()
    }

    #[test]
    fn opens_after_for_bad_results_and_clears_after_clear_for_good_ones() {
        let timing = CheckTiming {
            open_after: 2,
            clear_after: 2,
            ..CheckTiming::default()
        };
        use Change::*;
        assert_eq!(
            run(
                timing,
                &[true, false, true, true, true, false, true, false, false]
            ),
            [
                Nothing,
                Nothing,
                Nothing,
                Open,
                Nothing,
                Nothing,
                Nothing,
                Nothing,
                Clear { open_ms: 300_000 }
            ]
        );
    }

    #[test]
    fn repeat_resends_while_open_and_defaults_open_and_clear_at_once() {
        use Change::*;
        assert_eq!(
            run(CheckTiming::default(), &[true, true, false, false]),
            [Open, Nothing, Clear { open_ms: 120_000 }, Nothing]
        );
        let timing = CheckTiming {
            repeat: Some(Duration::from_secs(120)),
            ..CheckTiming::default()
        };
        assert_eq!(
            run(timing, &[true, true, true, true, true]),
            [Open, Nothing, Repeat, Nothing, Repeat]
        );
    }

    #[test]
    fn outside_its_windows_a_problem_does_not_open_but_still_clears() {
        let t0 = Instant::now();
        let mut s = Streak::new(CheckTiming {
            open_after: 2,
            ..CheckTiming::default()
        });
        assert_eq!(s.judge(true, false, &at(t0, 0)), Change::Nothing);
        assert_eq!(s.judge(true, false, &at(t0, 1)), Change::Nothing);
        // The window opens while it is still bad: it counted all along.
        assert_eq!(s.judge(true, true, &at(t0, 2)), Change::Open);
        assert_eq!(
            s.judge(false, false, &at(t0, 3)),
            Change::Clear { open_ms: 1000 }
        );
    }
}
