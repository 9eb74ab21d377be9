//! `Supervisor::handle_settings` (a reload) driven with virtual time: new
//! beacon addresses and interval, a new `max_idle`, a new stream format and
//! a new key, with no sockets and no sleeping.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conf::{HostName, StreamFormat};
use supervisor::{HostChange, HostEntry, Now, Settings, Supervisor, Transmit};
use wire::{Codec, Event, EventKind, Key, Message};

fn start() -> Now {
    Now {
        mono: Instant::now(),
        wall_ms: 1_790_000_000_000,
    }
}

fn settings(broadcast: &str, beacon_secs: u64, max_idle_secs: u64) -> Settings {
    Settings {
        supervisor_name: "sup1".into(),
        run_id: 42,
        broadcast: vec![broadcast.parse().unwrap()],
        max_idle: Duration::from_secs(max_idle_secs),
        beacon_interval: Duration::from_secs(beacon_secs),
        stream_format: StreamFormat::Classic,
    }
}

fn host(name: &str) -> HostChange {
    HostChange {
        host: HostName::new(name).unwrap(),
        entry: Some(Arc::new(HostEntry::from_text(
            "file: /var/log/a\nmatch: x\nalert_all: tags=a\n",
            &[],
            &[],
        ))),
    }
}

/// Everything queued to send, and the stream lines written (reported
/// written at once).
fn drain(sup: &mut Supervisor, now: Now) -> (Vec<Transmit>, String) {
    let mut stream = String::new();
    if let Some(batch) = sup.take_stream_batch() {
        stream.push_str(&String::from_utf8(batch.lines).unwrap());
        sup.handle_stream_written(now, Ok(()));
    }
    let mut sent = Vec::new();
    while let Some(t) = sup.poll_transmit() {
        sent.push(t);
    }
    (sent, stream)
}

fn beacons_to(sent: &[Transmit], to: &str) -> usize {
    let to: SocketAddr = to.parse().unwrap();
    let mut codec = Codec::open();
    sent.iter()
        .filter(|t| t.to == to)
        .filter(|t| {
            matches!(
                codec.decode(&t.datagram, 1_790_000_000_000),
                Ok(Message::Beacon { run_id: 42, .. })
            )
        })
        .count()
}

#[test]
fn new_addresses_get_a_beacon_at_once_and_then_one_per_new_interval() {
    let mut now = start();
    let mut sup = Supervisor::new(
        settings("10.0.0.255:9000", 5, 180),
        Codec::open(),
        now,
        vec![],
    );
    sup.handle_timeout(now);
    drain(&mut sup, now);
    now = now.after(Duration::from_secs(1));
    let mut new = settings("10.1.0.255:9000", 60, 180);
    // Who the supervisor is does not change by a reload.
    new.supervisor_name = "other".into();
    new.run_id = 7;
    sup.handle_settings(now, new, None);
    sup.handle_timeout(now);
    let (sent, _) = drain(&mut sup, now);
    assert_eq!(beacons_to(&sent, "10.1.0.255:9000"), 1, "{sent:?}");
    assert_eq!(beacons_to(&sent, "10.0.0.255:9000"), 0);
    // The old 5 s interval would have beaconed by now; the new one not.
    now = now.after(Duration::from_secs(59));
    sup.handle_timeout(now);
    assert!(drain(&mut sup, now).0.is_empty());
    now = now.after(Duration::from_secs(1));
    sup.handle_timeout(now);
    assert_eq!(beacons_to(&drain(&mut sup, now).0, "10.1.0.255:9000"), 1);
}

#[test]
fn a_shorter_max_idle_reports_hosts_already_silent_longer() {
    let mut now = start();
    let mut sup = Supervisor::new(
        settings("10.0.0.255:9000", 5, 180),
        Codec::open(),
        now,
        vec![host("db1")],
    );
    now = now.after(Duration::from_secs(30));
    sup.handle_timeout(now);
    assert!(!drain(&mut sup, now).1.contains("Host is inactive"));
    sup.handle_settings(now, settings("10.0.0.255:9000", 5, 10), None);
    sup.handle_timeout(now);
    let (_, stream) = drain(&mut sup, now);
    assert!(stream.contains("%%db1%%000000%%"), "{stream}");
    assert!(stream.contains("Host is inactive"), "{stream}");
}

#[test]
fn events_after_a_format_change_are_written_in_the_new_format() {
    let now = start();
    let mut sup = Supervisor::new(
        settings("10.0.0.255:9000", 5, 180),
        Codec::open(),
        now,
        vec![],
    );
    let codec = Codec::open();
    let events = |id: u64| Message::Events {
        host: "web1".into(),
        floor: 0,
        events: vec![Event {
            id,
            time_ms: now.wall_ms as i64,
            tags: "t".into(),
            source: None,
            kind: EventKind::Alert,
            message: format!("m{id}"),
            value: None,
        }],
    };
    let from: SocketAddr = "10.0.0.5:40000".parse().unwrap();
    let send = |sup: &mut Supervisor, msg: &Message| {
        sup.handle_datagram(now, from, &codec.encode(msg, now.wall_ms).unwrap());
    };
    send(&mut sup, &events(1));
    let (_, before) = drain(&mut sup, now);
    assert!(before.contains("%%web1%%1%%"), "{before}");
    let mut json = settings("10.0.0.255:9000", 5, 180);
    json.stream_format = StreamFormat::Json;
    sup.handle_settings(now, json, None);
    send(&mut sup, &events(2));
    // Event 1 again: still recognised, not written twice.
    send(&mut sup, &events(1));
    let (_, after) = drain(&mut sup, now);
    assert_eq!(after.lines().count(), 1, "{after}");
    let v: serde_json::Value = serde_json::from_str(after.trim()).unwrap();
    assert_eq!(v["id"], 2);
}

#[test]
fn a_new_key_seals_from_the_next_datagram_on() {
    let now = start();
    let old = Key::generate().unwrap();
    let new = Key::generate().unwrap();
    let mut sup = Supervisor::new(
        settings("10.0.0.255:9000", 5, 180),
        Codec::sealed(&old),
        now,
        vec![],
    );
    sup.handle_timeout(now);
    drain(&mut sup, now);
    sup.handle_settings(
        now,
        settings("10.0.0.255:9000", 60, 180),
        Some(Codec::sealed(&new)),
    );
    sup.handle_timeout(now);
    let (sent, _) = drain(&mut sup, now);
    assert_eq!(sent.len(), 1);
    let mut with_new = Codec::sealed(&new);
    assert!(matches!(
        with_new.decode(&sent[0].datagram, now.wall_ms),
        Ok(Message::Beacon { .. })
    ));
    let mut with_old = Codec::sealed(&old);
    assert!(with_old.decode(&sent[0].datagram, now.wall_ms).is_err());
}
