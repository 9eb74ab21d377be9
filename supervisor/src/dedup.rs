//! Which event ids of one host are already in the stream, so an event that
//! arrives twice (its acknowledgement was lost) is written once.
//!
//! Observers send a `floor` with every batch: every id below it has been
//! acknowledged and will not come again, so only ids at or above the floor
//! need remembering. The set is also capped, so a host that never raises its
//! floor cannot grow it without bound.

use std::collections::BTreeSet;

use crate::timers::MAX_SEEN_IDS_PER_HOST;

/// Event ids of one host already written (or being written) to the stream.
#[derive(Debug, Default, Clone)]
pub struct SeenIds {
    ids: BTreeSet<u64>,
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
        self.ids = self.ids.split_off(&floor);
    }

    /// `true` if `id` is new and now remembered; `false` for a duplicate
    /// (already seen, or below the floor and so acknowledged before).
    pub fn insert(&mut self, id: u64) -> bool {
        if id < self.floor || !self.ids.insert(id) {
            return false;
        }
        if self.ids.len() > MAX_SEEN_IDS_PER_HOST {
            self.ids.pop_first();
        }
        true
    }

    /// Forgets `id` again (its write failed: the re-sent event must be
    /// written).
    pub fn forget(&mut self, id: u64) {
        self.ids.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        seen.raise_floor(6);
        assert_eq!(seen.len(), 5);
        assert!(!seen.insert(3), "below the floor: acknowledged before");
        seen.raise_floor(2);
        assert_eq!(seen.len(), 5, "a floor never goes down");
    }

    #[test]
    fn set_is_capped() {
        let mut seen = SeenIds::default();
        for id in 0..(MAX_SEEN_IDS_PER_HOST as u64 + 10) {
            seen.insert(id);
        }
        assert_eq!(seen.len(), MAX_SEEN_IDS_PER_HOST);
    }
}
