//! The shipped examples (`ax436.conf`, `hosts_436/`, `includes_436/`) load
//! with no errors, and the Python-style host file means the same as the
//! modern one.

use std::path::{Path, PathBuf};

use conf::{HostConfig, HostName, SupervisorConfig, load_host};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shipped() -> SupervisorConfig {
    SupervisorConfig::load(&repo().join("ax436.conf")).unwrap()
}

#[test]
fn shipped_ax436_conf_loads() {
    let c = shipped();
    assert_eq!(c.port, 9000);
    assert_eq!(
        c.broadcast,
        ["127.255.255.255".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    assert!(c.hosts.ends_with("hosts_436"));
    assert!(c.includes.ends_with("includes_436"));
    assert!(c.event_stream.ends_with("stream/events.436"));
    assert_eq!(c.key_file, None);
}

#[test]
fn every_shipped_host_loads_without_errors() {
    let c = shipped();
    let mut names: Vec<String> = std::fs::read_dir(&c.hosts)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= 3, "{names:?}");
    for name in names {
        let host = HostName::new(&name).unwrap();
        let load = load_host(&c.hosts, &c.includes, &host).unwrap();
        let shown: Vec<String> = load.errors.iter().map(ToString::to_string).collect();
        assert!(shown.is_empty(), "{name}: {shown:#?}");
        assert!(load.config.group_count() > 0, "{name} has no groups");
    }
}

#[test]
fn web1_uses_every_kind_of_group_and_shares_common_with_db1() {
    let c = shipped();
    let web1 = load_host(&c.hosts, &c.includes, &HostName::new("web1").unwrap()).unwrap();
    let db1 = load_host(&c.hosts, &c.includes, &HostName::new("db1").unwrap()).unwrap();
    assert!(web1.expanded.includes.contains("common"));
    assert!(web1.expanded.includes.contains("sshd"));
    assert!(db1.expanded.includes.contains("common"));
    let cfg = &web1.config;
    use conf::LogAlert::*;
    for kind in ["All", "N", "Count", "Inactive"] {
        assert!(
            cfg.logs.iter().any(|l| matches!(
                (&l.alert, kind),
                (All { .. }, "All")
                    | (N { .. }, "N")
                    | (Count { .. }, "Count")
                    | (Inactive { .. }, "Inactive")
            )),
            "web1 has no {kind}"
        );
    }
    assert!(cfg.logs.iter().any(|l| l.active.is_some()));
    assert!(!cfg.processes.is_empty());
    let rules: Vec<_> = cfg
        .commands
        .iter()
        .flat_map(|c| &c.alerts)
        .map(|a| &a.rule)
        .collect();
    assert!(
        rules
            .iter()
            .any(|r| matches!(r, conf::CommandRule::Above { .. }))
    );
    assert!(
        cfg.metrics
            .iter()
            .any(|m| matches!(m.alert, conf::WatchAlert::Below { .. })
                && m.field == "available_bytes")
    );
    assert!(
        cfg.metrics
            .iter()
            .any(|m| m.alert == conf::WatchAlert::Metric)
    );
    assert!(
        cfg.probes
            .iter()
            .any(|p| matches!(p.alert, conf::ProbeAlert::Failed { .. }))
    );
    assert!(!db1.config.probes.is_empty());
    assert!(
        rules
            .iter()
            .any(|r| matches!(r, conf::CommandRule::Metric { .. }))
    );
    assert!(db1.config.ps_command.is_some());
}

/// Everything but origins, for comparing two spellings of one configuration.
fn meaning(c: &HostConfig) -> String {
    let mut out = String::new();
    for l in &c.logs {
        out += &format!(
            "log {} {:?} {} {:?} {:?} {:?}\n",
            l.file, l.patterns, l.tags, l.alert, l.active, l.state
        );
    }
    for p in &c.processes {
        out += &format!(
            "process {} {} {} {} {} {:?} {:?}\n",
            p.pattern.as_str(),
            p.tags,
            p.min,
            p.max,
            p.message,
            p.active,
            p.state
        );
    }
    for w in &c.commands {
        out += &format!("run {:?} {}\n", w.command.argv, w.extract.as_str());
        for a in &w.alerts {
            out += &format!(
                "  {} {:?} {:?} {:?} {:?}\n",
                a.tags, a.select, a.rule, a.active, a.state
            );
        }
    }
    for m in &c.metrics {
        out += &format!(
            "metric {} {} {} {:?} {:?} {:?}\n",
            m.metric, m.tags, m.field, m.alert, m.state, m.active
        );
    }
    for p in &c.probes {
        out += &format!(
            "probe {} {} {:?} {:?} {:?} {:?}\n",
            p.probe, p.tags, p.field, p.alert, p.state, p.active
        );
    }
    out += &format!("ps {:?}\n", c.ps_command.as_ref().map(|p| &p.argv));
    out
}

#[test]
fn python_style_legacy_file_means_the_same_as_the_modern_one() {
    let c = shipped();
    let legacy = load_host(&c.hosts, &c.includes, &HostName::new("legacy1").unwrap()).unwrap();
    let modern = load_host(&c.hosts, &c.includes, &HostName::new("modern1").unwrap()).unwrap();
    assert!(legacy.errors.is_empty(), "{:?}", legacy.errors);
    assert!(modern.errors.is_empty(), "{:?}", modern.errors);
    assert_eq!(meaning(&legacy.config), meaning(&modern.config));
    assert!(legacy.config.group_count() >= 8);
}
