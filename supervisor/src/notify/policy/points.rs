//! Point alerts (log lines) in the policy: gathered per route, channel and
//! host with a count, at most one notification per `every=`.

use super::{BatchKey, NotifyPolicy, PointAlert};
use crate::notify::payload::{Item, NotifyEvent};
use crate::protocol::Now;

impl NotifyPolicy {
    /// A point alert (log line).
    pub fn handle_point(&mut self, now: Now, alert: PointAlert) {
        if self.muted_hosts.contains_key(&alert.host) {
            return;
        }
        let item = Item {
            host: alert.host.clone(),
            check: alert.check.clone(),
            tags: alert.tags.clone(),
            kind: alert.kind.clone(),
            state: "point".to_string(),
            message: alert.message.clone(),
            since_ms: now.wall_ms,
            duration_s: None,
            count: 1,
        };
        // Same check and same words count as one item.
        let id = (
            alert.host.clone(),
            format!("{}\u{0}{}", alert.check, alert.message),
        );
        let mut adds = Vec::new();
        for (index, route) in self.config.routes.iter().enumerate() {
            if !route.matches(&alert.host, &alert.tags, &alert.kind, "point") {
                continue;
            }
            for channel in &route.channels {
                let last = self
                    .points_sent
                    .get(&(index, channel.clone(), alert.host.clone()));
                let mut due = now.mono + route.wait;
                if let Some(last) = last {
                    due = due.max(*last + route.point_every);
                }
                adds.push((index, channel.clone(), due));
            }
        }
        for (route, channel, due) in adds {
            // Points always group per host, whatever `group=` says.
            let key = BatchKey {
                route,
                event: NotifyEvent::Point,
                channel,
                group: alert.host.clone(),
            };
            self.batches.add(key, &id, item.clone(), due);
        }
    }
}
