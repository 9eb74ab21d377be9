//! The JSON API under `/api/v1/` (docs/API.md): the snapshot turned into
//! documents with names, RFC 3339 times and ages in seconds. Pure: snapshot
//! and `now` in, serialisable documents out.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::refusal::HttpCounts;
use super::view::{Filter, Slice, rfc3339, secs_between, version};
use crate::fleet::{Acknowledgement, FleetSnapshot, HostView, Problem};

fn opt_time(ms: Option<u64>) -> Option<String> {
    ms.map(rfc3339)
}

/// One host, as `/api/v1/hosts` lists it (borrowing from the snapshot, so
/// a large fleet is written without building a tree of values first).
#[derive(Debug, Serialize)]
pub struct HostDoc<'a> {
    name: &'a str,
    state: &'static str,
    since: String,
    last_heard: Option<String>,
    seconds_since_heard: Option<u64>,
    address: Option<String>,
    has_config_file: bool,
    config_version: Option<String>,
    running_version: Option<String>,
    config_current: bool,
    config_errors: &'a [String],
    tags: Vec<&'a str>,
    spool_backlog: Option<u64>,
    uptime_seconds: Option<u64>,
    supervisor: Option<&'a str>,
    metrics: Vec<MetricDoc<'a>>,
    /// With `peers:`: the supervisors that hear it (report it up).
    #[serde(skip_serializing_if = "Option::is_none")]
    heard_by: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problems: Option<Vec<ProblemDoc<'a>>>,
}

#[derive(Debug, Serialize)]
pub struct MetricDoc<'a> {
    tags: &'a str,
    value: f64,
    at: String,
}

#[derive(Debug, Serialize)]
pub struct AckDoc<'a> {
    by: &'a str,
    at: String,
    note: &'a str,
}

#[derive(Debug, Serialize)]
pub struct ProblemDoc<'a> {
    id: &'a str,
    host: &'a str,
    check: &'a str,
    tags: &'a [String],
    message: &'a str,
    since: String,
    seconds_open: u64,
    last_value: Option<f64>,
    acknowledged: Option<AckDoc<'a>>,
    /// With `peers:`: this supervisor's name or the peer's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
}

pub fn host(h: &HostView, now_ms: u64) -> HostDoc<'_> {
    HostDoc {
        name: &h.name,
        state: h.status.name(),
        since: rfc3339(h.since_ms),
        last_heard: opt_time(h.last_heard_ms),
        seconds_since_heard: h.last_heard_ms.map(|t| secs_between(t, now_ms)),
        address: h.address.map(|a| a.to_string()),
        has_config_file: h.has_file,
        config_version: h.config_version.map(version),
        running_version: h.running_version.map(version),
        config_current: h.config_version.is_some() && h.config_version == h.running_version,
        config_errors: &h.config_errors,
        tags: h.tags.iter().map(String::as_str).collect(),
        spool_backlog: h.spool_backlog,
        uptime_seconds: h.uptime_secs,
        supervisor: h.chosen_supervisor.as_deref(),
        metrics: h
            .metrics
            .iter()
            .map(|m| MetricDoc {
                tags: &m.tags,
                value: m.value,
                at: rfc3339(m.at_ms),
            })
            .collect(),
        heard_by: None,
        problems: None,
    }
}

pub fn problem(p: &Problem, now_ms: u64) -> ProblemDoc<'_> {
    ProblemDoc {
        id: &p.id,
        host: &p.host,
        check: &p.check,
        tags: &p.tags,
        message: &p.message,
        since: rfc3339(p.opened_ms),
        seconds_open: secs_between(p.opened_ms, now_ms),
        last_value: p.last_value,
        acknowledged: p.acknowledged.as_ref().map(ack),
        from: None,
    }
}

/// A host as listed by a supervisor with peers: `heard_by` added.
fn host_in<'a>(s: &'a FleetSnapshot, h: &'a HostView, now_ms: u64) -> HostDoc<'a> {
    let mut doc = host(h, now_ms);
    if !s.peers.is_empty() {
        doc.heard_by = Some(&h.heard_by);
    }
    doc
}

/// A problem as listed by a supervisor with peers: `from` added.
fn problem_in<'a>(s: &'a FleetSnapshot, p: &'a Problem, now_ms: u64) -> ProblemDoc<'a> {
    let mut doc = problem(p, now_ms);
    if !s.peers.is_empty() {
        doc.from = Some(p.from.as_deref().unwrap_or(&s.supervisor.name));
    }
    doc
}

/// The URLs of the peers that do not answer (`None` when all do, or
/// without peers).
fn unreachable(s: &FleetSnapshot) -> Option<Vec<&str>> {
    let down: Vec<&str> = s
        .peers
        .iter()
        .filter(|p| p.reach == crate::peers::PeerReach::Unreachable)
        .map(|p| p.url.as_str())
        .collect();
    (!down.is_empty()).then_some(down)
}

/// `/api/v1/peers`.
pub fn peers(s: &FleetSnapshot) -> Value {
    json!({
        "supervisor": s.supervisor.name,
        "taken": rfc3339(s.taken_ms),
        "peers": s.peers.iter().map(|p| json!({
            "url": p.url,
            "state": p.reach.name(),
            "last_success": opt_time(p.last_success_ms),
            "unreachable_since": opt_time(p.unreachable_since_ms),
            "error": p.error,
            "hosts": p.hosts,
            "problems": p.problems,
            "malformed": p.malformed,
        })).collect::<Vec<_>>(),
    })
}

pub fn ack(a: &Acknowledgement) -> AckDoc<'_> {
    AckDoc {
        by: &a.by,
        at: rfc3339(a.at_ms),
        note: &a.note,
    }
}

/// `/api/v1/hosts`.
#[derive(Debug, Serialize)]
pub struct HostsDoc<'a> {
    taken: String,
    supervisor: &'a str,
    counts: BTreeMap<&'static str, usize>,
    open_problems: usize,
    /// Hosts the filter keeps, on every page.
    total: usize,
    offset: usize,
    limit: Option<usize>,
    /// The `offset` of the next page; `None` on the last.
    next_offset: Option<usize>,
    /// With `peers:`, the peers that cannot be reached now.
    #[serde(skip_serializing_if = "Option::is_none")]
    unreachable_peers: Option<Vec<&'a str>>,
    hosts: Vec<HostDoc<'a>>,
}

/// `/api/v1/problems`.
#[derive(Debug, Serialize)]
pub struct ProblemsDoc<'a> {
    taken: String,
    total: usize,
    offset: usize,
    limit: Option<usize>,
    next_offset: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unreachable_peers: Option<Vec<&'a str>>,
    problems: Vec<ProblemDoc<'a>>,
}

/// `/api/v1/hosts`: counts by state (of the whole fleet) and the slice of
/// the hosts the filter keeps.
pub fn hosts<'a>(s: &'a FleetSnapshot, filter: &Filter, slice: Slice, now_ms: u64) -> HostsDoc<'a> {
    let kept: Vec<&HostView> = s
        .hosts
        .iter()
        .filter(|h| filter.host_matches(h, s))
        .collect();
    let (range, next_offset) = slice.range(kept.len());
    HostsDoc {
        taken: rfc3339(s.taken_ms),
        supervisor: &s.supervisor.name,
        counts: s
            .counts()
            .into_iter()
            .map(|(st, n)| (st.name(), n))
            .collect(),
        open_problems: s.problems.len(),
        total: kept.len(),
        offset: range.start,
        limit: slice.limit,
        next_offset,
        unreachable_peers: unreachable(s),
        hosts: kept[range].iter().map(|h| host_in(s, h, now_ms)).collect(),
    }
}

/// `/api/v1/hosts/NAME`, or `None` when the supervisor does not know it.
pub fn host_detail<'a>(s: &'a FleetSnapshot, name: &str, now_ms: u64) -> Option<HostDoc<'a>> {
    let h = s.host(name)?;
    let mut doc = host_in(s, h, now_ms);
    doc.problems = Some(
        s.problems
            .iter()
            .filter(|p| p.host == h.name)
            .map(|p| problem_in(s, p, now_ms))
            .collect(),
    );
    Some(doc)
}

/// `/api/v1/problems`: the slice of the open problems the filter keeps.
pub fn problems<'a>(
    s: &'a FleetSnapshot,
    filter: &Filter,
    slice: Slice,
    now_ms: u64,
) -> ProblemsDoc<'a> {
    let kept: Vec<&Problem> = s
        .problems
        .iter()
        .filter(|p| filter.problem_matches(p, s))
        .collect();
    let (range, next_offset) = slice.range(kept.len());
    ProblemsDoc {
        taken: rfc3339(s.taken_ms),
        total: kept.len(),
        offset: range.start,
        limit: slice.limit,
        next_offset,
        unreachable_peers: unreachable(s),
        problems: kept[range]
            .iter()
            .map(|p| problem_in(s, p, now_ms))
            .collect(),
    }
}

/// `/api/v1/supervisor`.
pub fn supervisor(s: &FleetSnapshot, http: &HttpCounts) -> Value {
    let v = &s.supervisor;
    let c = &v.counters;
    let pairs = |list: &[(String, u64)]| -> serde_json::Map<String, Value> {
        list.iter().map(|(k, n)| (k.clone(), json!(n))).collect()
    };
    json!({
        "name": v.name,
        "version": v.version,
        "run_id": format!("{:016x}", v.run_id),
        "started": opt_time((v.started_ms > 0).then_some(v.started_ms)),
        "taken": rfc3339(s.taken_ms),
        "hosts_known": v.hosts_known,
        "hosts_alive": v.hosts_alive,
        "stream": {
            "path": v.stream_path,
            "bytes": v.stream_bytes,
            "writable": v.stream_writable,
        },
        "counters": {
            "datagrams_received": c.datagrams_received,
            "datagrams_by_kind": pairs(&c.accepted),
            "dropped_by_reason": pairs(&c.dropped),
            "events_written": c.events_written,
            "duplicates": c.duplicates,
            "system_events": c.system_events,
            "acks_sent": c.acks_sent,
            "resets_sent": c.resets_sent,
            "config_requests": c.config_requests,
            "chunks_sent": c.chunks_sent,
            "stream_write_failures": c.stream_write_failures,
            "send_failures": c.send_failures,
            "system_lines_dropped": c.system_lines_dropped,
        },
        "notify_channels": v.notify_channels,
        "http": {
            "requests": http.requests,
            "connections": http.connections,
            "refusals": http.refusals,
        },
    })
}

/// The body of every JSON error answer.
pub fn error(message: &str) -> Value {
    json!({ "error": message })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::HostStatus;

    fn view(name: &str, status: HostStatus) -> HostView {
        HostView {
            name: name.into(),
            status,
            since_ms: 1_764_637_200_000,
            last_heard_ms: Some(1_764_637_260_000),
            address: Some("10.0.0.5:40000".parse().unwrap()),
            has_file: true,
            config_version: Some(0xe3b0_c442_98fc_1c14),
            running_version: Some(0xe3b0_c442_98fc_1c14),
            config_errors: vec!["hosts/x:3: bad".into()],
            tags: std::sync::Arc::new(["disk".to_string()].into()),
            spool_backlog: Some(12),
            uptime_secs: Some(99),
            chosen_supervisor: None,
            protocol: None,
            metrics: vec![],
            metric_series_refused: 0,
            heard_by: Vec::new(),
        }
    }

    #[test]
    fn host_document_names_state_times_and_version() {
        let web1 = view("web1", HostStatus::Up);
        let doc = serde_json::to_value(host(&web1, 1_764_637_290_000)).unwrap();
        assert_eq!(doc["state"], "up");
        assert_eq!(doc["since"], "2025-12-02T01:00:00Z");
        assert_eq!(doc["seconds_since_heard"], 30);
        assert_eq!(doc["config_version"], "e3b0c44298fc1c14");
        assert_eq!(doc["config_current"], true);
        assert_eq!(doc["spool_backlog"], 12);
        assert_eq!(doc["config_errors"][0], "hosts/x:3: bad");
    }

    #[test]
    fn hosts_document_filters_but_counts_everything() {
        let mut s = FleetSnapshot::empty("sup");
        s.hosts = vec![
            view("db1", HostStatus::Inactive),
            view("web1", HostStatus::Up),
        ];
        let filter = Filter {
            state: Some(HostStatus::Up),
            ..Filter::default()
        };
        let doc = serde_json::to_value(hosts(&s, &filter, Slice::default(), 0)).unwrap();
        assert_eq!(doc["counts"]["up"], 1);
        assert_eq!(doc["counts"]["inactive"], 1);
        assert_eq!(doc["hosts"].as_array().unwrap().len(), 1);
        assert_eq!(doc["hosts"][0]["name"], "web1");
        assert_eq!(doc["total"], 1);
        assert_eq!(doc["next_offset"], serde_json::Value::Null);
        assert!(host_detail(&s, "db1", 0).is_some());
        assert!(host_detail(&s, "db2", 0).is_none());
    }

    #[test]
    fn hosts_document_pages_with_limit_and_offset() {
        let mut s = FleetSnapshot::empty("sup");
        s.hosts = (0..5)
            .map(|i| view(&format!("h{i}"), HostStatus::Up))
            .collect();
        let slice = Slice {
            offset: 2,
            limit: Some(2),
        };
        let doc = serde_json::to_value(hosts(&s, &Filter::default(), slice, 0)).unwrap();
        let names: Vec<&str> = doc["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["h2", "h3"]);
        assert_eq!(doc["total"], 5);
        assert_eq!(doc["counts"]["up"], 5);
        assert_eq!(doc["offset"], 2);
        assert_eq!(doc["limit"], 2);
        assert_eq!(doc["next_offset"], 4);
    }
}
