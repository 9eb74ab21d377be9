//! Hosts' states and problems inside the state machine: a host heard
//! (started again after a goodbye, active again after silence), a goodbye,
//! silence past `max_idle` (inactivity as a problem of the host), the open
//! problems a heartbeat lists, acknowledgements, the happenings queued for
//! the notifications, and the fleet state saved and restored across a
//! restart. The model of one host's problems is [`crate::problems`]; this
//! is how the [`Supervisor`] applies it.

use std::net::SocketAddr;
use std::time::Instant;

use conf::HostName;
use wire::{Event, OpenProblem, Transition};

use super::{HOST_ACTIVE_AGAIN, HOST_INACTIVE, HOST_STARTED, HOST_STOPPED, Now, Supervisor};
use crate::fleet::Acknowledgement;
use crate::fleet_state::{FleetState, SavedHost};
use crate::liveness::{Liveness, LivenessChange};
use crate::notes::Note;
use crate::notify::HostState as NotifyHostState;
use crate::problems::{HOST_INACTIVE_CHECK, Happening, HostProblems, ProblemChange, ProblemRecord};
use crate::timers::{MAX_QUEUED_HAPPENINGS, Timer};

impl Supervisor {
    /// A valid datagram naming `host` arrived, of `protocol` (0: a message
    /// both protocols have). A stopped host is started again; an inactive
    /// one is active again.
    pub(super) fn heard(&mut self, now: Now, host: &HostName, from: SocketAddr, protocol: u8) {
        let Some(state) = self.state_mut(host) else {
            return;
        };
        state.addr = Some(from);
        let first = state.record.first_heard_ms.is_none();
        state.record.heard(now.wall_ms);
        if protocol != 0 {
            state.record.protocol = Some(protocol);
        }
        self.fleet_changed |= first;
        let Some(state) = self.hosts.get_mut(host) else {
            return;
        };
        if std::mem::take(&mut state.record.stopped) {
            // Stopped hosts are not watched for silence: the clock starts
            // again now.
            if let Some(l) = state.liveness.as_mut() {
                let _ = l.heard(now.mono);
            }
            state.record.status_changed(now.wall_ms);
            self.fleet_changed = true;
            self.note(Note::Started { host: host.clone() });
            self.system_event(now, host, HOST_STARTED);
            self.happen(
                now.mono,
                Happening::HostState {
                    host: host.to_string(),
                    state: NotifyHostState::Up,
                },
            );
            self.watch_silence_from(now);
            return;
        }
        let came_back = state
            .liveness
            .as_mut()
            .and_then(|l| l.heard(now.mono))
            .is_some();
        if came_back {
            state.record.status_changed(now.wall_ms);
            let inactive = state.problems.clear(HOST_INACTIVE_CHECK);
            self.fleet_changed = true;
            self.note(Note::CameBack { host: host.clone() });
            let cleared = inactive.map(|p| {
                let open_ms = now.wall_ms.saturating_sub(p.opened_ms);
                (HOST_INACTIVE_CHECK, Transition::Clear { open_ms })
            });
            self.system_line(now, host, HOST_ACTIVE_AGAIN, cleared);
            self.happen(
                now.mono,
                Happening::HostState {
                    host: host.to_string(),
                    state: NotifyHostState::Up,
                },
            );
            self.watch_silence_from(now);
        }
    }

    /// A clean stop: `stopped` at once, one event, and no `Host is
    /// inactive` later (a second goodbye changes nothing).
    pub(super) fn goodbye(&mut self, now: Now, host: &HostName, from: SocketAddr) {
        let Some(state) = self.state_mut(host) else {
            return;
        };
        state.addr = Some(from);
        state.record.heard(now.wall_ms);
        state.record.protocol = Some(2);
        if state.record.stopped {
            return;
        }
        state.record.stopped = true;
        state.record.status_changed(now.wall_ms);
        if let Some(l) = state.liveness.as_mut() {
            // Not inactive any more: stopped says more.
            let _ = l.heard(now.mono);
        }
        state.problems.clear(HOST_INACTIVE_CHECK);
        self.fleet_changed = true;
        self.note(Note::Stopped { host: host.clone() });
        self.system_event(now, host, HOST_STOPPED);
        self.happen(
            now.mono,
            Happening::HostState {
                host: host.to_string(),
                state: NotifyHostState::Stopped,
            },
        );
    }

    /// A protocol-2 heartbeat's open problems replace what is known of the
    /// host's (see [`crate::problems`]).
    pub(super) fn learn_problems(
        &mut self,
        now: Now,
        host: &HostName,
        listed: &[OpenProblem],
        omitted: u32,
    ) {
        let Some(state) = self.hosts.get_mut(host) else {
            return;
        };
        let changes = state.problems.heartbeat(listed, omitted);
        let happenings: Vec<Happening> = changes
            .into_iter()
            .filter_map(|change| problem_happening(now, host, &state.problems, change))
            .collect();
        if !happenings.is_empty() {
            self.fleet_changed = true;
        }
        for h in happenings {
            self.happen(now.mono, h);
        }
    }

    /// Records an operator's acknowledgement of `host`'s problem `check`;
    /// `None` when no such problem is open.
    pub fn handle_ack(
        &mut self,
        now: Now,
        host: &str,
        check: &str,
        by: &str,
        note: &str,
    ) -> Option<Acknowledgement> {
        let host = HostName::new(host).ok()?;
        let state = self.hosts.get_mut(&host)?;
        let ack = Acknowledgement {
            by: by.to_string(),
            at_ms: now.wall_ms,
            note: note.to_string(),
        };
        if !state.problems.acknowledge(check, ack.clone()) {
            return None;
        }
        self.fleet_changed = true;
        self.happen(
            now.mono,
            Happening::Acknowledged {
                host: host.to_string(),
                check: check.to_string(),
            },
        );
        Some(ack)
    }

    /// Asks the machine to queue [`Happening`]s for the notifications
    /// (off by default: nobody would read them).
    pub fn report_happenings(&mut self, on: bool) {
        self.report_happenings = on;
        if !on {
            self.happenings.clear();
        }
    }

    /// The next happening for the notifications, oldest first.
    pub fn poll_happening(&mut self) -> Option<Happening> {
        self.happenings.pop_front()
    }

    /// Queues `h` for the notifications, unless another supervisor
    /// notifies for its host (see [`super::notifier`]).
    pub(super) fn happen(&mut self, now: Instant, h: Happening) {
        if !self.report_happenings || !self.notifies_for(now, h.host()) {
            return;
        }
        if self.happenings.len() >= MAX_QUEUED_HAPPENINGS {
            self.counters.happenings_dropped += 1;
            return;
        }
        self.happenings.push_back(h);
    }

    /// Whether host states or open problems changed since the last call
    /// (the shell then saves [`Supervisor::fleet_state`]).
    pub fn take_fleet_changed(&mut self) -> bool {
        std::mem::take(&mut self.fleet_changed)
    }

    /// Host states and open problems, to save.
    pub fn fleet_state(&self) -> FleetState {
        let mut hosts: Vec<SavedHost> = self
            .hosts
            .iter()
            .filter(|(_, s)| s.record.last_heard_ms.is_some() || !s.problems.is_empty())
            .map(|(name, s)| SavedHost {
                name: name.to_string(),
                state: if s.record.stopped {
                    "stopped".into()
                } else if s.liveness.is_some_and(|l| l.is_inactive()) {
                    "inactive".into()
                } else {
                    "up".into()
                },
                since_ms: s.record.status_since_ms,
                first_heard_ms: s.record.first_heard_ms,
                last_heard_ms: s.record.last_heard_ms,
                protocol: s.record.protocol,
                chosen: s.record.chosen,
                running_version: s.record.running_version,
                spool_backlog: s.record.spool_backlog,
                problems: s.problems.to_map(),
            })
            .collect();
        hosts.sort_by(|a, b| a.name.cmp(&b.name));
        FleetState::new(hosts)
    }

    /// Takes over the state saved by an earlier run (called once, right
    /// after [`Supervisor::new`]). A host that was inactive stays inactive
    /// (no second `Host is inactive`), a stopped one stays stopped; the
    /// others start their silence clock now.
    pub fn restore_fleet(&mut self, now: Now, saved: FleetState) {
        for host in saved.hosts {
            let Ok(name) = HostName::new(&host.name) else {
                continue;
            };
            let has_file = self.catalog.contains_key(&name);
            let Some(state) = self.state_mut(&name) else {
                continue;
            };
            let r = &mut state.record;
            r.first_heard_ms = host.first_heard_ms;
            r.last_heard_ms = host.last_heard_ms;
            r.status_since_ms = host.since_ms;
            r.protocol = host.protocol;
            r.chosen = host.chosen;
            r.running_version = host.running_version;
            r.spool_backlog = host.spool_backlog;
            r.stopped = host.state == "stopped";
            let mut problems = host.problems;
            if has_file && host.state == "inactive" {
                state.liveness = Some(Liveness::restored_inactive(now.mono));
            } else {
                problems.remove(HOST_INACTIVE_CHECK);
            }
            state.problems.restore(problems);
        }
        self.name_restored_peers(now.mono);
    }

    /// The problems open now (the host's own inactivity left out, see
    /// [`Supervisor::hosts_down`]), each with whether it is acknowledged:
    /// for notifications started after the machine (at start, from the
    /// restored state).
    pub fn open_problems(&self) -> Vec<(crate::notify::ProblemOpened, bool)> {
        let mut out = Vec::new();
        for (name, s) in &self.hosts {
            for (check, p) in s.problems.iter() {
                if check != HOST_INACTIVE_CHECK {
                    out.push((
                        crate::problems::opened(name.as_str(), check, p),
                        p.acknowledged.is_some(),
                    ));
                }
            }
        }
        out
    }

    /// Hosts inactive or stopped now, for notifications started after the
    /// machine.
    pub fn hosts_down(&self) -> Vec<(String, NotifyHostState)> {
        self.hosts
            .iter()
            .filter_map(|(name, s)| {
                if s.record.stopped {
                    Some((name.to_string(), NotifyHostState::Stopped))
                } else if s.liveness.is_some_and(|l| l.is_inactive()) {
                    Some((name.to_string(), NotifyHostState::Inactive))
                } else {
                    None
                }
            })
            .collect()
    }

    /// Reports hosts silent for `max_idle` and arms the liveness timer at
    /// the earliest moment another one can be.
    pub(super) fn scan_liveness(&mut self, now: Now) {
        let max_idle = self.settings.max_idle;
        let mut silent = Vec::new();
        let mut next: Option<Instant> = None;
        for host in self.catalog.keys() {
            let Some(state) = self.hosts.get_mut(host) else {
                continue;
            };
            if state.record.stopped {
                continue;
            }
            let Some(liveness) = state.liveness.as_mut() else {
                continue;
            };
            if liveness.check(now.mono, max_idle) == Some(LivenessChange::WentInactive) {
                state.record.status_changed(now.wall_ms);
                state.problems.open(
                    HOST_INACTIVE_CHECK,
                    ProblemRecord {
                        tags: crate::stream::SYSTEM_TAGS.to_string(),
                        kind: wire::EventKind::System.as_str().to_string(),
                        message: HOST_INACTIVE.to_string(),
                        opened_ms: now.wall_ms,
                        last_value: None,
                        acknowledged: None,
                    },
                );
                self.fleet_changed = true;
                silent.push(host.clone());
            } else if let Some(at) = liveness.deadline(max_idle) {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        if let Some(at) = next {
            self.timers.set_earliest(Timer::Liveness, at);
        }
        for host in silent {
            self.note(Note::WentInactive {
                host: host.clone(),
                max_idle,
            });
            let opened = Some((HOST_INACTIVE_CHECK, Transition::Open));
            self.system_line(now, &host, HOST_INACTIVE, opened);
            self.happen(
                now.mono,
                Happening::HostState {
                    host: host.to_string(),
                    state: NotifyHostState::Inactive,
                },
            );
        }
    }
}

/// A point alert for the notifications.
pub(super) fn point(host: &HostName, check: &str, event: &Event) -> Happening {
    Happening::Point(crate::notify::PointAlert {
        host: host.to_string(),
        check: check.to_string(),
        tags: crate::problems::tag_list(&event.tags),
        kind: event.kind.as_str().to_string(),
        message: event.message.clone(),
    })
}

/// What a change of `host`'s problems tells the notifications.
pub(super) fn problem_happening(
    now: Now,
    host: &HostName,
    problems: &HostProblems,
    change: ProblemChange,
) -> Option<Happening> {
    match change {
        ProblemChange::Opened(check) => problems
            .get(&check)
            .map(|p| Happening::Opened(crate::problems::opened(host.as_str(), &check, p))),
        ProblemChange::Cleared(check) => Some(Happening::Cleared {
            host: host.to_string(),
            check,
            cleared_ms: now.wall_ms,
        }),
    }
}
