//! The window against real outside programs: headless Chromium (Debian's
//! `chromium`) reads the pages of a running supervisor binary that heard
//! events over real UDP, and an operator acknowledges a problem in it with
//! the page's own form; a real Prometheus server scrapes `/metrics`.
//! Each test prints `SKIPPED: …` when its program is missing, and fails
//! instead when `AX436_REQUIRE_TOOLS=1` (as CI sets it).

mod common;

use common::web::hash_line;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::browser::Browser;
use common::web::{basic_auth, free_tcp_port, get, json, request, tool, wait_json};
use common::{Fixture, TestObserver};
use wire::{Codec, Event, EventKind, Message, OpenProblem};

/// Kills a child process this test started when the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Metric and alert events of `host` over UDP, until acknowledged.
fn send_events(fx: &Fixture, host: &str) {
    let mut obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    let now = common::wall_ms() as i64;
    let mut events: Vec<Event> = (0..30)
        .map(|i| Event {
            id: i + 1,
            time_ms: now - (30 - i as i64) * 60_000,
            tags: "load,metric".into(),
            source: None,
            kind: EventKind::Metric,
            message: format!("{}", (i % 7) as f64 / 2.0),
            value: Some((i % 7) as f64 / 2.0),
        })
        .collect();
    events.push(Event {
        id: 100,
        time_ms: now,
        tags: "web,error".into(),
        source: Some("/var/log/syslog".into()),
        kind: EventKind::Alert,
        message: "ERROR upstream timed out".into(),
        value: None,
    });
    obs.send(&Message::Heartbeat {
        host: host.into(),
        version: None,
        queue_len: 0,
        uptime_secs: 5,
    });
    obs.send(&Message::Events {
        host: host.into(),
        floor: 0,
        events,
    });
    obs.wait_for(
        "acknowledgement",
        |m| matches!(m, Message::Ack { ids, .. } if ids.contains(&100)),
    );
}

/// Runs headless Chromium on `url` with `extra` arguments; its standard
/// output (the DOM with `--dump-dom`). Bounded in time.
fn chromium(program: &Path, profile: &Path, url: &str, extra: &[String]) -> String {
    let mut child = Command::new(program)
        .args(common::browser::HEADLESS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish with {url} within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn headless_chromium_sees_the_fleet_and_the_host_chart_and_a_viewer_cannot_acknowledge() {
    let Some(program) = tool("chromium", "headless_chromium") else {
        return;
    };
    let users = format!(
        "{}{}",
        hash_line("vera", "viewer", "view-pw"),
        hash_line("otto", "operator", "op-pw")
    );
    let addr: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let mut fx = Fixture::new(&format!(
        "http: {addr}\nhttp_users: users\nstream_format: json\n"
    ));
    fx.write("users", &users);
    fx.write(
        "hosts/web1",
        "file: /var/log/syslog\nmatch: error\nalert_all: tags=web\n",
    );
    fx.start_listening(Codec::open());
    send_events(&fx, "web1");
    let viewer = basic_auth("vera", "view-pw");
    wait_json(
        addr,
        "/api/v1/events?kind=metric&limit=200",
        std::slice::from_ref(&viewer),
        |d| d["events"].as_array().unwrap().len() == 30,
    );

    let profile = tempfile::tempdir().unwrap();
    let base = format!("http://vera:view-pw@{addr}");
    let fleet = chromium(
        &program,
        profile.path(),
        &format!("{base}/"),
        &["--dump-dom".into()],
    );
    assert!(
        fleet.contains("href=\"/hosts/web1\""),
        "fleet page DOM:\n{fleet}"
    );
    assert!(fleet.contains("<td class=\"up\">up</td>"), "{fleet}");

    let host_url = format!("{base}/hosts/web1");
    let host = chromium(&program, profile.path(), &host_url, &["--dump-dom".into()]);
    assert!(
        host.contains("<h3>load,metric</h3>"),
        "host page DOM:\n{host}"
    );
    let svg = host.find("<svg").map(|i| &host[i..]).unwrap_or("");
    assert!(
        svg.contains("class=\"line\" d=\"M"),
        "the chart's line is drawn: {host}"
    );
    assert!(host.contains("ERROR upstream timed out"), "{host}");
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-host-page.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &program,
        profile.path(),
        &host_url,
        &[format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(&shot).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG"),
        "no screenshot at {}",
        shot.display()
    );
    println!("screenshot of the host page: {}", shot.display());

    // Acknowledging in the browser: the next test.
    let ack = "/api/v1/problems/web1%2Fdisk/ack";
    assert_eq!(request(addr, "POST", ack, &[viewer]).status, 403);
    let by_operator = request(addr, "POST", ack, &[basic_auth("otto", "op-pw")]);
    assert_ne!(by_operator.status, 403, "{}", by_operator.body);
}

/// `web1` reports two open problems in a protocol-2 heartbeat.
fn open_problems(fx: &Fixture, checks: &[(&str, &str)]) {
    let obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    let since = common::wall_ms() as i64 - 60_000;
    obs.send(&Message::HeartbeatV2 {
        host: "web1".into(),
        version: None,
        queue_len: 0,
        uptime_secs: 5,
        chosen: Some(7),
        problems: checks
            .iter()
            .map(|(check, message)| OpenProblem {
                check: (*check).into(),
                since_ms: since,
                tags: "disk".into(),
                message: (*message).into(),
                value: None,
            })
            .collect(),
        omitted: 0,
    });
}

/// A page of another site (another port of this machine) whose script
/// posts the supervisor's acknowledge form as soon as it loads: what a
/// malicious page would do to a logged-in operator's browser.
fn serve_forging_page(target: SocketAddr, action: &str) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let page = format!(
        "<!DOCTYPE html><html><body><form method=\"post\" action=\"http://{target}{action}\">\
         <input name=\"note\" value=\"forged\"><input name=\"back\" value=\"/\"></form>\
         <script>document.forms[0].submit()</script></body></html>"
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut head);
            let _ = write!(
                stream,
                "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{page}",
                page.len()
            );
        }
    });
    addr
}

#[test]
fn an_operator_acknowledges_with_the_page_form_in_headless_chromium_and_a_viewer_cannot() {
    let Some(program) = tool("chromium", "chromium_acknowledges") else {
        return;
    };
    let users = format!(
        "{}{}",
        hash_line("vera", "viewer", "view-pw"),
        hash_line("otto", "operator", "op-pw")
    );
    let addr: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let mut fx = Fixture::new(&format!("http: {addr}\nhttp_users: users\n"));
    fx.write("users", &users);
    fx.write(
        "hosts/web1",
        "file: /var/log/syslog\nmatch: error\nalert_all: tags=web\n",
    );
    fx.start_listening(Codec::open());
    open_problems(
        &fx,
        &[
            ("cmd-0a1b2c3d", "Root file system nearly full [97]"),
            ("cmd-0e0e0e0e", "Backup volume nearly full [93]"),
        ],
    );
    let viewer = basic_auth("vera", "view-pw");
    let as_viewer = std::slice::from_ref(&viewer);
    wait_json(addr, "/api/v1/problems", as_viewer, |d| d["total"] == 2);

    // The operator logs in (basic authentication, the credentials given
    // with the address as a person would type them), types a note into
    // the form of the disk problem and presses its button.
    let mut browser = Browser::launch(&program);
    browser.go(&format!("http://otto:op-pw@{addr}/"));
    browser.wait_until(
        "the fleet page with its acknowledge forms",
        "document.querySelectorAll('form.ack').length === 2",
    );
    let pressed = browser.eval(
        "(() => { const form = document.querySelector('form.ack[action=\"/problems/web1%2Fcmd-0a1b2c3d/ack\"]'); \
         form.querySelector('input[name=note]').value = 'new disk ordered'; \
         form.querySelector('button').click(); return true; })()",
    );
    assert_eq!(pressed, serde_json::json!(true));
    browser.wait_until(
        "the acknowledgement on the fleet page the form sent the browser back to",
        "location.pathname === '/' && document.body.innerText.includes('acknowledged by otto')",
    );
    let fleet = browser.text();
    assert!(fleet.contains("new disk ordered"), "{fleet}");
    // The acknowledged problem's form is now the folded "change note".
    let left = browser.eval(
        "[...document.querySelectorAll('form.ack')].filter(f => !f.closest('details')).length",
    );
    assert_eq!(
        left,
        serde_json::json!(1),
        "one problem left to acknowledge"
    );
    browser.go(&format!("http://{addr}/hosts/web1"));
    browser.wait_until(
        "the acknowledgement on the host page",
        "location.pathname === '/hosts/web1' && document.body.innerText.includes('acknowledged by otto')",
    );
    // There the operator unfolds "change note", finds the note in the
    // field, writes another and saves it.
    let changed = browser.eval(
        "(() => { const d = document.querySelector('details.ack-edit'); d.open = true; \
         const input = d.querySelector('input[name=note]'); \
         if (input.value !== 'new disk ordered') { return input.value; } \
         input.value = 'disk arrives Tuesday'; d.querySelector('button').click(); return true; })()",
    );
    assert_eq!(changed, serde_json::json!(true));
    browser.wait_until(
        "the changed note on the host page the form sent the browser back to",
        "location.pathname === '/hosts/web1' && document.body.innerText.includes('disk arrives Tuesday')",
    );
    assert!(!browser.text().contains("new disk ordered"));
    let doc = json(&request(addr, "GET", "/api/v1/problems", as_viewer));
    let disk = doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["check"] == "cmd-0a1b2c3d")
        .unwrap();
    assert_eq!(disk["acknowledged"]["by"], "otto", "{doc}");
    assert_eq!(
        disk["acknowledged"]["note"], "disk arrives Tuesday",
        "{doc}"
    );

    // The same logged-in browser opens a page of another site that posts
    // the form of the other problem: refused as cross-site, not recorded.
    let forging = serve_forging_page(addr, "/problems/web1%2Fcmd-0e0e0e0e/ack");
    browser.go(&format!("http://{forging}/"));
    let refused = wait_json(addr, "/api/v1/supervisor", as_viewer, |d| {
        d["http"]["refusals"]["cross-site"] == 1
    });
    assert_eq!(refused["http"]["refusals"]["cross-site"], 1);
    let doc = json(&request(addr, "GET", "/api/v1/problems", as_viewer));
    let backup = doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["check"] == "cmd-0e0e0e0e")
        .unwrap();
    assert!(backup["acknowledged"].is_null(), "{doc}");
    drop(browser);

    // A viewer's page has no form, and a viewer's post from the page
    // itself (same origin, the browser's credentials) is refused.
    let mut browser = Browser::launch(&program);
    browser.go(&format!("http://vera:view-pw@{addr}/supervisor"));
    browser.wait_until(
        "the viewer logged in",
        "location.pathname === '/supervisor' && document.body.innerText.includes('Counters')",
    );
    // Then the page by its plain address (the browser keeps the login): a
    // page whose address holds credentials may not fetch.
    browser.go(&format!("http://{addr}/"));
    browser.wait_until(
        "the viewer's fleet page",
        "document.body.innerText.includes('Backup volume nearly full')",
    );
    assert_eq!(
        browser.eval("document.querySelectorAll('form.ack').length"),
        serde_json::json!(0)
    );
    assert!(browser.text().contains("acknowledged by otto"));
    let status = browser.eval(
        "fetch('/problems/web1%2Fcmd-0e0e0e0e/ack', { method: 'POST', \
         body: new URLSearchParams({ note: 'mine' }) }).then(r => r.status)",
    );
    assert_eq!(status, serde_json::json!(403));
    let counted = json(&request(addr, "GET", "/api/v1/supervisor", as_viewer));
    assert_eq!(
        counted["http"]["refusals"]["forbidden-role"], 1,
        "{counted}"
    );
}

#[test]
fn prometheus_scrapes_metrics_and_its_query_api_returns_the_hosts_up_series() {
    let Some(program) = tool("prometheus", "prometheus_scrape") else {
        return;
    };
    let addr: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let mut fx = Fixture::new(&format!("http: {addr}\n"));
    fx.write(
        "hosts/web1",
        "file: /var/log/syslog\nmatch: error\nalert_all: tags=web\n",
    );
    fx.start_listening(Codec::open());
    send_events(&fx, "web1");
    wait_json(addr, "/api/v1/hosts/web1", &[], |d| d["state"] == "up");

    if let Some(promtool) = tool("promtool", "promtool_check_metrics") {
        let text = get(addr, "/metrics").body;
        let mut check = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        check
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = check.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: ax436\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let prom_addr: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prometheus = Running(
        Command::new(program)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={prom_addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let query = "/api/v1/query?query=ax436_host_up%7Bhost%3D%22web1%22%7D";
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        let answer = std::net::TcpStream::connect(prom_addr)
            .ok()
            .map(|_| request(prom_addr, "GET", query, &[]));
        if let Some(a) = &answer
            && a.status == 200
        {
            let doc: serde_json::Value = serde_json::from_str(&a.body).unwrap();
            if !doc["data"]["result"].as_array().unwrap().is_empty() {
                break doc;
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus returned no ax436_host_up series of web1 within 30 s; its log:\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let series = &answer["data"]["result"][0];
    assert_eq!(series["metric"]["host"], "web1", "{answer}");
    assert_eq!(series["metric"]["job"], "ax436", "{answer}");
    assert_eq!(series["value"][1], "1", "{answer}");
}
