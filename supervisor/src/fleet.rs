//! The fleet as the supervisor's window shows it: a plain, cloneable
//! [`FleetSnapshot`] built from the state machine after a turn of its loop
//! and published to the HTTP side through a `tokio::sync::watch` channel
//! ([`SnapshotPublisher`]).
//!
//! Decisions:
//! * The HTTP side never touches the state machine. It reads the latest
//!   snapshot (an `Arc`, so a request costs a reference count, not a copy),
//!   and a slow browser holds only that `Arc`: acknowledgements never wait
//!   for it.
//! * Building a snapshot walks every host, so the shell builds one only
//!   when a reader asks for a fresher one, and at most once per
//!   [`SNAPSHOT_INTERVAL`], not after every datagram: at 100,000 events/s
//!   the loop turns far more often than anyone reads a page, and an idle
//!   supervisor nobody looks at never wakes for it. With a very large fleet
//!   the interval stretches so that building never takes more than 5 % of
//!   the loop ([`SNAPSHOT_LOOP_SHARE`]).
//! * A request never waits for a snapshot to be built while the latest is
//!   at most [`SNAPSHOT_STALE_LIMIT`] old: it is served that one and the
//!   loop is asked for a fresher one for the next request. With a fleet of
//!   10,000 hosts building takes tens of milliseconds on the loop, and a
//!   page read every second would otherwise pay it once a second (the p99
//!   of the window, docs/PERFORMANCE.md scenario 9). Only a reader after a
//!   quiet spell waits for it. An acknowledgement publishes at once, so
//!   the page after it shows it whatever the age.
//! * Times are wall-clock milliseconds, taken from the [`Now`] of the input
//!   that changed them; rendering computes ages against its own `now`.
//! * Open problems come from the state machine's problem model
//!   ([`crate::problems`]), with their acknowledgements.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conf::HostName;

use crate::catalog::HostEntry;
use crate::counters::Counters;
use crate::protocol::{HostState, Now, Settings};

/// Metric series (distinct tags of metric events) remembered per host; a
/// new series past it is not kept (and counted), so a host that invents
/// tags cannot grow the supervisor's memory or `/metrics`.
pub const MAX_METRIC_SERIES_PER_HOST: usize = 32;

/// Building a snapshot may take at most one part in this of the loop's
/// time (20: 5 %); past it, snapshots come less often than
/// [`SNAPSHOT_INTERVAL`].
pub const SNAPSHOT_LOOP_SHARE: u32 = 20;

/// Least time between two snapshots published by the shell.
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(1);

/// A snapshot at most this old is served at once while a fresher one is
/// built; an older one is waited for.
pub const SNAPSHOT_STALE_LIMIT: Duration = Duration::from_secs(3);

/// What the supervisor has seen of one host, in wall-clock time, kept in its
/// [`HostState`] and updated by the state machine as datagrams arrive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostRecord {
    /// When it was first heard by this supervisor run.
    pub first_heard_ms: Option<u64>,
    pub last_heard_ms: Option<u64>,
    /// When its [`HostStatus`] last changed (file appeared or removed, went
    /// inactive, came back, first heard).
    pub status_since_ms: u64,
    /// From its last heartbeat: the configuration version it runs, events
    /// waiting in its spool, seconds since the observer started.
    pub running_version: Option<u64>,
    pub spool_backlog: Option<u64>,
    pub uptime_secs: Option<u64>,
    /// The last value of each metric series (by tags): value and when it
    /// was received.
    pub metrics: BTreeMap<String, (f64, u64)>,
    /// New series refused past [`MAX_METRIC_SERIES_PER_HOST`].
    pub metric_series_refused: u64,
    /// Said goodbye and not heard since.
    pub stopped: bool,
    /// The protocol of its last datagram that has one (1 or 2).
    pub protocol: Option<u8>,
    /// The `run_id` of the supervisor it chose, from its last protocol-2
    /// heartbeat.
    pub chosen: Option<u64>,
}

impl HostRecord {
    /// A valid datagram naming the host arrived.
    pub fn heard(&mut self, wall_ms: u64) {
        if self.first_heard_ms.is_none() {
            // never seen → up (or heard without a file).
            self.first_heard_ms = Some(wall_ms);
            self.status_since_ms = wall_ms;
        }
        self.last_heard_ms = Some(self.last_heard_ms.unwrap_or(0).max(wall_ms));
    }

    pub fn heartbeat(&mut self, version: Option<u64>, queue_len: u64, uptime_secs: u64) {
        self.running_version = version;
        self.spool_backlog = Some(queue_len);
        self.uptime_secs = Some(uptime_secs);
    }

    /// A metric event (`alert_metric`, `alert_count`) was received.
    pub fn metric(&mut self, tags: &str, value: f64, wall_ms: u64) {
        if let Some(slot) = self.metrics.get_mut(tags) {
            *slot = (value, wall_ms);
        } else if self.metrics.len() < MAX_METRIC_SERIES_PER_HOST {
            self.metrics.insert(tags.to_string(), (value, wall_ms));
        } else {
            self.metric_series_refused += 1;
        }
    }

    /// Its status changed at `wall_ms`.
    pub fn status_changed(&mut self, wall_ms: u64) {
        self.status_since_ms = wall_ms;
    }
}

/// A host's state in the operator's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostStatus {
    /// Heard within `max_idle`.
    Up,
    /// Silent for `max_idle` or longer after having been heard.
    Inactive,
    /// Said goodbye (a clean observer stop). Set once observers send one.
    Stopped,
    /// Has a configuration file, not heard since this supervisor started.
    NeverSeen,
    /// Heard, but has no configuration file.
    NoConfig,
}

impl HostStatus {
    pub const ALL: [HostStatus; 5] = [
        HostStatus::Up,
        HostStatus::Inactive,
        HostStatus::Stopped,
        HostStatus::NeverSeen,
        HostStatus::NoConfig,
    ];

    /// The name used on pages, in the API and in query strings.
    pub fn name(self) -> &'static str {
        match self {
            HostStatus::Up => "up",
            HostStatus::Inactive => "inactive",
            HostStatus::Stopped => "stopped",
            HostStatus::NeverSeen => "never seen",
            HostStatus::NoConfig => "no config",
        }
    }

    /// Parses [`HostStatus::name`]; `never-seen` / `no-config` also work,
    /// as spaces are awkward in a URL.
    pub fn from_name(name: &str) -> Option<HostStatus> {
        let name = name.replace(['-', '_'], " ");
        HostStatus::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// One host on the fleet page.
#[derive(Debug, Clone, PartialEq)]
pub struct HostView {
    pub name: String,
    pub status: HostStatus,
    /// When `status` began (Unix milliseconds).
    pub since_ms: u64,
    pub last_heard_ms: Option<u64>,
    /// Source address of its last datagram.
    pub address: Option<SocketAddr>,
    /// Whether it has a configuration file in the hosts folder.
    pub has_file: bool,
    /// Version of the configuration served to it (`None`: no file, or the
    /// file cannot be read).
    pub config_version: Option<u64>,
    /// Version it said it runs in its last heartbeat.
    pub running_version: Option<u64>,
    /// Configuration errors, as `FILE:LINE: message`.
    pub config_errors: Vec<String>,
    /// Tags its checks carry (shared with the catalog, not copied).
    pub tags: Arc<BTreeSet<String>>,
    /// Events waiting in its spool, from its last heartbeat.
    pub spool_backlog: Option<u64>,
    pub uptime_secs: Option<u64>,
    /// The supervisor it chose, when its heartbeats say (protocol 2):
    /// `NAME (this supervisor)` or `another (run RUNID)`.
    pub chosen_supervisor: Option<String>,
    /// The protocol it speaks (1 or 2), once heard.
    pub protocol: Option<u8>,
    /// The last value of each of its metric series.
    pub metrics: Vec<MetricView>,
    /// Metric series of this host not kept (over the per-host cap).
    pub metric_series_refused: u64,
    /// With `peers:`, the supervisors that hear it (this one's name, peer
    /// URLs); empty without peers.
    pub heard_by: Vec<String>,
}

/// The last value of one metric series of a host.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricView {
    pub tags: String,
    pub value: f64,
    pub at_ms: u64,
}

/// An acknowledgement of a problem by an operator.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Acknowledgement {
    pub by: String,
    pub at_ms: u64,
    pub note: String,
}

/// One open problem of one check on one host.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Stable id across the fleet (`HOST/CHECK`), used in URLs.
    pub id: String,
    pub host: String,
    pub check: String,
    pub tags: Vec<String>,
    pub message: String,
    pub opened_ms: u64,
    pub last_value: Option<f64>,
    pub acknowledged: Option<Acknowledgement>,
    /// With `peers:`, where it was reported: `None` for this supervisor,
    /// else the peer's URL (an acknowledgement goes there).
    pub from: Option<String>,
}

/// The supervisor itself.
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisorView {
    pub name: String,
    pub version: &'static str,
    pub run_id: u64,
    /// When this supervisor run started (Unix milliseconds).
    pub started_ms: u64,
    pub counters: CounterView,
    pub hosts_known: usize,
    pub hosts_alive: usize,
    /// The stream file as configured and its health.
    pub stream_path: String,
    /// `false` while the last write of the stream failed: events are then
    /// not acknowledged.
    pub stream_writable: bool,
    /// Size of the current stream file, when the shell could read it.
    pub stream_bytes: Option<u64>,
    /// Each notification channel's state; `None` without notifications.
    pub notify_channels: Option<Vec<crate::notify::ChannelHealth>>,
}

/// [`Counters`] in a form that serialises with stable names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounterView {
    pub datagrams_received: u64,
    /// Datagrams decoded, by message kind (`heartbeat`, `events`, …).
    pub accepted: Vec<(String, u64)>,
    /// Datagrams dropped, by reason.
    pub dropped: Vec<(String, u64)>,
    pub events_written: u64,
    pub duplicates: u64,
    pub system_events: u64,
    pub acks_sent: u64,
    pub resets_sent: u64,
    pub config_requests: u64,
    pub chunks_sent: u64,
    pub stream_write_failures: u64,
    pub send_failures: u64,
    pub system_lines_dropped: u64,
}

impl From<&Counters> for CounterView {
    fn from(c: &Counters) -> Self {
        CounterView {
            datagrams_received: c.datagrams_received,
            accepted: c.by_kind.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
            dropped: c.dropped.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
            events_written: c.events_written,
            duplicates: c.duplicates,
            system_events: c.system_events,
            acks_sent: c.acks_sent,
            resets_sent: c.resets_sent,
            config_requests: c.config_requests,
            chunks_sent: c.chunks_sent,
            stream_write_failures: c.stream_write_failures,
            send_failures: c.send_failures,
            system_lines_dropped: c.system_lines_dropped,
        }
    }
}

/// Everything the window shows, as of `taken_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetSnapshot {
    pub taken_ms: u64,
    pub supervisor: SupervisorView,
    /// Sorted by name.
    pub hosts: Vec<HostView>,
    /// Open problems, oldest first.
    pub problems: Vec<Problem>,
    /// With `peers:`, each peer's state as of the merge; empty otherwise.
    pub peers: Vec<crate::peers::PeerView>,
}

impl FleetSnapshot {
    /// A snapshot of nothing, before the first turn of the loop.
    pub fn empty(name: &str) -> Self {
        FleetSnapshot {
            taken_ms: 0,
            supervisor: SupervisorView {
                name: name.to_string(),
                version: env!("CARGO_PKG_VERSION"),
                run_id: 0,
                started_ms: 0,
                counters: CounterView::default(),
                hosts_known: 0,
                hosts_alive: 0,
                stream_path: String::new(),
                stream_writable: true,
                stream_bytes: None,
                notify_channels: None,
            },
            hosts: Vec::new(),
            problems: Vec::new(),
            peers: Vec::new(),
        }
    }

    pub fn host(&self, name: &str) -> Option<&HostView> {
        self.hosts
            .binary_search_by(|h| h.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.hosts[i])
    }

    /// Hosts in each status, in [`HostStatus::ALL`] order.
    pub fn counts(&self) -> Vec<(HostStatus, usize)> {
        HostStatus::ALL
            .iter()
            .map(|s| (*s, self.hosts.iter().filter(|h| h.status == *s).count()))
            .collect()
    }
}

/// Builds the snapshot from the state machine's parts (called by
/// [`crate::Supervisor::fleet_snapshot`]). The shell fills in what needs
/// I/O (`started_ms`, `stream_path`, `stream_bytes`).
pub(crate) fn snapshot(
    now: Now,
    settings: &Settings,
    catalog: &HashMap<HostName, Arc<HostEntry>>,
    hosts: &HashMap<HostName, HostState>,
    counters: &Counters,
    stream_failing: bool,
) -> FleetSnapshot {
    let mut views = Vec::with_capacity(catalog.len());
    let mut problems = Vec::new();
    let mut alive = 0;
    for (name, state) in hosts {
        let entry = catalog.get(name);
        let record = &state.record;
        let status = match (entry, &state.liveness) {
            _ if record.stopped => HostStatus::Stopped,
            (Some(_), _) if record.last_heard_ms.is_none() => HostStatus::NeverSeen,
            (Some(_), Some(l)) if l.is_inactive() => HostStatus::Inactive,
            (Some(_), _) => HostStatus::Up,
            // Known only from the stream read back at start, or its file
            // was removed before it was ever heard: nothing to show.
            (None, _) if record.last_heard_ms.is_none() => continue,
            (None, _) => HostStatus::NoConfig,
        };
        for (check, p) in state.problems.iter() {
            problems.push(Problem {
                id: format!("{name}/{check}"),
                host: name.to_string(),
                check: check.clone(),
                tags: crate::problems::tag_list(&p.tags),
                message: p.message.clone(),
                opened_ms: p.opened_ms,
                last_value: p.last_value,
                acknowledged: p.acknowledged.clone(),
                from: None,
            });
        }
        if entry.is_some() && !record.stopped && state.liveness.is_some_and(|l| !l.is_inactive()) {
            alive += 1;
        }
        views.push(HostView {
            name: name.to_string(),
            status,
            since_ms: record.status_since_ms,
            last_heard_ms: record.last_heard_ms,
            address: state.addr,
            has_file: entry.is_some(),
            config_version: entry.and_then(|e| e.version()),
            running_version: record.running_version,
            config_errors: entry.map(|e| e.errors.clone()).unwrap_or_default(),
            tags: entry.map(|e| e.tags.clone()).unwrap_or_default(),
            spool_backlog: record.spool_backlog,
            uptime_secs: record.uptime_secs,
            chosen_supervisor: record.chosen.map(|run| {
                if run == settings.run_id {
                    format!("{} (this supervisor)", settings.supervisor_name)
                } else {
                    format!("another (run {run:016x})")
                }
            }),
            protocol: record.protocol,
            metrics: record
                .metrics
                .iter()
                .map(|(tags, (value, at_ms))| MetricView {
                    tags: tags.clone(),
                    value: *value,
                    at_ms: *at_ms,
                })
                .collect(),
            metric_series_refused: record.metric_series_refused,
            heard_by: Vec::new(),
        });
    }
    views.sort_by(|a, b| a.name.cmp(&b.name));
    problems.sort_by(|a, b| (a.opened_ms, &a.id).cmp(&(b.opened_ms, &b.id)));
    FleetSnapshot {
        taken_ms: now.wall_ms,
        supervisor: SupervisorView {
            name: settings.supervisor_name.clone(),
            version: env!("CARGO_PKG_VERSION"),
            run_id: settings.run_id,
            started_ms: 0,
            counters: CounterView::from(counters),
            hosts_known: catalog.len(),
            hosts_alive: alive,
            stream_path: String::new(),
            stream_writable: !stream_failing,
            stream_bytes: None,
            notify_channels: None,
        },
        hosts: views,
        problems,
        peers: Vec::new(),
    }
}

/// Acknowledgements waiting for the loop at most; more are refused (`503`).
pub const MAX_PENDING_ACKS: usize = 64;

/// An operator's acknowledgement, sent by the window to the loop (which
/// alone touches the state machine) and answered through `reply`: the
/// acknowledgement as recorded, or `None` when no such problem is open.
#[derive(Debug)]
pub struct AckRequest {
    pub host: String,
    pub check: String,
    pub by: String,
    pub note: String,
    pub reply: tokio::sync::oneshot::Sender<Option<Acknowledgement>>,
}

/// What the shell adds to each snapshot from outside the state machine.
#[derive(Debug, Clone)]
pub struct ShellFacts {
    pub started_ms: u64,
    /// The stream as configured; the file written now is found from it.
    pub stream_path: PathBuf,
    pub rotation: conf::StreamRotation,
}

/// The shell's end of the snapshot channel. Snapshots are built on demand:
/// only when a reader asked for a fresher one, and at most once per
/// [`SNAPSHOT_INTERVAL`], so an idle supervisor nobody looks at never wakes
/// up to build one.
#[derive(Debug)]
pub struct SnapshotPublisher {
    sender: tokio::sync::watch::Sender<Arc<FleetSnapshot>>,
    wanted: Arc<tokio::sync::Notify>,
    facts: ShellFacts,
    next: Instant,
    asked: bool,
}

/// The HTTP side's end: the latest snapshot, and a way to ask for a newer
/// one.
#[derive(Debug, Clone)]
pub struct SnapshotReader {
    latest: tokio::sync::watch::Receiver<Arc<FleetSnapshot>>,
    wanted: Arc<tokio::sync::Notify>,
}

impl SnapshotReader {
    /// A snapshot at most about [`SNAPSHOT_INTERVAL`] old, or at most
    /// [`SNAPSHOT_STALE_LIMIT`] old while a fresher one is being built:
    /// past [`SNAPSHOT_INTERVAL`] the loop is asked for a new one; past
    /// [`SNAPSHOT_STALE_LIMIT`] this waits for it (bounded, so a busy loop
    /// answers with the older snapshot rather than not at all).
    pub async fn fresh(&self, now_ms: u64) -> Arc<FleetSnapshot> {
        let latest = self.latest.borrow().clone();
        let age_ms = now_ms.saturating_sub(latest.taken_ms);
        if age_ms <= SNAPSHOT_INTERVAL.as_millis() as u64 {
            return latest;
        }
        let mut latest_rx = self.latest.clone();
        latest_rx.mark_unchanged();
        self.wanted.notify_one();
        if age_ms <= SNAPSHOT_STALE_LIMIT.as_millis() as u64 {
            return latest;
        }
        let wait = SNAPSHOT_INTERVAL + SNAPSHOT_INTERVAL / 2;
        // A time-out or a closed channel leaves the older snapshot to show.
        let _ = tokio::time::timeout(wait, latest_rx.changed()).await;
        latest_rx.borrow().clone()
    }

    /// The latest snapshot as it is.
    pub fn latest(&self) -> Arc<FleetSnapshot> {
        self.latest.borrow().clone()
    }
}

impl SnapshotPublisher {
    pub fn new(supervisor_name: &str, facts: ShellFacts) -> (SnapshotPublisher, SnapshotReader) {
        let (sender, latest) =
            tokio::sync::watch::channel(Arc::new(FleetSnapshot::empty(supervisor_name)));
        let wanted = Arc::new(tokio::sync::Notify::new());
        let publisher = SnapshotPublisher {
            sender,
            wanted: wanted.clone(),
            facts,
            next: Instant::now(),
            asked: false,
        };
        (publisher, SnapshotReader { latest, wanted })
    }

    /// Resolves when a reader asks for a fresher snapshot (for the loop's
    /// `select!`); then call [`SnapshotPublisher::asked`].
    pub fn wanted(&self) -> Arc<tokio::sync::Notify> {
        self.wanted.clone()
    }

    /// The stream as configured after a reload.
    pub fn set_stream(&mut self, path: PathBuf, rotation: conf::StreamRotation) {
        self.facts.stream_path = path;
        self.facts.rotation = rotation;
    }

    /// A reader asked for a fresher snapshot.
    pub fn asked(&mut self) {
        self.asked = true;
    }

    /// When the asked-for snapshot is due, if one was asked for.
    pub fn next_due(&self) -> Option<Instant> {
        self.asked.then_some(self.next)
    }

    /// Publishes `build()` if one was asked for and the interval allows.
    pub fn maybe_publish(&mut self, now: Instant, build: impl FnOnce() -> FleetSnapshot) {
        if !self.asked || now < self.next {
            return;
        }
        self.publish(now, build);
    }

    /// Publishes `build()` now, whatever the interval: after an operator's
    /// action, which the next page they load must show.
    pub fn publish(&mut self, now: Instant, build: impl FnOnce() -> FleetSnapshot) {
        self.asked = false;
        let mut snapshot = build();
        // A very large fleet makes building slow: space snapshots so that
        // building takes at most 1/SNAPSHOT_LOOP_SHARE of the loop's time.
        let took = now.elapsed();
        self.next = now + SNAPSHOT_INTERVAL.max(took * SNAPSHOT_LOOP_SHARE);
        snapshot.supervisor.started_ms = self.facts.started_ms;
        let current = crate::stream::read_back::newest_stream_file(
            &self.facts.stream_path,
            self.facts.rotation,
        );
        let path = current.as_deref().unwrap_or(&self.facts.stream_path);
        snapshot.supervisor.stream_path = path.display().to_string();
        snapshot.supervisor.stream_bytes = std::fs::metadata(path).ok().map(|m| m.len());
        // No reader left (HTTP stopped) is not an error of the loop.
        self.sender.send_replace(Arc::new(snapshot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::HostChange;
    use crate::protocol::Supervisor;
    use wire::{Codec, Message};

    fn start() -> Now {
        Now {
            mono: Instant::now(),
            wall_ms: 1_790_000_000_000,
        }
    }

    fn supervisor(now: Now, hosts: &[&str]) -> Supervisor {
        let settings = Settings {
            supervisor_name: "sup1".into(),
            run_id: 42,
            broadcast: vec!["10.0.0.255:9000".parse().unwrap()],
            max_idle: Duration::from_secs(180),
            beacon_interval: Duration::from_secs(5),
            stream_format: conf::StreamFormat::Classic,
        };
        let changes = hosts
            .iter()
            .map(|h| HostChange {
                host: HostName::new(h).unwrap(),
                entry: Some(Arc::new(HostEntry::from_text(
                    "x",
                    &[],
                    &["hosts/x:1: bad"],
                ))),
            })
            .collect();
        Supervisor::new(settings, Codec::open(), now, changes)
    }

    fn heartbeat(sup: &mut Supervisor, now: Now, host: &str, queue_len: u64) {
        let msg = Message::Heartbeat {
            host: host.into(),
            version: Some(5),
            queue_len,
            uptime_secs: 9,
        };
        let bytes = Codec::open().encode(&msg, now.wall_ms).unwrap();
        sup.handle_datagram(now, "10.0.0.7:4000".parse().unwrap(), &bytes);
    }

    fn status(s: &FleetSnapshot, host: &str) -> (HostStatus, u64) {
        let h = s.host(host).unwrap();
        (h.status, h.since_ms)
    }

    #[test]
    fn host_states_follow_what_the_supervisor_hears() {
        let t0 = start();
        let mut sup = supervisor(t0, &["db1", "web1"]);
        let s = sup.fleet_snapshot(t0);
        assert_eq!(status(&s, "web1"), (HostStatus::NeverSeen, t0.wall_ms));
        assert_eq!(s.host("web1").unwrap().config_errors, ["hosts/x:1: bad"]);

        let t1 = t0.after(Duration::from_secs(10));
        heartbeat(&mut sup, t1, "web1", 12);
        heartbeat(&mut sup, t1, "stray", 0);
        let s = sup.fleet_snapshot(t1);
        assert_eq!(status(&s, "web1"), (HostStatus::Up, t1.wall_ms));
        let web1 = s.host("web1").unwrap();
        assert_eq!(web1.spool_backlog, Some(12));
        assert_eq!(web1.running_version, Some(5));
        assert_eq!(web1.last_heard_ms, Some(t1.wall_ms));
        assert_eq!(web1.address, Some("10.0.0.7:4000".parse().unwrap()));
        assert_eq!(status(&s, "stray"), (HostStatus::NoConfig, t1.wall_ms));
        assert_eq!(s.supervisor.hosts_known, 2);
        assert_eq!(
            s.supervisor.counters.accepted,
            [("heartbeat".to_string(), 2)]
        );

        // Silent past max_idle: inactive from the scan that noticed it.
        let mut t = t1;
        while sup.fleet_snapshot(t).host("web1").unwrap().status == HostStatus::Up {
            t = t.after(Duration::from_secs(30));
            sup.handle_timeout(t);
            assert!(t.wall_ms < t1.wall_ms + 600_000, "never went inactive");
        }
        let s = sup.fleet_snapshot(t);
        assert_eq!(status(&s, "web1"), (HostStatus::Inactive, t.wall_ms));
        // Never heard: still "never seen", not inactive.
        assert_eq!(s.host("db1").unwrap().status, HostStatus::NeverSeen);

        let back = t.after(Duration::from_secs(1));
        heartbeat(&mut sup, back, "web1", 0);
        let s = sup.fleet_snapshot(back);
        assert_eq!(status(&s, "web1"), (HostStatus::Up, back.wall_ms));
        assert_eq!(
            s.counts(),
            [
                (HostStatus::Up, 1),
                (HostStatus::Inactive, 0),
                (HostStatus::Stopped, 0),
                (HostStatus::NeverSeen, 1),
                (HostStatus::NoConfig, 1),
            ]
        );
    }

    #[test]
    fn publisher_publishes_only_when_asked_and_at_most_once_per_interval() {
        let facts = ShellFacts {
            started_ms: 1,
            stream_path: PathBuf::from("/nonexistent/events.436"),
            rotation: conf::StreamRotation::Never,
        };
        let (mut publisher, reader) = SnapshotPublisher::new("sup1", facts);
        let t0 = Instant::now();
        let mut built = 0;
        let mut build = |n: u64| {
            built += 1;
            let mut s = FleetSnapshot::empty("sup1");
            s.taken_ms = n;
            s
        };
        // Nobody asked: nothing is built, and the loop has no deadline.
        publisher.maybe_publish(t0, || build(0));
        assert_eq!(publisher.next_due(), None);
        publisher.asked();
        publisher.maybe_publish(t0, || build(1));
        publisher.asked();
        assert_eq!(publisher.next_due(), Some(t0 + SNAPSHOT_INTERVAL));
        publisher.maybe_publish(t0 + SNAPSHOT_INTERVAL / 2, || build(2));
        assert_eq!(reader.latest().taken_ms, 1);
        publisher.maybe_publish(t0 + SNAPSHOT_INTERVAL, || build(3));
        assert_eq!(reader.latest().taken_ms, 3);
        assert_eq!(built, 2);
        assert_eq!(publisher.next_due(), None);
        assert_eq!(reader.latest().supervisor.started_ms, 1);
        assert_eq!(reader.latest().supervisor.stream_bytes, None);
    }

    #[test]
    fn a_reader_is_served_a_slightly_old_snapshot_at_once_and_the_loop_is_asked() {
        let facts = ShellFacts {
            started_ms: 1,
            stream_path: PathBuf::from("/nonexistent/events.436"),
            rotation: conf::StreamRotation::Never,
        };
        let (mut publisher, reader) = SnapshotPublisher::new("sup1", facts);
        let mut s = FleetSnapshot::empty("sup1");
        s.taken_ms = 10_000;
        publisher.publish(Instant::now(), || s);
        let wanted = publisher.wanted();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            // Fresh enough: served, nothing asked.
            assert_eq!(reader.fresh(10_500).await.taken_ms, 10_000);
            let asked = tokio::time::timeout(Duration::ZERO, wanted.notified()).await;
            assert!(asked.is_err(), "not asked");
            // Older than the interval, within the stale limit: served at
            // once (the test does not publish, so a wait would time out),
            // and the loop is asked for a new one.
            let stale_ms = 10_000 + SNAPSHOT_STALE_LIMIT.as_millis() as u64;
            assert_eq!(reader.fresh(stale_ms).await.taken_ms, 10_000);
            wanted.notified().await;
        });
    }
}

#[cfg(test)]
mod record_tests {
    use super::*;

    #[test]
    fn metric_series_are_capped_per_host() {
        let mut r = HostRecord::default();
        for i in 0..MAX_METRIC_SERIES_PER_HOST + 3 {
            r.metric(&format!("m{i}"), i as f64, 1);
        }
        assert_eq!(r.metrics.len(), MAX_METRIC_SERIES_PER_HOST);
        assert_eq!(r.metric_series_refused, 3);
        r.metric("m0", 42.0, 2);
        assert_eq!(r.metrics["m0"], (42.0, 2));
        assert_eq!(r.metric_series_refused, 3);
    }
}
