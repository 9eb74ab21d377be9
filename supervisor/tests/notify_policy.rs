//! The notification policy in virtual time: wait and grouping, clearing,
//! repeat, escalation, acknowledgement, muting by host state, quiet hours,
//! point alerts and Alertmanager re-sends. Each test drives
//! `NotifyPolicy` with a clock it moves by hand and asserts on what it
//! hands out to queue.

use std::path::Path;
use std::time::{Duration, Instant};

use conf::NotifyConfig;
use supervisor::Now;
use supervisor::notify::{
    HostState, NotifyEvent, NotifyPolicy, Outgoing, PointAlert, ProblemOpened,
};

/// Monday 2026-12-07 00:00 UTC.
const MONDAY_MIDNIGHT_MS: u64 = 1_796_601_600_000;

const SEC: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

struct World {
    policy: NotifyPolicy,
    now: Now,
    start: Instant,
}

impl World {
    fn new(text: &str) -> World {
        World::at(text, MONDAY_MIDNIGHT_MS)
    }

    fn at(text: &str, wall_ms: u64) -> World {
        let config = NotifyConfig::parse(text, "notify.conf", Path::new("/")).unwrap();
        let now = Now {
            mono: Instant::now(),
            wall_ms,
        };
        let mut policy = NotifyPolicy::new(config, now);
        policy.set_utc_offset(chrono::FixedOffset::east_opt(0).unwrap());
        World {
            policy,
            now,
            start: now.mono,
        }
    }

    /// Moves time forward in steps no longer than a second past each
    /// deadline, as the supervisor's loop would, collecting the output.
    fn advance(&mut self, by: Duration) -> Vec<Outgoing> {
        let end = self.now.mono + by;
        let mut out = Vec::new();
        loop {
            self.policy.handle_timeout(self.now);
            out.extend(std::iter::from_fn(|| self.policy.poll_notification()));
            let next = self.policy.poll_timeout().unwrap_or(end).min(end);
            if self.now.mono >= end {
                break;
            }
            let step = next.saturating_duration_since(self.now.mono).max(SEC / 10);
            self.now = self.now.after(step.min(end - self.now.mono));
        }
        out
    }

    /// Output of the current moment only.
    fn turn(&mut self) -> Vec<Outgoing> {
        self.advance(Duration::ZERO)
    }

    fn open(&mut self, host: &str, check: &str, tags: &[&str]) {
        let problem = ProblemOpened {
            host: host.into(),
            check: check.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            kind: "alert".into(),
            message: format!("{check} on {host} is bad"),
            opened_ms: self.now.wall_ms,
        };
        self.policy.handle_opened(self.now, problem);
    }

    fn clear(&mut self, host: &str, check: &str) {
        self.policy
            .handle_cleared(self.now, host, check, self.now.wall_ms);
    }

    fn elapsed(&self) -> Duration {
        self.now.mono - self.start
    }
}

fn summary(out: &[Outgoing]) -> Vec<(String, NotifyEvent, usize)> {
    out.iter()
        .map(|o| {
            (
                o.channel.clone(),
                o.notification.event,
                o.notification.items.len(),
            )
        })
        .collect()
}

fn one(channel: &str, event: NotifyEvent, items: usize) -> Vec<(String, NotifyEvent, usize)> {
    vec![(channel.to_string(), event, items)]
}

const OPS: &str = "channel: ops exec true\nchannel: oncall exec true\n";

#[test]
fn openings_within_wait_go_out_as_one_notification_after_wait() {
    let mut w = World::new(&format!("{OPS}route: channel=ops wait=30s\n"));
    w.open("web1", "disk", &["disk"]);
    assert!(w.advance(10 * SEC).is_empty());
    w.open("web2", "http", &["web"]);
    assert!(w.advance(19 * SEC).is_empty(), "nothing before wait");
    let out = w.advance(2 * SEC);
    assert_eq!(summary(&out), one("ops", NotifyEvent::Opened, 2));
    assert_eq!(w.elapsed(), 31 * SEC);
    // Nothing more while they stay open (no repeat=).
    assert!(w.advance(10 * HOUR).is_empty());
}

#[test]
fn wait_zero_sends_at_once_and_groups_what_arrives_in_one_turn() {
    let mut w = World::new(&format!("{OPS}route: channel=ops wait=0\n"));
    for i in 0..20 {
        w.open(&format!("web{i}"), "disk", &[]);
    }
    let out = w.turn();
    assert_eq!(summary(&out), one("ops", NotifyEvent::Opened, 20));
    assert!(
        out[0]
            .notification
            .summary()
            .starts_with("20 problems opened on 20 hosts")
    );
}

#[test]
fn a_problem_that_clears_within_wait_is_never_announced_nor_its_clearing() {
    let mut w = World::new(&format!("{OPS}route: channel=ops wait=1m\n"));
    w.open("web1", "disk", &[]);
    w.advance(20 * SEC);
    w.clear("web1", "disk");
    assert!(w.advance(HOUR).is_empty());
}

#[test]
fn a_clearing_is_one_notification_with_how_long_it_was_open() {
    let mut w = World::new(&format!("{OPS}route: channel=ops wait=0\n"));
    w.open("web1", "disk", &["disk"]);
    assert_eq!(w.turn().len(), 1);
    w.advance(5 * MIN + 12 * SEC);
    w.clear("web1", "disk");
    // A second clearing of the same problem is ignored.
    w.clear("web1", "disk");
    let out = w.turn();
    assert_eq!(summary(&out), one("ops", NotifyEvent::Cleared, 1));
    let n = &out[0].notification;
    assert_eq!(n.items[0].duration_s, Some(312));
    assert_eq!(n.items[0].state, "cleared");
    assert!(n.summary().contains("(open for 5m12s)"), "{}", n.summary());
    assert!(w.advance(HOUR).is_empty());
}

#[test]
fn resolved_no_sends_no_clearing() {
    let mut w = World::new(&format!("{OPS}route: channel=ops resolved=no\n"));
    w.open("web1", "disk", &[]);
    assert_eq!(w.turn().len(), 1);
    w.advance(MIN);
    w.clear("web1", "disk");
    assert!(w.advance(HOUR).is_empty());
}

#[test]
fn reminders_every_repeat_until_cleared() {
    let mut w = World::new(&format!("{OPS}route: channel=ops repeat=4h\n"));
    w.open("web1", "disk", &[]);
    assert_eq!(w.turn().len(), 1);
    assert!(w.advance(4 * HOUR - SEC).is_empty());
    let out = w.advance(SEC);
    assert_eq!(summary(&out), one("ops", NotifyEvent::Reminder, 1));
    let out = w.advance(4 * HOUR);
    assert_eq!(summary(&out), one("ops", NotifyEvent::Reminder, 1));
    w.clear("web1", "disk");
    assert_eq!(summary(&w.turn()), one("ops", NotifyEvent::Cleared, 1));
    assert!(w.advance(24 * HOUR).is_empty());
}

#[test]
fn reminders_of_different_problems_have_different_keys_each_time() {
    let mut w = World::new(&format!("{OPS}route: channel=ops repeat=1h\n"));
    w.open("web1", "disk", &[]);
    let first = w.turn();
    let r1 = w.advance(HOUR);
    let r2 = w.advance(HOUR);
    let keys: Vec<&str> = [&first, &r1, &r2]
        .iter()
        .map(|o| o[0].notification.key.as_str())
        .collect();
    assert_ne!(keys[0], keys[1]);
    assert_ne!(keys[1], keys[2]);
}

#[test]
fn an_acknowledgement_stops_reminders_and_escalation_but_not_the_clearing() {
    let mut w = World::new(&format!(
        "{OPS}route: channel=ops repeat=10m escalate=15m:oncall\n"
    ));
    w.open("db1", "disk", &[]);
    assert_eq!(w.turn().len(), 1);
    w.advance(5 * MIN);
    w.policy.handle_ack(w.now, "db1", "disk");
    assert!(w.advance(2 * HOUR).is_empty());
    w.clear("db1", "disk");
    assert_eq!(summary(&w.turn()), one("ops", NotifyEvent::Cleared, 1));
}

#[test]
fn escalation_steps_go_to_their_channels_and_the_clearing_follows() {
    let mut w = World::new(
        "channel: mail exec true\nchannel: oncall exec true\nchannel: boss exec true\n\
         route: host=db* channel=mail escalate=15m:oncall,1h:boss\n",
    );
    w.open("db1", "disk", &[]);
    w.open("web1", "disk", &[]);
    assert_eq!(summary(&w.turn()), one("mail", NotifyEvent::Opened, 1));
    assert!(w.advance(15 * MIN - SEC).is_empty());
    assert_eq!(
        summary(&w.advance(SEC)),
        one("oncall", NotifyEvent::Escalated, 1)
    );
    assert_eq!(
        summary(&w.advance(45 * MIN)),
        one("boss", NotifyEvent::Escalated, 1)
    );
    assert!(w.advance(10 * HOUR).is_empty(), "each step once");
    w.clear("db1", "disk");
    let mut got = summary(&w.turn());
    got.sort();
    assert_eq!(
        got,
        [
            ("boss".to_string(), NotifyEvent::Cleared, 1),
            ("mail".to_string(), NotifyEvent::Cleared, 1),
            ("oncall".to_string(), NotifyEvent::Cleared, 1),
        ]
    );
}

#[test]
fn an_inactive_host_is_one_notification_and_mutes_its_checks() {
    let mut w = World::new(&format!("{OPS}route: channel=ops wait=30s repeat=1h\n"));
    for check in ["disk", "http", "cpu"] {
        w.open("web1", check, &[]);
    }
    assert_eq!(
        summary(&w.advance(30 * SEC)),
        one("ops", NotifyEvent::Opened, 3)
    );
    // Twenty more checks open just before the host goes silent: not
    // announced yet, and never while it is inactive.
    for i in 0..20 {
        w.open("web1", &format!("cmd{i}"), &[]);
    }
    w.advance(10 * SEC);
    w.policy
        .handle_host_state(w.now, "web1", HostState::Inactive);
    let out = w.advance(30 * SEC);
    assert_eq!(summary(&out), one("ops", NotifyEvent::Opened, 1));
    let item = &out[0].notification.items[0];
    assert_eq!(
        (item.check.as_str(), item.state.as_str()),
        ("host", "inactive")
    );
    assert_eq!(item.kind, "host");
    // No reminders for the muted checks; the host's own problem reminds.
    let out = w.advance(HOUR);
    assert_eq!(summary(&out), one("ops", NotifyEvent::Reminder, 1));
    assert_eq!(out[0].notification.items[0].check, "host");
    // Back: the host's problem clears; its still-open checks that were
    // never announced are announced now; the others resume quietly.
    w.policy.handle_host_state(w.now, "web1", HostState::Up);
    let mut got = summary(&w.advance(30 * SEC));
    got.sort();
    assert_eq!(
        got,
        [
            ("ops".to_string(), NotifyEvent::Opened, 20),
            ("ops".to_string(), NotifyEvent::Cleared, 1),
        ]
    );
}

#[test]
fn five_hundred_hosts_going_inactive_at_once_is_one_notification_per_route() {
    let mut w = World::new(
        "channel: ops exec true\nchannel: mail exec true\n\
         route: kind=host channel=ops wait=0\nroute: channel=mail wait=30s\n",
    );
    for i in 0..500 {
        w.policy
            .handle_host_state(w.now, &format!("h{i}"), HostState::Inactive);
    }
    let mut got = summary(&w.advance(30 * SEC));
    got.sort();
    assert_eq!(
        got,
        [
            ("mail".to_string(), NotifyEvent::Opened, 500),
            ("ops".to_string(), NotifyEvent::Opened, 500),
        ]
    );
    for i in 0..500 {
        w.policy
            .handle_host_state(w.now, &format!("h{i}"), HostState::Up);
    }
    let mut got = summary(&w.advance(30 * SEC));
    got.sort();
    assert_eq!(
        got,
        [
            ("mail".to_string(), NotifyEvent::Cleared, 500),
            ("ops".to_string(), NotifyEvent::Cleared, 500),
        ]
    );
}

#[test]
fn group_host_and_group_check_split_a_route_s_notifications() {
    let mut w = World::new(&format!(
        "{OPS}route: channel=ops group=host\nroute: channel=oncall group=check\n"
    ));
    w.open("web1", "disk", &[]);
    w.open("web1", "http", &[]);
    w.open("web2", "disk", &[]);
    let out = w.turn();
    let ops: Vec<usize> = out
        .iter()
        .filter(|o| o.channel == "ops")
        .map(|o| o.notification.items.len())
        .collect();
    let oncall = out.iter().filter(|o| o.channel == "oncall").count();
    assert_eq!(ops, [2, 1]);
    assert_eq!(oncall, 3);
}

#[test]
fn quiet_hours_hold_openings_until_the_window_opens() {
    // Active on weekdays 08:00-18:00 UTC; it is Monday 00:00.
    let mut w = World::new(&format!(
        "{OPS}active: 12345;08:00-18:00\nroute: channel=ops\nroute: channel=oncall\n"
    ));
    w.open("web1", "disk", &[]);
    let out = w.turn();
    assert_eq!(
        summary(&out),
        one("oncall", NotifyEvent::Opened, 1),
        "only the route without quiet hours"
    );
    assert!(w.advance(8 * HOUR - MIN).is_empty());
    let out = w.advance(2 * MIN);
    assert_eq!(summary(&out), one("ops", NotifyEvent::Opened, 1));
}

#[test]
fn a_clearing_during_quiet_hours_is_delivered_when_the_window_opens() {
    // Monday 17:00: inside the window.
    let mut w = World::at(
        &format!("{OPS}active: 12345;08:00-18:00\nroute: channel=ops repeat=1h\n"),
        MONDAY_MIDNIGHT_MS + 17 * 3_600_000,
    );
    w.open("web1", "disk", &[]);
    assert_eq!(summary(&w.turn()), one("ops", NotifyEvent::Opened, 1));
    // 18:00 reminder is inside (the window ends at 18:00 inclusive).
    assert_eq!(
        summary(&w.advance(HOUR)),
        one("ops", NotifyEvent::Reminder, 1)
    );
    // 20:00: the window is closed; it clears.
    let held = w.advance(2 * HOUR);
    assert!(held.is_empty(), "reminders wait for the window: {held:?}");
    w.clear("web1", "disk");
    assert!(
        w.advance(11 * HOUR + 59 * MIN).is_empty(),
        "quiet until 08:00"
    );
    let out = w.advance(2 * MIN);
    let events: Vec<NotifyEvent> = out.iter().map(|o| o.notification.event).collect();
    assert!(events.contains(&NotifyEvent::Cleared), "{events:?}");
    assert!(
        !events.contains(&NotifyEvent::Reminder),
        "the held reminder was withdrawn by the clearing"
    );
}

#[test]
fn an_escalation_held_by_quiet_hours_and_withdrawn_tells_its_channel_nothing() {
    // Monday 17:50, inside a window that ends at 18:00.
    let mut w = World::at(
        "channel: mail exec true\nchannel: oncall exec true\n\
         active: 12345;08:00-18:00\nroute: channel=mail escalate=15m:oncall\n",
        MONDAY_MIDNIGHT_MS + 17 * 3_600_000 + 50 * 60_000,
    );
    w.open("db1", "disk", &[]);
    assert_eq!(summary(&w.turn()), one("mail", NotifyEvent::Opened, 1));
    // 18:05: the escalation is due but the window is closed; it waits.
    assert!(w.advance(HOUR).is_empty());
    w.clear("db1", "disk");
    // Tuesday 08:00: only the channel that was told hears the clearing.
    let out = w.advance(14 * HOUR);
    assert_eq!(summary(&out), one("mail", NotifyEvent::Cleared, 1));
}

#[test]
fn point_alerts_are_gathered_per_host_with_a_count_and_rate_limited() {
    let mut w = World::new(&format!(
        "{OPS}route: state=point channel=ops wait=30s every=5m\n"
    ));
    let point = |host: &str, message: &str| PointAlert {
        host: host.into(),
        check: "syslog".into(),
        tags: vec!["log".into()],
        kind: "alert".into(),
        message: message.into(),
    };
    for i in 0..50 {
        w.policy.handle_point(w.now, point("web1", "I/O error"));
        if i % 10 == 0 {
            w.policy.handle_point(w.now, point("web1", "disk full"));
        }
        w.policy.handle_point(w.now, point("web2", "I/O error"));
        w.advance(SEC / 5);
    }
    // Problems do not match `state=point`.
    w.open("web1", "disk", &[]);
    let out = w.advance(30 * SEC);
    assert_eq!(out.len(), 2, "one per host: {:?}", summary(&out));
    let web1 = out
        .iter()
        .find(|o| o.notification.items[0].host == "web1")
        .unwrap();
    assert_eq!(web1.notification.count(), 55);
    assert_eq!(web1.notification.items.len(), 2);
    assert_eq!(web1.notification.items[0].count, 50);
    // More lines right after: held until 5 minutes after the last send.
    w.policy.handle_point(w.now, point("web1", "I/O error"));
    assert!(w.advance(4 * MIN).is_empty());
    let out = w.advance(2 * MIN);
    assert_eq!(summary(&out), one("ops", NotifyEvent::Point, 1));
}

#[test]
fn many_distinct_point_alerts_are_capped_and_counted() {
    let mut w = World::new(&format!("{OPS}route: channel=ops wait=10s\n"));
    for i in 0..100 {
        w.policy.handle_point(
            w.now,
            PointAlert {
                host: "web1".into(),
                check: "syslog".into(),
                tags: vec![],
                kind: "alert".into(),
                message: format!("line {i}"),
            },
        );
    }
    let out = w.advance(10 * SEC);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].notification.items.len(), 20);
    assert_eq!(out[0].notification.more, 80);
    assert_eq!(out[0].notification.count(), 100);
}

#[test]
fn alertmanager_gets_open_problems_again_every_resend_until_they_clear() {
    let mut w = World::new(
        "channel: am alertmanager http://127.0.0.1:9093 resend=1m\n\
         route: channel=am resolved=no\n",
    );
    w.open("web1", "disk", &[]);
    assert_eq!(summary(&w.turn()), one("am", NotifyEvent::Opened, 1));
    w.policy.handle_ack(w.now, "web1", "disk");
    let out = w.advance(3 * MIN);
    assert_eq!(
        out.len(),
        3,
        "acknowledged or not, re-sent: {:?}",
        summary(&out)
    );
    assert!(
        out.iter()
            .all(|o| o.notification.event == NotifyEvent::Refresh)
    );
    w.clear("web1", "disk");
    // resolved=no, but Alertmanager still learns the end.
    assert_eq!(summary(&w.turn()), one("am", NotifyEvent::Cleared, 1));
    assert!(w.advance(5 * MIN).is_empty());
}

#[test]
fn a_restored_problem_is_not_announced_again_but_its_clearing_is() {
    let mut w = World::new(&format!("{OPS}route: channel=ops\n"));
    w.policy.handle_restored(
        w.now,
        ProblemOpened {
            host: "web1".into(),
            check: "disk".into(),
            tags: vec![],
            kind: "alert".into(),
            message: "full".into(),
            opened_ms: w.now.wall_ms - 600_000,
        },
    );
    assert!(w.advance(HOUR).is_empty());
    w.clear("web1", "disk");
    let out = w.turn();
    assert_eq!(summary(&out), one("ops", NotifyEvent::Cleared, 1));
    assert_eq!(out[0].notification.items[0].duration_s, Some(4200));
}

#[test]
fn the_same_opening_made_twice_has_the_same_key() {
    let text = format!("{OPS}route: channel=ops\n");
    let keys: Vec<String> = (0..2)
        .map(|_| {
            let mut w = World::new(&text);
            w.open("web1", "disk", &[]);
            w.turn()[0].notification.key.clone()
        })
        .collect();
    assert_eq!(keys[0], keys[1]);
}

#[test]
fn reopening_an_open_problem_sends_nothing_new() {
    let mut w = World::new(&format!("{OPS}route: channel=ops\n"));
    w.open("web1", "disk", &[]);
    assert_eq!(w.turn().len(), 1);
    w.open("web1", "disk", &[]);
    assert!(w.advance(MIN).is_empty());
}

#[test]
fn a_changed_file_keeps_announced_problems_and_rebatches_pending_ones() {
    let mut w = World::new(&format!("{OPS}route: channel=ops wait=1m\n"));
    w.open("web1", "disk", &[]);
    assert_eq!(w.advance(MIN).len(), 1);
    w.open("web2", "disk", &[]);
    let config = NotifyConfig::parse(
        &format!("{OPS}route: channel=oncall wait=0\n"),
        "notify.conf",
        Path::new("/"),
    )
    .unwrap();
    w.policy.set_config(config, w.now);
    assert_eq!(summary(&w.turn()), one("oncall", NotifyEvent::Opened, 1));
    w.clear("web1", "disk");
    assert_eq!(summary(&w.turn()), one("oncall", NotifyEvent::Cleared, 1));
}

mod generated {
    //! Random sequences of openings, clearings, acknowledgements, host
    //! states and time, against the promises every sequence must keep.

    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Open(u8, u8),
        Clear(u8, u8),
        Ack(u8, u8),
        HostDown(u8),
        HostUp(u8),
        Wait(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..3u8, 0..3u8).prop_map(|(h, c)| Op::Open(h, c)),
            3 => (0..3u8, 0..3u8).prop_map(|(h, c)| Op::Clear(h, c)),
            1 => (0..3u8, 0..3u8).prop_map(|(h, c)| Op::Ack(h, c)),
            1 => (0..3u8).prop_map(Op::HostDown),
            1 => (0..3u8).prop_map(Op::HostUp),
            4 => (0..1200u16).prop_map(Op::Wait),
        ]
    }

    /// (channel, host, check, since): one opening of one problem as one
    /// channel sees it.
    type Episode = (String, String, String, u64);

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn every_announced_problem_is_cleared_once_and_nothing_follows_a_clearing(
            ops in proptest::collection::vec(op(), 1..60)
        ) {
            // Monday 06:00: the quiet-hours route opens at 08:00.
            let mut w = World::at(
                "channel: a exec true\nchannel: b exec true\nchannel: c exec true\n\
                 channel: d exec true\n\
                 route: channel=a wait=30s repeat=10m escalate=15m:b group=check\n\
                 active: 12345;08:00-09:00,12345;12:00-12:30\n\
                 route: channel=c wait=1m repeat=20m escalate=5m:d group=host\n",
                MONDAY_MIDNIGHT_MS + 6 * 3_600_000,
            );
            let mut out = Vec::new();
            let mut seq = 0u64;
            let mut down: BTreeSet<String> = BTreeSet::new();
            // Notifications about a host's checks while it was down.
            let mut while_down = Vec::new();
            for op in &ops {
                match *op {
                    Op::Open(h, c) => {
                        seq += 1;
                        let problem = ProblemOpened {
                            host: format!("h{h}"),
                            check: format!("c{c}"),
                            tags: vec![],
                            kind: "alert".into(),
                            message: "bad".into(),
                            opened_ms: w.now.wall_ms + seq,
                        };
                        w.policy.handle_opened(w.now, problem);
                    }
                    Op::Clear(h, c) => w.clear(&format!("h{h}"), &format!("c{c}")),
                    Op::Ack(h, c) => w.policy.handle_ack(w.now, &format!("h{h}"), &format!("c{c}")),
                    Op::HostDown(h) => {
                        w.policy.handle_host_state(w.now, &format!("h{h}"), HostState::Inactive);
                        down.insert(format!("h{h}"));
                    }
                    Op::HostUp(h) => {
                        w.policy.handle_host_state(w.now, &format!("h{h}"), HostState::Up);
                        down.remove(&format!("h{h}"));
                    }
                    Op::Wait(s) => {
                        let got = w.advance(Duration::from_secs(u64::from(s)));
                        for o in &got {
                            for i in &o.notification.items {
                                if down.contains(&i.host) && i.check != "host"
                                    && o.notification.event != NotifyEvent::Cleared
                                {
                                    while_down.push(o.clone());
                                }
                            }
                        }
                        out.extend(got);
                    }
                }
            }
            // Clear everything still open and let it all go out.
            let open: Vec<(String, String)> = w
                .policy
                .open_problems()
                .map(|(h, c, _)| (h.to_string(), c.to_string()))
                .collect();
            for (h, c) in &open {
                w.clear(h, c);
            }
            // Long enough for the quiet-hours route's next window.
            out.extend(w.advance(30 * HOUR));

            prop_assert!(while_down.is_empty(), "muted host notified: {:?}", while_down);
            let mut opened: BTreeMap<Episode, usize> = BTreeMap::new();
            let mut cleared: BTreeMap<Episode, usize> = BTreeMap::new();
            for o in &out {
                for i in &o.notification.items {
                    if i.check == "host" {
                        continue;
                    }
                    let e = (o.channel.clone(), i.host.clone(), i.check.clone(), i.since_ms);
                    match o.notification.event {
                        NotifyEvent::Opened | NotifyEvent::Escalated => {
                            prop_assert!(!cleared.contains_key(&e), "told after its clearing: {:?}", e);
                            *opened.entry(e).or_default() += 1;
                        }
                        NotifyEvent::Reminder => {
                            prop_assert!(opened.contains_key(&e), "reminder before opening: {:?}", e);
                            prop_assert!(!cleared.contains_key(&e), "reminder after clearing: {:?}", e);
                        }
                        NotifyEvent::Cleared => {
                            prop_assert!(opened.contains_key(&e), "clearing never opened: {:?}", e);
                            *cleared.entry(e).or_default() += 1;
                        }
                        _ => {}
                    }
                }
            }
            for (e, n) in &opened {
                prop_assert_eq!(*n, 1, "opened more than once: {:?}", e);
                prop_assert_eq!(cleared.get(e).copied(), Some(1), "not cleared exactly once: {:?}", e);
            }
            prop_assert!(w.policy.poll_timeout().is_none() || w.policy.open_problems().next().is_none());
        }
    }
}
