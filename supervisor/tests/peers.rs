//! Two real supervisors on loopback: B (`peers: A`) merges A's view into
//! its API and fleet page, and says so clearly when A cannot be reached.

mod common;

use common::web::hash_line;

use std::net::SocketAddr;

use common::web::{free_tcp_port, get, json, wait_json};
use common::{Fixture, TestObserver};
use wire::{Codec, Event, EventKind, Message, OpenProblem};

fn start(extra: &str, host_file: &str) -> (Fixture, SocketAddr) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let mut fx = Fixture::new(&format!("http: {addr}\n{extra}"));
    fx.write(
        &format!("hosts/{host_file}"),
        "file: /var/log/syslog\nmatch: error\nalert_all: tags=web\n",
    );
    fx.start_listening(Codec::open());
    (fx, addr)
}

/// `host` says it is alive, with `problems` open, to `fx` only.
fn heartbeat(fx: &Fixture, host: &str, problems: Vec<OpenProblem>) {
    let obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    obs.send(&Message::HeartbeatV2 {
        host: host.into(),
        version: None,
        queue_len: 0,
        uptime_secs: 5,
        chosen: None,
        problems,
        omitted: 0,
    });
}

/// `host` sends `events` to `fx` and waits for their acknowledgement.
fn send_events(fx: &Fixture, host: &str, events: Vec<Event>) {
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

fn alert(id: u64, message: &str) -> Event {
    Event {
        id,
        time_ms: common::wall_ms() as i64,
        tags: "app,error".into(),
        source: Some("/var/log/app.log".into()),
        kind: EventKind::Alert,
        message: message.into(),
        value: None,
    }
}

fn host<'a>(doc: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    doc["hosts"].as_array()?.iter().find(|h| h["name"] == name)
}

#[test]
fn a_peer_s_hosts_and_problems_are_merged_and_its_absence_is_shown() {
    let (mut a, a_addr) = start("", "web1");
    let a_url = format!("http://{a_addr}");
    let (b, b_addr) = start(&format!("peers: {a_url}\n"), "db1");

    // Heard by A only: B has no file for web1 and never hears it.
    heartbeat(
        &a,
        "web1",
        vec![OpenProblem {
            check: "disk".into(),
            since_ms: common::wall_ms() as i64 - 60_000,
            tags: "disk".into(),
            message: "disk nearly full".into(),
            value: None,
        }],
    );
    let hosts = wait_json(b_addr, "/api/v1/hosts", &[], |d| {
        host(d, "web1").is_some_and(|h| h["state"] == "up")
    });
    let web1 = host(&hosts, "web1").unwrap();
    assert_eq!(web1["heard_by"], serde_json::json!([a_url]), "{hosts}");
    assert!(hosts.get("unreachable_peers").is_none(), "{hosts}");

    let problems = wait_json(b_addr, "/api/v1/problems", &[], |d| {
        d["problems"].as_array().is_some_and(|p| !p.is_empty())
    });
    let p = &problems["problems"][0];
    assert_eq!((&p["host"], &p["check"]), (&"web1".into(), &"disk".into()));
    assert_eq!(p["from"], a_url.as_str(), "{problems}");

    // A asked for its own view gives only its own, never B's merged one.
    let a_local = json(&get(a_addr, "/api/v1/hosts?local=true"));
    assert!(host(&a_local, "db1").is_none(), "{a_local}");

    let page = get(b_addr, "/").body;
    assert!(page.contains("href=\"/hosts/web1\""), "{page}");
    assert!(page.contains("disk nearly full"), "{page}");
    assert!(
        page.contains(&format!("<td class=\"from\">{a_url}</td>")),
        "{page}"
    );
    assert!(!page.contains("cannot be reached"), "{page}");

    let peers = json(&get(b_addr, "/api/v1/peers"));
    assert_eq!(peers["peers"][0]["url"], a_url.as_str());
    assert_eq!(peers["peers"][0]["state"], "reachable", "{peers}");

    // A stops: B says so, and its own view goes on.
    a.terminate();
    let peers = wait_json(b_addr, "/api/v1/peers", &[], |d| {
        d["peers"][0]["state"] == "unreachable"
    });
    assert!(peers["peers"][0]["error"].is_string(), "{peers}");
    assert!(
        peers["peers"][0]["unreachable_since"].is_string(),
        "{peers}"
    );
    heartbeat(&b, "db1", Vec::new());
    let hosts = wait_json(b_addr, "/api/v1/hosts", &[], |d| {
        host(d, "db1").is_some_and(|h| h["state"] == "up")
    });
    assert_eq!(
        hosts["unreachable_peers"],
        serde_json::json!([a_url]),
        "{hosts}"
    );
    assert!(
        host(&hosts, "web1").is_none(),
        "an unreachable peer's hosts are not merged: {hosts}"
    );
    let problems = json(&get(b_addr, "/api/v1/problems"));
    assert_eq!(problems["problems"], serde_json::json!([]), "{problems}");
    let page = get(b_addr, "/").body;
    assert!(
        page.contains(&format!("Peer <code>{a_url}</code> cannot be reached")),
        "{page}"
    );
    let sup = get(b_addr, "/supervisor").body;
    assert!(
        sup.contains("<h2>Peers</h2>") && sup.contains("UNREACHABLE"),
        "{sup}"
    );
}

#[test]
fn peers_without_http_is_refused_by_check() {
    // `http: off` given explicitly: the fixture looks for `http:` in the URL.
    let fx = Fixture::new("http: off\npeers: http://127.0.0.1:1\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .arg("--check")
        .arg(fx.path("ax436.conf"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("`peers:` merges other supervisors"), "{text}");
}

#[test]
fn a_peer_with_users_is_asked_with_peer_user_and_a_wrong_password_is_shown() {
    // A requires users; B signs in as a viewer with the password from a file.
    let addr: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let mut a = Fixture::new(&format!("http: {addr}\nhttp_users: users\n"));
    a.write("users", &hash_line("peers", "viewer", "peer-pw"));
    a.write(
        "hosts/web1",
        "file: /var/log/syslog\nmatch: error\nalert_all: tags=web\n",
    );
    a.start_listening(Codec::open());
    let a_url = format!("http://{addr}");
    let b_extra = format!("peers: {a_url}\npeer_user: peers\npeer_password_file: peer.pw\n");
    let b_addr: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let mut b = Fixture::new(&format!("http: {b_addr}\n{b_extra}"));
    b.write("peer.pw", "peer-pw\n");
    b.start_listening(Codec::open());
    heartbeat(&a, "web1", Vec::new());
    wait_json(b_addr, "/api/v1/hosts", &[], |d| {
        host(d, "web1").is_some_and(|h| h["state"] == "up")
    });
    b.terminate();

    // The same with a wrong password: unreachable, and the page says why.
    b.write("peer.pw", "wrong\n");
    b.start_listening(Codec::open());
    let peers = wait_json(b_addr, "/api/v1/peers", &[], |d| {
        d["peers"][0]["state"] == "unreachable"
    });
    let error = peers["peers"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("HTTP 401") && error.contains("peer_user"),
        "{peers}"
    );
    assert!(
        !error.contains("wrong"),
        "the password is never shown: {peers}"
    );
}

/// Events received by A and by B come back from B's `/api/v1/events` and
/// `/events` as one list, newest first, each marked with where it came
/// from; B's merged cursor pages through all of them exactly once; an event
/// an observer re-sent to both (a failover) is listed once on a page; A
/// down, B says its events are missing and still ends its paging.
#[test]
fn a_peer_s_events_are_merged_and_paged_by_one_cursor() {
    let (mut a, a_addr) = start("", "web1");
    let a_url = format!("http://{a_addr}");
    let (b, b_addr) = start(&format!("peers: {a_url}\n"), "db1");
    let b_name = json(&get(b_addr, "/api/v1/peers"))["supervisor"]
        .as_str()
        .unwrap()
        .to_string();

    for i in 1..=3 {
        send_events(&a, "web1", vec![alert(i, &format!("web1 says {i}"))]);
        send_events(&b, "db1", vec![alert(i, &format!("db1 says {i}"))]);
    }
    let all = wait_json(b_addr, "/api/v1/events?limit=200", &[], |d| {
        d["events"].as_array().is_some_and(|e| e.len() == 6)
    });
    let seen = |doc: &serde_json::Value| -> Vec<(String, String)> {
        doc["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["from"].as_str().unwrap_or("?").to_string(),
                    e["message"].as_str().unwrap_or("?").to_string(),
                )
            })
            .collect()
    };
    let everything = seen(&all);
    for i in 1..=3 {
        assert!(
            everything.contains(&(a_url.clone(), format!("web1 says {i}"))),
            "{all}"
        );
        assert!(
            everything.contains(&(b_name.clone(), format!("db1 says {i}"))),
            "{all}"
        );
    }
    let received: Vec<i64> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["received_ms"].as_i64().unwrap())
        .collect();
    assert!(
        received.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {all}"
    );
    assert_eq!(all["next"], serde_json::Value::Null, "{all}");

    // Two at a time, following `next` to the end: the same six, once each.
    let mut paged = Vec::new();
    let mut path = "/api/v1/events?limit=2".to_string();
    for _ in 0..10 {
        let page = json(&get(b_addr, &path));
        paged.extend(seen(&page));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/events?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(paged, everything, "paged by the merged cursor");

    // web1 fails over to B and sends its event 2 again: listed once, B's
    // copy (received last) first.
    send_events(&b, "web1", vec![alert(2, "web1 says 2")]);
    let all = wait_json(b_addr, "/api/v1/events?limit=200", &[], |d| {
        d["events"][0]["from"] == b_name.as_str() && d["events"][0]["host"] == "web1"
    });
    let twos: Vec<_> = seen(&all)
        .into_iter()
        .filter(|(_, m)| m == "web1 says 2")
        .collect();
    assert_eq!(twos, [(b_name.clone(), "web1 says 2".to_string())], "{all}");
    assert_eq!(seen(&all).len(), 6, "{all}");

    // B's own events only (how a peer asks): the re-sent copy is there.
    let own = json(&get(b_addr, "/api/v1/events?local=true&limit=200"));
    assert_eq!(own["events"].as_array().unwrap().len(), 4, "{own}");
    assert!(own["events"][0].get("from").is_none(), "{own}");
    assert!(own["next"].is_null() || own["next"].is_i64(), "{own}");

    // A filter reaches the peer too.
    let web1 = json(&get(b_addr, "/api/v1/events?host=web1&q=says%202"));
    assert_eq!(seen(&web1).len(), 1, "{web1}");

    let page = get(b_addr, "/events").body;
    assert!(page.contains("<th>From</th>"), "{page}");
    assert!(
        page.contains(&format!("<td class=\"from\">{a_url}</td>")),
        "{page}"
    );
    assert!(
        page.contains("web1 says 3") && page.contains("db1 says 3"),
        "{page}"
    );

    // A wrong cursor is refused, not taken for a number.
    let bad = get(b_addr, "/api/v1/events?after=12");
    assert_eq!(bad.status, 400, "{}", bad.body);

    // A stops: B's own events, A named as missing, and no next page.
    a.terminate();
    wait_json(b_addr, "/api/v1/peers", &[], |d| {
        d["peers"][0]["state"] == "unreachable"
    });
    let without = json(&get(b_addr, "/api/v1/events?limit=200"));
    assert_eq!(
        without["unreachable_peers"],
        serde_json::json!([a_url]),
        "{without}"
    );
    assert_eq!(seen(&without).len(), 4, "{without}");
    assert_eq!(without["next"], serde_json::Value::Null, "{without}");
    let page = get(b_addr, "/events").body;
    assert!(
        page.contains(&format!("Peer <code>{a_url}</code> did not answer")),
        "{page}"
    );
}
