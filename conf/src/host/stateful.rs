//! The stateful keys of an alert line — `every=SECONDS`, `for=N`,
//! `clear_for=N`, `repeat=SECONDS` — read into a [`CheckTiming`]. Each is
//! optional; a bad value is a problem of the line.

use crate::checks_model::CheckTiming;
use crate::host::keys::Args;

/// Longest run of results `for=` / `clear_for=` may ask for: beyond it a
/// problem would take days to open at any sensible `every=`.
pub const MAX_RESULTS_IN_A_ROW: u32 = 10_000;

/// The keys read here, for [`Args::parse`]'s list of known keys.
pub(crate) const STATEFUL_KEYS: [&str; 4] = ["every", "for", "clear_for", "repeat"];

/// The timing of an alert line; `None` when a given key had a problem.
pub(crate) fn timing(args: &mut Args<'_>) -> Option<CheckTiming> {
    let mut timing = CheckTiming::default();
    let mut ok = true;
    if args.has("every") {
        match args.seconds("every") {
            Some(every) => timing.every = every,
            None => ok = false,
        }
    }
    if args.has("for") {
        match args.positive("for", MAX_RESULTS_IN_A_ROW) {
            Some(n) => timing.open_after = n,
            None => ok = false,
        }
    }
    if args.has("clear_for") {
        match args.positive("clear_for", MAX_RESULTS_IN_A_ROW) {
            Some(n) => timing.clear_after = n,
            None => ok = false,
        }
    }
    if args.has("repeat") {
        match args.seconds("repeat") {
            Some(repeat) => timing.repeat = Some(repeat),
            None => ok = false,
        }
    }
    ok.then_some(timing)
}
