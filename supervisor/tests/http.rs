//! The supervisor's window over real HTTP on loopback: pages, the JSON
//! API, `/metrics`, authentication and the cross-site guard, configuration
//! errors, `supervisor status`, and shutdown with a half-sent request.

mod common;

use common::web::hash_line;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Fixture, PATIENCE, TestObserver};
use wire::{Codec, Message};

const WEB1: &str = "file: /var/log/syslog\nmatch: error\nalert_all: tags=web,nginx\n";

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// One request over HTTP/1.0 (never chunked); `extra` are header lines.
fn request(addr: SocketAddr, method: &str, path: &str, extra: &[String]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut text = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for line in extra {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    s.write_all(text.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, &[])
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Authorization: Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn json(a: &Answer) -> serde_json::Value {
    assert_eq!(a.status, 200, "{}\n{}", a.head, a.body);
    serde_json::from_str(&a.body).unwrap()
}

/// Polls `path` until `ready` accepts its JSON (snapshots are published
/// about once a second).
fn wait_json(
    addr: SocketAddr,
    path: &str,
    extra: &[String],
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let doc = json(&request(addr, "GET", path, extra));
        if ready(&doc) {
            return doc;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never became ready: {doc}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_with_http(extra: &str) -> (Fixture, SocketAddr) {
    let port = free_tcp_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut fx = Fixture::new(&format!("http: {addr}\n{extra}"));
    fx.write("hosts/web1", WEB1);
    fx.write("hosts/db1", "include: missing-one\n");
    fx.start_listening(Codec::open());
    (fx, addr)
}

fn metric_event(fx: &Fixture, host: &str, tags: &str, value: f64) {
    let obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    obs.send(&Message::Events {
        host: host.into(),
        floor: 0,
        events: vec![wire::Event {
            id: 1,
            time_ms: common::wall_ms() as i64,
            tags: tags.into(),
            source: None,
            kind: wire::EventKind::Metric,
            message: value.to_string(),
            value: Some(value),
        }],
    });
}

fn heartbeat(fx: &Fixture, host: &str, queue_len: u64) {
    let obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    obs.send(&Message::Heartbeat {
        host: host.into(),
        version: None,
        queue_len,
        uptime_secs: 5,
    });
}

#[test]
fn pages_api_and_metrics_answer_on_loopback() {
    let (fx, addr) = start_with_http("");
    heartbeat(&fx, "web1", 7);
    metric_event(&fx, "web1", "disk,metric", 91.5);
    let hosts = wait_json(addr, "/api/v1/hosts", &[], |d| {
        d["hosts"].as_array().unwrap().iter().any(|h| {
            h["name"] == "web1" && h["state"] == "up" && h["metrics"].as_array().unwrap().len() == 1
        })
    });
    let web1 = &hosts["hosts"][1];
    assert_eq!(web1["name"], "web1");
    assert_eq!(web1["spool_backlog"], 7);
    assert_eq!(web1["tags"], serde_json::json!(["nginx", "web"]));
    let db1 = &hosts["hosts"][0];
    assert_eq!(db1["state"], "never seen");
    assert!(
        db1["config_errors"][0]
            .as_str()
            .unwrap()
            .contains("missing-one"),
        "{db1}"
    );
    assert_eq!(hosts["counts"]["up"], 1);

    let page = get(addr, "/");
    assert_eq!(page.status, 200);
    assert!(page.head.contains("text/html"), "{}", page.head);
    assert!(page.body.contains("href=\"/hosts/web1\""));
    assert!(page.body.contains("No open problems."));
    let filtered = get(addr, "/?state=never-seen&host=&tag=");
    assert!(
        filtered.body.contains("Hosts (1 of 2)"),
        "{}",
        filtered.body
    );
    assert_eq!(get(addr, "/hosts/web1").status, 200);
    assert_eq!(get(addr, "/hosts/nobody").status, 404);
    assert_eq!(get(addr, "/?state=down").status, 400);
    let sup_page = get(addr, "/supervisor").body;
    assert!(
        sup_page.contains("stream/events.") && sup_page.contains("writable"),
        "{sup_page}"
    );
    let js = get(addr, "/static/live.js");
    assert!(js.head.contains("text/javascript") && js.body.contains("fetch(here.href"));

    let one = json(&get(addr, "/api/v1/hosts/web1"));
    assert_eq!(one["state"], "up");
    assert_eq!(one["problems"], serde_json::json!([]));
    assert_eq!(get(addr, "/api/v1/hosts/nobody").status, 404);
    assert_eq!(
        json(&get(addr, "/api/v1/problems"))["problems"],
        serde_json::json!([])
    );

    let metrics = get(addr, "/metrics");
    assert!(
        metrics.head.contains("text/plain; version=0.0.4"),
        "{}",
        metrics.head
    );
    assert!(
        metrics.body.contains("ax436_host_up{host=\"web1\"} 1\n"),
        "{}",
        metrics.body
    );
    assert!(metrics.body.contains("ax436_host_up{host=\"db1\"} 0\n"));
    assert!(
        metrics
            .body
            .contains("ax436_host_spool_backlog{host=\"web1\"} 7\n")
    );
    assert!(
        metrics
            .body
            .contains("ax436_datagrams_total{kind=\"heartbeat\"} 1\n"),
        "{}",
        metrics.body
    );

    let sup = wait_json(addr, "/api/v1/supervisor", &[], |d| {
        d["http"]["refusals"]["not-found"] == 2
    });
    assert_eq!(sup["http"]["refusals"]["bad-query"], 1);
    assert_eq!(sup["stream"]["writable"], true);
    assert_eq!(sup["counters"]["datagrams_by_kind"]["heartbeat"], 1);
}

#[test]
fn status_command_prints_hosts_from_the_running_supervisor() {
    let (fx, addr) = start_with_http("");
    heartbeat(&fx, "web1", 0);
    wait_json(addr, "/api/v1/hosts/web1", &[], |d| d["state"] == "up");
    let out = Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .arg("status")
        .arg(fx.path("ax436.conf"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Open problems: 0"), "{text}");
    let web1 = text
        .lines()
        .find(|l| l.trim_start().starts_with("web1"))
        .unwrap();
    assert!(web1.contains(" up "), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("db1") && l.contains("never seen")),
        "{text}"
    );
}

#[test]
fn viewer_reads_operator_acts_and_strangers_are_refused() {
    let users = format!(
        "# who may look\n{}{}",
        hash_line("vera", "viewer", "view-pw"),
        hash_line("otto", "operator", "op-pw")
    );
    let port = free_tcp_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut fx = Fixture::new(&format!("http: {addr}\nhttp_users: users\n"));
    fx.write("users", &users);
    fx.write("hosts/web1", WEB1);
    fx.start_listening(Codec::open());

    let anonymous = get(addr, "/");
    assert_eq!(anonymous.status, 401);
    assert!(
        anonymous
            .head
            .contains("www-authenticate: Basic realm=\"436\""),
        "{}",
        anonymous.head
    );
    assert_eq!(
        request(addr, "GET", "/", &[basic("vera", "wrong")]).status,
        401
    );
    assert_eq!(
        request(addr, "GET", "/", &[basic("nobody", "view-pw")]).status,
        401
    );
    assert_eq!(
        request(addr, "GET", "/", &["Authorization: Basic %%%".into()]).status,
        401
    );
    assert_eq!(
        request(addr, "GET", "/", &[basic("vera", "view-pw")]).status,
        200
    );
    assert_eq!(
        request(addr, "GET", "/metrics", &[basic("vera", "view-pw")]).status,
        200
    );

    let ack = "/api/v1/problems/web1%2Fdisk/ack";
    assert_eq!(
        request(addr, "POST", ack, &[basic("vera", "view-pw")]).status,
        403
    );
    // The operator passes the guard; no such problem is open.
    let by_operator = request(addr, "POST", ack, &[basic("otto", "op-pw")]);
    assert_eq!(by_operator.status, 404, "{}", by_operator.body);
    let from_elsewhere = request(
        addr,
        "POST",
        ack,
        &[basic("otto", "op-pw"), "Origin: http://evil.example".into()],
    );
    assert_eq!(from_elsewhere.status, 403);
    let fetch_cross_site = request(
        addr,
        "POST",
        ack,
        &[basic("otto", "op-pw"), "Sec-Fetch-Site: cross-site".into()],
    );
    assert_eq!(fetch_cross_site.status, 403);
    let same_origin = request(
        addr,
        "POST",
        ack,
        &[
            basic("otto", "op-pw"),
            format!("Origin: http://{addr}"),
            "Sec-Fetch-Site: same-origin".into(),
        ],
    );
    assert_eq!(same_origin.status, 404);

    let metrics = request(addr, "GET", "/metrics", &[basic("vera", "view-pw")]).body;
    for (reason, n) in [
        ("unauthenticated", 1),
        ("bad-credentials", 2),
        ("malformed-credentials", 1),
        ("forbidden-role", 1),
        ("cross-site", 2),
    ] {
        let line = format!("ax436_http_refusals_total{{reason=\"{reason}\"}} {n}\n");
        assert!(metrics.contains(&line), "{line}{metrics}");
    }
}

#[test]
fn http_beyond_loopback_needs_a_users_file_that_exists() {
    let port = free_tcp_port();
    let mut fx = Fixture::new(&format!("http: 0.0.0.0:{port}\n"));
    let out = Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .arg(fx.path("ax436.conf"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ax436.conf:9: `http: 0.0.0.0:"), "{err}");
    assert!(err.contains("http_users: FILE"), "{err}");

    // Named but missing: the supervisor does not start either.
    fx = Fixture::new(&format!("http: 0.0.0.0:{port}\nhttp_users: no-such-file\n"));
    let out = Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .arg(fx.path("ax436.conf"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-file: cannot read the users file"),
        "{err}"
    );
}

#[test]
fn bad_users_file_line_is_reported_with_file_and_line() {
    let port = free_tcp_port();
    let fx = Fixture::new(&format!("http: 127.0.0.1:{port}\nhttp_users: users\n"));
    fx.write("users", "# ok\nana admin $argon2id$x\n");
    let out = Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .arg(fx.path("ax436.conf"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("users:2: role must be `viewer` or `operator`"),
        "{err}"
    );
}

#[test]
fn half_sent_request_does_not_hold_shutdown_and_is_counted_as_malformed() {
    let (mut fx, addr) = start_with_http("");
    let mut garbage = TcpStream::connect(addr).unwrap();
    garbage.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
    let mut sink = Vec::new();
    garbage.set_read_timeout(Some(PATIENCE)).unwrap();
    let _ = garbage.read_to_end(&mut sink);
    let sup = wait_json(addr, "/api/v1/supervisor", &[], |d| {
        d["http"]["refusals"]["malformed-request"] == 1
    });
    assert_eq!(sup["http"]["refusals"]["malformed-request"], 1);

    let mut partial = TcpStream::connect(addr).unwrap();
    partial.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // terminate() fails the test if the supervisor is not gone in time.
    let status = fx.terminate();
    assert!(status.success(), "{status:?}");
    drop(partial);
}

#[test]
fn metrics_pass_promtool() {
    let Ok(version) = Command::new("promtool").arg("--version").output() else {
        common::missing_tool("promtool is not installed (Debian package `prometheus`)");
        return;
    };
    assert!(version.status.success());
    let (fx, addr) = start_with_http("");
    heartbeat(&fx, "web1", 3);
    metric_event(&fx, "web1", "load,metric", 0.25);
    wait_json(addr, "/api/v1/hosts/web1", &[], |d| {
        d["state"] == "up" && d["metrics"].as_array().unwrap().len() == 1
    });
    get(addr, "/nothing-here");
    let metrics = get(addr, "/metrics").body;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One request over HTTPS, trusting `cert_pem` as the root.
fn https_get(addr: SocketAddr, cert_pem: &str, path: &str) -> Answer {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    tls.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .unwrap();
    let mut raw = Vec::new();
    // The server may close without close_notify after an HTTP/1.0 answer.
    if let Err(e) = tls.read_to_end(&mut raw) {
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
    }
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    Answer {
        status: head.split(' ').nth(1).unwrap().parse().unwrap(),
        head: head.to_string(),
        body: body.to_string(),
    }
}

#[test]
fn tls_serves_https_and_counts_failed_handshakes() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_pem = cert.cert.pem();
    let port = free_tcp_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut fx = Fixture::new(&format!("http: {addr}\nhttp_tls: cert.pem key.pem\n"));
    fx.write("cert.pem", &cert_pem);
    fx.write("key.pem", &cert.signing_key.serialize_pem());
    fx.write("hosts/web1", WEB1);
    fx.start_listening(Codec::open());

    let page = https_get(addr, &cert_pem, "/hosts/web1");
    assert_eq!(page.status, 200, "{}", page.head);
    assert!(page.body.contains("never seen"));

    // Plain HTTP to the TLS port is a failed handshake.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    plain.set_read_timeout(Some(PATIENCE)).unwrap();
    let _ = plain.read_to_end(&mut Vec::new());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let doc: serde_json::Value =
            serde_json::from_str(&https_get(addr, &cert_pem, "/api/v1/supervisor").body).unwrap();
        if doc["http"]["refusals"]["tls-handshake"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{doc}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn unreadable_tls_key_stops_the_start_naming_the_file() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let port = free_tcp_port();
    let fx = Fixture::new(&format!(
        "http: 127.0.0.1:{port}\nhttp_tls: cert.pem key.pem\n"
    ));
    fx.write("cert.pem", &cert.cert.pem());
    fx.write("key.pem", "not a key\n");
    let out = Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .arg(fx.path("ax436.conf"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read the TLS key") && err.contains("key.pem"),
        "{err}"
    );
}

#[test]
fn stuck_http_clients_do_not_delay_acknowledgements() {
    let (fx, addr) = start_with_http("");
    // Clients that never finish their headers, and one that asks for the
    // fleet page and never reads the answer.
    let mut stuck: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect();
    let mut reader = TcpStream::connect(addr).unwrap();
    reader
        .write_all(format!("GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    stuck.push(reader);

    let mut obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    obs.send(&Message::Events {
        host: "web1".into(),
        floor: 0,
        events: vec![wire::Event {
            id: 77,
            time_ms: common::wall_ms() as i64,
            tags: "web".into(),
            source: None,
            kind: wire::EventKind::Alert,
            message: "still acknowledged".into(),
            value: None,
        }],
    });
    let ack = obs.wait_for("acknowledgement", |m| matches!(m, Message::Ack { .. }));
    assert_eq!(
        ack,
        Message::Ack {
            host: "web1".into(),
            ids: vec![77]
        }
    );
    assert!(fx.stream_text().contains("still acknowledged"));
    drop(stuck);
}
