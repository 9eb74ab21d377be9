//! Problems as state: each host's open problems as the supervisor knows
//! them, and the happenings (a problem opened or cleared, a point alert, an
//! acknowledgement, a host's state) the state machine queues for the
//! notifications.
//!
//! Decisions:
//! * Open problems are learned from protocol-2 events (`Open` adds, `Clear`
//!   removes, `Repeat` refreshes) and **replaced** by every protocol-2
//!   heartbeat: a heartbeat is the observer's truth about what is open, so a
//!   supervisor that was not chosen, restarted, or missed a clearing knows
//!   within one heartbeat interval. A heartbeat that had to leave problems
//!   out (`omitted > 0`) cannot say that an unlisted one cleared: those are
//!   kept.
//! * The supervisor's own problems of a host (its inactivity,
//!   [`HOST_INACTIVE_CHECK`]) are never touched by what the observer says.
//! * A problem keeps its acknowledgement while it stays open, whoever
//!   refreshes it; a problem that clears and opens again starts
//!   unacknowledged.
//! * Per host at most [`MAX_PROBLEMS_PER_HOST`] are kept, so a host that
//!   invents check ids cannot grow the supervisor's memory.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wire::{CheckEvent, EventKind, OpenProblem, Transition};

use crate::fleet::Acknowledgement;
use crate::notify::{HostState as NotifyHostState, PointAlert, ProblemOpened};

/// The check id of a host's own inactivity (raised by the supervisor).
pub const HOST_INACTIVE_CHECK: &str = "host-inactive";

/// Most open problems kept per host; more are counted and not kept.
pub const MAX_PROBLEMS_PER_HOST: usize = 256;

/// One open problem of one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemRecord {
    /// Comma-separated, as the observer sent them.
    pub tags: String,
    /// `alert`, `metric` or `system`.
    pub kind: String,
    pub message: String,
    /// When it opened (on the observer), Unix milliseconds.
    pub opened_ms: u64,
    pub last_value: Option<f64>,
    #[serde(default)]
    pub acknowledged: Option<Acknowledgement>,
}

/// What an event or heartbeat did to a host's problems.
#[derive(Debug, Clone, PartialEq)]
pub enum ProblemChange {
    /// A problem this supervisor did not know is open now.
    Opened(String),
    /// A known problem is no longer open.
    Cleared(String),
}

/// The open problems of one host, by check id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostProblems {
    open: BTreeMap<String, ProblemRecord>,
    /// Problems not kept over [`MAX_PROBLEMS_PER_HOST`].
    pub refused: u64,
}

fn wall(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0)
}

impl HostProblems {
    pub fn iter(&self) -> impl Iterator<Item = (&String, &ProblemRecord)> {
        self.open.iter()
    }

    pub fn get(&self, check: &str) -> Option<&ProblemRecord> {
        self.open.get(check)
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Adds `record` unless `check` is open already (then only its words
    /// and value are refreshed). Returns whether it is new.
    pub fn open(&mut self, check: &str, record: ProblemRecord) -> bool {
        if let Some(existing) = self.open.get_mut(check) {
            existing.message = record.message;
            existing.tags = record.tags;
            existing.last_value = record.last_value.or(existing.last_value);
            return false;
        }
        if self.open.len() >= MAX_PROBLEMS_PER_HOST {
            self.refused += 1;
            return false;
        }
        self.open.insert(check.to_string(), record);
        true
    }

    /// Removes `check`; its record if it was open.
    pub fn clear(&mut self, check: &str) -> Option<ProblemRecord> {
        self.open.remove(check)
    }

    /// Records an acknowledgement; `false` if `check` is not open.
    pub fn acknowledge(&mut self, check: &str, ack: Acknowledgement) -> bool {
        match self.open.get_mut(check) {
            Some(p) => {
                p.acknowledged = Some(ack);
                true
            }
            None => false,
        }
    }

    /// What a protocol-2 event says about its check's problem.
    pub fn event(&mut self, e: &CheckEvent) -> Option<ProblemChange> {
        let check = e.check.as_deref()?;
        match e.transition {
            Transition::Point => None,
            Transition::Open | Transition::Repeat => {
                let record = ProblemRecord {
                    tags: e.event.tags.clone(),
                    kind: e.event.kind.as_str().to_string(),
                    message: e.event.message.clone(),
                    opened_ms: wall(e.event.time_ms),
                    last_value: e.event.value,
                    acknowledged: None,
                };
                self.open(check, record)
                    .then(|| ProblemChange::Opened(check.to_string()))
            }
            Transition::Clear { .. } => self
                .clear(check)
                .map(|_| ProblemChange::Cleared(check.to_string())),
        }
    }

    /// A protocol-2 heartbeat's list of open problems replaces what is
    /// known (see the module doc).
    pub fn heartbeat(&mut self, listed: &[OpenProblem], omitted: u32) -> Vec<ProblemChange> {
        let mut changes = Vec::new();
        if omitted == 0 {
            let gone: Vec<String> = self
                .open
                .keys()
                .filter(|k| {
                    k.as_str() != HOST_INACTIVE_CHECK && !listed.iter().any(|p| &p.check == *k)
                })
                .cloned()
                .collect();
            for check in gone {
                self.open.remove(&check);
                changes.push(ProblemChange::Cleared(check));
            }
        }
        for p in listed {
            if p.check == HOST_INACTIVE_CHECK {
                continue;
            }
            let kind = self
                .open
                .get(&p.check)
                .map_or_else(|| EventKind::Alert.as_str().to_string(), |r| r.kind.clone());
            let record = ProblemRecord {
                tags: p.tags.clone(),
                kind,
                message: p.message.clone(),
                opened_ms: wall(p.since_ms),
                last_value: p.value,
                acknowledged: None,
            };
            if self.open(&p.check, record) {
                changes.push(ProblemChange::Opened(p.check.clone()));
            } else if let Some(r) = self.open.get_mut(&p.check) {
                // The observer's opening time is the truth (a problem
                // first learned from a `Repeat` took the repeat's time).
                r.opened_ms = wall(p.since_ms);
            }
        }
        changes
    }

    /// Restores problems read back at start.
    pub(crate) fn restore(&mut self, open: BTreeMap<String, ProblemRecord>) {
        self.open = open;
        while self.open.len() > MAX_PROBLEMS_PER_HOST {
            self.open.pop_last();
        }
    }

    pub(crate) fn to_map(&self) -> BTreeMap<String, ProblemRecord> {
        self.open.clone()
    }
}

/// Something the notifications need to hear about, in the order it
/// happened ([`crate::Supervisor::poll_happening`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Happening {
    Opened(ProblemOpened),
    Cleared {
        host: String,
        check: String,
        cleared_ms: u64,
    },
    Point(PointAlert),
    Acknowledged {
        host: String,
        check: String,
    },
    HostState {
        host: String,
        state: NotifyHostState,
    },
    /// This supervisor became (`ours`) or stopped being the one that
    /// notifies for `host` (see `protocol::notifier`); `open` are the
    /// host's open problems, each with whether it is acknowledged.
    Notifier {
        host: String,
        ours: bool,
        open: Vec<(ProblemOpened, bool)>,
    },
}

impl Happening {
    /// The host it is about.
    pub fn host(&self) -> &str {
        match self {
            Happening::Opened(p) => &p.host,
            Happening::Point(p) => &p.host,
            Happening::Cleared { host, .. }
            | Happening::Acknowledged { host, .. }
            | Happening::HostState { host, .. }
            | Happening::Notifier { host, .. } => host,
        }
    }
}

/// Tags as a list, as notifications and the window show them.
pub fn tag_list(tags: &str) -> Vec<String> {
    tags.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// The notification input of an open problem.
pub fn opened(host: &str, check: &str, p: &ProblemRecord) -> ProblemOpened {
    ProblemOpened {
        host: host.to_string(),
        check: check.to_string(),
        tags: tag_list(&p.tags),
        kind: p.kind.clone(),
        message: p.message.clone(),
        opened_ms: p.opened_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::Event;

    fn check_event(check: &str, transition: Transition, message: &str, t: i64) -> CheckEvent {
        CheckEvent {
            event: Event {
                id: 1,
                time_ms: t,
                tags: "disk,root".into(),
                source: None,
                kind: EventKind::Alert,
                message: message.into(),
                value: Some(91.0),
            },
            check: Some(check.into()),
            transition,
        }
    }

    fn listed(check: &str, since_ms: i64) -> OpenProblem {
        OpenProblem {
            check: check.into(),
            since_ms,
            tags: "disk".into(),
            message: "full".into(),
            value: None,
        }
    }

    #[test]
    fn open_repeat_clear_change_the_set_once_each() {
        let mut p = HostProblems::default();
        let open = check_event("cmd-1", Transition::Open, "full [91]", 1000);
        assert_eq!(p.event(&open), Some(ProblemChange::Opened("cmd-1".into())));
        assert_eq!(p.event(&open), None, "a second opening is a refresh");
        let repeat = check_event("cmd-1", Transition::Repeat, "full [93]", 5000);
        assert_eq!(p.event(&repeat), None);
        assert_eq!(p.get("cmd-1").unwrap().message, "full [93]");
        assert_eq!(p.get("cmd-1").unwrap().opened_ms, 1000);
        let clear = check_event("cmd-1", Transition::Clear { open_ms: 9 }, "x", 9000);
        assert_eq!(
            p.event(&clear),
            Some(ProblemChange::Cleared("cmd-1".into()))
        );
        assert_eq!(p.event(&clear), None);
        assert!(p.is_empty());
    }

    #[test]
    fn heartbeat_replaces_but_keeps_unlisted_when_some_were_omitted() {
        let mut p = HostProblems::default();
        p.event(&check_event("a", Transition::Open, "a", 1));
        p.event(&check_event("b", Transition::Open, "b", 2));
        let ack = Acknowledgement {
            by: "ana".into(),
            at_ms: 3,
            note: String::new(),
        };
        assert!(p.acknowledge("b", ack.clone()));
        p.open(
            HOST_INACTIVE_CHECK,
            ProblemRecord {
                tags: "SYSTEM".into(),
                kind: "system".into(),
                message: "Host is inactive".into(),
                opened_ms: 4,
                last_value: None,
                acknowledged: None,
            },
        );
        // Omitted: nothing unlisted is dropped.
        assert_eq!(
            p.heartbeat(&[listed("c", 5)], 2),
            [ProblemChange::Opened("c".into())]
        );
        assert_eq!(p.len(), 4);
        // Complete: "a" cleared, "b" keeps its acknowledgement and takes
        // the observer's time, the supervisor's own problem stays.
        let changes = p.heartbeat(&[listed("b", 7), listed("c", 5)], 0);
        assert_eq!(changes, [ProblemChange::Cleared("a".into())]);
        assert_eq!(p.get("b").unwrap().acknowledged, Some(ack));
        assert_eq!(p.get("b").unwrap().opened_ms, 7);
        assert!(p.get(HOST_INACTIVE_CHECK).is_some());
    }

    #[test]
    fn problems_per_host_are_capped() {
        let mut p = HostProblems::default();
        let many: Vec<OpenProblem> = (0..MAX_PROBLEMS_PER_HOST + 5)
            .map(|i| listed(&format!("c{i}"), 1))
            .collect();
        p.heartbeat(&many, 0);
        assert_eq!(p.len(), MAX_PROBLEMS_PER_HOST);
        assert_eq!(p.refused, 5);
    }
}
