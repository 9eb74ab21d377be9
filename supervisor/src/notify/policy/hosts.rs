//! Host states in the policy: an inactive or stopped host is one
//! notification of its own and mutes its checks until it is back.

use super::{HOST_CHECK, HostState, NotifyPolicy, OpenProblem, ProblemId, ProblemOpened};
use crate::notify::payload::NotifyEvent;
use crate::protocol::Now;

impl NotifyPolicy {
    /// A host went inactive or stopped, or is up again.
    pub fn handle_host_state(&mut self, now: Now, host: &str, state: HostState) {
        let id = (host.to_string(), HOST_CHECK.to_string());
        match state {
            HostState::Inactive | HostState::Stopped => {
                if self.muted_hosts.contains_key(host) {
                    return;
                }
                self.muted_hosts.insert(host.to_string(), state);
                let muted: Vec<ProblemId> = self
                    .open
                    .range((host.to_string(), String::new())..)
                    .take_while(|(k, _)| k.0 == host)
                    .map(|(k, _)| k.clone())
                    .collect();
                for pid in muted {
                    if let Some(p) = self.open.get_mut(&pid) {
                        p.muted = true;
                    }
                    self.withdraw(
                        &pid,
                        &[
                            NotifyEvent::Opened,
                            NotifyEvent::Reminder,
                            NotifyEvent::Escalated,
                        ],
                    );
                }
                let (word, message) = match state {
                    HostState::Stopped => ("stopped", "Host stopped (its observer said goodbye)"),
                    _ => ("inactive", "Host is inactive"),
                };
                self.open.insert(
                    id.clone(),
                    OpenProblem {
                        opened: ProblemOpened {
                            host: host.to_string(),
                            check: HOST_CHECK.to_string(),
                            tags: Vec::new(),
                            kind: "host".to_string(),
                            message: message.to_string(),
                            opened_ms: now.wall_ms,
                        },
                        state: word,
                        acked: false,
                        muted: false,
                        routes: Vec::new(),
                    },
                );
                self.track_routes(&id, now, false);
            }
            HostState::Up => {
                if self.muted_hosts.remove(host).is_none() {
                    return;
                }
                if let Some(p) = self.open.get_mut(&id) {
                    p.opened.message = "Host is up again".to_string();
                }
                self.handle_cleared(now, host, HOST_CHECK, now.wall_ms);
                let unmuted: Vec<ProblemId> = self
                    .open
                    .range((host.to_string(), String::new())..)
                    .take_while(|(k, _)| k.0 == host)
                    .map(|(k, _)| k.clone())
                    .collect();
                for pid in unmuted {
                    let Some(p) = self.open.get_mut(&pid) else {
                        continue;
                    };
                    p.muted = false;
                    for track in &mut p.routes {
                        if track.announced {
                            let repeat = self.config.routes[track.route].repeat;
                            track.next_reminder = repeat.map(|r| now.mono + r);
                        }
                    }
                    let item = Self::item(p, None);
                    self.batch_opening(&pid, item, now);
                }
                self.repeat_due = self.earliest_repeat();
            }
        }
    }

    /// Another supervisor notifies for `host` now (see
    /// `protocol::notifier`): what is known of it here is dropped without
    /// a notification, and what was waiting to go out for it is withdrawn;
    /// the other supervisor sends what follows.
    pub fn forget_host(&mut self, host: &str) {
        let ids: Vec<ProblemId> = self
            .open
            .range((host.to_string(), String::new())..)
            .take_while(|(k, _)| k.0 == host)
            .map(|(k, _)| k.clone())
            .collect();
        for id in ids {
            self.withdraw(
                &id,
                &[
                    NotifyEvent::Opened,
                    NotifyEvent::Reminder,
                    NotifyEvent::Escalated,
                    NotifyEvent::Cleared,
                ],
            );
            self.open.remove(&id);
        }
        self.muted_hosts.remove(host);
        self.repeat_due = self.earliest_repeat();
    }
}
