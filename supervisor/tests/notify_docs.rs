//! Every notification file shown in docs/NOTIFICATIONS.md parses, and every
//! JSON body template there renders to valid JSON, for a single problem and
//! for a group, whatever the messages contain.

use std::path::Path;

use conf::{ChannelKind, NotifyConfig};
use supervisor::notify::{Escape, Item, Notification, NotifyEvent};

fn examples() -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/NOTIFICATIONS.md"
    ))
    .unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```notify") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

fn item(host: &str, message: &str) -> Item {
    Item {
        host: host.into(),
        check: "disk".into(),
        tags: vec!["disk".into(), "web".into()],
        kind: "alert".into(),
        state: "open".into(),
        message: message.into(),
        since_ms: 1_796_601_600_000,
        duration_s: Some(312),
        count: 1,
    }
}

#[test]
fn every_documented_file_parses_and_every_json_body_renders_to_json() {
    let blocks = examples();
    assert!(blocks.len() >= 12, "found {} examples", blocks.len());
    let hostile = "quote \" backslash \\ newline \n tab \t brace {host} } {";
    let samples = [
        vec![item("web1", hostile)],
        vec![item("web1", "a"), item("db2", hostile)],
    ];
    let mut webhooks = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let config = NotifyConfig::parse(block, &format!("example{i}"), Path::new("/etc/436"))
            .unwrap_or_else(|e| panic!("example {i}:\n{block}\n{e}"));
        assert!(!config.routes.is_empty(), "example {i} has no route");
        for channel in &config.channels {
            let ChannelKind::Webhook(w) = &channel.kind else {
                continue;
            };
            webhooks.push(channel.name.clone());
            let (Some(body), true) = (&w.body, w.content_type.contains("json")) else {
                continue;
            };
            for items in &samples {
                for event in [NotifyEvent::Opened, NotifyEvent::Cleared] {
                    let n = Notification {
                        key: "0123abcd".into(),
                        event,
                        severity: "critical".into(),
                        route: "notify.conf:3".into(),
                        at_ms: 1_796_601_900_000,
                        items: items.clone(),
                        more: 0,
                        url: "http://sup:8436/hosts/web1".into(),
                    };
                    let rendered = n.render(body, Escape::Json);
                    serde_json::from_str::<serde_json::Value>(&rendered)
                        .unwrap_or_else(|e| panic!("{}: {e}\n{rendered}", channel.name));
                }
            }
        }
    }
    for name in [
        "slack",
        "discord",
        "telegram",
        "teams",
        "ntfy",
        "matrix",
        "pagerduty",
    ] {
        assert!(webhooks.iter().any(|w| w == name), "no {name} example");
    }
}

#[test]
fn the_pagerduty_example_triggers_and_resolves_one_incident() {
    let block = examples()
        .into_iter()
        .find(|b| b.contains("events.pagerduty.com"))
        .unwrap();
    let config = NotifyConfig::parse(&block, "pd", Path::new("/")).unwrap();
    let ChannelKind::Webhook(w) = &config.channels[0].kind else {
        panic!()
    };
    let body = w.body.as_deref().unwrap();
    let render = |event| {
        let n = Notification {
            key: "k".into(),
            event,
            severity: "critical".into(),
            route: "pd:3".into(),
            at_ms: 0,
            items: vec![item("web1", "down")],
            more: 0,
            url: String::new(),
        };
        serde_json::from_str::<serde_json::Value>(&n.render(body, Escape::Json)).unwrap()
    };
    let (open, clear) = (render(NotifyEvent::Opened), render(NotifyEvent::Cleared));
    assert_eq!(open["event_action"], "trigger");
    assert_eq!(clear["event_action"], "resolve");
    assert_eq!(open["dedup_key"], "436/web1/disk");
    assert_eq!(open["dedup_key"], clear["dedup_key"]);
    assert_eq!(open["payload"]["severity"], "critical");
    assert_eq!(open["payload"]["source"], "web1");
}
