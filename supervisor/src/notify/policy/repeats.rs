//! What recurs while a problem is open: reminders (`repeat=`), escalation
//! steps (`escalate=`) and Alertmanager re-sends (`resend=`).

use std::time::Instant;

use conf::ChannelKind;

use super::{NotifyPolicy, Outgoing};
use crate::notify::payload::{Item, NotifyEvent};
use crate::protocol::Now;

impl NotifyPolicy {
    /// Everything still open, again, to each Alertmanager channel whose
    /// re-send is due: acknowledged or not, since Alertmanager resolves
    /// alerts that are not re-sent.
    pub(super) fn refresh_alertmanager(&mut self, now: Now) {
        let refresh: Vec<String> = self
            .refresh_due
            .iter()
            .filter(|(_, due)| **due <= now.mono)
            .map(|(name, _)| name.clone())
            .collect();
        for name in &refresh {
            let resend = match self.config.channel(name).map(|c| &c.kind) {
                Some(ChannelKind::Alertmanager(am)) => am.resend,
                _ => continue,
            };
            self.refresh_due.insert(name.clone(), now.mono + resend);
            let items: Vec<Item> = self
                .open
                .values()
                .filter(|p| p.routes.iter().any(|t| t.told.contains(name)))
                .map(|p| Item {
                    state: p.state.to_string(),
                    ..Item::default_from(&p.opened)
                })
                .collect();
            if items.is_empty() {
                continue;
            }
            let severity = self.severity_for(name);
            let n = self.notification(NotifyEvent::Refresh, &severity, "", now, items, 0);
            self.out.push_back(Outgoing {
                channel: name.clone(),
                notification: n,
            });
        }
    }

    pub(super) fn severity_for(&self, channel: &str) -> String {
        self.config
            .routes
            .iter()
            .filter(|r| r.channels.iter().any(|c| c == channel))
            .map(|r| r.severity)
            .max()
            .unwrap_or(conf::Severity::Warning)
            .as_str()
            .to_string()
    }

    /// Reminders and escalation steps that are due go into batches.
    pub(super) fn schedule_repeats(&mut self, now: Now) {
        let mut adds = Vec::new();
        for (id, p) in self.open.iter_mut() {
            if p.acked || p.muted {
                continue;
            }
            for track in p.routes.iter_mut().filter(|t| t.announced) {
                let route = &self.config.routes[track.route];
                if let (Some(at), Some(repeat)) = (track.next_reminder, route.repeat)
                    && at <= now.mono
                {
                    track.next_reminder = Some(now.mono + repeat);
                    for channel in &route.channels {
                        adds.push((
                            track.route,
                            NotifyEvent::Reminder,
                            channel.clone(),
                            id.clone(),
                        ));
                    }
                }
                while let Some((after, channel)) = route.escalate.get(track.next_step) {
                    if track.since + *after > now.mono {
                        break;
                    }
                    track.next_step += 1;
                    adds.push((
                        track.route,
                        NotifyEvent::Escalated,
                        channel.clone(),
                        id.clone(),
                    ));
                }
            }
        }
        for (route, event, channel, id) in adds {
            let Some(p) = self.open.get(&id) else {
                continue;
            };
            let item = Self::item(p, None);
            self.add(route, event, channel, &id, item, now.mono);
        }
    }

    pub(super) fn earliest_repeat(&self) -> Option<Instant> {
        self.open
            .values()
            .filter(|p| !p.acked && !p.muted)
            .flat_map(|p| {
                p.routes.iter().filter(|t| t.announced).flat_map(|t| {
                    let route = &self.config.routes[t.route];
                    let step = route.escalate.get(t.next_step).map(|(d, _)| t.since + *d);
                    t.next_reminder.into_iter().chain(step)
                })
            })
            .min()
    }
}
