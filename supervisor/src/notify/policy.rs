//! The notification policy: which problem transitions become which
//! notifications, and when. A pure state machine in virtual time, in the
//! supervisor's `handle_*` / `poll_*` style: it never reads a clock and never
//! sends; what it decides comes out of [`NotifyPolicy::poll_notification`]
//! for the caller to put in the queue.
//!
//! Decisions recorded here:
//! * An opening goes out after the route's `wait`; everything of the route
//!   (per `group=`) that opens within it joins the same notification. A
//!   problem that clears before its opening went out is never announced, and
//!   then its clearing is not either: nobody was told.
//! * A clearing goes to every channel that was told of the opening
//!   (including escalation channels), with how long it was open, grouped
//!   within `wait` like openings.
//! * Quiet hours (`active:` on a route) hold notifications — reminders,
//!   escalations and clearings too — until the window opens. A held clearing
//!   is never dropped.
//! * A host that is inactive or stopped is one notification of its own; its
//!   checks are muted meanwhile (pending openings withdrawn, no reminders or
//!   escalations). When it is back, still-open checks that were never
//!   announced are announced, and announced ones resume.
//! * Point alerts (log lines) are gathered per route, channel and host,
//!   counted, and sent at most once per `every=`.
//! * Alertmanager channels get everything still open every `resend=`,
//!   acknowledged or not: Alertmanager resolves alerts that are not re-sent.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{Datelike, Local, TimeZone, Timelike};
use conf::{ChannelKind, Grouping, NotifyConfig};
use sha2::{Digest, Sha256};

use super::payload::{Item, Notification, NotifyEvent};
use crate::protocol::Now;

/// Longest time between two checks of a route's quiet hours while it holds
/// notifications.
pub const QUIET_HOURS_RECHECK: Duration = Duration::from_secs(60);
/// Most distinct point-alert items kept in one notification; the rest are
/// counted in `more`.
pub const MAX_POINT_ITEMS: usize = 20;

/// A problem that opened, as the fleet state reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemOpened {
    pub host: String,
    pub check: String,
    pub tags: Vec<String>,
    /// `alert`, `metric` or `system`.
    pub kind: String,
    pub message: String,
    /// When it opened on the observer, ms since the Unix epoch.
    pub opened_ms: u64,
}

/// A point alert (a log line, a count over a limit): nothing to clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointAlert {
    pub host: String,
    pub check: String,
    pub tags: Vec<String>,
    pub kind: String,
    pub message: String,
}

/// A host's liveness, as far as notifications care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostState {
    Up,
    Inactive,
    Stopped,
}

/// One notification to put in the queue, for one channel.
#[must_use = "a notification must be queued"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub channel: String,
    pub notification: Notification,
}

/// The check id of a host's own state.
pub const HOST_CHECK: &str = "host";

type ProblemId = (String, String);

#[derive(Debug)]
struct OpenProblem {
    opened: ProblemOpened,
    /// `open`, or `inactive` / `stopped` for a host's own problem.
    state: &'static str,
    acked: bool,
    muted: bool,
    routes: Vec<RouteTrack>,
}

#[derive(Debug)]
struct RouteTrack {
    route: usize,
    /// The opening went out (or is in a batch past `wait`).
    announced: bool,
    /// Channels told of the opening, who must hear of the clearing.
    told: BTreeSet<String>,
    next_reminder: Option<Instant>,
    /// Index of the next `escalate=` step.
    next_step: usize,
    /// Escalation steps count from here (the opening seen by the policy).
    since: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct BatchKey {
    route: usize,
    event: NotifyEvent,
    channel: String,
    group: String,
}

#[derive(Debug)]
struct Batch {
    due: Instant,
    /// Problems by id; point alerts by (host, check + message).
    items: Vec<(ProblemId, Item)>,
    more: u64,
}

/// The policy. Feed it with `handle_*`, call [`NotifyPolicy::handle_timeout`]
/// at [`NotifyPolicy::poll_timeout`], and queue every
/// [`NotifyPolicy::poll_notification`].
pub struct NotifyPolicy {
    config: NotifyConfig,
    /// Local time of day for quiet hours: a fixed offset in tests, the
    /// machine's time zone otherwise.
    utc_offset: Option<chrono::FixedOffset>,
    status_url: String,
    open: BTreeMap<ProblemId, OpenProblem>,
    muted_hosts: HashMap<String, HostState>,
    batches: BTreeMap<BatchKey, Batch>,
    /// Last point-alert notification per (route, channel, host).
    points_sent: HashMap<(usize, String, String), Instant>,
    /// Next re-send per Alertmanager channel.
    refresh_due: BTreeMap<String, Instant>,
    /// Earliest reminder or escalation step, so that a turn of the loop
    /// with nothing due costs nothing per open problem. May be early (an
    /// acknowledgement or clearing since), never late.
    repeat_due: Option<Instant>,
    out: VecDeque<Outgoing>,
}

impl NotifyPolicy {
    pub fn new(config: NotifyConfig, now: Now) -> Self {
        let mut policy = NotifyPolicy {
            config: NotifyConfig::default(),
            utc_offset: None,
            status_url: String::new(),
            open: BTreeMap::new(),
            muted_hosts: HashMap::new(),
            batches: BTreeMap::new(),
            points_sent: HashMap::new(),
            refresh_due: BTreeMap::new(),
            repeat_due: None,
            out: VecDeque::new(),
        };
        policy.set_config(config, now);
        policy
    }

    /// Quiet hours in this fixed offset instead of the local time zone.
    pub fn set_utc_offset(&mut self, offset: chrono::FixedOffset) {
        self.utc_offset = Some(offset);
    }

    /// Base of `{url}`: the status page, e.g. `http://sup:8436`.
    pub fn set_status_url(&mut self, url: &str) {
        self.status_url = url.trim_end_matches('/').to_string();
    }

    /// A changed notification file. Problems already announced stay
    /// announced (to the channels of the routes that now match, so they
    /// hear the clearing); pending openings are re-batched under the new
    /// routes; pending clearings and point alerts keep going out.
    pub fn set_config(&mut self, config: NotifyConfig, now: Now) {
        self.config = config;
        self.batches
            .retain(|key, _| matches!(key.event, NotifyEvent::Cleared | NotifyEvent::Point));
        let routes = self.config.routes.len();
        self.batches
            .retain(|key, _| key.route < routes && self.config.channel(&key.channel).is_some());
        let ids: Vec<ProblemId> = self.open.keys().cloned().collect();
        for id in ids {
            let Some(problem) = self.open.get_mut(&id) else {
                continue;
            };
            let announced = problem.routes.iter().any(|t| t.announced);
            problem.routes = Vec::new();
            self.track_routes(&id, now, announced);
        }
        self.refresh_due.retain(|name, _| {
            self.config
                .channel(name)
                .is_some_and(|c| matches!(c.kind, ChannelKind::Alertmanager(_)))
        });
        for channel in &self.config.channels {
            if let ChannelKind::Alertmanager(am) = &channel.kind {
                self.refresh_due
                    .entry(channel.name.clone())
                    .or_insert(now.mono + am.resend);
            }
        }
        self.repeat_due = self.earliest_repeat();
    }

    /// A problem opened. Opening one that is already open updates its
    /// message and tags and sends nothing (a re-fed state after a restart).
    pub fn handle_opened(&mut self, now: Now, problem: ProblemOpened) {
        let id = (problem.host.clone(), problem.check.clone());
        if let Some(existing) = self.open.get_mut(&id) {
            existing.opened.message = problem.message;
            existing.opened.tags = problem.tags;
            return;
        }
        let muted = self.muted_hosts.contains_key(&problem.host);
        self.open.insert(
            id.clone(),
            OpenProblem {
                opened: problem,
                state: "open",
                acked: false,
                muted,
                routes: Vec::new(),
            },
        );
        self.track_routes(&id, now, false);
    }

    /// A problem that was already announced before a restart: tracked
    /// (reminders, clearing) without a second opening.
    pub fn handle_restored(&mut self, now: Now, problem: ProblemOpened) {
        let id = (problem.host.clone(), problem.check.clone());
        if self.open.contains_key(&id) {
            return;
        }
        let muted = self.muted_hosts.contains_key(&problem.host);
        self.open.insert(
            id.clone(),
            OpenProblem {
                opened: problem,
                state: "open",
                acked: false,
                muted,
                routes: Vec::new(),
            },
        );
        self.track_routes(&id, now, true);
        self.repeat_due = self.earliest_repeat();
    }

    /// The routes a problem matches, each waiting for its opening to go
    /// out (or, with `announced`, already told).
    fn track_routes(&mut self, id: &ProblemId, now: Now, announced: bool) {
        let Some(problem) = self.open.get(id) else {
            return;
        };
        let p = &problem.opened;
        let mut tracks = Vec::new();
        for (index, route) in self.config.routes.iter().enumerate() {
            if !route.matches(&p.host, &p.tags, &p.kind, problem.state) {
                continue;
            }
            tracks.push(RouteTrack {
                route: index,
                announced,
                told: if announced {
                    route.channels.iter().cloned().collect()
                } else {
                    BTreeSet::new()
                },
                next_reminder: route.repeat.filter(|_| announced).map(|r| now.mono + r),
                next_step: 0,
                since: now.mono,
            });
        }
        let muted = problem.muted;
        let item = Self::item(problem, None);
        if let Some(problem) = self.open.get_mut(id) {
            problem.routes = tracks;
        }
        if !announced && !muted {
            self.batch_opening(id, item, now);
        }
    }

    fn batch_opening(&mut self, id: &ProblemId, item: Item, now: Now) {
        let Some(problem) = self.open.get(id) else {
            return;
        };
        let mut adds = Vec::new();
        for track in problem.routes.iter().filter(|t| !t.announced) {
            let route = &self.config.routes[track.route];
            for channel in &route.channels {
                adds.push((track.route, channel.clone(), route.wait));
            }
        }
        for (route, channel, wait) in adds {
            self.add(
                route,
                NotifyEvent::Opened,
                channel,
                id,
                item.clone(),
                now.mono + wait,
            );
        }
    }

    fn item(problem: &OpenProblem, duration_s: Option<u64>) -> Item {
        let p = &problem.opened;
        Item {
            host: p.host.clone(),
            check: p.check.clone(),
            tags: p.tags.clone(),
            kind: p.kind.clone(),
            state: if duration_s.is_some() {
                "cleared".to_string()
            } else {
                problem.state.to_string()
            },
            message: p.message.clone(),
            since_ms: p.opened_ms,
            duration_s,
            count: 1,
        }
    }

    fn group_key(&self, route: usize, item: &Item) -> String {
        match self.config.routes[route].group {
            Grouping::All => String::new(),
            Grouping::Host => item.host.clone(),
            Grouping::Check => format!("{}\u{0}{}", item.host, item.check),
        }
    }

    /// Adds an item to the batch it belongs to; a new batch is due at `due`,
    /// an existing one keeps its time (that is what groups).
    fn add(
        &mut self,
        route: usize,
        event: NotifyEvent,
        channel: String,
        id: &ProblemId,
        item: Item,
        due: Instant,
    ) {
        let key = BatchKey {
            route,
            event,
            group: self.group_key(route, &item),
            channel,
        };
        let batch = self.batches.entry(key).or_insert(Batch {
            due,
            items: Vec::new(),
            more: 0,
        });
        if event == NotifyEvent::Point {
            if let Some((_, same)) = batch.items.iter_mut().find(|(i, _)| i == id) {
                same.count += 1;
            } else if batch.items.len() < MAX_POINT_ITEMS {
                batch.items.push((id.clone(), item));
            } else {
                batch.more += 1;
            }
        } else if !batch.items.iter().any(|(i, _)| i == id) {
            batch.items.push((id.clone(), item));
        }
    }

    /// Takes a problem out of every pending batch of these events.
    fn withdraw(&mut self, id: &ProblemId, events: &[NotifyEvent]) {
        for (key, batch) in self.batches.iter_mut() {
            if events.contains(&key.event) {
                batch.items.retain(|(i, _)| i != id);
            }
        }
        self.batches
            .retain(|_, b| !b.items.is_empty() || b.more > 0);
    }

    /// A problem cleared at `cleared_ms` (wall clock, for its duration).
    pub fn handle_cleared(&mut self, now: Now, host: &str, check: &str, cleared_ms: u64) {
        let id = (host.to_string(), check.to_string());
        let Some(problem) = self.open.remove(&id) else {
            return;
        };
        self.withdraw(
            &id,
            &[
                NotifyEvent::Opened,
                NotifyEvent::Reminder,
                NotifyEvent::Escalated,
            ],
        );
        let duration = cleared_ms.saturating_sub(problem.opened.opened_ms) / 1000;
        let item = Self::item(&problem, Some(duration));
        for track in problem.routes.iter().filter(|t| t.announced) {
            let route = &self.config.routes[track.route];
            let (resolved, wait) = (route.resolved, route.wait);
            for channel in &track.told {
                let to_alertmanager = self
                    .config
                    .channel(channel)
                    .is_some_and(|c| matches!(c.kind, ChannelKind::Alertmanager(_)));
                // Alertmanager needs the end of every alert it was given,
                // whatever `resolved=` says, or it shows it open until its
                // own timeout.
                if resolved || to_alertmanager {
                    self.add(
                        track.route,
                        NotifyEvent::Cleared,
                        channel.clone(),
                        &id,
                        item.clone(),
                        now.mono + wait,
                    );
                }
            }
        }
    }

    /// An acknowledgement: no more reminders or escalations for it.
    pub fn handle_ack(&mut self, _now: Now, host: &str, check: &str) {
        let id = (host.to_string(), check.to_string());
        if let Some(problem) = self.open.get_mut(&id) {
            problem.acked = true;
            self.withdraw(&id, &[NotifyEvent::Reminder, NotifyEvent::Escalated]);
        }
    }

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
                channel: channel.clone(),
                group: alert.host.clone(),
            };
            let batch = self.batches.entry(key).or_insert(Batch {
                due,
                items: Vec::new(),
                more: 0,
            });
            if let Some((_, same)) = batch.items.iter_mut().find(|(i, _)| *i == id) {
                same.count += 1;
            } else if batch.items.len() < MAX_POINT_ITEMS {
                batch.items.push((id.clone(), item.clone()));
            } else {
                batch.more += 1;
            }
        }
    }

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

    /// Moves time forward: due reminders, escalations, re-sends and
    /// batches become notifications.
    pub fn handle_timeout(&mut self, now: Now) {
        // Reminders and announcements move `repeat_due`; nothing else here.
        let mut repeats_moved = false;
        if self.repeat_due.is_some_and(|due| due <= now.mono) {
            self.schedule_repeats(now);
            repeats_moved = true;
        }
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
        let due: Vec<BatchKey> = self
            .batches
            .iter()
            .filter(|(_, b)| b.due <= now.mono)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let route = &self.config.routes[key.route];
            if !self.route_active(key.route, now.wall_ms) {
                // Quiet hours: look again in a minute.
                if let Some(b) = self.batches.get_mut(&key) {
                    b.due = now.mono + QUIET_HOURS_RECHECK;
                }
                continue;
            }
            let severity = route.severity.as_str().to_string();
            let origin = route.origin.to_string();
            let Some(batch) = self.batches.remove(&key) else {
                continue;
            };
            if batch.items.is_empty() && batch.more == 0 {
                continue;
            }
            if key.event == NotifyEvent::Point {
                self.points_sent.insert(
                    (key.route, key.channel.clone(), key.group.clone()),
                    now.mono,
                );
            }
            if key.event == NotifyEvent::Opened {
                self.mark_announced(key.route, &key.channel, &batch.items, now);
                repeats_moved = true;
            }
            let items = batch.items.into_iter().map(|(_, i)| i).collect();
            let n = self.notification(key.event, &severity, &origin, now, items, batch.more);
            self.out.push_back(Outgoing {
                channel: key.channel,
                notification: n,
            });
        }
        if repeats_moved {
            self.repeat_due = self.earliest_repeat();
        }
    }

    fn severity_for(&self, channel: &str) -> String {
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

    fn mark_announced(
        &mut self,
        route: usize,
        channel: &str,
        items: &[(ProblemId, Item)],
        now: Now,
    ) {
        let repeat = self.config.routes[route].repeat;
        for (id, _) in items {
            let Some(p) = self.open.get_mut(id) else {
                continue;
            };
            for track in p.routes.iter_mut().filter(|t| t.route == route) {
                if !track.announced {
                    track.announced = true;
                    track.next_reminder = repeat.map(|r| now.mono + r);
                }
                track.told.insert(channel.to_string());
            }
        }
    }

    /// Reminders and escalation steps that are due go into batches.
    fn schedule_repeats(&mut self, now: Now) {
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
                    track.told.insert(channel.clone());
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

    fn route_active(&self, route: usize, wall_ms: u64) -> bool {
        let route = &self.config.routes[route];
        if route.active.is_none() {
            return true;
        }
        let ms = i64::try_from(wall_ms).unwrap_or(i64::MAX);
        let (weekday, hour, minute) = match self.utc_offset {
            Some(offset) => match offset.timestamp_millis_opt(ms).single() {
                Some(t) => (t.weekday().num_days_from_sunday(), t.hour(), t.minute()),
                None => return true,
            },
            None => match Local.timestamp_millis_opt(ms).single() {
                Some(t) => (t.weekday().num_days_from_sunday(), t.hour(), t.minute()),
                None => return true,
            },
        };
        route.is_active(weekday, hour, minute)
    }

    fn notification(
        &self,
        event: NotifyEvent,
        severity: &str,
        route: &str,
        now: Now,
        items: Vec<Item>,
        more: u64,
    ) -> Notification {
        // The key names what the notification is about, so a notification
        // made twice (a restart re-feeding state) is queued once.
        let mut hash = Sha256::new();
        hash.update(event.as_str());
        hash.update([0]);
        hash.update(route);
        for item in &items {
            hash.update([0]);
            hash.update(&item.host);
            hash.update([0]);
            hash.update(&item.check);
            hash.update(item.since_ms.to_le_bytes());
        }
        // Reminders, re-sends and point alerts happen again for the same
        // items: their time tells them apart.
        if !matches!(event, NotifyEvent::Opened | NotifyEvent::Cleared) {
            hash.update(now.wall_ms.to_le_bytes());
        }
        let digest = hash.finalize();
        let key: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        let url = match items.as_slice() {
            [one] if !self.status_url.is_empty() => {
                format!("{}/hosts/{}", self.status_url, one.host)
            }
            _ => self.status_url.clone(),
        };
        Notification {
            key,
            event,
            severity: severity.to_string(),
            route: route.to_string(),
            at_ms: now.wall_ms,
            items,
            more,
            url,
        }
    }

    /// The next notification to queue.
    pub fn poll_notification(&mut self) -> Option<Outgoing> {
        self.out.pop_front()
    }

    /// When [`NotifyPolicy::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let batches = self.batches.values().map(|b| b.due);
        let refresh = self.refresh_due.values().copied();
        batches.chain(refresh).chain(self.repeat_due).min()
    }

    fn earliest_repeat(&self) -> Option<Instant> {
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

    /// Problems open now, for tests and the status page: (host, check,
    /// acknowledged).
    pub fn open_problems(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.open
            .iter()
            .map(|((h, c), p)| (h.as_str(), c.as_str(), p.acked))
    }
}

impl Item {
    fn default_from(p: &ProblemOpened) -> Item {
        Item {
            host: p.host.clone(),
            check: p.check.clone(),
            tags: p.tags.clone(),
            kind: p.kind.clone(),
            state: "open".to_string(),
            message: p.message.clone(),
            since_ms: p.opened_ms,
            duration_s: None,
            count: 1,
        }
    }
}
