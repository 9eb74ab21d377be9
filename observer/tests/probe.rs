//! Probes against real services on loopback: a TCP listener opened and
//! closed, a small HTTP server (status, body, JSON, a request that never
//! gets an answer), the same server behind TLS with a self-signed
//! certificate, names from a hosts file, and ping.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use observer::probe::json_path::JsonCheck;
use observer::probe::{
    ExpectStatus, HostPort, HttpProbe, PingProbe, ProbeFailure, ProbeSpec, Prober, ResolverFiles,
    TcpProbe,
};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A resolver reading a hosts file we write and a resolv.conf with no name
/// server: nothing leaves the box.
struct Names {
    dir: tempfile::TempDir,
}

impl Names {
    fn new(hosts: &str) -> Names {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hosts"), hosts).unwrap();
        std::fs::write(dir.path().join("resolv.conf"), "# no name server\n").unwrap();
        Names { dir }
    }

    fn files(&self) -> ResolverFiles {
        ResolverFiles {
            hosts: self.dir.path().join("hosts"),
            resolv_conf: self.dir.path().join("resolv.conf"),
        }
    }

    fn prober(&self) -> Prober {
        Prober::new(self.files())
    }
}

fn tcp(target: &str) -> ProbeSpec {
    ProbeSpec::Tcp(TcpProbe {
        target: HostPort::parse(target).unwrap(),
        timeout: TIMEOUT,
    })
}

fn http(probe: HttpProbe) -> ProbeSpec {
    ProbeSpec::Http(Box::new(probe))
}

/// One parsed request as the test server saw it.
struct Request {
    method: String,
    path: String,
    headers: Vec<String>,
    body: String,
}

fn read_request(stream: &mut impl Read) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let method = words.next()?.to_string();
    let path = words.next()?.to_string();
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end().to_string();
        if h.is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
        headers.push(h);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

/// The answers of the test server, by path.
fn answer(request: &Request) -> Option<(u16, String)> {
    Some(match request.path.as_str() {
        "/health" => (200, "all ok".to_string()),
        "/down" => (503, "maintenance".to_string()),
        "/moved" => (302, String::new()),
        "/status.json" => (
            200,
            r#"{"db":{"state":"up","lag":3},"workers":[{"name":"a"},{"name":"b"}]}"#.to_string(),
        ),
        "/echo" => {
            let token = request
                .headers
                .iter()
                .find_map(|h| {
                    let (name, value) = h.split_once(':')?;
                    name.eq_ignore_ascii_case("x-token").then(|| value.trim())
                })
                .unwrap_or("");
            let body =
                serde_json::json!({"method": request.method, "token": token, "body": request.body});
            (200, body.to_string())
        }
        "/silent" => return None,
        _ => (404, "no such page".to_string()),
    })
}

fn serve_one(mut stream: impl Read + Write) {
    let Some(request) = read_request(&mut stream) else {
        return;
    };
    let Some((status, body)) = answer(&request) else {
        // Hold the connection open without answering.
        std::thread::sleep(Duration::from_secs(5));
        return;
    };
    let location = if status == 302 {
        "Location: /health\r\n"
    } else {
        ""
    };
    let reply = format!(
        "HTTP/1.1 {status} X\r\n{location}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes());
    let _ = stream.flush();
}

/// A plain HTTP server on a free loopback port; its address.
fn http_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve_one(stream));
        }
    });
    addr
}

/// An HTTPS server with a self-signed certificate for localhost and
/// 127.0.0.1 valid until 2030-01-01; its address and the certificate's PEM.
fn https_server() -> (std::net::SocketAddr, String) {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params.not_after = rcgen::date_time_ymd(2030, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                serve_one(rustls::StreamOwned::new(conn, stream));
            });
        }
    });
    (addr, cert.pem())
}

#[tokio::test]
async fn tcp_probe_sees_a_listener_open_then_closed() {
    let prober = Names::new("").prober();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let open = prober.run(&tcp(&addr.to_string())).await;
    assert!(open.is_ok(), "{:?}", open.failure);
    assert!(open.response_ms.unwrap() >= 0.0);
    assert_eq!(open.address, Some(addr));

    drop(listener);
    let closed = prober.run(&tcp(&addr.to_string())).await;
    let failure = closed.failure.unwrap();
    assert_eq!(failure.reason(), "refused");
    assert_eq!(
        failure.to_string(),
        format!("connection to {addr} refused (nothing listening)")
    );
    assert_eq!(closed.response_ms, None);
}

#[tokio::test]
async fn names_come_from_the_hosts_file_and_its_changes() {
    let names = Names::new("127.0.0.1 web436.lan web436\n");
    let prober = names.prober();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();

    let by_name = prober.run(&tcp(&format!("web436.lan:{port}"))).await;
    assert!(by_name.is_ok(), "{:?}", by_name.failure);
    assert_eq!(by_name.address.unwrap().ip().to_string(), "127.0.0.1");

    let missing = prober.run(&tcp(&format!("db436.lan:{port}"))).await;
    let failure = missing.failure.unwrap();
    assert_eq!(failure.reason(), "resolve");
    let hosts = names.files().hosts;
    assert_eq!(
        failure.to_string(),
        format!(
            "db436.lan is not in {}, and {} names no name server to ask",
            hosts.display(),
            names.files().resolv_conf.display()
        )
    );

    // An edited hosts file is read again on the next lookup.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&hosts, "127.0.0.1 web436.lan db436.lan\n").unwrap();
    let added = prober.run(&tcp(&format!("db436.lan:{port}"))).await;
    assert!(added.is_ok(), "{:?}", added.failure);

    // HTTP resolves through the same files (ureq's resolver hook).
    let addr = http_server();
    let probe = HttpProbe::new(&format!("http://db436.lan:{}/health", addr.port())).unwrap();
    let outcome = prober.run(&http(probe)).await;
    assert!(outcome.is_ok(), "{:?}", outcome.failure);
    let probe = HttpProbe::new(&format!("http://nowhere436.lan:{}/", addr.port())).unwrap();
    let outcome = prober.run(&http(probe)).await;
    assert_eq!(outcome.failure.unwrap().reason(), "resolve");
}

#[tokio::test]
async fn http_probe_checks_status_body_and_json() {
    let prober = Names::new("").prober();
    let base = format!("http://{}", http_server());

    let mut probe = HttpProbe::new(&format!("{base}/health")).unwrap();
    probe.contains = Some("ok".into());
    let outcome = prober.run(&http(probe.clone())).await;
    assert!(outcome.is_ok(), "{:?}", outcome.failure);
    assert_eq!(outcome.status, Some(200));
    assert!(outcome.response_ms.is_some());
    assert_eq!(outcome.cert_days_left, None);

    probe.contains = Some("fine".into());
    let outcome = prober.run(&http(probe.clone())).await;
    assert_eq!(
        outcome.failure.unwrap().to_string(),
        "the answer does not contain \"fine\""
    );
    // It answered, so the response time is there for alert_metric.
    assert!(outcome.response_ms.is_some());

    let down = HttpProbe::new(&format!("{base}/down")).unwrap();
    let outcome = prober.run(&http(down.clone())).await;
    assert_eq!(
        outcome.failure.unwrap().to_string(),
        "status 503, expected 2xx or 3xx"
    );
    let mut down_expected = down;
    down_expected.expect = ExpectStatus::parse("503").unwrap();
    down_expected.body_regex = Some(regex::Regex::new("^maint").unwrap());
    assert!(prober.run(&http(down_expected)).await.is_ok());

    // A redirect is an answer in itself, not followed.
    let moved = HttpProbe::new(&format!("{base}/moved")).unwrap();
    let outcome = prober.run(&http(moved)).await;
    assert!(outcome.is_ok());
    assert_eq!(outcome.status, Some(302));

    let mut json = HttpProbe::new(&format!("{base}/status.json")).unwrap();
    json.json = vec![
        JsonCheck::parse("db.state=up").unwrap(),
        JsonCheck::parse("db.lag=3").unwrap(),
        JsonCheck::parse("workers[1].name=b").unwrap(),
    ];
    let outcome = prober.run(&http(json.clone())).await;
    assert!(outcome.is_ok(), "{:?}", outcome.failure);
    json.json
        .push(JsonCheck::parse("workers[0].name=z").unwrap());
    let outcome = prober.run(&http(json)).await;
    assert_eq!(
        outcome.failure.unwrap().to_string(),
        "workers[0].name is \"a\", expected z"
    );
}

#[tokio::test]
async fn http_probe_sends_method_headers_and_body() {
    let prober = Names::new("").prober();
    let base = format!("http://{}", http_server());
    let mut probe = HttpProbe::new(&format!("{base}/echo")).unwrap();
    probe.set_method("post").unwrap();
    probe.add_header("X-Token: s3cret").unwrap();
    probe.body = Some("ping=1".into());
    probe.json = vec![
        JsonCheck::parse("method=POST").unwrap(),
        JsonCheck::parse("token=s3cret").unwrap(),
        JsonCheck::parse("body=ping=1").unwrap(),
    ];
    let outcome = prober.run(&http(probe)).await;
    assert!(outcome.is_ok(), "{:?}", outcome.failure);
}

#[tokio::test]
async fn http_probe_times_out_and_sees_a_closed_port() {
    let prober = Names::new("").prober();
    let base = format!("http://{}", http_server());
    let mut silent = HttpProbe::new(&format!("{base}/silent")).unwrap();
    silent.timeout = Duration::from_millis(300);
    let outcome = prober.run(&http(silent)).await;
    let failure = outcome.failure.unwrap();
    assert_eq!(failure.reason(), "timeout", "{failure}");
    assert!(failure.to_string().ends_with("within 0.3 s"), "{failure}");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let closed = HttpProbe::new(&format!("http://{addr}/")).unwrap();
    let outcome = prober.run(&http(closed)).await;
    assert_eq!(outcome.failure.unwrap().reason(), "refused");
}

#[tokio::test]
async fn https_probe_trusts_its_ca_file_and_reports_days_to_expiry() {
    let prober = Names::new("").prober();
    let (addr, pem) = https_server();
    let dir = tempfile::tempdir().unwrap();
    let ca: PathBuf = dir.path().join("ca.pem");
    std::fs::write(&ca, &pem).unwrap();
    let expected_days = {
        let expiry = chrono::NaiveDate::from_ymd_opt(2030, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        (expiry - chrono::Utc::now())
            .num_seconds()
            .div_euclid(86_400)
    };

    let mut trusted = HttpProbe::new(&format!("https://127.0.0.1:{}/health", addr.port())).unwrap();
    trusted.ca_file = Some(ca.clone());
    trusted.contains = Some("ok".into());
    let spec = http(trusted);
    let outcome = prober.run(&spec).await;
    assert!(outcome.is_ok(), "{:?}", outcome.failure);
    assert_eq!(outcome.status, Some(200));
    let days = outcome.cert_days_left.unwrap();
    // The next run of the same probe sees the certificate again (no
    // session resumption, which would hide it).
    let again = prober.run(&spec).await;
    assert_eq!(again.cert_days_left, Some(days), "{:?}", again.failure);
    // The day can turn between the two clocks.
    assert!(
        (days - expected_days).abs() <= 1,
        "{days} vs {expected_days}"
    );

    // Without the CA: refused, with the reason and the days still known.
    let untrusted = HttpProbe::new(&format!("https://127.0.0.1:{}/health", addr.port())).unwrap();
    let outcome = prober.run(&http(untrusted)).await;
    let failure = outcome.failure.unwrap();
    assert_eq!(failure.reason(), "tls");
    assert!(failure.to_string().contains("unknown issuer"), "{failure}");
    assert!((outcome.cert_days_left.unwrap() - expected_days).abs() <= 1);

    // A CA file with no certificate is a set-up error, not "unknown issuer".
    let junk = dir.path().join("junk.pem");
    std::fs::write(
        &junk,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let mut bad_ca = HttpProbe::new(&format!("https://127.0.0.1:{}/", addr.port())).unwrap();
    bad_ca.ca_file = Some(junk);
    let failure = prober.run(&http(bad_ca)).await.failure.unwrap();
    assert_eq!(failure.reason(), "setup", "{failure}");
}

#[tokio::test]
async fn ping_of_loopback_answers_or_names_the_sysctl() {
    let prober = Names::new("").prober();
    let outcome = prober
        .run(&ProbeSpec::Ping(PingProbe {
            host: "127.0.0.1".into(),
            timeout: TIMEOUT,
        }))
        .await;
    match outcome.failure {
        None => eprintln!("ping 127.0.0.1: {:.3} ms", outcome.response_ms.unwrap()),
        Some(f @ ProbeFailure::PingNotPermitted { .. }) => {
            let text = f.to_string();
            assert!(
                text.contains("sysctl -w net.ipv4.ping_group_range="),
                "{text}"
            );
            eprintln!("ping not run: {text}");
        }
        Some(other) => panic!("ping 127.0.0.1 failed: {other}"),
    }
}
