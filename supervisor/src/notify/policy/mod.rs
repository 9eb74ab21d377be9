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

mod hosts;
mod points;
mod repeats;

use super::batch::{BatchKey, Batches, ProblemId, notification_key};
pub use super::input::{HOST_CHECK, HostState, Outgoing, PointAlert, ProblemOpened};
use super::payload::{Item, Notification, NotifyEvent};
use crate::protocol::Now;

/// Longest time between two checks of a route's quiet hours while it holds
/// notifications.
pub const QUIET_HOURS_RECHECK: Duration = Duration::from_secs(60);

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
    batches: Batches,
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
            batches: Batches::default(),
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
        let routes = self.config.routes.len();
        let config = &self.config;
        self.batches.retain(|key| {
            matches!(key.event, NotifyEvent::Cleared | NotifyEvent::Point)
                && key.route < routes
                && config.channel(&key.channel).is_some()
        });
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

    /// Adds an item to the batch it belongs to (see [`Batches::add`]).
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
        self.batches.add(key, id, item, due);
    }

    fn withdraw(&mut self, id: &ProblemId, events: &[NotifyEvent]) {
        self.batches.withdraw(id, events);
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

    /// Moves time forward: due reminders, escalations, re-sends and
    /// batches become notifications.
    pub fn handle_timeout(&mut self, now: Now) {
        // Reminders and announcements move `repeat_due`; nothing else here.
        let mut repeats_moved = false;
        if self.repeat_due.is_some_and(|due| due <= now.mono) {
            self.schedule_repeats(now);
            repeats_moved = true;
        }
        self.refresh_alertmanager(now);
        for key in self.batches.due(now.mono) {
            let route = &self.config.routes[key.route];
            if !self.route_active(key.route, now.wall_ms) {
                // Quiet hours: look again in a minute.
                self.batches.postpone(&key, now.mono + QUIET_HOURS_RECHECK);
                continue;
            }
            let severity = route.severity.as_str().to_string();
            let origin = route.origin.to_string();
            let Some(batch) = self.batches.take(&key) else {
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
            if matches!(key.event, NotifyEvent::Opened | NotifyEvent::Escalated) {
                self.mark_told(key.event, key.route, &key.channel, &batch.items, now);
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

    /// An opening or escalation went out: the channel must hear of the
    /// clearing, and an opening starts the reminders. (Marked when sent,
    /// not when batched: one withdrawn before it went out told nobody.)
    fn mark_told(
        &mut self,
        event: NotifyEvent,
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
                if event == NotifyEvent::Opened && !track.announced {
                    track.announced = true;
                    track.next_reminder = repeat.map(|r| now.mono + r);
                }
                track.told.insert(channel.to_string());
            }
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
        let key = notification_key(event, route, &items, now.wall_ms);
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
        let refresh = self.refresh_due.values().copied();
        self.batches
            .next_due()
            .into_iter()
            .chain(refresh)
            .chain(self.repeat_due)
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
