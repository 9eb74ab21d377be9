//! The notification file: the documented example as written, every channel
//! type and route key, and `FILE:LINE` errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use conf::{ChannelKind, Grouping, HttpMethod, MailSecurity, NotifyConfig, Severity};

fn parse(text: &str) -> Result<NotifyConfig, Vec<String>> {
    NotifyConfig::parse(text, "notify.conf", Path::new("/etc/436"))
        .map_err(|e| e.0.iter().map(ToString::to_string).collect())
}

const ISSUE_EXAMPLE: &str = "\
channel: ops webhook http://127.0.0.1:8080/hook
channel: oncall alertmanager http://127.0.0.1:9093
channel: mail email smtp://mail.example.com:587 from=436@example.com to=ops@example.com
route: tags=disk,web channel=ops wait=0 repeat=4h resolved=yes
route: host=db* channel=mail escalate=15m:oncall
";

#[test]
fn the_documented_example_works_as_written() {
    let c = parse(ISSUE_EXAMPLE).unwrap();
    assert_eq!(c.channels.len(), 3);
    let ChannelKind::Webhook(w) = &c.channels[0].kind else {
        panic!("ops is not a webhook")
    };
    assert_eq!(w.url, "http://127.0.0.1:8080/hook");
    assert_eq!(w.method, HttpMethod::Post);
    assert_eq!(w.content_type, "application/json");
    let ChannelKind::Alertmanager(a) = &c.channels[1].kind else {
        panic!("oncall is not alertmanager")
    };
    assert_eq!(a.url, "http://127.0.0.1:9093");
    assert_eq!(a.resend, Duration::from_secs(60));
    let ChannelKind::Email(m) = &c.channels[2].kind else {
        panic!("mail is not email")
    };
    assert_eq!(m.server, "mail.example.com");
    assert_eq!(m.port, 587);
    assert_eq!(m.security, MailSecurity::StartTlsRequired);
    assert_eq!(m.from, "436@example.com");
    assert_eq!(m.to, ["ops@example.com"]);

    let r = &c.routes[0];
    assert_eq!(r.tags, ["disk", "web"]);
    assert_eq!(r.channels, ["ops"]);
    assert_eq!(r.wait, Duration::ZERO);
    assert_eq!(r.repeat, Some(Duration::from_secs(4 * 3600)));
    assert!(r.resolved);
    assert!(r.matches("web1", &["disk".into()], "alert", "open"));
    assert!(!r.matches("web1", &["cpu".into()], "alert", "open"));
    let r = &c.routes[1];
    assert!(r.matches("db2", &[], "alert", "open"));
    assert!(!r.matches("web2", &[], "alert", "open"));
    assert_eq!(
        r.escalate,
        [(Duration::from_secs(900), "oncall".to_string())]
    );
    assert_eq!(r.severity, Severity::Warning);
    assert_eq!(r.origin.to_string(), "notify.conf:5");
}

#[test]
fn follower_lines_belong_to_the_channel_above() {
    let errors = parse("channel: a exec true\nsubject: x\n").unwrap_err();
    assert_eq!(
        errors,
        ["notify.conf:2: channel `a`: `subject:` does not apply to a exec channel"]
    );
    let c = parse(
        "channel: slack webhook https://hooks.example.com/x/{host} method=PUT content_type=text/plain\n\
         header: Authorization: Bearer abc:def\n\
         body: {\"text\": \"{summary}\"}\n\
         timeout: 30s\n\
         channel: m email smtps://mx.example.com from=a@b.c to=x@y.z,w@y.z user=me password_file=mail.secret\n\
         subject: [436] {summary}\n\
         body: {text}\n\
         channel: page exec /usr/local/bin/page --to 'on call' \"{x}\"\n\
         timeout: 5\n",
    )
    .unwrap();
    let ChannelKind::Webhook(w) = &c.channels[0].kind else {
        panic!()
    };
    assert_eq!(w.method, HttpMethod::Put);
    assert_eq!(w.content_type, "text/plain");
    assert_eq!(
        w.headers,
        [("Authorization".to_string(), "Bearer abc:def".to_string())]
    );
    assert_eq!(w.body.as_deref(), Some("{\"text\": \"{summary}\"}"));
    assert_eq!(c.channels[0].timeout, Duration::from_secs(30));
    let ChannelKind::Email(m) = &c.channels[1].kind else {
        panic!()
    };
    assert_eq!(m.security, MailSecurity::Tls);
    assert_eq!(m.port, 465);
    assert_eq!(m.to, ["x@y.z", "w@y.z"]);
    assert_eq!(m.user.as_deref(), Some("me"));
    assert_eq!(m.password_file, Some(PathBuf::from("/etc/436/mail.secret")));
    assert_eq!(m.subject.as_deref(), Some("[436] {summary}"));
    assert_eq!(m.ca_file, None);
    assert_eq!(m.body.as_deref(), Some("{text}"));
    let ChannelKind::Exec(cmd) = &c.channels[2].kind else {
        panic!()
    };
    assert_eq!(cmd.argv, ["/usr/local/bin/page", "--to", "on call", "{x}"]);
    assert_eq!(c.channels[2].timeout, Duration::from_secs(5));
}

#[test]
fn route_keys_are_read() {
    let c = parse(
        "active: 12345;08:00-18:00\n\
         route: host=web*,db? kind=alert,host state=open,inactive channel=a,b severity=critical \
         wait=2m repeat=1h resolved=no escalate=1h:b,15m:a group=check every=10m\n\
         route: channel=a\n\
         channel: a exec true\nchannel: b exec false\n",
    )
    .unwrap();
    let r = &c.routes[0];
    assert_eq!(r.kinds, ["alert", "host"]);
    assert_eq!(r.states, ["open", "inactive"]);
    assert_eq!(r.channels, ["a", "b"]);
    assert_eq!(r.severity, Severity::Critical);
    assert_eq!(r.wait, Duration::from_secs(120));
    assert!(!r.resolved);
    assert_eq!(
        r.escalate,
        [
            (Duration::from_secs(900), "a".to_string()),
            (Duration::from_secs(3600), "b".to_string())
        ]
    );
    assert_eq!(r.group, Grouping::Check);
    assert_eq!(r.point_every, Duration::from_secs(600));
    assert!(r.matches("db1", &[], "host", "inactive"));
    assert!(!r.matches("db10", &[], "host", "inactive"));
    assert!(!r.matches("web1", &[], "metric", "open"));
    // Monday 09:00 inside, Sunday outside.
    assert!(r.is_active(1, 9, 0));
    assert!(!r.is_active(0, 9, 0));
    // `active:` applies to the next route only.
    assert!(c.routes[1].active.is_none());
    assert!(c.routes[1].is_active(0, 3, 0));
    assert!(c.routes[1].matches("anything", &[], "system", "point"));
}

#[test]
fn errors_name_file_and_line_and_all_are_reported() {
    let errors = parse(
        "channel: ops webhook ftp://x\n\
         channel: ops2 pager http://x\n\
         header: X: y\n\
         route: channel=nowhere wait=5 minutes\n\
         route: channel=ok repeat=0 severity=loud escalate=15m\n\
         channel: ok exec\n\
         channel: ok exec true\n\
         timeout: 0s\n\
         channel: ok exec true\n\
         channel: m email smtp://mx:99999 from=nobody to=a@b\n\
         channel: n email smtp://mx starttls=no from=a@b to=c@d user=u password_file=p\n\
         active: 9;00:00-01:00\n\
         route: channel=ok\n\
         subject: x\n\
         bogus line\n\
         color: red\n",
    )
    .unwrap_err();
    let expected = [
        "notify.conf:1: channel `ops`: `ftp://x`: the scheme must be http or https",
        "notify.conf:2: channel `ops2`: unknown channel type `pager` (expected webhook, alertmanager, email or exec)",
        "notify.conf:4: route: expected KEY=VALUE, found `minutes`",
        "notify.conf:5: route: `severity=loud` must be info, warning, error or critical",
        "notify.conf:5: route: `repeat=0` would repeat without end; leave `repeat=` out for no reminders",
        "notify.conf:5: route: `escalate=15m` must be DURATION:CHANNEL (e.g. 15m:oncall)",
        "notify.conf:6: channel `ok`: `exec`: the command is empty",
        "notify.conf:8: channel `ok`: `timeout:` must be at least 1s",
        "notify.conf:9: channel `ok` is defined twice (first at line 7)",
        "notify.conf:10: channel `m`: `smtp://mx:99999`: `99999` is not a port number",
    ];
    for (i, want) in expected.iter().enumerate() {
        assert!(
            errors[i].starts_with(want),
            "error {i}: {:?} does not start with {want:?}\nall: {errors:#?}",
            errors[i]
        );
    }
    let all = errors.join("\n");
    assert!(all.contains("notify.conf:10: channel `m`: `nobody` is not a mail address"));
    assert!(all.contains("notify.conf:11: channel `n`: a password is never sent without TLS"));
    assert!(all.contains("notify.conf:12: window `9;00:00-01:00`"));
    assert!(all.contains("notify.conf:14: `subject:` belongs right under a `channel:` line"));
    assert!(all.contains("notify.conf:15: expected `directive: argument`, found `bogus line`"));
    assert!(all.contains("notify.conf:16: unknown directive `color:`"));
    // The route on line 4 failed on its own keys; its channel is not
    // checked twice. Line 13's route was left out with its bad window.
    assert!(!all.contains("notify.conf:13"));
}

#[test]
fn unknown_channel_in_a_route_is_an_error_at_the_route() {
    let errors =
        parse("route: channel=ops escalate=5m:pager\nchannel: ops exec true\n").unwrap_err();
    assert_eq!(
        errors,
        ["notify.conf:1: no `channel: pager ...` in this file"]
    );
}

#[test]
fn load_labels_errors_with_the_path_and_resolves_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.conf");
    std::fs::write(
        &path,
        b"channel: m email smtp://mx from=a@b to=c@d user=u password_file=secret\nroute: channel=m\n",
    )
    .unwrap();
    let c = NotifyConfig::load(&path).unwrap();
    let ChannelKind::Email(m) = &c.channels[0].kind else {
        panic!()
    };
    assert_eq!(m.password_file, Some(dir.path().join("secret")));
    std::fs::write(&path, b"route: channel=x\n\xff\xfe\n").unwrap();
    let errors = NotifyConfig::load(&path).unwrap_err().to_string();
    assert!(errors.contains(&format!("{}:2: the line is not UTF-8 text", path.display())));
    assert!(errors.contains(&format!("{}:1: no `channel: x", path.display())));
    let missing = NotifyConfig::load(&dir.path().join("nope")).unwrap_err();
    assert_eq!(missing.0[0].origin.line, 0);
}

#[test]
fn ca_files_resolve_beside_the_file() {
    let c = parse(
        "channel: w webhook https://chat.lan/hook ca_file=lan-ca.pem\n\
         channel: a alertmanager https://am.lan:9093/ ca_file=/etc/ssl/lan.pem\n\
         channel: m email smtps://mx.lan from=a@b to=c@d ca_file=lan-ca.pem\n\
         route: channel=w,a,m\n",
    )
    .unwrap();
    let ChannelKind::Webhook(w) = &c.channels[0].kind else {
        panic!()
    };
    assert_eq!(w.ca_file, Some(PathBuf::from("/etc/436/lan-ca.pem")));
    let ChannelKind::Alertmanager(a) = &c.channels[1].kind else {
        panic!()
    };
    assert_eq!(a.url, "https://am.lan:9093");
    assert_eq!(a.ca_file, Some(PathBuf::from("/etc/ssl/lan.pem")));
    let ChannelKind::Email(m) = &c.channels[2].kind else {
        panic!()
    };
    assert_eq!(m.ca_file, Some(PathBuf::from("/etc/436/lan-ca.pem")));
}

#[test]
fn durations_take_units() {
    use conf::parse_duration;
    assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
    assert_eq!(parse_duration("4h"), Ok(Duration::from_secs(14_400)));
    assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
    for bad in ["", "m", "1.5h", "-1", "4w", "31d", "99999999999999999999"] {
        assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn no_input_panics_the_parser() {
    // A few hostile shapes; the proptest in never_panics covers host files.
    for text in [
        ":",
        "channel:",
        "channel: a",
        "channel: a webhook",
        "route:",
        "route: =",
        "active:",
        "header:",
        "channel: a email smtp://[::1]:25 from=a@b to=c@d starttls=no",
        "channel: a email smtp://:25",
        "route: host=[ channel=x",
    ] {
        let _ = parse(text);
    }
}
