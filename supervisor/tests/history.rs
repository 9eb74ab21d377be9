//! The history over real HTTP: events sent over UDP to a running
//! supervisor binary come back from `/api/v1/events` (filters, cursor
//! paging), the host page draws its charts, `/supervisor` shows the
//! database, and `backup-history` / `rebuild-history` work on it.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::web::{free_tcp_port, get, json, wait_json};
use common::{Fixture, TestObserver};
use wire::{Codec, Event, EventKind, Message};

const WEB1: &str = "file: /var/log/syslog\nmatch: error\nalert_all: tags=web,nginx\n";

fn start(extra: &str) -> (Fixture, SocketAddr) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let mut fx = Fixture::new(&format!("http: {addr}\n{extra}"));
    fx.write("hosts/web1", WEB1);
    fx.start_listening(Codec::open());
    (fx, addr)
}

fn send(fx: &Fixture, host: &str, events: Vec<Event>) {
    let mut obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    obs.send(&Message::Events {
        host: host.into(),
        floor: 0,
        events,
    });
    obs.wait_for(
        "acknowledgement",
        |m| matches!(m, Message::Ack { ids: acked, .. } if ids.iter().all(|i| acked.contains(i))),
    );
}

fn alert(id: u64, tags: &str, message: &str) -> Event {
    Event {
        id,
        time_ms: common::wall_ms() as i64,
        tags: tags.into(),
        source: Some("/var/log/syslog".into()),
        kind: EventKind::Alert,
        message: message.into(),
        value: None,
    }
}

fn metric(id: u64, value: f64) -> Event {
    Event {
        id,
        time_ms: common::wall_ms() as i64 - (10 - id as i64) * 60_000,
        tags: "disk,metric".into(),
        source: None,
        kind: EventKind::Metric,
        message: value.to_string(),
        value: Some(value),
    }
}

#[test]
fn events_are_searchable_and_paged_by_cursor_over_http() {
    for format in ["436", "json"] {
        let (fx, addr) = start(&format!("stream_format: {format}\n"));
        let alerts: Vec<Event> = (1..=7)
            .map(|i| {
                let tags = if i % 2 == 0 { "web,error" } else { "db,error" };
                alert(i, tags, &format!("ERROR number {i}"))
            })
            .collect();
        send(&fx, "web1", alerts);
        send(
            &fx,
            "web1",
            (1..=3).map(|i| metric(100 + i, i as f64)).collect(),
        );
        let all = wait_json(addr, "/api/v1/events?limit=200", &[], |d| {
            d["events"].as_array().unwrap().len() == 10
        });
        assert_eq!(all["next"], serde_json::Value::Null);

        let page1 = json(&get(addr, "/api/v1/events?host=web1&kind=alert&limit=3"));
        let events = page1["events"].as_array().unwrap();
        assert_eq!(events.len(), 3, "{page1}");
        assert_eq!(events[0]["message"], "ERROR number 7", "newest first");
        assert_eq!(events[0]["host"], "web1");
        let next = page1["next"].as_i64().unwrap();
        let page2 = json(&get(
            addr,
            &format!("/api/v1/events?host=web1&kind=alert&limit=3&after={next}"),
        ));
        assert_eq!(
            page2["events"][0]["message"], "ERROR number 4",
            "{format}: {page2}"
        );

        let web = json(&get(addr, "/api/v1/events?tags=web,error"));
        assert_eq!(web["events"].as_array().unwrap().len(), 3, "{web}");
        let text = json(&get(addr, "/api/v1/events?q=number%205"));
        assert_eq!(text["events"][0]["id"], 5, "{text}");
        let metrics = json(&get(addr, "/api/v1/events?kind=metric"));
        assert_eq!(metrics["events"][0]["value"], 3.0, "{format}: {metrics}");
        let future = json(&get(addr, "/api/v1/events?from=4000000000"));
        assert_eq!(future["events"], serde_json::json!([]));
        assert_eq!(get(addr, "/api/v1/events?kind=weird").status, 400);
        assert_eq!(get(addr, "/api/v1/events?after=x").status, 400);

        let page = get(addr, "/events?host=web1&kind=alert&limit=3");
        assert_eq!(page.status, 200);
        assert!(page.body.contains("ERROR number 7"), "{}", page.body);
        assert!(page.body.contains("Older events"), "{}", page.body);
        assert_eq!(get(addr, "/events?to=yesterday").status, 400);

        let host = get(addr, "/hosts/web1").body;
        assert!(host.contains("Availability"), "{host}");
        assert!(host.contains("<h3>disk,metric</h3>"), "{host}");
        assert!(host.contains("<path class=\"line\" d=\"M"), "{host}");
        assert!(host.contains("ERROR number 7"), "recent events: {host}");

        let sup = get(addr, "/supervisor").body;
        assert!(
            sup.contains("History lag") && sup.contains("history.db"),
            "{sup}"
        );
        let doc = wait_json(addr, "/api/v1/supervisor", &[], |d| {
            d["history"]["lag_bytes"] == 0
        });
        assert!(doc["history"]["file_bytes"].as_u64().unwrap() > 0, "{doc}");
    }
}

#[test]
fn backup_while_running_and_rebuild_after_stop_keep_every_event() {
    let (mut fx, addr) = start("stream_format: json\n");
    send(
        &fx,
        "web1",
        (1..=5).map(|i| alert(i, "web", "ERROR x")).collect(),
    );
    wait_json(addr, "/api/v1/events", &[], |d| {
        d["events"].as_array().unwrap().len() == 5
    });
    let backup = fx.path("backup.db");
    let out = Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .arg("backup-history")
        .arg(fx.path("ax436.conf"))
        .arg(&backup)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count = |path: &std::path::Path| -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count(&backup), 5);
    assert!(fx.terminate().success());

    std::fs::remove_file(fx.path("stream/history.db")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .arg("rebuild-history")
        .arg(fx.path("ax436.conf"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("from 1 stream files: 5 lines"), "{text}");
    assert_eq!(count(&fx.path("stream/history.db")), 5);
}
