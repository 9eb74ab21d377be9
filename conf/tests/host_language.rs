//! The host language: every directive's values, `active:` scope, and the
//! `FILE:LINE` of every kind of error.

use std::time::Duration;

use conf::{
    ActiveWindows, CommandRule, ConfError, GroupEquals, HostConfig, LineSelect, LogAlert,
    parse_host,
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

#[test]
fn log_group_with_alert_all_and_several_matches() {
    let c = ok("file: /var/log/syslog\nmatch: foo\nmatch: ba(r|z)\nalert_all: tags=sys,log\n");
    assert_eq!(c.logs.len(), 1);
    let l = &c.logs[0];
    assert_eq!(l.file, "/var/log/syslog");
    assert_eq!(l.patterns, ["foo", "ba(r|z)"]);
    assert_eq!(l.tags, "sys,log");
    assert_eq!(l.alert, LogAlert::All { message: None });
    assert_eq!(l.active, None);
    assert_eq!(l.origin.file, "config");
    assert_eq!(l.origin.line, 4);
    assert!(l.set.is_match("xbaz"));
    assert!(!l.set.is_match("bar"[..2].as_ref()));
}

#[test]
fn alert_all_with_message() {
    let c = ok("file: f\nmatch: x\nalert_all: tags=t message=Something  odd = here\n");
    assert_eq!(
        c.logs[0].alert,
        LogAlert::All {
            message: Some("Something  odd = here".into())
        }
    );
}

#[test]
fn alert_n_count_inactive_values() {
    let c = ok(
        "file: a\nmatch: x\nalert_n: tags=t threshold=2.5 seconds=60 message=Too many x\n\
                file: b\nmatch: y\nalert_count: tags=u seconds=300\n\
                file: c\nmatch: z\nalert_inactive: tags=v seconds=3600 message=Quiet\n",
    );
    assert_eq!(
        c.logs[0].alert,
        LogAlert::N {
            threshold: 2.5,
            block: Duration::from_secs(60),
            message: "Too many x".into()
        }
    );
    assert_eq!(
        c.logs[1].alert,
        LogAlert::Count {
            block: Duration::from_secs(300)
        }
    );
    assert_eq!(c.logs[1].tags, "u");
    assert_eq!(
        c.logs[2].alert,
        LogAlert::Inactive {
            block: Duration::from_secs(3600),
            message: "Quiet".into()
        }
    );
    assert_eq!(c.logs[2].file, "c");
}

#[test]
fn process_and_alert_running_values() {
    let c = ok(
        "ps_command: ps -e -o 'args='\nprocess: ^/usr/sbin/sshd\nalert_running: tags=sshd min=1 max=20 message=sshd count\n",
    );
    let p = &c.processes[0];
    assert_eq!(p.pattern.as_str(), "^/usr/sbin/sshd");
    assert_eq!((p.min, p.max), (1, 20));
    assert_eq!(p.tags, "sshd");
    assert_eq!(p.message, "sshd count");
    assert_eq!(p.origin.line, 3);
    let ps = c.ps_command.unwrap();
    assert_eq!(ps.argv, ["ps", "-e", "-o", "args="]);
    assert_eq!(ps.text, "ps -e -o 'args='");
}

#[test]
fn run_with_alert_if_both_limits_and_alert_metric() {
    let c = ok(
        "run: command=sh -c \"df -P | tail -n +2\" extract=^(\\S+)\\s+\\d+\\s+\\d+\\s+\\d+\\s+(\\d+)%\\s+(\\S+)$\n\
                alert_if: tags=disk match=3,/ upper_limit=2,90 message=Root full\n\
                alert_if: tags=disk lower_limit=2,1.5 match=3,/home message=Home oddly empty\n\
                alert_metric: tags=disk,metric match=3,/ metric=2\n\
                run: command=uptime extract=(load) average: ([0-9.]+)\n\
                alert_metric: tags=load match=1,load metric=2\n",
    );
    assert_eq!(c.commands.len(), 2);
    let w = &c.commands[0];
    assert_eq!(w.command.argv, ["sh", "-c", "df -P | tail -n +2"]);
    assert_eq!(
        w.extract.as_str(),
        r"^(\S+)\s+\d+\s+\d+\s+\d+\s+(\d+)%\s+(\S+)$"
    );
    assert_eq!(w.origin.line, 1);
    assert_eq!(w.alerts.len(), 3);
    assert_eq!(
        w.alerts[0].select,
        LineSelect::Equals(GroupEquals {
            group: 3,
            text: "/".into()
        })
    );
    assert_eq!(
        w.alerts[0].rule,
        CommandRule::Above {
            group: 2,
            limit: 90.0,
            message: "Root full".into()
        }
    );
    assert_eq!(w.alerts[0].origin.line, 2);
    assert_eq!(
        w.alerts[1].select,
        LineSelect::Equals(GroupEquals {
            group: 3,
            text: "/home".into()
        })
    );
    assert_eq!(
        w.alerts[1].rule,
        CommandRule::Below {
            group: 2,
            limit: 1.5,
            message: "Home oddly empty".into()
        }
    );
    assert_eq!(w.alerts[2].rule, CommandRule::Metric { group: 2 });
    assert_eq!(w.alerts[2].tags, "disk,metric");
    let w = &c.commands[1];
    assert_eq!(w.command.argv, ["uptime"]);
    assert_eq!(w.extract.as_str(), "(load) average: ([0-9.]+)");
    assert_eq!(w.alerts.len(), 1);
    assert_eq!(w.origin.line, 5);
}

#[test]
fn lenient_spacing_crlf_and_key_order() {
    let c = ok(
        "file:/var/log/x\r\n  match:\tfoo  \r\nalert_n:seconds=60\t\ttags=a threshold=3  message=m  x\r\n\r\n# comment\r\nprocess:  p\r\nalert_running:max=3 tags=t min=0 message=m\r\n",
    );
    assert_eq!(c.logs[0].file, "/var/log/x");
    assert_eq!(c.logs[0].patterns, ["foo"]);
    assert_eq!(c.logs[0].tags, "a");
    assert!(matches!(&c.logs[0].alert, LogAlert::N { .. }));
    assert_eq!(c.processes[0].min, 0);
    assert_eq!(c.processes[0].max, 3);
    assert_eq!(c.processes[0].origin.line, 7);
}

#[test]
fn active_applies_to_the_next_alert_only() {
    let c = ok("active: 06;09:00-17:00\n\
                file: a\nmatch: x\nalert_all: tags=t\n\
                file: b\nmatch: y\nalert_all: tags=t\n\
                process: p\nactive: 1;22:00-02:00\nalert_running: tags=t min=1 max=1 message=m\n\
                run: command=c extract=(a)(b)\n\
                alert_metric: tags=t match=1,a metric=2\n\
                active: 0123456;06:00-22:00,1;22:30-23:59\n\
                alert_metric: tags=t match=1,a metric=2\n\
                alert_metric: tags=t match=1,a metric=2\n");
    assert_eq!(
        c.logs[0].active,
        Some(ActiveWindows::parse("06;09:00-17:00").unwrap())
    );
    assert_eq!(c.logs[1].active, None);
    assert_eq!(
        c.processes[0].active,
        Some(ActiveWindows::parse("1;22:00-02:00").unwrap())
    );
    let alerts = &c.commands[0].alerts;
    assert_eq!(alerts[0].active, None);
    assert!(alerts[1].active.as_ref().unwrap().is_active(1, 22, 45));
    assert_eq!(alerts[2].active, None);
}

#[test]
fn unknown_directive_names_its_line() {
    assert_eq!(
        errors("file: a\nmatch: x\nalert_all: tags=t\n\nfrobnicate: yes\n"),
        ["config:5: unknown directive `frobnicate:`"]
    );
    assert_eq!(
        errors("just words\n"),
        ["config:1: expected `directive: argument`, found `just words`"]
    );
}

#[test]
fn alert_without_its_group_names_the_alert_line() {
    assert_eq!(
        errors("alert_all: tags=t\n"),
        ["config:1: `alert_all:` without `file:` and `match:` before it"]
    );
    assert_eq!(
        errors("file: a\nalert_n: tags=t threshold=1 seconds=1 message=m\n"),
        ["config:2: `alert_n:` without `match:` before it (the group's `file:` is at config:1)"]
    );
    assert_eq!(
        errors("alert_running: tags=t min=1 max=2 message=m\n"),
        ["config:1: `alert_running:` without `process:` before it"]
    );
    assert_eq!(
        errors("# x\nalert_if: tags=t match=1,a upper_limit=1,2 message=m\n"),
        ["config:2: `alert_if:` without `run:` before it"]
    );
    assert_eq!(
        errors("match: x\n"),
        ["config:1: `match:` without `file:` before it"]
    );
    // An alert_* closes its group: the next one needs its own file: again.
    assert_eq!(
        errors("file: a\nmatch: x\nalert_all: tags=t\nmatch: y\nalert_all: tags=u\n"),
        [
            "config:4: `match:` without `file:` before it",
            "config:5: `alert_all:` without `file:` and `match:` before it"
        ]
    );
    assert_eq!(
        errors(
            "process: p\nalert_running: tags=t min=1 max=2 message=m\nalert_running: tags=t min=1 max=2 message=m\n"
        ),
        ["config:3: `alert_running:` without `process:` before it"]
    );
}

#[test]
fn group_left_without_alert_is_reported_at_its_first_line() {
    assert_eq!(
        errors(
            "file: /a\nmatch: x\nfile: /b\nmatch: y\nalert_all: tags=t\nprocess: p\n\nrun: command=c extract=(x)\n"
        ),
        [
            "config:1: `file: /a` has no alert_* line after its `match:` lines; the group is ignored",
            "config:6: `process:` has no `alert_running:` line after it; it is ignored",
            "config:8: `run:` has no `alert_if:` or `alert_metric:` line after it; it is ignored",
        ]
    );
}

#[test]
fn bad_regex_gives_the_engine_message_at_the_match_line() {
    let (c, e) = parse_host("file: a\nmatch: ok\nmatch: foo(bar\nalert_all: tags=t\n");
    assert!(c.logs.is_empty());
    let shown: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["config:3: bad regex `foo(bar`: unclosed group"]);
    assert_eq!(
        errors("process: (?=x)\nalert_running: tags=t min=1 max=1 message=m\n"),
        [
            "config:1: bad regex `(?=x)`: look-around, including look-ahead and look-behind, is not supported"
        ]
    );
    assert_eq!(
        errors("run: command=c extract=a{2,1}\nalert_metric: tags=t match=0,a metric=0\n"),
        [
            "config:1: bad regex `a{2,1}` in `extract=`: invalid repetition count range, the start must be <= the end"
        ]
    );
}

#[test]
fn pathological_regex_is_an_error_not_a_hang() {
    let started = std::time::Instant::now();
    let e = errors("file: a\nmatch: \\w{1000}{1000}\nalert_all: tags=t\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("config:2: bad regex"), "{e:?}");
    assert!(e[0].contains("exceeds size limit"), "{e:?}");
    let e =
        errors("process: (((a{100}){100}){100})\nalert_running: tags=t min=1 max=1 message=m\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn a_match_too_large_alone_is_named_at_its_line_and_a_bad_one_also_without_an_alert() {
    // Its syntax is fine, so only compiling the group names it: at its own
    // line, not at the alert. A group without an alert line is ignored and
    // not compiled, but its syntax errors are still named.
    let e = errors("file: a\nmatch: ok\nmatch: \\w{1000}{1000}\nmatch: fine\nalert_all: tags=t\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("config:3: bad regex"), "{e:?}");
    assert!(e[0].contains("exceeds size limit"), "{e:?}");
    let e = errors(
        "file: a\nmatch: (a\nmatch: \\w{1000}{1000}\nprocess: x\nalert_running: tags=t min=1 max=1 message=m\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("config:1: `file: a` has no alert_* line"),
        "{e:?}"
    );
    assert_eq!(e[1], "config:2: bad regex `(a`: unclosed group", "{e:?}");
}

#[test]
fn match_set_too_large_together_is_reported_at_the_alert() {
    // Each pattern fits alone; 40 together do not.
    let mut text = String::from("file: a\n");
    for i in 0..40 {
        text += &format!("match: (?-u:\\w){{300}}{i}\n");
    }
    text += "alert_all: tags=t\n";
    let e = errors(&text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("config:42: the 40 `match:` patterns"),
        "{e:?}"
    );
}

#[test]
fn bad_window_is_reported_and_skips_the_next_alerts_group_only() {
    let (c, e) = parse_host(
        "active: 8;09:00-17:00\nfile: a\nmatch: x\nalert_all: tags=t\nfile: b\nmatch: y\nalert_all: tags=u\n",
    );
    let shown: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 1);
    assert!(
        shown[0].starts_with("config:1: bad `active:` window `8;09:00-17:00`: day '8'"),
        "{shown:?}"
    );
    assert_eq!(c.logs.len(), 1);
    assert_eq!(c.logs[0].file, "b");
}

#[test]
fn key_errors_name_the_key() {
    assert_eq!(
        errors("file: a\nmatch: x\nalert_n: tags=t seconds=60 message=m\n"),
        ["config:3: `alert_n:` missing key `threshold=`"]
    );
    assert_eq!(
        errors("file: a\nmatch: x\nalert_n: tags=t threshold=1 seconds=60\n"),
        [
            "config:3: `alert_n:` missing key `message=` (it comes last and takes the rest of the line)"
        ]
    );
    assert_eq!(
        errors("file: a\nmatch: x\nalert_count: tags=t seconds=60 colour=red\n"),
        ["config:3: `alert_count:` unknown key `colour=`"]
    );
    assert_eq!(
        errors("file: a\nmatch: x\nalert_count: tags=t seconds=60 message=no\n"),
        ["config:3: `alert_count:` unknown key `message=`"]
    );
    assert_eq!(
        errors("file: a\nmatch: x\nalert_all: tags=t tags=u\n"),
        ["config:3: `alert_all:` key `tags=` given twice"]
    );
    assert_eq!(
        errors("file: a\nmatch: x\nalert_all: t\n"),
        [
            "config:3: `alert_all:` expected KEY=VALUE, found `t`",
            "config:3: `alert_all:` missing key `tags=`"
        ]
    );
}

#[test]
fn bad_numbers_are_reported() {
    assert_eq!(
        errors("file: a\nmatch: x\nalert_n: tags=t threshold=lots seconds=1.5 message=m\n"),
        [
            "config:3: `alert_n:` `threshold=lots` must be a non-negative decimal number",
            "config:3: `alert_n:` `seconds=1.5` must be a whole number of seconds from 1 to 31622400",
        ]
    );
    assert_eq!(
        errors("file: a\nmatch: x\nalert_inactive: tags=t seconds=0 message=m\n"),
        [
            "config:3: `alert_inactive:` `seconds=0` must be a whole number of seconds from 1 to 31622400"
        ]
    );
    assert_eq!(
        errors("process: p\nalert_running: tags=t min=-1 max=5 message=m\n"),
        ["config:2: `alert_running:` `min=-1` must be a whole number (0 or more)"]
    );
    assert_eq!(
        errors("process: p\nalert_running: tags=t min=6 max=5 message=m\n"),
        ["config:2: `alert_running:` `min=6` is above `max=5`"]
    );
    assert_eq!(
        errors(
            "run: command=c extract=(a)(b)\nalert_if: tags=t match=1,a upper_limit=2,inf message=m\n"
        ),
        [
            "config:2: `alert_if:` `upper_limit=2,inf` must be GROUP,VALUE (a capture group number, a comma, a decimal number)"
        ]
    );
    assert_eq!(
        errors(
            "run: command=c extract=(a)(b)\nalert_if: tags=t match=x upper_limit=2,1 message=m\n"
        ),
        [
            "config:2: `alert_if:` `match=x` must be GROUP,TEXT (a capture group number, a comma, the text)"
        ]
    );
}

#[test]
fn alert_if_needs_exactly_one_limit() {
    assert_eq!(
        errors("run: command=c extract=(a)(b)\nalert_if: tags=t match=1,a message=m\n"),
        ["config:2: `alert_if:` missing key `upper_limit=` or `lower_limit=`"]
    );
    assert_eq!(
        errors(
            "run: command=c extract=(a)(b)\nalert_if: tags=t match=1,a upper_limit=2,1 lower_limit=2,0 message=m\n"
        ),
        ["config:2: `alert_if:` give either `upper_limit=` or `lower_limit=`, not both"]
    );
}

#[test]
fn alert_if_without_match_judges_every_line_by_its_key() {
    let c = ok(
        "run: command=df -P extract=^(\\S+)\\s+\\d+\\s+\\d+\\s+\\d+\\s+(\\d+)%\\s+(\\S+)$
alert_if: tags=disk key=3 upper_limit=2,90 message=File system nearly full
alert_if: tags=disk upper_limit=2,95 message=Device nearly full
alert_if: tags=disk match=3,/ upper_limit=2,90 message=Root nearly full
",
    );
    let alerts = &c.commands[0].alerts;
    assert_eq!(alerts[0].select, LineSelect::Each { key: 3 });
    // Neither `match=` nor `key=`: keyed by the first group.
    assert_eq!(alerts[1].select, LineSelect::Each { key: 1 });
    assert!(matches!(alerts[2].select, LineSelect::Equals(_)));
    // `key=` is part of what the check is: another key, another check.
    let ids: std::collections::BTreeSet<_> = alerts.iter().map(|a| a.check.clone()).collect();
    assert_eq!(ids.len(), 3);
}

#[test]
fn key_and_match_together_or_a_key_beyond_the_groups_are_errors() {
    assert_eq!(
        errors(
            "run: command=c extract=(a)(b)\nalert_if: tags=t match=1,a key=1 upper_limit=2,1 message=m\n"
        ),
        [
            "config:2: `alert_if:` give either `match=G,TEXT` (one line) or `key=G` (every line), not both"
        ]
    );
    assert_eq!(
        errors("run: command=c extract=(a)(b)\nalert_if: tags=t key=3 upper_limit=2,1 message=m\n"),
        [
            "config:2: `alert_if:` `key=` names group 3 but the `extract=` regex has 2 capture groups"
        ]
    );
    assert_eq!(
        errors("run: command=c extract=(a)(b)\nalert_if: tags=t key=x upper_limit=2,1 message=m\n"),
        ["config:2: `alert_if:` `key=x` must be a capture group number"]
    );
}

#[test]
fn group_numbers_beyond_the_extract_regex_are_errors() {
    let (c, e) = parse_host(
        "run: command=c extract=(a)(b)\nalert_metric: tags=t match=1,a metric=2\nalert_metric: tags=t match=3,a metric=2\n",
    );
    let shown: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "config:3: `alert_metric:` `match=` names group 3 but the `extract=` regex has 2 capture groups"
        ]
    );
    // One bad alert skips its whole run: group.
    assert!(c.commands.is_empty());
}

#[test]
fn bad_run_lines() {
    assert_eq!(
        errors("run: df -P\nalert_metric: tags=t match=1,a metric=1\n"),
        ["config:1: `run:` expects `command=COMMAND extract=REGEX`"]
    );
    assert_eq!(
        errors("run: command=df -P\nalert_metric: tags=t match=1,a metric=1\n"),
        ["config:1: `run:` has no ` extract=REGEX` after the command"]
    );
    assert_eq!(
        errors("run: command=sh -c 'df extract=(a)\nalert_metric: tags=t match=1,a metric=1\n"),
        ["config:1: bad `command=`: unbalanced single quote"]
    );
    assert_eq!(
        errors("run: command= extract=(a)\nalert_metric: tags=t match=1,a metric=1\n"),
        ["config:1: bad `command=`: the command is empty"]
    );
    assert_eq!(
        errors("ps_command: ps\nps_command: ps ax\n"),
        ["config:2: `ps_command:` given twice (first at config:1)"]
    );
}

#[test]
fn three_errors_in_one_file_give_three_errors_and_good_groups_still_build() {
    let (c, e) = parse_host(
        "file: a\nmatch: (\nalert_all: tags=t\n\
         file: b\nmatch: ok\nalert_all: tags=t\n\
         process: p\nalert_running: tags=t min=1 message=m\n\
         file: c\nmatch: ok\nalert_n: tags=t threshold=1 seconds=x message=m\n\
         process: q\nalert_running: tags=t min=1 max=1 message=m\n",
    );
    let lines: Vec<usize> = e.iter().map(|e| e.origin.line).collect();
    assert_eq!(lines, [2, 8, 11], "{e:#?}");
    assert_eq!(c.logs.len(), 1);
    assert_eq!(c.logs[0].file, "b");
    assert_eq!(c.processes.len(), 1);
    assert_eq!(c.processes[0].pattern.as_str(), "q");
}

#[test]
fn include_left_in_parsed_text_is_an_error() {
    assert_eq!(
        errors("include: common\n"),
        ["config:1: `include:` must be expanded before parsing (the supervisor does it)"]
    );
}

#[test]
fn markers_give_file_line_and_chain() {
    let text = "#@ hosts/web1 3\nfile: a\nmatch: x\n#@ includes/b 7 hosts/web1:5 includes/a:2\nfrob: 1\n#@ hosts/web1 9\nalert_all: tags=t\n# an ordinary comment\nwhat: 2\n";
    let (c, e) = parse_host(text);
    let shown: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "includes/b:7: unknown directive `frob:` (included from hosts/web1:5, includes/a:2)",
            "hosts/web1:11: unknown directive `what:`",
        ]
    );
    assert_eq!(c.logs[0].origin.file, "hosts/web1");
    assert_eq!(c.logs[0].origin.line, 9);
}
