//! `metric:` and `probe:` groups of the host language: the example
//! as written, every alert line and key, and the `FILE:LINE` of each kind of
//! mistake (including one in an included file).

use std::path::PathBuf;
use std::time::Duration;

use conf::{
    ConfError, ExpectStatus, HostConfig, MetricSpec, ProbeAlert, ProbeField, ProbeKind, StateKeys,
    WatchAlert, parse_host,
};

fn ok(text: &str) -> HostConfig {
    let (config, errors) = parse_host(text);
    assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    config
}

fn errors(text: &str) -> Vec<String> {
    parse_host(text)
        .1
        .iter()
        .map(ConfError::to_string)
        .collect()
}

const EXAMPLE: &str = "\
metric: disk /var
alert_if: tags=disk upper_limit=90 for=2 message=/var nearly full

metric: memory
alert_metric: tags=mem,metric every=30

probe: tcp 127.0.0.1:5432 timeout=2
alert_failed: tags=db,postgres for=3 message=PostgreSQL is not answering

probe: http https://127.0.0.1:8443/health expect=200 contains=ok timeout=5
alert_metric: tags=web,latency every=30
";

#[test]
fn the_example_of_the_documentation_parses_as_written() {
    let c = ok(EXAMPLE);
    assert_eq!(c.metrics.len(), 2);
    assert_eq!(c.probes.len(), 2);
    assert_eq!(c.group_count(), 4);

    let disk = &c.metrics[0];
    assert_eq!(disk.metric, MetricSpec::Disk(PathBuf::from("/var")));
    assert_eq!(disk.tags, "disk");
    assert_eq!(disk.field, "used_percent");
    assert_eq!(
        disk.alert,
        WatchAlert::Above {
            limit: 90.0,
            message: "/var nearly full".into()
        }
    );
    assert_eq!(
        disk.state,
        StateKeys {
            open_after: 2,
            ..StateKeys::DEFAULT
        }
    );
    assert_eq!(disk.origin.line, 2);

    let mem = &c.metrics[1];
    assert_eq!(mem.metric, MetricSpec::Memory);
    assert_eq!(mem.alert, WatchAlert::Metric);
    assert_eq!(mem.state.every, Some(Duration::from_secs(30)));
    assert_eq!(mem.every(), Duration::from_secs(30));

    let pg = &c.probes[0];
    assert_eq!(pg.probe.timeout, Duration::from_secs(2));
    assert!(matches!(&pg.probe.kind, ProbeKind::Tcp(t) if t.port == 5432 && t.host == "127.0.0.1"));
    assert_eq!(
        pg.alert,
        ProbeAlert::Failed {
            message: Some("PostgreSQL is not answering".into()),
            cert_days: None
        }
    );
    assert_eq!(pg.state.open_after, 3);
    assert_eq!(pg.tags, "db,postgres");

    let web = &c.probes[1];
    let ProbeKind::Http(h) = &web.probe.kind else {
        panic!("not http")
    };
    assert_eq!(h.url, "https://127.0.0.1:8443/health");
    assert_eq!(h.expect, ExpectStatus::parse("200").unwrap());
    assert_eq!(h.contains.as_deref(), Some("ok"));
    assert_eq!(web.field, ProbeField::ResponseMs);
    assert_eq!(web.alert, ProbeAlert::Value(WatchAlert::Metric));
}

#[test]
fn defaults_are_every_minute_and_one_result_to_open_and_clear() {
    let c = ok("metric: load5\nalert_if: tags=l lower_limit=-1 message=m\n");
    assert_eq!(c.metrics[0].state, StateKeys::DEFAULT);
    assert_eq!(c.metrics[0].every(), Duration::from_secs(60));
    assert_eq!(
        c.metrics[0].alert,
        WatchAlert::Below {
            limit: -1.0,
            message: "m".into()
        }
    );
}

#[test]
fn every_stateful_key_and_value_choice_is_read() {
    let c = ok("metric: memory\n\
         alert_if: tags=m value=available_bytes lower_limit=1e9 every=10 for=3 clear_for=2 repeat=600 message=low\n\
         probe: http https://web.lan/ timeout=1\n\
         alert_failed: tags=w cert_days=14\n\
         probe: http https://web.lan/\n\
         alert_if: tags=w value=cert_days lower_limit=30 message=renew the certificate\n\
         probe: ping 10.0.0.1\n\
         alert_if: tags=p upper_limit=200 message=slow\n");
    let m = &c.metrics[0];
    assert_eq!(m.field, "available_bytes");
    assert_eq!(
        m.state,
        StateKeys {
            every: Some(Duration::from_secs(10)),
            open_after: 3,
            clear_after: 2,
            repeat: Some(Duration::from_secs(600)),
        }
    );
    assert_eq!(
        c.probes[0].alert,
        ProbeAlert::Failed {
            message: None,
            cert_days: Some(14)
        }
    );
    assert_eq!(c.probes[1].field, ProbeField::CertDays);
    assert_eq!(c.probes[2].field, ProbeField::ResponseMs);
    assert!(matches!(&c.probes[2].probe.kind, ProbeKind::Ping(h) if h == "10.0.0.1"));
}

#[test]
fn mistakes_name_the_file_and_line() {
    let text = "\
metric: disks /var
alert_if: tags=d upper_limit=90 message=x
metric: disk var
alert_metric: tags=d
metric: cpu
alert_if: tags=c upper_limit=1,90 message=x
metric: cpu
alert_if: tags=c upper_limit=90 for=0 message=x
metric: cpu
alert_metric: tags=c value=free_bytes
metric: cpu
alert_failed: tags=c
probe: tcp db.lan timeout=2
alert_failed: tags=db
probe: http ftp://x/
alert_failed: tags=w
probe: tcp db:5432 timeout=0
alert_failed: tags=db
probe: http http://web/ cert=1
alert_failed: tags=w
probe: tcp db:5432
alert_failed: tags=db cert_days=3
probe: tcp db:5432
alert_metric: tags=db message=no
alert_failed: tags=x
metric: memory
";
    let e = errors(text);
    let expect = [
        "config:1: bad `metric:`: unknown metric \"disks\"",
        "config:3: bad `metric:`: metric disk needs an absolute path (got \"var\")",
        "config:6: `alert_if:` `upper_limit=1,90` must be a decimal number",
        "config:8: `alert_if:` `for=0` must be a whole number of results from 1 to 100000",
        "config:10: `alert_metric:` `value=free_bytes`: metric cpu has busy_percent",
        "config:12: `alert_failed:` closes a `probe:` group",
        "config:13: bad `probe:`: expected HOST:PORT (got \"db.lan\")",
        "config:15: bad `probe:`: bad URL \"ftp://x/\"",
        "config:17: bad `probe:`: `timeout=0` must be seconds above 0",
        "config:19: bad `probe:`: unknown key `cert=`",
        "config:22: `alert_failed:` certificate days need an https probe",
        "config:24: `alert_metric:` unknown key `message=`",
        "config:25: `alert_failed:` without `probe:` before it",
        "config:26: `metric:` has no `alert_if:` or `alert_metric:` line after it",
    ];
    assert_eq!(e.len(), expect.len(), "{e:#?}");
    for (got, want) in e.iter().zip(expect) {
        assert!(got.starts_with(want), "{got:?} should start with {want:?}");
    }
}

#[test]
fn a_mistake_in_an_included_file_names_that_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("hosts")).unwrap();
    std::fs::create_dir_all(dir.path().join("includes")).unwrap();
    std::fs::write(
        dir.path().join("hosts/web1"),
        "include: probes\nmetric: uptime\nalert_metric: tags=up\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("includes/probes"),
        "# probes\nprobe: tcp db:99999\nalert_failed: tags=db\n",
    )
    .unwrap();
    let load = conf::load_host(
        &dir.path().join("hosts"),
        &dir.path().join("includes"),
        &conf::HostName::new("web1").unwrap(),
    )
    .unwrap();
    let text: Vec<String> = load.errors.iter().map(ToString::to_string).collect();
    assert_eq!(load.config.metrics.len(), 1);
    assert_eq!(text.len(), 1, "{text:#?}");
    assert!(
        text[0].starts_with("includes/probes:2: bad `probe:`: bad port"),
        "{}",
        text[0]
    );
    assert!(
        text[0].ends_with("(included from hosts/web1:1)"),
        "{}",
        text[0]
    );
}
