//! The JSON API under `/api/v1/` (docs/API.md): the snapshot turned into
//! documents with names, RFC 3339 times and ages in seconds. Pure: snapshot
//! and `now` in, `serde_json::Value` out.

use serde_json::{Value, json};

use super::refusal::HttpCounts;
use super::view::{Filter, rfc3339, secs_between, version};
use crate::fleet::{FleetSnapshot, HostView, Problem};

fn opt_time(ms: Option<u64>) -> Value {
    ms.map_or(Value::Null, |ms| Value::String(rfc3339(ms)))
}

pub fn host(h: &HostView, now_ms: u64) -> Value {
    json!({
        "name": h.name,
        "state": h.status.name(),
        "since": rfc3339(h.since_ms),
        "last_heard": opt_time(h.last_heard_ms),
        "seconds_since_heard": h.last_heard_ms.map(|t| secs_between(t, now_ms)),
        "address": h.address,
        "has_config_file": h.has_file,
        "config_version": h.config_version.map(version),
        "running_version": h.running_version.map(version),
        "config_current": h.config_version.is_some() && h.config_version == h.running_version,
        "config_errors": h.config_errors,
        "tags": h.tags,
        "spool_backlog": h.spool_backlog,
        "uptime_seconds": h.uptime_secs,
        "supervisor": h.chosen_supervisor,
        "metrics": h.metrics.iter().map(|m| json!({
            "tags": m.tags,
            "value": m.value,
            "at": rfc3339(m.at_ms),
        })).collect::<Vec<_>>(),
    })
}

pub fn problem(p: &Problem, now_ms: u64) -> Value {
    json!({
        "id": p.id,
        "host": p.host,
        "check": p.check,
        "tags": p.tags,
        "message": p.message,
        "since": rfc3339(p.opened_ms),
        "seconds_open": secs_between(p.opened_ms, now_ms),
        "last_value": p.last_value,
        "acknowledged": p.acknowledged.as_ref().map(|a| json!({
            "by": a.by,
            "at": rfc3339(a.at_ms),
            "note": a.note,
        })),
    })
}

/// `/api/v1/hosts`: counts by state (of the whole fleet) and the hosts the
/// filter keeps.
pub fn hosts(s: &FleetSnapshot, filter: &Filter, now_ms: u64) -> Value {
    let counts: serde_json::Map<String, Value> = s
        .counts()
        .into_iter()
        .map(|(status, n)| (status.name().to_string(), json!(n)))
        .collect();
    let hosts: Vec<Value> = s
        .hosts
        .iter()
        .filter(|h| filter.host_matches(h, s))
        .map(|h| host(h, now_ms))
        .collect();
    json!({
        "taken": rfc3339(s.taken_ms),
        "supervisor": s.supervisor.name,
        "counts": counts,
        "open_problems": s.problems.len(),
        "hosts": hosts,
    })
}

/// `/api/v1/hosts/NAME`, or `None` when the supervisor does not know it.
pub fn host_detail(s: &FleetSnapshot, name: &str, now_ms: u64) -> Option<Value> {
    let h = s.host(name)?;
    let mut doc = host(h, now_ms);
    let problems: Vec<Value> = s
        .problems
        .iter()
        .filter(|p| p.host == h.name)
        .map(|p| problem(p, now_ms))
        .collect();
    doc["problems"] = Value::Array(problems);
    Some(doc)
}

/// `/api/v1/problems`.
pub fn problems(s: &FleetSnapshot, filter: &Filter, now_ms: u64) -> Value {
    let problems: Vec<Value> = s
        .problems
        .iter()
        .filter(|p| filter.problem_matches(p, s))
        .map(|p| problem(p, now_ms))
        .collect();
    json!({ "taken": rfc3339(s.taken_ms), "problems": problems })
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
            address: Some("10.0.0.5:40000".into()),
            has_file: true,
            config_version: Some(0xe3b0_c442_98fc_1c14),
            running_version: Some(0xe3b0_c442_98fc_1c14),
            config_errors: vec!["hosts/x:3: bad".into()],
            tags: vec!["disk".into()],
            spool_backlog: Some(12),
            uptime_secs: Some(99),
            chosen_supervisor: None,
            metrics: vec![],
            metric_series_refused: 0,
        }
    }

    #[test]
    fn host_document_names_state_times_and_version() {
        let doc = host(&view("web1", HostStatus::Up), 1_764_637_290_000);
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
        let doc = hosts(&s, &filter, 0);
        assert_eq!(doc["counts"]["up"], 1);
        assert_eq!(doc["counts"]["inactive"], 1);
        assert_eq!(doc["hosts"].as_array().unwrap().len(), 1);
        assert_eq!(doc["hosts"][0]["name"], "web1");
        assert!(host_detail(&s, "db1", 0).is_some());
        assert!(host_detail(&s, "db2", 0).is_none());
    }
}
