//! Two (or more) supervisors on one LAN, one notification: which of them
//! notifies for a host (docs/NOTIFICATIONS.md, "Several supervisors").
//!
//! Every supervisor hears every host (heartbeats go to all of them) and
//! keeps the same state, but only the one a host **chose** notifies for it:
//! its latest heartbeat named this supervisor's run, or it sent its events
//! here (an observer sends events to its chosen supervisor only). So a
//! person hears of each problem once, from the supervisor that received it.
//!
//! Hand-over: when a host's choice moves here (its supervisor died and it
//! failed over), its open problems are taken over as already announced —
//! their reminders, escalation and clearing continue from here, without a
//! second opening; when it moves away, they are dropped here without a
//! clearing (the new supervisor sends it).
//!
//! A supervisor that no heartbeat has named for [`PEER_QUIET`] counts as
//! gone: this one then notifies for the hosts that chose it — so a host that
//! dies together with its supervisor is still reported inactive. Hosts that
//! name no supervisor (protocol 1, or not heard since this one started) are
//! notified by every supervisor that hears them, as before: two
//! notifications are better than none.

use std::time::Instant;

use conf::HostName;

use super::Supervisor;
use crate::problems::{HOST_INACTIVE_CHECK, Happening};
use crate::timers::{MAX_PEERS_NAMED, PEER_QUIET};

impl Supervisor {
    /// Whether this supervisor notifies for `host` at `now` (see the
    /// module doc).
    pub fn notifies_for(&self, now: Instant, host: &str) -> bool {
        let chosen = HostName::new(host)
            .ok()
            .and_then(|name| self.hosts.get(&name))
            .and_then(|s| s.record.chosen);
        match chosen {
            None => true,
            Some(run) if run == self.settings.run_id => true,
            Some(run) => self
                .peers_named
                .get(&run)
                .is_none_or(|at| now.saturating_duration_since(*at) >= PEER_QUIET),
        }
    }

    /// `host` names `chosen` as its supervisor (a heartbeat, or events that
    /// came here); queues the hand-over when that changes who notifies.
    pub(super) fn host_chose(&mut self, now: Instant, host: &HostName, chosen: Option<u64>) {
        let before = self.notifies_for(now, host.as_str());
        if let Some(run) = chosen.filter(|r| *r != self.settings.run_id) {
            self.name_peer(now, run);
        }
        let Some(state) = self.state_mut(host) else {
            return;
        };
        if state.record.chosen == chosen {
            return;
        }
        state.record.chosen = chosen;
        self.fleet_changed = true;
        self.hand_over(now, host, before);
    }

    /// Queues the hand-over of `host` when whether this supervisor
    /// notifies for it is no longer `before`.
    fn hand_over(&mut self, now: Instant, host: &HostName, before: bool) {
        let ours = self.notifies_for(now, host.as_str());
        if ours == before || !self.report_happenings {
            return;
        }
        let open = self
            .hosts
            .get(host)
            .map(|s| {
                s.problems
                    .iter()
                    .filter(|(check, _)| *check != HOST_INACTIVE_CHECK)
                    .map(|(check, p)| {
                        (
                            crate::problems::opened(host.as_str(), check, p),
                            p.acknowledged.is_some(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        tracing::info!(
            "{host}: {} supervisor notifies for it now",
            if ours { "this" } else { "another" }
        );
        self.happenings.push_back(Happening::Notifier {
            host: host.to_string(),
            ours,
            open,
        });
    }

    /// Remembers that a heartbeat named supervisor `run` at `now`.
    fn name_peer(&mut self, now: Instant, run: u64) {
        if !self.peers_named.contains_key(&run) && self.peers_named.len() >= MAX_PEERS_NAMED {
            // Forged or long-gone runs must not grow memory: the quietest
            // goes.
            self.peers_named
                .retain(|_, at| now.saturating_duration_since(*at) < PEER_QUIET);
            if self.peers_named.len() >= MAX_PEERS_NAMED {
                return;
            }
        }
        self.peers_named.insert(run, now);
    }

    /// After a restart: the supervisors the restored hosts had chosen count
    /// as named now, so neither a restarted supervisor nor its peer takes
    /// over hosts before a heartbeat says who they chose.
    pub(super) fn name_restored_peers(&mut self, now: Instant) {
        let runs: Vec<u64> = self
            .hosts
            .values()
            .filter_map(|s| s.record.chosen)
            .collect();
        for run in runs {
            self.name_peer(now, run);
        }
    }
}
