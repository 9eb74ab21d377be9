//! Check ids (`log-…`, `proc-…`, `cmd-…`, `metric-…`, `probe-…`) and the
//! state keys of stateful
//! alerts (`every=`, `for=`, `clear_for=`, `repeat=`): which edits keep an
//! id, which give a new one, and the `FILE:LINE` of bad keys.

use std::time::Duration;

use conf::{CheckId, ConfError, HostConfig, StateKeys, parse_host};

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

/// Every check id of `text`, in the order log, process, command.
fn ids(text: &str) -> Vec<String> {
    let c = ok(text);
    let mut out: Vec<String> = c.logs.iter().map(|l| l.check.to_string()).collect();
    out.extend(c.processes.iter().map(|p| p.check.to_string()));
    out.extend(
        c.commands
            .iter()
            .flat_map(|w| &w.alerts)
            .map(|a| a.check.to_string()),
    );
    out
}

const BASE: &str = "\
file: /var/log/syslog
match: error
alert_inactive: tags=sys seconds=300 message=syslog is quiet

process: /usr/sbin/sshd
alert_running: tags=sshd min=1 max=20 message=sshd processes

run: command=df -P extract=^(\\S+)\\s+\\d+\\s+\\d+\\s+\\d+\\s+(\\d+)%\\s+(\\S+)$
alert_if: tags=disk match=3,/ upper_limit=2,90 message=Root file system nearly full
alert_metric: tags=disk,usage match=3,/ metric=2
";

#[test]
fn ids_have_their_kind_and_eight_hex_digits() {
    let ids = ids(BASE);
    assert_eq!(ids.len(), 4);
    let kinds: Vec<&str> = ids.iter().map(|i| i.split('-').next().unwrap()).collect();
    assert_eq!(kinds, ["log", "proc", "cmd", "cmd"]);
    for id in &ids {
        let hex = id.rsplit('-').next().unwrap();
        assert_eq!(hex.len(), 8, "{id}");
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    }
    // The two alerts of one `run:` are two checks.
    assert_ne!(ids[2], ids[3]);
}

#[test]
fn the_hash_is_pinned() {
    // Changing the hash renames every check of every fleet: these values
    // must never change.
    assert_eq!(CheckId::hash_lines([]), 0xcbf29ce4 ^ 0x84222325);
    assert_eq!(
        CheckId::new(
            "proc",
            [
                "process: sshd",
                "alert_running: tags=t min=1 max=2 message=m"
            ]
        )
        .to_string(),
        format!(
            "proc-{:08x}",
            CheckId::hash_lines([
                "process: sshd",
                "alert_running: tags=t min=1 max=2 message=m"
            ])
        )
    );
    // FNV-1a-64("a") is 0xaf63dc4c8601ec8c.
    assert_eq!(CheckId::hash_lines(["a"]), 0xaf63dc4c ^ 0x8601ec8c);
    assert_eq!(
        CheckId::hash_lines(["a", "b"]),
        CheckId::hash_lines(["a\nb"])
    );
    assert_ne!(CheckId::hash_lines(["a", "b"]), CheckId::hash_lines(["ab"]));
}

#[test]
fn ids_survive_edits_elsewhere_moves_spacing_active_and_state_keys() {
    let base = ids(BASE);
    // Other groups added before, lines moved down, comments, blank lines.
    let moved =
        format!("# a comment\n\nfile: /var/log/other\nmatch: x\nalert_all: tags=o\n\n\n{BASE}");
    assert_eq!(ids(&moved)[1..], base[..]);
    // Groups in another order.
    let parts: Vec<&str> = BASE.split("\n\n").collect();
    let reordered = format!("{}\n\n{}\n\n{}", parts[2], parts[0], parts[1]);
    assert_eq!(ids(&reordered), base);
    // Spacing around the directive and between keys.
    let spaced = BASE
        .replace(
            "alert_running: tags=sshd min=1",
            "alert_running:   tags=sshd   min=1",
        )
        .replace("process: /usr", "process:/usr");
    assert_eq!(ids(&spaced), base);
    // `active:` and the state keys.
    let tuned = BASE
        .replace(
            "alert_running:",
            "active: 12345;08:00-18:00\nalert_running: every=30 for=3 clear_for=2 repeat=3600",
        )
        .replace("upper_limit=2,90", "upper_limit=2,90 for=2 every=120")
        .replace("seconds=300", "seconds=300 clear_for=3");
    assert_eq!(ids(&tuned), base);
}

#[test]
fn ids_change_when_the_checks_own_lines_change() {
    let base = ids(BASE);
    let cases = [
        ("match: error", "match: error|fail", 0),
        ("file: /var/log/syslog", "file: /var/log/messages", 0),
        ("seconds=300", "seconds=600", 0),
        ("message=syslog is quiet", "message=syslog is silent", 0),
        ("max=20", "max=30", 1),
        ("process: /usr/sbin/sshd", "process: sshd", 1),
        ("tags=sshd", "tags=ssh", 1),
        ("upper_limit=2,90", "upper_limit=2,95", 2),
        ("df -P", "df -Pl", 2),
    ];
    for (from, to, which) in cases {
        let edited = ids(&BASE.replace(from, to));
        assert_ne!(edited[which], base[which], "{from} -> {to}");
        for (i, (a, b)) in edited.iter().zip(&base).enumerate() {
            if i != which && !(from == "df -P" && i == 3) {
                assert_eq!(a, b, "{from} -> {to} changed check {i}");
            }
        }
    }
}

#[test]
fn state_keys_have_their_defaults() {
    let c = ok(BASE);
    assert_eq!(c.logs[0].state, StateKeys::DEFAULT);
    assert_eq!(c.processes[0].state.open_after, 2);
    assert_eq!(c.processes[0].state, StateKeys::PROCESS_DEFAULT);
    assert_eq!(c.commands[0].alerts[0].state, StateKeys::DEFAULT);
    assert_eq!(StateKeys::DEFAULT.clear_after, 1);
    assert_eq!(StateKeys::DEFAULT.repeat, None);
    assert_eq!(StateKeys::DEFAULT.every, None);
}

#[test]
fn state_keys_are_read() {
    let c = ok(
        "process: x\nalert_running: tags=t min=1 max=2 every=30 for=3 clear_for=4 repeat=600 message=m\n\
                run: command=df extract=(a)(\\d+)\nalert_if: tags=d match=1,a for=5 upper_limit=2,1 message=m\n\
                file: f\nmatch: x\nalert_inactive: tags=t seconds=60 repeat=3600 message=q\n",
    );
    assert_eq!(
        c.processes[0].state,
        StateKeys {
            every: Some(Duration::from_secs(30)),
            open_after: 3,
            clear_after: 4,
            repeat: Some(Duration::from_secs(600)),
        }
    );
    assert_eq!(c.commands[0].alerts[0].state.open_after, 5);
    assert_eq!(c.logs[0].state.repeat, Some(Duration::from_secs(3600)));
    // The message still takes the rest of the line.
    assert_eq!(c.processes[0].message, "m");
}

#[test]
fn bad_state_keys_name_file_and_line() {
    let e = errors("process: x\nalert_running: tags=t min=1 max=2 for=0 message=m\n");
    assert_eq!(
        e,
        ["config:2: `alert_running:` `for=0` must be a whole number of results from 1 to 100000"]
    );
    let e = errors(
        "run: command=df extract=(a)(\\d+)\nalert_if: tags=d match=1,a every=-5 upper_limit=2,1 message=m\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("config:2: `alert_if:` `every=-5` must be"),
        "{e:?}"
    );
    let e = errors("file: f\nmatch: x\nalert_inactive: tags=t seconds=60 clear_for=x message=q\n");
    assert!(
        e[0].starts_with("config:3: `alert_inactive:` `clear_for=x`"),
        "{e:?}"
    );
    // `every=` belongs to checks that run: not to log blocks, not to
    // point alerts.
    let e = errors("file: f\nmatch: x\nalert_inactive: tags=t seconds=60 every=5 message=q\n");
    assert_eq!(e, ["config:3: `alert_inactive:` unknown key `every=`"]);
    let e = errors("file: f\nmatch: x\nalert_all: tags=t for=2\n");
    assert_eq!(e, ["config:3: `alert_all:` unknown key `for=`"]);
    let e = errors(
        "run: command=df extract=(a)(\\d+)\nalert_metric: tags=d match=1,a metric=2 repeat=60\n",
    );
    assert_eq!(e, ["config:2: `alert_metric:` unknown key `repeat=`"]);
    let e = errors("process: x\nalert_running: tags=t min=1 max=2 repeat=0 message=m\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].contains("`repeat=0` must be a whole number of seconds"),
        "{e:?}"
    );
}

const BUILT_INS: &str = "\
metric: disk /var
alert_if: tags=disk upper_limit=90 for=2 message=/var nearly full

metric: memory
alert_metric: tags=mem,metric every=30

probe: tcp 127.0.0.1:5432 timeout=2
alert_failed: tags=db,postgres for=3 message=PostgreSQL is not answering
";

/// The ids of the `metric:` groups, then of the `probe:` groups.
fn built_in_ids(text: &str) -> Vec<String> {
    let c = ok(text);
    let mut out: Vec<String> = c.metrics.iter().map(|m| m.check.to_string()).collect();
    out.extend(c.probes.iter().map(|p| p.check.to_string()));
    out
}

#[test]
fn metric_and_probe_ids_hash_their_two_lines_without_state_keys() {
    let ids = built_in_ids(BUILT_INS);
    // The documented rule, computed by hand: `directive: argument`, the
    // alert line's keys in order with the state keys left out.
    assert_eq!(
        ids,
        [
            CheckId::new(
                "metric",
                [
                    "metric: disk /var",
                    "alert_if: tags=disk upper_limit=90 message=/var nearly full"
                ]
            )
            .to_string(),
            CheckId::new(
                "metric",
                ["metric: memory", "alert_metric: tags=mem,metric"]
            )
            .to_string(),
            CheckId::new(
                "probe",
                [
                    "probe: tcp 127.0.0.1:5432 timeout=2",
                    "alert_failed: tags=db,postgres message=PostgreSQL is not answering"
                ]
            )
            .to_string(),
        ]
    );
    // Moved, spaced, tuned, under an `active:` line: the same checks.
    let tuned = format!(
        "process: x\nalert_running: tags=t min=1 max=2 message=m\n\n{}",
        BUILT_INS
            .replace("for=2", "every=10 for=3 clear_for=2 repeat=600")
            .replace("every=30", "every=5")
            .replace(
                "alert_failed:",
                "active: 12345;08:00-18:00\nalert_failed:  "
            )
            .replace("metric: memory", "metric:memory")
    );
    assert_eq!(built_in_ids(&tuned), ids);
    // Their own lines changed: new checks, the others kept.
    let cases = [
        ("disk /var", "disk /srv", 0),
        ("upper_limit=90", "upper_limit=95", 0),
        ("/var nearly full", "/var full", 0),
        ("tags=mem,metric", "tags=mem", 1),
        (
            "alert_metric: tags=mem,metric",
            "alert_metric: tags=mem,metric value=available_bytes",
            1,
        ),
        ("timeout=2", "timeout=3", 2),
        ("5432", "5433", 2),
        ("tags=db,postgres", "tags=db", 2),
    ];
    for (from, to, which) in cases {
        let edited = built_in_ids(&BUILT_INS.replace(from, to));
        for (i, (a, b)) in edited.iter().zip(&ids).enumerate() {
            assert_eq!(a == b, i != which, "{from} -> {to}: check {i}");
        }
    }
}

#[test]
fn metric_and_probe_alerts_read_the_same_state_keys_as_the_others() {
    let c = ok(
        "metric: memory\nalert_if: tags=m lower_limit=1 every=10 for=3 clear_for=2 repeat=600 message=low\n\
         probe: tcp db:5432\nalert_failed: tags=db\n",
    );
    assert_eq!(
        c.metrics[0].state,
        StateKeys {
            every: Some(Duration::from_secs(10)),
            open_after: 3,
            clear_after: 2,
            repeat: Some(Duration::from_secs(600)),
        }
    );
    assert_eq!(c.probes[0].state, StateKeys::DEFAULT);
    assert_eq!(c.probes[0].every(), conf::DEFAULT_EVERY);
    let e = errors("metric: cpu\nalert_if: tags=c upper_limit=90 for=0 message=x\n");
    assert_eq!(
        e,
        ["config:2: `alert_if:` `for=0` must be a whole number of results from 1 to 100000"]
    );
    let e = errors("probe: tcp db:5432\nalert_metric: tags=db for=2\n");
    assert_eq!(e, ["config:2: `alert_metric:` unknown key `for=`"]);
}

#[test]
fn a_line_problem_is_named_by_its_key_and_never_longer_than_the_wire_allows() {
    let check = CheckId::new("cmd", ["run: command=df -P", "alert_if: key=3"]);
    let var = check.for_line("/var");
    assert_eq!(var.as_str(), format!("{check}:/var"));
    // Two long keys with the same beginning stay apart, each cut to the
    // longest id the wire carries, on a character boundary.
    let a = check.for_line(&format!("/srv/{}/a", "é".repeat(40)));
    let b = check.for_line(&format!("/srv/{}/b", "é".repeat(40)));
    assert_ne!(a, b);
    for id in [&a, &b] {
        assert!(id.as_str().len() <= CheckId::MAX_LEN, "{id}");
        assert!(id.as_str().starts_with(&format!("{check}:/srv/é")), "{id}");
    }
}
