//! `metric:` and `probe:` checks end to end through the job runner, as the
//! observer runs them: a host text parsed by `conf`, the check's work run
//! for real, its output turned into events. Metrics are compared with
//! `/proc`; probes run against a TCP listener opened then closed and a
//! local HTTP server.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use observer::checks::{Check, JobOutput};
use observer::clock::{LocalMinute, Now};
use observer::jobs::JobRunner;
use observer::metric_check::MetricCheck;
use observer::probe_check::ProbeCheck;
use observer::problems::ProblemBoard;
use observer::raised::Raised;
use observer::sysmetrics::{MetricValue, Sample};

fn config(text: &str) -> conf::HostConfig {
    let (config, errors) = conf::parse_host(text);
    assert!(errors.is_empty(), "{errors:#?}");
    config
}

fn now() -> Now {
    Now {
        mono: Instant::now(),
        wall_ms: 1,
        local: LocalMinute {
            weekday: 1,
            hour: 12,
            minute: 0,
        },
    }
}

/// One run of `check` through a real job runner, its problem on a board
/// of its own.
async fn run(check: &mut dyn Check, jobs: &mut JobRunner) -> Vec<Raised> {
    run_on(check, jobs, &mut ProblemBoard::new()).await
}

/// One run of `check` through a real job runner, its problem on `board`
/// (which keeps it from run to run, as the observer's core does).
async fn run_on(
    check: &mut dyn Check,
    jobs: &mut JobRunner,
    board: &mut ProblemBoard,
) -> Vec<Raised> {
    let output = jobs.run_now(check.work()).await;
    check.on_output(output, now(), board)
}

fn proc_field(file: &str, index: usize) -> f64 {
    std::fs::read_to_string(file)
        .unwrap()
        .split_whitespace()
        .nth(index)
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_read_through_the_runner_agree_with_proc() {
    let mut jobs = JobRunner::new();
    // Uptime: within a few seconds of /proc/uptime read just before.
    let before = proc_field("/proc/uptime", 0);
    let c = config("metric: uptime\nalert_metric: tags=up\n");
    let mut up = MetricCheck::new(&c.metrics[0]);
    let out = run(&mut up, &mut jobs).await;
    let value = out[0].value.unwrap();
    assert!(
        value >= before.floor() - 1.0 && value <= before + 5.0,
        "{value} vs {before}"
    );

    // Load: the reading is /proc/loadavg's (which changes only every 5 s).
    let c = config("metric: load1\nalert_if: tags=l lower_limit=1000000 message=always\n");
    let mut load = MetricCheck::new(&c.metrics[0]);
    let expected = proc_field("/proc/loadavg", 0);
    let out = run(&mut load, &mut jobs).await;
    assert_eq!(out.len(), 1);
    let shown: f64 = out[0]
        .message
        .trim_start_matches("always [")
        .trim_end_matches(']')
        .parse()
        .unwrap();
    assert!((shown - expected).abs() < 0.5, "{shown} vs {expected}");

    // Memory available: close to MemAvailable of /proc/meminfo.
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: f64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    match jobs
        .run_now(observer::checks::Work::Metric {
            spec: conf::MetricSpec::Memory,
        })
        .await
    {
        JobOutput::MetricSample(Ok(Sample::Gauge(MetricValue::Memory {
            available_bytes, ..
        }))) => {
            let got = available_bytes as f64 / 1024.0;
            // Memory moves while other programs run: within 10 %.
            assert!((got - kib).abs() < kib * 0.1, "{got} KiB vs {kib} KiB");
        }
        other => panic!("{other:?}"),
    }

    // A rate: the first cpu reading only sets the baseline.
    let c = config("metric: cpu\nalert_metric: tags=cpu\n");
    let mut cpu = MetricCheck::new(&c.metrics[0]);
    assert!(run(&mut cpu, &mut jobs).await.is_empty());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out = run(&mut cpu, &mut jobs).await;
    let busy = out[0].value.unwrap();
    assert!((0.0..=100.0).contains(&busy), "{busy}");

    // A path that is not there: a problem of the check, with its tags.
    let c = config("metric: disk /no/such/dir\nalert_if: tags=d upper_limit=1 message=x\n");
    let mut gone = MetricCheck::new(&c.metrics[0]);
    let out = run(&mut gone, &mut jobs).await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].tags, "d");
    assert_eq!(out[0].check.as_deref(), Some(c.metrics[0].check.as_str()));
    assert_eq!(out[0].transition, wire::Transition::Open);
    assert!(
        out[0].message.contains("/no/such/dir"),
        "{}",
        out[0].message
    );
}

#[tokio::test]
async fn a_tcp_probe_check_opens_when_the_listener_closes_and_clears_when_it_is_back() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let c = config(&format!(
        "probe: tcp {addr} timeout=2\nalert_failed: tags=db,postgres for=2 message=PostgreSQL is not answering\n"
    ));
    let mut check = ProbeCheck::new(&c.probes[0]);
    let mut jobs = JobRunner::new();
    let mut board = ProblemBoard::new();
    assert!(run_on(&mut check, &mut jobs, &mut board).await.is_empty());
    drop(listener);
    assert!(
        run_on(&mut check, &mut jobs, &mut board).await.is_empty(),
        "for=2: not yet"
    );
    let opened = run_on(&mut check, &mut jobs, &mut board).await;
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].tags, "db,postgres");
    assert_eq!(opened[0].check.as_deref(), Some(c.probes[0].check.as_str()));
    assert_eq!(opened[0].transition, wire::Transition::Open);
    assert!(
        opened[0]
            .message
            .starts_with("PostgreSQL is not answering: connection to 127.0.0.1"),
        "{}",
        opened[0].message
    );
    assert!(
        run_on(&mut check, &mut jobs, &mut board).await.is_empty(),
        "opened once"
    );
    // The same port again (it was just freed).
    let _back = TcpListener::bind(addr).unwrap();
    let cleared = run_on(&mut check, &mut jobs, &mut board).await;
    assert_eq!(cleared.len(), 1);
    // The opening's words, as the clearing of the same check.
    assert_eq!(cleared[0].message, opened[0].message);
    assert_eq!(cleared[0].check, opened[0].check);
    assert!(matches!(
        cleared[0].transition,
        wire::Transition::Clear { .. }
    ));
    assert!(board.open_problems().is_empty());
}

/// An HTTP server answering every request with `status` and `body`.
fn http_server(status: u16, body: &'static str) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    addr
}

#[tokio::test]
async fn http_probe_checks_report_latency_and_failed_assertions() {
    let healthy = http_server(200, r#"{"status":"ok"}"#);
    let broken = http_server(503, "down");
    let c = config(&format!(
        "probe: http http://{healthy}/health expect=200 contains=ok json=status=ok timeout=5\n\
         alert_metric: tags=web,latency every=30\n\
         probe: http http://{broken}/health contains=ok\n\
         alert_failed: tags=web\n"
    ));
    let mut jobs = JobRunner::new();
    let mut latency = ProbeCheck::new(&c.probes[0]);
    let out = run(&mut latency, &mut jobs).await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].tags, "web,latency");
    assert!(out[0].value.unwrap() >= 0.0);
    assert_eq!(latency.interval(), Duration::from_secs(30));

    let mut failed = ProbeCheck::new(&c.probes[1]);
    let out = run(&mut failed, &mut jobs).await;
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].message,
        format!("probe http http://{broken}/health failed: status 503, expected 2xx or 3xx")
    );
}
