//! The supervisors an observer knows of: each one's beacon interval (learned
//! from the gaps between its beacons), when it was last heard from (beacon
//! or answer), whether it ever answered this host, and whether it was tried
//! and never answered (suspect). The session decides whom to work with;
//! this table answers who is alive and who is the best other choice.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::timers::*;

/// Most supervisors tracked at once (beacons from more are ignored).
const MAX_SUPERVISORS: usize = 64;
/// A supervisor not heard for this long is forgotten entirely.
const FORGET_SUPERVISOR: Duration = Duration::from_secs(600);

#[derive(Debug)]
pub(super) struct Supervisor {
    pub(super) name: String,
    pub(super) run_id: u64,
    pub(super) last_beacon: Instant,
    /// Last datagram of any kind from it.
    pub(super) last_heard: Instant,
    /// Recent gaps between beacons; the interval is the smallest.
    gaps: VecDeque<Duration>,
    /// It answered this host's requests (configuration or acknowledgement).
    pub(super) answered: bool,
    /// It was tried and never answered: tried again only when nobody else
    /// is heard.
    pub(super) suspect: bool,
}

impl Supervisor {
    fn interval(&self) -> Duration {
        self.gaps
            .iter()
            .min()
            .copied()
            .unwrap_or(DEFAULT_BEACON_INTERVAL)
            .clamp(MIN_BEACON_INTERVAL, MAX_BEACON_INTERVAL)
    }

    /// Lost when neither a beacon nor an answer came for this long.
    pub(super) fn expires(&self) -> Instant {
        self.last_heard + self.interval() * BEACONS_LOST
    }

    /// Its beacon is this late: in doubt from here.
    pub(super) fn beacon_overdue(&self) -> Instant {
        self.last_heard + self.interval() + PROBE_AFTER
    }

    pub(super) fn alive(&self, now: Instant) -> bool {
        now < self.expires()
    }
}

/// What a beacon told.
pub(super) struct Beaconed {
    /// It was alive already (not newly heard).
    pub(super) known: bool,
    /// It beacons with a new run id: it restarted.
    pub(super) restarted: bool,
}

/// Every supervisor heard, by address.
#[derive(Debug, Default)]
pub(super) struct Supervisors {
    by_addr: BTreeMap<SocketAddr, Supervisor>,
}

impl Supervisors {
    pub(super) fn get(&self, addr: &SocketAddr) -> Option<&Supervisor> {
        self.by_addr.get(addr)
    }

    pub(super) fn get_mut(&mut self, addr: &SocketAddr) -> Option<&mut Supervisor> {
        self.by_addr.get_mut(addr)
    }

    /// A beacon from `from`; `None` when the table is full of others.
    pub(super) fn note_beacon(
        &mut self,
        now: Instant,
        from: SocketAddr,
        name: String,
        run_id: u64,
    ) -> Option<Beaconed> {
        let known = self.by_addr.get(&from).is_some_and(|s| s.alive(now));
        if !self.by_addr.contains_key(&from) {
            self.by_addr
                .retain(|_, s| now.saturating_duration_since(s.last_beacon) < FORGET_SUPERVISOR);
            if self.by_addr.len() >= MAX_SUPERVISORS {
                return None;
            }
        }
        let s = self.by_addr.entry(from).or_insert_with(|| Supervisor {
            name: name.clone(),
            run_id,
            last_beacon: now,
            last_heard: now,
            gaps: VecDeque::new(),
            answered: false,
            suspect: false,
        });
        let gap = now.saturating_duration_since(s.last_beacon);
        if !gap.is_zero() {
            s.gaps.push_back(gap);
            if s.gaps.len() > 4 {
                s.gaps.pop_front();
            }
        }
        s.last_beacon = now;
        s.last_heard = now;
        s.name = name;
        let restarted = s.run_id != run_id;
        s.run_id = run_id;
        Some(Beaconed { known, restarted })
    }

    /// The best alive, not suspect supervisor other than `chosen`: one that
    /// answered before, then the most recently heard beacon.
    pub(super) fn best_other(
        &self,
        chosen: Option<SocketAddr>,
        now: Instant,
    ) -> Option<SocketAddr> {
        self.by_addr
            .iter()
            .filter(|(a, s)| Some(**a) != chosen && s.alive(now) && !s.suspect)
            .max_by_key(|(_, s)| (s.answered, s.last_beacon))
            .map(|(a, _)| *a)
    }

    /// Addresses of every supervisor alive at `now`.
    pub(super) fn alive(&self, now: Instant) -> Vec<SocketAddr> {
        self.by_addr
            .iter()
            .filter(|(_, s)| s.alive(now))
            .map(|(a, _)| *a)
            .collect()
    }
}
