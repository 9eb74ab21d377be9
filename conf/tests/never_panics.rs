//! Whatever text arrives (an observer parses what the network gave it), the
//! parsers return; they never panic or hang.

use std::path::Path;

use conf::{ActiveWindows, CommandLine, NotifyConfig, SupervisorConfig, parse_host};
use proptest::prelude::*;

/// Lines built from the language's own words, so the generator reaches deep
/// into the parser rather than stopping at "unknown directive".
fn host_line() -> impl Strategy<Value = String> {
    let directive = prop::sample::select(vec![
        "include",
        "active",
        "file",
        "match",
        "alert_all",
        "alert_n",
        "alert_count",
        "alert_inactive",
        "ps_command",
        "process",
        "alert_running",
        "run",
        "alert_if",
        "alert_metric",
        "#@ hosts/h",
        "#",
        "",
    ]);
    let word = prop::sample::select(vec![
        "tags=t",
        "threshold=1.5",
        "seconds=60",
        "seconds=0",
        "message=m x",
        "min=1",
        "max=0",
        "match=1,a",
        "match=9,",
        "upper_limit=2,3",
        "lower_limit=x",
        "metric=2",
        "command=sh -c 'x",
        "command=df",
        "extract=(a)(b)",
        "extract=(",
        "06;09:00-17:00",
        "8;25:00",
        "\\w{1000}{1000}",
        "(a",
        "\"",
        "'",
        "\\",
        "=",
        ",",
        "é",
        "\t",
        "\r",
        "7",
    ]);
    (directive, prop::collection::vec(word, 0..5), any::<bool>()).prop_map(|(d, words, colon)| {
        format!("{d}{}{}", if colon { ": " } else { " " }, words.join(" "))
    })
}

/// Notification-file lines from the language's own words.
fn notify_line() -> impl Strategy<Value = String> {
    let directive = prop::sample::select(vec![
        "channel: a webhook",
        "channel: b alertmanager",
        "channel: m email",
        "channel: x exec",
        "channel:",
        "header",
        "body",
        "subject",
        "timeout",
        "active",
        "route",
        "#",
        "",
    ]);
    let word = prop::sample::select(vec![
        "http://h/{host}",
        "https://",
        "smtp://mx:25",
        "smtps://[::1]:99999",
        "smtp://:",
        "from=a@b",
        "to=,",
        "user=u",
        "password_file=p",
        "starttls=no",
        "ca_file=",
        "channel=a,b,m,x",
        "channel=",
        "host=[",
        "host=db*",
        "tags=a,b",
        "kind=host",
        "state=point",
        "wait=0",
        "repeat=0",
        "repeat=99999999999999999999d",
        "escalate=15m:b,:",
        "group=check",
        "every=1s",
        "resend=0",
        "severity=critical",
        "06;09:00-17:00",
        ": x",
        "{\"t\": \"{summary}\"}",
        "'",
        "=",
        "é",
    ]);
    (directive, prop::collection::vec(word, 0..6), any::<bool>()).prop_map(|(d, words, colon)| {
        format!("{d}{}{}", if colon { ": " } else { " " }, words.join(" "))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn notify_parse_returns_on_any_text(text in "\\PC*") {
        let _ = NotifyConfig::parse(&text, "notify.conf", Path::new("/x"));
    }

    #[test]
    fn notify_parse_returns_on_any_mix_of_its_own_words(lines in prop::collection::vec(notify_line(), 0..30)) {
        match NotifyConfig::parse(&lines.join("\n"), "notify.conf", Path::new("/x")) {
            Ok(config) => {
                // A good file's routes only name its channels.
                for route in &config.routes {
                    for name in &route.channels {
                        prop_assert!(config.channel(name).is_some());
                    }
                }
            }
            Err(errors) => {
                for e in &errors.0 {
                    prop_assert!(e.origin.line >= 1 && e.origin.line <= lines.len());
                }
            }
        }
    }

    #[test]
    fn parse_host_returns_on_any_text(text in "\\PC*") {
        let _ = parse_host(&text);
    }

    #[test]
    fn parse_host_returns_on_any_mix_of_its_own_words(lines in prop::collection::vec(host_line(), 0..30)) {
        let text = lines.join("\n");
        let (config, errors) = parse_host(&text);
        // Every error names a line of the text.
        for e in &errors {
            prop_assert!(e.origin.line >= 1 || e.origin.file != "config");
        }
        prop_assert!(config.group_count() <= lines.len());
    }

    #[test]
    fn supervisor_parse_returns_on_any_text(text in "\\PC*") {
        let _ = SupervisorConfig::parse(&text, "ax436.conf", Path::new("/x"));
    }

    #[test]
    fn supervisor_parse_returns_on_directive_like_lines(
        lines in prop::collection::vec(
            ("(event_stream|port|broadcast|hosts|includes|key_file|max_idle|beacon_interval|stream_format|stream_rotation|stream_keep|log_file|x)",
             "[ \t]*", "[0-9a-z.,: /-]{0,20}"),
            0..20)
    ) {
        let text: Vec<String> = lines.iter().map(|(d, s, v)| format!("{d}:{s}{v}")).collect();
        let _ = SupervisorConfig::parse(&text.join("\n"), "ax436.conf", Path::new("/x"));
    }

    #[test]
    fn windows_and_command_lines_return_on_any_text(text in "\\PC*") {
        if let Ok(w) = ActiveWindows::parse(&text) {
            for day in 0..8 {
                let _ = w.is_active(day, 23, 59);
            }
        }
        let _ = CommandLine::parse(&text);
    }

    #[test]
    fn markers_with_any_numbers_never_overflow(n in any::<u64>(), text in "[a-z: ]{0,20}") {
        let _ = parse_host(&format!("#@ hosts/h {n}\n{text}\n{text}\n"));
    }
}
