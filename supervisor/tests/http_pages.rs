//! The pages as an operator uses them, over real HTTP on loopback against
//! the supervisor binary: acknowledging a problem with the pages' own form
//! (no JavaScript), who may and may not, and a fleet too large for one page.

mod common;

use common::web::hash_line;

use std::net::SocketAddr;

use common::web::{
    Answer, basic_auth, free_tcp_port, get, header, json, post_form, request, wait_json,
};
use common::{Fixture, TestObserver};
use wire::{Codec, Message, OpenProblem};

const WEB1: &str = "file: /var/log/syslog\nmatch: error\nalert_all: tags=web\n";
const CHECK: &str = "cmd-0a1b2c3d";
const ACK_FORM: &str = "/problems/web1%2Fcmd-0a1b2c3d/ack";

/// `web1` reports one open problem (disk) in a protocol-2 heartbeat.
fn open_disk_problem(fx: &Fixture) {
    let obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    obs.send(&Message::HeartbeatV2 {
        host: "web1".into(),
        version: None,
        queue_len: 0,
        uptime_secs: 5,
        chosen: Some(7),
        problems: vec![OpenProblem {
            check: CHECK.into(),
            since_ms: common::wall_ms() as i64 - 60_000,
            tags: "disk,root".into(),
            message: "Root file system nearly full [91]".into(),
            value: Some(91.0),
        }],
        omitted: 0,
    });
}

fn start(extra: &str, users: Option<&str>) -> (Fixture, SocketAddr) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let mut fx = Fixture::new(&format!("http: {addr}\n{extra}"));
    if let Some(users) = users {
        fx.write("users", users);
    }
    fx.write("hosts/web1", WEB1);
    fx.start_listening(Codec::open());
    (fx, addr)
}

/// The headers a browser sends with a form posted from the page itself.
fn same_origin(addr: SocketAddr) -> Vec<String> {
    vec![
        format!("Origin: http://{addr}"),
        "Sec-Fetch-Site: same-origin".into(),
    ]
}

fn refusals(addr: SocketAddr, extra: &[String]) -> serde_json::Value {
    json(&request(addr, "GET", "/api/v1/supervisor", extra))["http"]["refusals"].clone()
}

fn has_ack_form(page: &Answer) -> bool {
    page.body.contains(&format!(
        "<form class=\"ack\" method=\"post\" action=\"{ACK_FORM}\">"
    ))
}

#[test]
fn the_page_form_acknowledges_and_sends_the_browser_back_to_the_page_it_was_on() {
    // No users file on loopback: everyone local is an operator (`local`).
    let (fx, addr) = start("", None);
    open_disk_problem(&fx);
    wait_json(addr, "/api/v1/problems", &[], |d| d["total"] == 1);

    let page = get(addr, "/?tag=disk");
    assert!(has_ack_form(&page), "{}", page.body);
    assert!(
        page.body
            .contains("<input type=\"hidden\" name=\"back\" value=\"/?tag=disk\">"),
        "{}",
        page.body
    );
    assert!(has_ack_form(&get(addr, "/hosts/web1")));

    // From another site: refused and counted, nothing recorded.
    let forged = post_form(
        addr,
        ACK_FORM,
        "note=pwned&back=%2F",
        &[
            "Origin: http://evil.example".into(),
            "Sec-Fetch-Site: cross-site".into(),
        ],
    );
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(refusals(addr, &[])["cross-site"], 1);
    let doc = json(&get(addr, "/api/v1/problems"));
    assert!(doc["problems"][0]["acknowledged"].is_null(), "{doc}");

    // From the page itself: recorded, and back to the page (303, GET).
    let answer = post_form(
        addr,
        ACK_FORM,
        "note=new+disk+%3Cordered%3E&back=%2F%3Ftag%3Ddisk",
        &same_origin(addr),
    );
    assert_eq!(answer.status, 303, "{}\n{}", answer.head, answer.body);
    assert_eq!(header(&answer, "location"), Some("/?tag=disk"));
    let fleet = get(addr, "/?tag=disk");
    assert!(
        fleet.body.contains("acknowledged by local"),
        "{}",
        fleet.body
    );
    assert!(fleet.body.contains("new disk &lt;ordered&gt;"));
    // Once acknowledged, no Acknowledge button: only the folded form that
    // changes the note, starting from it.
    assert!(
        !fleet.body.contains(">Acknowledge</button>"),
        "{}",
        fleet.body
    );
    assert!(
        fleet.body.contains(&format!(
            "<details class=\"ack-edit\"><summary>change note</summary><form class=\"ack\" method=\"post\" action=\"{ACK_FORM}\">"
        )),
        "{}",
        fleet.body
    );
    assert!(fleet.body.contains("value=\"new disk &lt;ordered&gt;\""));
    let host = get(addr, "/hosts/web1");
    assert!(host.body.contains("acknowledged by local"), "{}", host.body);
    let doc = json(&get(addr, "/api/v1/problems"));
    assert_eq!(doc["problems"][0]["acknowledged"]["by"], "local");
    assert_eq!(
        doc["problems"][0]["acknowledged"]["note"],
        "new disk <ordered>"
    );

    // `back` never leads to another site.
    let elsewhere = post_form(
        addr,
        ACK_FORM,
        "note=&back=%2F%2Fevil.example%2F",
        &same_origin(addr),
    );
    assert_eq!(elsewhere.status, 303);
    assert_eq!(header(&elsewhere, "location"), Some("/"));

    // A problem that is not open: a page saying so, with a way back.
    let gone = post_form(
        addr,
        "/problems/web1%2Fcmd-ffffffff/ack",
        "note=x&back=%2Fhosts%2Fweb1",
        &same_origin(addr),
    );
    assert_eq!(gone.status, 404);
    assert!(gone.body.contains("No such open problem"), "{}", gone.body);
    assert!(gone.body.contains("href=\"/hosts/web1\""), "{}", gone.body);

    // Malformed: not a form, a note over the limit. Refused and counted.
    let not_a_form = request(
        addr,
        "POST",
        ACK_FORM,
        &[
            "Content-Type: text/plain".into(),
            "Content-Length: 0".into(),
        ],
    );
    assert_eq!(not_a_form.status, 400, "{}", not_a_form.body);
    let long = format!("note={}", "x".repeat(1001));
    assert_eq!(
        post_form(addr, ACK_FORM, &long, &same_origin(addr)).status,
        400
    );
    let bad = post_form(addr, ACK_FORM, "note=a&note=b", &same_origin(addr));
    assert_eq!(bad.status, 400, "{}", bad.body);
    let counted = refusals(addr, &[]);
    assert_eq!(counted["bad-query"], 3, "{counted}");
    assert_eq!(counted["not-found"], 1, "{counted}");
    assert_eq!(counted["cross-site"], 1, "{counted}");
}

#[test]
fn a_viewer_sees_no_form_and_a_viewers_or_strangers_post_is_refused() {
    let users = format!(
        "{}{}",
        hash_line("vera", "viewer", "view-pw"),
        hash_line("otto", "operator", "op-pw")
    );
    let (fx, addr) = start("http_users: users\n", Some(&users));
    open_disk_problem(&fx);
    let viewer = basic_auth("vera", "view-pw");
    let operator = basic_auth("otto", "op-pw");
    wait_json(
        addr,
        "/api/v1/problems",
        std::slice::from_ref(&viewer),
        |d| d["total"] == 1,
    );

    let page = request(addr, "GET", "/", std::slice::from_ref(&viewer));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Root file system nearly full"));
    assert!(!has_ack_form(&page), "{}", page.body);
    let host = request(addr, "GET", "/hosts/web1", std::slice::from_ref(&viewer));
    assert!(!has_ack_form(&host), "{}", host.body);
    assert!(has_ack_form(&request(
        addr,
        "GET",
        "/",
        std::slice::from_ref(&operator)
    )));

    let mut as_viewer = same_origin(addr);
    as_viewer.push(viewer.clone());
    assert_eq!(
        post_form(addr, ACK_FORM, "note=mine", &as_viewer).status,
        403
    );
    assert_eq!(
        post_form(addr, ACK_FORM, "note=anyone", &same_origin(addr)).status,
        401
    );
    let counted = refusals(addr, std::slice::from_ref(&viewer));
    assert_eq!(counted["forbidden-role"], 1, "{counted}");
    assert_eq!(counted["unauthenticated"], 1, "{counted}");
    let doc = json(&request(
        addr,
        "GET",
        "/api/v1/problems",
        std::slice::from_ref(&viewer),
    ));
    assert!(doc["problems"][0]["acknowledged"].is_null(), "{doc}");

    let mut as_operator = same_origin(addr);
    as_operator.push(operator.clone());
    let done = post_form(addr, ACK_FORM, "note=on+it&back=%2F", &as_operator);
    assert_eq!(done.status, 303, "{}", done.body);
    let page = request(addr, "GET", "/", std::slice::from_ref(&viewer));
    assert!(page.body.contains("acknowledged by otto"), "{}", page.body);
    assert!(page.body.contains("on it"));
}

#[test]
fn a_fleet_larger_than_a_page_is_paged_on_the_fleet_page_and_in_the_api() {
    let addr: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let mut fx = Fixture::new(&format!("http: {addr}\n"));
    for i in 0..450 {
        fx.write(&format!("hosts/h{i:04}"), WEB1);
    }
    fx.start_listening(Codec::open());
    wait_json(addr, "/api/v1/hosts?limit=1", &[], |d| d["total"] == 450);

    let first = get(addr, "/");
    assert_eq!(first.status, 200);
    assert!(
        first
            .body
            .contains("never seen</a>: <strong class=\"never-seen\">450</strong>"),
        "counts cover the whole fleet: {}",
        first.body
    );
    assert!(first.body.contains("Hosts (450 of 450)"));
    assert!(first.body.contains("page 1 of 3 (1–200 of 450)"));
    assert!(first.body.contains("/hosts/h0199\"") && !first.body.contains("/hosts/h0200\""));
    assert!(first.body.contains("rel=\"next\" href=\"/?page=2\""));

    let third = get(addr, "/?state=never-seen&page=3");
    assert!(
        third.body.contains("page 3 of 3 (401–450 of 450)"),
        "{}",
        third.body
    );
    assert!(
        third
            .body
            .contains("rel=\"prev\" href=\"/?state=never%20seen&amp;page=2\""),
        "the filter is kept in the links: {}",
        third.body
    );
    assert!(third.body.contains("/hosts/h0449\""));
    assert_eq!(get(addr, "/?page=0").status, 400);
    assert_eq!(get(addr, "/?page=two").status, 400);

    let api = json(&get(addr, "/api/v1/hosts?limit=200&offset=400"));
    assert_eq!(api["hosts"].as_array().unwrap().len(), 50);
    assert_eq!(api["hosts"][0]["name"], "h0400");
    assert_eq!(api["total"], 450);
    assert_eq!(api["next_offset"], serde_json::Value::Null);
    assert_eq!(api["counts"]["never seen"], 450);
    let middle = json(&get(addr, "/api/v1/hosts?limit=200&offset=200"));
    assert_eq!(middle["next_offset"], 400);
    let all = json(&get(addr, "/api/v1/hosts"));
    assert_eq!(
        all["hosts"].as_array().unwrap().len(),
        450,
        "without limit: every host, as before"
    );
    assert_eq!(get(addr, "/api/v1/hosts?limit=0").status, 400);
    assert_eq!(get(addr, "/api/v1/problems?offset=-1").status, 400);
    let problems = json(&get(addr, "/api/v1/problems?limit=10"));
    assert_eq!(problems["total"], 0);
}
