//! Which event ids of one host are already in the stream, so an event that
//! arrives twice (its acknowledgement was lost) is written once.
//!
//! Observers send a `floor` with every batch: every id below it has been
//! acknowledged and will not come again, so only ids at or above the floor
//! need remembering. That can still be a great many: while the oldest
//! batch's acknowledgement is lost, the floor stays put and a burst goes on
//! being written above it. An observer numbers its events consecutively, so
//! the ids are kept as runs of consecutive ids — a few runs per host however
//! many ids — and only the number of runs is capped.

use std::collections::BTreeMap;

use crate::timers::MAX_SEEN_RUNS_PER_HOST;

/// Event ids of one host already written (or being written) to the stream.
#[derive(Debug, Default, Clone)]
pub struct SeenIds {
    /// First id of a run → last id of it (inclusive); runs never touch.
    runs: BTreeMap<u64, u64>,
    floor: u64,
}

impl SeenIds {
    /// Forgets ids below `floor` (the observer will never send them again).
    /// A floor lower than one seen before is ignored: floors only rise.
    pub fn raise_floor(&mut self, floor: u64) {
        if floor <= self.floor {
            return;
        }
        self.floor = floor;
        let mut above = self.runs.split_off(&floor);
        if let Some((_, &last)) = self.runs.iter().next_back()
            && last >= floor
        {
            above.insert(floor, last);
        }
        self.runs = above;
    }

    /// `true` if `id` is new and now remembered; `false` for a duplicate
    /// (already seen, or below the floor and so acknowledged before).
    pub fn insert(&mut self, id: u64) -> bool {
        if id < self.floor || self.contains(id) {
            return false;
        }
        let before = id
            .checked_sub(1)
            .and_then(|prev| self.runs.range(..=prev).next_back())
            .filter(|(_, last)| **last + 1 == id)
            .map(|(first, _)| *first);
        let after = id
            .checked_add(1)
            .and_then(|next| Some((next, self.runs.get(&next).copied()?)));
        if let Some((next, _)) = after {
            self.runs.remove(&next);
        }
        let first = before.unwrap_or(id);
        let last = after.map_or(id, |(_, last)| last);
        self.runs.insert(first, last);
        if self.runs.len() > MAX_SEEN_RUNS_PER_HOST {
            self.runs.pop_first();
        }
        true
    }

    /// Forgets `id` again (its write failed: the re-sent event must be
    /// written).
    pub fn forget(&mut self, id: u64) {
        let Some((&first, &last)) = self.runs.range(..=id).next_back() else {
            return;
        };
        if id > last {
            return;
        }
        self.runs.remove(&first);
        if first < id {
            self.runs.insert(first, id - 1);
        }
        if id < last {
            self.runs.insert(id + 1, last);
        }
    }

    pub fn contains(&self, id: u64) -> bool {
        self.runs
            .range(..=id)
            .next_back()
            .is_some_and(|(_, last)| id <= *last)
    }

    /// Runs of consecutive ids remembered.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn repeated_id_is_a_duplicate() {
        let mut seen = SeenIds::default();
        assert!(seen.insert(7));
        assert!(!seen.insert(7));
        seen.forget(7);
        assert!(seen.insert(7));
    }

    #[test]
    fn floor_prunes_and_refuses_older_ids() {
        let mut seen = SeenIds::default();
        for id in 1..=10 {
            assert!(seen.insert(id));
        }
        assert_eq!(seen.runs(), 1);
        seen.raise_floor(6);
        assert!(!seen.insert(3), "below the floor: acknowledged before");
        assert!(!seen.insert(6), "at the floor and seen");
        seen.raise_floor(2);
        assert!(!seen.insert(5), "a floor never goes down");
        assert!(seen.insert(11));
    }

    #[test]
    fn consecutive_ids_are_one_run_whatever_the_order() {
        let mut seen = SeenIds::default();
        for id in (0..1_000_000u64).rev() {
            assert!(seen.insert(id));
        }
        assert_eq!(seen.runs(), 1);
        assert!(seen.insert(u64::MAX));
        assert!(!seen.insert(u64::MAX));
        assert_eq!(seen.runs(), 2);
    }

    #[test]
    fn runs_are_capped_oldest_first() {
        let mut seen = SeenIds::default();
        for k in 0..(MAX_SEEN_RUNS_PER_HOST as u64 + 10) {
            seen.insert(k * 2);
        }
        assert_eq!(seen.runs(), MAX_SEEN_RUNS_PER_HOST);
        assert!(!seen.contains(0), "the oldest run went first");
        assert!(seen.contains(2 * (MAX_SEEN_RUNS_PER_HOST as u64 + 9)));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        Forget(u64),
        Floor(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u64..200).prop_map(Op::Insert),
            1 => (0u64..200).prop_map(Op::Forget),
            1 => (0u64..200).prop_map(Op::Floor),
        ]
    }

    proptest! {
        /// Against a plain set of ids with a floor (few enough runs that the
        /// cap never applies).
        #[test]
        fn behaves_like_a_set_above_the_floor(ops in proptest::collection::vec(op(), 0..400)) {
            let mut seen = SeenIds::default();
            let mut model = BTreeSet::new();
            let mut floor = 0;
            for op in ops {
                match op {
                    Op::Insert(id) => {
                        let new = id >= floor && model.insert(id);
                        prop_assert_eq!(seen.insert(id), new, "insert {}", id);
                    }
                    Op::Forget(id) => {
                        model.remove(&id);
                        seen.forget(id);
                    }
                    Op::Floor(f) => {
                        if f > floor {
                            floor = f;
                            model = model.split_off(&f);
                        }
                        seen.raise_floor(f);
                    }
                }
                for id in 0..200 {
                    prop_assert_eq!(seen.contains(id), model.contains(&id), "contains {}", id);
                }
            }
        }
    }
}
