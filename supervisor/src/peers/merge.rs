//! The merge of this supervisor's snapshot with its peers' answers. Pure:
//! snapshot and peers in, snapshot out.
//!
//! * A host's state is the best any reachable supervisor reports, in the
//!   order up > stopped > inactive > the rest (never seen, no config): on
//!   one LAN a host one supervisor cannot hear may well be heard by
//!   another. `heard_by` names the supervisors that report it up.
//! * Problems come from all; the same problem (host, check, opened at the
//!   same second — the API gives seconds) reported by several is listed
//!   once, this supervisor's copy first, then the peers' in `peers:` order.
//!   That is the normal case: every supervisor hears every heartbeat.
//! * Configuration, metrics and addresses stay this supervisor's: a host
//!   known only to a peer shows what the peer's list says (state, times,
//!   tags) and nothing it cannot know.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::{Peer, PeerReach};
use crate::fleet::{FleetSnapshot, HostStatus, HostView, Problem};

/// Lower is better: which state wins when supervisors disagree.
fn rank(status: HostStatus) -> u8 {
    match status {
        HostStatus::Up => 0,
        HostStatus::Stopped => 1,
        HostStatus::Inactive => 2,
        HostStatus::NeverSeen | HostStatus::NoConfig => 3,
    }
}

fn peer_host_view(h: &super::PeerHost) -> HostView {
    HostView {
        name: h.name.clone(),
        status: h.status,
        since_ms: h.since_ms,
        last_heard_ms: h.last_heard_ms,
        address: None,
        has_file: false,
        config_version: None,
        running_version: None,
        config_errors: Vec::new(),
        tags: Arc::new(h.tags.iter().cloned().collect()),
        spool_backlog: None,
        uptime_secs: None,
        chosen_supervisor: None,
        protocol: None,
        metrics: Vec::new(),
        metric_series_refused: 0,
        heard_by: Vec::new(),
    }
}

/// `local` with the reachable peers' hosts and problems merged in, and
/// every peer's state in `peers`.
pub fn merge(local: &FleetSnapshot, peers: &[Peer]) -> FleetSnapshot {
    let mut hosts: BTreeMap<String, HostView> = local
        .hosts
        .iter()
        .map(|h| {
            let mut h = h.clone();
            if h.status == HostStatus::Up {
                h.heard_by = vec![local.supervisor.name.clone()];
            }
            (h.name.clone(), h)
        })
        .collect();
    let mut problems = local.problems.clone();
    let mut seen: HashSet<(String, String, u64)> = problems
        .iter()
        .map(|p| (p.host.clone(), p.check.clone(), p.opened_ms / 1000))
        .collect();

    for peer in peers {
        if peer.view.reach != PeerReach::Reachable {
            continue;
        }
        let Some(answer) = &peer.last_good else {
            continue;
        };
        let url = &peer.view.url;
        for ph in &answer.hosts {
            let merged = hosts
                .entry(ph.name.clone())
                .or_insert_with(|| peer_host_view(ph));
            if rank(ph.status) < rank(merged.status) {
                merged.status = ph.status;
                merged.since_ms = ph.since_ms;
            }
            merged.last_heard_ms = merged.last_heard_ms.max(ph.last_heard_ms);
            if ph.status == HostStatus::Up && !merged.heard_by.contains(url) {
                merged.heard_by.push(url.clone());
            }
        }
        for pp in &answer.problems {
            let key = (pp.host.clone(), pp.check.clone(), pp.opened_ms / 1000);
            if !seen.insert(key) {
                continue;
            }
            problems.push(Problem {
                id: pp.id.clone(),
                host: pp.host.clone(),
                check: pp.check.clone(),
                tags: pp.tags.clone(),
                message: pp.message.clone(),
                opened_ms: pp.opened_ms,
                last_value: pp.last_value,
                acknowledged: pp.acknowledged.clone(),
                from: Some(url.clone()),
            });
        }
    }
    problems.sort_by(|a, b| (a.opened_ms, &a.id).cmp(&(b.opened_ms, &b.id)));
    FleetSnapshot {
        taken_ms: local.taken_ms,
        supervisor: local.supervisor.clone(),
        hosts: hosts.into_values().collect(),
        problems,
        peers: peers.iter().map(|p| p.view.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{PeerAnswer, PeerHost, PeerProblem, PeerView};

    fn local_host(name: &str, status: HostStatus) -> HostView {
        let mut h = peer_host_view(&PeerHost {
            name: name.into(),
            status,
            since_ms: 1_000,
            last_heard_ms: Some(1_000),
            tags: vec![],
        });
        h.has_file = true;
        h
    }

    fn problem(host: &str, check: &str, opened_ms: u64) -> PeerProblem {
        PeerProblem {
            id: format!("{host}/{check}"),
            host: host.into(),
            check: check.into(),
            tags: vec![],
            message: "m".into(),
            opened_ms,
            last_value: None,
            acknowledged: None,
        }
    }

    fn peer(
        url: &str,
        reach: PeerReach,
        hosts: &[(&str, HostStatus)],
        problems: Vec<PeerProblem>,
    ) -> Peer {
        let mut view = PeerView::new(url);
        view.reach = reach;
        Peer {
            view,
            last_good: Some(Arc::new(PeerAnswer {
                hosts: hosts
                    .iter()
                    .map(|(n, s)| PeerHost {
                        name: (*n).into(),
                        status: *s,
                        since_ms: 5_000,
                        last_heard_ms: Some(9_000),
                        tags: vec!["t".into()],
                    })
                    .collect(),
                problems,
                malformed: 0,
            })),
        }
    }

    fn local(hosts: Vec<HostView>, problems: Vec<Problem>) -> FleetSnapshot {
        let mut s = FleetSnapshot::empty("sup-b");
        s.hosts = hosts;
        s.problems = problems;
        s
    }

    #[test]
    fn a_host_is_up_if_any_reachable_supervisor_hears_it() {
        let s = local(
            vec![
                local_host("db1", HostStatus::Inactive),
                local_host("web1", HostStatus::Up),
            ],
            vec![],
        );
        let a = peer(
            "http://a",
            PeerReach::Reachable,
            &[
                ("db1", HostStatus::Up),
                ("web1", HostStatus::Up),
                ("only-a", HostStatus::Up),
            ],
            vec![],
        );
        let m = merge(&s, &[a]);
        let names: Vec<_> = m.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["db1", "only-a", "web1"]);
        let db1 = m.host("db1").unwrap();
        assert_eq!((db1.status, db1.since_ms), (HostStatus::Up, 5_000));
        assert_eq!(db1.heard_by, ["http://a"]);
        assert!(db1.has_file, "this supervisor's facts stay");
        assert_eq!(m.host("web1").unwrap().heard_by, ["sup-b", "http://a"]);
        let only = m.host("only-a").unwrap();
        assert_eq!(
            (only.status, only.last_heard_ms),
            (HostStatus::Up, Some(9_000))
        );
        assert_eq!(m.peers.len(), 1);
    }

    #[test]
    fn state_precedence_is_up_then_stopped_then_inactive() {
        let s = local(vec![local_host("h", HostStatus::Inactive)], vec![]);
        let stopped = peer(
            "http://a",
            PeerReach::Reachable,
            &[("h", HostStatus::Stopped)],
            vec![],
        );
        let never = peer(
            "http://c",
            PeerReach::Reachable,
            &[("h", HostStatus::NeverSeen)],
            vec![],
        );
        let m = merge(&s, &[stopped, never]);
        assert_eq!(m.host("h").unwrap().status, HostStatus::Stopped);
        assert!(m.host("h").unwrap().heard_by.is_empty());
    }

    #[test]
    fn an_unreachable_peer_is_listed_but_not_merged() {
        let s = local(vec![local_host("h", HostStatus::Inactive)], vec![]);
        let gone = peer(
            "http://a",
            PeerReach::Unreachable,
            &[("h", HostStatus::Up)],
            vec![problem("h", "c", 1_000)],
        );
        let m = merge(&s, &[gone]);
        assert_eq!(m.host("h").unwrap().status, HostStatus::Inactive);
        assert!(m.problems.is_empty());
        assert_eq!(m.peers[0].reach, PeerReach::Unreachable);
    }

    #[test]
    fn the_same_problem_from_several_supervisors_is_listed_once() {
        let mine = Problem {
            id: "h/disk".into(),
            host: "h".into(),
            check: "disk".into(),
            tags: vec![],
            message: "m".into(),
            opened_ms: 10_400,
            last_value: None,
            acknowledged: None,
            from: None,
        };
        let s = local(vec![local_host("h", HostStatus::Up)], vec![mine]);
        // The API gives seconds: 10_400 ms locally is 10_000 ms from a peer.
        let a = peer(
            "http://a",
            PeerReach::Reachable,
            &[],
            vec![problem("h", "disk", 10_000), problem("h", "load", 3_000)],
        );
        let c = peer(
            "http://c",
            PeerReach::Reachable,
            &[],
            vec![problem("h", "load", 3_000)],
        );
        let m = merge(&s, &[a, c]);
        let listed: Vec<_> = m
            .problems
            .iter()
            .map(|p| (p.check.as_str(), p.from.as_deref()))
            .collect();
        assert_eq!(listed, [("load", Some("http://a")), ("disk", None)]);
    }
}
