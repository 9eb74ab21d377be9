//! The supervisor's state machine driven with virtual time: no sockets, no
//! clock, no sleeping.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conf::{HostName, StreamFormat};
use supervisor::catalog::CatalogLoader;
use supervisor::{HostChange, HostEntry, Now, Settings, Supervisor};
use wire::{Codec, Event, EventKind, Key, Message, MissingChunks, Reassembly};

const BROADCAST: &str = "10.0.0.255:9000";

fn start() -> Now {
    Now {
        mono: Instant::now(),
        wall_ms: 1_790_000_000_000,
    }
}

fn settings() -> Settings {
    Settings {
        supervisor_name: "sup1".into(),
        run_id: 42,
        broadcast: vec![BROADCAST.parse().unwrap()],
        max_idle: Duration::from_secs(180),
        beacon_interval: Duration::from_secs(5),
        stream_format: StreamFormat::Classic,
    }
}

fn entry(text: &str, includes: &[&str]) -> Arc<HostEntry> {
    Arc::new(HostEntry::from_text(text, includes, &[]))
}

fn change(host: &str, entry: Option<Arc<HostEntry>>) -> HostChange {
    HostChange {
        host: HostName::new(host).unwrap(),
        entry,
    }
}

/// A supervisor and an observer-side codec, with helpers to talk to it.
struct World {
    sup: Supervisor,
    observer: Codec,
    now: Now,
    stream: Vec<u8>,
}

impl World {
    fn new(hosts: Vec<HostChange>) -> World {
        Self::with_codecs(hosts, Codec::open(), Codec::open())
    }

    fn with_codecs(hosts: Vec<HostChange>, sup_codec: Codec, observer: Codec) -> World {
        let now = start();
        let mut world = World {
            sup: Supervisor::new(settings(), sup_codec, now, hosts),
            observer,
            now,
            stream: Vec::new(),
        };
        // The first beacon and anything raised at start.
        world.step();
        world.drain();
        world.stream.clear();
        world
    }

    fn advance(&mut self, d: Duration) {
        self.now = self.now.after(d);
        self.sup.handle_timeout(self.now);
    }

    fn send(&mut self, from: &str, msg: &Message) {
        let bytes = self.observer.encode(msg, self.now.wall_ms).unwrap();
        self.sup
            .handle_datagram(self.now, from.parse().unwrap(), &bytes);
    }

    /// What the shell does after each wake-up: write the stream, succeed.
    fn step(&mut self) {
        self.sup.handle_timeout(self.now);
        if let Some(batch) = self.sup.take_stream_batch() {
            self.stream.extend_from_slice(&batch.lines);
            self.sup.handle_stream_written(self.now, Ok(()));
        }
    }

    /// Every datagram sent since the last call, decoded.
    fn drain(&mut self) -> Vec<(SocketAddr, Message)> {
        let mut out = Vec::new();
        while let Some(t) = self.sup.poll_transmit() {
            let msg = self.observer.decode(&t.datagram, self.now.wall_ms).unwrap();
            // Beacons have a test of their own.
            if !matches!(msg, Message::Beacon { .. }) {
                out.push((t.to, msg));
            }
        }
        out
    }

    fn stream_lines(&self) -> Vec<String> {
        String::from_utf8(self.stream.clone())
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }
}

fn event(id: u64, message: &str) -> Event {
    Event {
        id,
        time_ms: 1_790_000_000_123,
        tags: "web".into(),
        source: Some("/var/log/app.log".into()),
        kind: EventKind::Alert,
        message: message.into(),
        value: None,
    }
}

fn events(host: &str, floor: u64, ids: &[u64]) -> Message {
    Message::Events {
        host: host.into(),
        floor,
        events: ids
            .iter()
            .map(|id| event(*id, &format!("event {id}")))
            .collect(),
    }
}

fn acked_ids(sent: &[(SocketAddr, Message)]) -> Vec<u64> {
    sent.iter()
        .flat_map(|(_, m)| match m {
            Message::Ack { ids, .. } => ids.clone(),
            _ => Vec::new(),
        })
        .collect()
}

fn resets_for(sent: &[(SocketAddr, Message)]) -> Vec<(String, SocketAddr)> {
    sent.iter()
        .filter_map(|(to, m)| match m {
            Message::Reset { host } => Some((host.clone(), *to)),
            _ => None,
        })
        .collect()
}

const OBS: &str = "10.0.0.7:40000";

#[test]
fn lost_ack_is_written_once() {
    let mut w = World::new(vec![change("web1", Some(entry("x: 1\n", &[])))]);
    w.send(OBS, &events("web1", 1, &[1, 2, 3]));
    w.step();
    assert_eq!(acked_ids(&w.drain()), [1, 2, 3]);
    assert_eq!(w.stream_lines().len(), 3);

    // The acknowledgement was lost: the observer sends the batch again.
    w.advance(Duration::from_secs(2));
    w.send(OBS, &events("web1", 1, &[1, 2, 3, 4]));
    w.step();
    let sent = w.drain();
    assert_eq!(
        acked_ids(&sent),
        [1, 2, 3, 4],
        "duplicates are acknowledged again"
    );
    assert!(sent.iter().all(|(to, _)| *to == OBS.parse().unwrap()));
    let lines = w.stream_lines();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(lines[3].contains("%%web1%%4%%1790000000%%web%%/var/log/app.log%%event 4"));
    assert_eq!(w.sup.counters().duplicates, 3);
    assert_eq!(w.sup.counters().events_written, 4);
}

/// A burst goes on while the oldest batch's acknowledgement is lost: the
/// observer's floor stays at that batch, so the supervisor must remember
/// every id written since — far more than any fixed count — or the re-sent
/// batch is written twice.
#[test]
fn lost_ack_of_the_oldest_batch_during_a_long_burst_is_written_once() {
    let mut w = World::new(vec![change("web1", Some(entry("x: 1\n", &[])))]);
    let total = 200_000u64;
    let ids: Vec<u64> = (1..=total).collect();
    for chunk in ids.chunks(13) {
        w.send(OBS, &events("web1", 1, chunk));
        if chunk[0] % 1300 == 1 {
            w.step();
            w.drain();
        }
    }
    w.step();
    w.drain();
    // The first batch again, its acknowledgement having been lost.
    w.advance(Duration::from_millis(500));
    w.send(OBS, &events("web1", 1, &ids[..13]));
    w.step();
    assert_eq!(acked_ids(&w.drain()), ids[..13]);
    assert_eq!(w.sup.counters().events_written, total);
    assert_eq!(w.sup.counters().duplicates, 13);
    assert_eq!(
        w.stream.iter().filter(|b| **b == b'\n').count() as u64,
        total
    );
}

#[test]
fn event_written_before_a_restart_is_acknowledged_not_written_again() {
    // The previous run wrote events 1 and 2 and died before acknowledging;
    // the new run read them back from the stream.
    let mut w = World::new(vec![change("web1", Some(entry("x: 1\n", &[])))]);
    w.sup.remember_written("web1", 1);
    w.sup.remember_written("web1", 2);
    w.sup.remember_written("../bad name", 3);
    w.send(OBS, &events("web1", 1, &[1, 2, 3]));
    w.step();
    assert_eq!(acked_ids(&w.drain()), [1, 2, 3]);
    let lines = w.stream_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("%%web1%%3%%"));
}

#[test]
fn duplicate_inside_one_burst_is_written_once() {
    let mut w = World::new(vec![]);
    w.send(OBS, &events("web1", 0, &[5]));
    w.send(OBS, &events("web1", 0, &[5]));
    w.step();
    assert_eq!(acked_ids(&w.drain()), [5, 5]);
    assert_eq!(w.stream_lines().len(), 1);
}

#[test]
fn failed_stream_write_is_not_acknowledged_and_retried() {
    let mut w = World::new(vec![]);
    w.send(OBS, &events("web1", 0, &[1, 2]));
    let batch = w.sup.take_stream_batch().unwrap();
    assert!(!batch.lines.is_empty());
    w.sup
        .handle_stream_written(w.now, Err(std::io::Error::other("No space left on device")));
    assert!(acked_ids(&w.drain()).is_empty(), "nothing acknowledged");
    assert_eq!(w.sup.counters().stream_write_failures, 1);

    // The observer re-sends; the disk has room again.
    w.advance(Duration::from_secs(1));
    w.send(OBS, &events("web1", 0, &[1, 2]));
    w.step();
    assert_eq!(acked_ids(&w.drain()), [1, 2]);
    assert_eq!(w.stream_lines().len(), 2, "written once, after the failure");
}

#[test]
fn ack_that_does_not_fit_one_datagram_is_split() {
    let mut w = World::new(vec![]);
    let ids: Vec<u64> = (0..400).map(|i| u64::MAX - i).collect();
    for chunk in ids.chunks(5) {
        w.send(OBS, &events("web1", 0, chunk));
    }
    w.step();
    let sent = w.drain();
    assert!(sent.len() > 1, "one datagram cannot hold 400 large ids");
    assert_eq!(acked_ids(&sent), ids);
}

#[test]
fn silent_host_gets_one_inactive_event_and_one_active_again() {
    let mut w = World::new(vec![
        change("web1", Some(entry("a\n", &[]))),
        change("db", Some(entry("b\n", &[]))),
    ]);
    let heartbeat = |host: &str| Message::Heartbeat {
        host: host.into(),
        version: Some(conf::ConfigVersion::of(if host == "web1" { "a\n" } else { "b\n" }).0),
        queue_len: 0,
        uptime_secs: 1,
    };
    // db keeps talking; web1 stays silent.
    for _ in 0..(400 / 15) {
        w.advance(Duration::from_secs(15));
        w.send("10.0.0.8:40000", &heartbeat("db"));
        w.step();
    }
    let lines = w.stream_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].ends_with("%%web1%%000000%%1790000180%%SYSTEM%%NULL%%Host is inactive"),
        "{}",
        lines[0]
    );

    w.send(OBS, &heartbeat("web1"));
    w.step();
    w.advance(Duration::from_secs(30));
    w.send(OBS, &heartbeat("web1"));
    w.step();
    let lines = w.stream_lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[1].ends_with("%%web1%%000000%%1790000390%%SYSTEM%%NULL%%Host is active again"),
        "{}",
        lines[1]
    );
    assert!(
        w.drain()
            .iter()
            .all(|(_, m)| !matches!(m, Message::Reset { .. }))
    );
}

#[test]
fn heartbeat_with_stale_version_gets_a_unicast_reset() {
    let current = entry("file: /var/log/x\n", &[]);
    let mut w = World::new(vec![change("web1", Some(current.clone()))]);
    let hb = |version| Message::Heartbeat {
        host: "web1".into(),
        version,
        queue_len: 0,
        uptime_secs: 9,
    };
    w.send(OBS, &hb(current.version()));
    w.step();
    assert!(
        resets_for(&w.drain()).is_empty(),
        "current version: nothing"
    );

    w.advance(Duration::from_secs(15));
    w.send(OBS, &hb(Some(12345)));
    w.step();
    assert_eq!(
        resets_for(&w.drain()),
        [("web1".to_string(), OBS.parse().unwrap())]
    );

    w.advance(Duration::from_secs(15));
    w.send(OBS, &hb(None));
    w.step();
    assert_eq!(
        resets_for(&w.drain()).len(),
        1,
        "no configuration in use, but a file exists"
    );

    // A host without a file that claims a version is reset too.
    w.send(
        "10.0.0.9:40000",
        &Message::Heartbeat {
            host: "ghost".into(),
            version: Some(7),
            queue_len: 0,
            uptime_secs: 1,
        },
    );
    w.step();
    assert_eq!(resets_for(&w.drain()).len(), 1);
}

#[test]
fn bad_input_changes_nothing_but_counters() {
    let key = Key::from_bytes([9; 32]);
    let mut w = World::with_codecs(
        vec![change("web1", Some(entry("a\n", &[])))],
        Codec::sealed(&key),
        Codec::sealed(&key),
    );
    let from: SocketAddr = OBS.parse().unwrap();
    let before_written = w.sup.counters().events_written;

    // Unknown host (no file) with no configuration: nothing to say.
    w.send(
        OBS,
        &Message::Heartbeat {
            host: "stranger".into(),
            version: None,
            queue_len: 0,
            uptime_secs: 1,
        },
    );
    // Invalid host name.
    w.send(OBS, &events("../etc/passwd", 0, &[1]));
    // Garbage claiming to be sealed, oversized, and unsealed.
    w.sup.handle_datagram(w.now, from, b"A436\x01\x01garbage");
    w.sup.handle_datagram(w.now, from, &[0xff; 2000][..1401]);
    let unsealed = Codec::open()
        .encode(&events("web1", 0, &[1]), w.now.wall_ms)
        .unwrap();
    w.sup.handle_datagram(w.now, from, &unsealed);
    // Sealed with another key.
    let other = Codec::sealed(&Key::from_bytes([1; 32]))
        .encode(&events("web1", 0, &[1]), w.now.wall_ms)
        .unwrap();
    w.sup.handle_datagram(w.now, from, &other);
    // Stale: sealed two minutes ago.
    let stale = w
        .observer
        .encode(&events("web1", 0, &[1]), w.now.wall_ms - 120_000)
        .unwrap();
    w.sup.handle_datagram(w.now, from, &stale);
    // Replayed control message.
    let request = w
        .observer
        .encode(
            &Message::ConfigRequest {
                host: "web1".into(),
                have: None,
                missing: None,
            },
            w.now.wall_ms,
        )
        .unwrap();
    w.sup.handle_datagram(w.now, from, &request);
    w.step();
    assert!(!w.drain().is_empty(), "the first request is answered");
    w.sup.handle_datagram(w.now, from, &request);
    w.step();

    assert!(w.drain().is_empty(), "nothing sent");
    assert!(w.stream_lines().is_empty(), "nothing written");
    assert_eq!(w.sup.counters().events_written, before_written);
    assert!(w.sup.host("web1").unwrap().seen.is_empty());
    let dropped = &w.sup.counters().dropped;
    assert_eq!(dropped.get("invalid-host-name"), Some(&1));
    assert_eq!(dropped.get("oversized"), Some(&1));
    assert_eq!(dropped.get("unsealed"), Some(&1));
    assert_eq!(dropped.get("bad-seal"), Some(&2));
    assert_eq!(dropped.get("stale"), Some(&1));
    assert_eq!(dropped.get("replay"), Some(&1));
    assert_eq!(w.sup.counters().datagrams_received, 9);

    // The unknown host is never reported inactive: it has no file.
    w.advance(Duration::from_secs(400));
    w.step();
    let lines = w.stream_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("%%web1%%"));
}

#[test]
fn malformed_datagrams_in_open_mode_change_nothing_but_counters() {
    let mut w = World::new(vec![change("web1", Some(entry("a\n", &[])))]);
    let from: SocketAddr = OBS.parse().unwrap();
    w.sup.handle_datagram(w.now, from, b"A436\x01\x00garbage");
    w.sup.handle_datagram(w.now, from, b"hello");
    let mut truncated = w
        .observer
        .encode(&events("web1", 0, &[1, 2]), w.now.wall_ms)
        .unwrap();
    truncated.truncate(truncated.len() - 3);
    w.sup.handle_datagram(w.now, from, &truncated);
    let sealed = Codec::sealed(&Key::from_bytes([1; 32]))
        .encode(&events("web1", 0, &[1]), w.now.wall_ms)
        .unwrap();
    w.sup.handle_datagram(w.now, from, &sealed);
    w.step();
    assert!(w.drain().is_empty());
    assert!(w.stream_lines().is_empty());
    let dropped = &w.sup.counters().dropped;
    assert_eq!(dropped.get("malformed"), Some(&2));
    assert_eq!(dropped.get("not-436"), Some(&1));
    assert_eq!(dropped.get("no-key"), Some(&1));
    assert!(w.sup.host("web1").unwrap().addr.is_none(), "not even heard");
}

fn request(have: Option<u64>, missing: Option<MissingChunks>) -> Message {
    Message::ConfigRequest {
        host: "web1".into(),
        have,
        missing,
    }
}

#[test]
fn configuration_is_served_in_chunks_unchanged_and_missing_pieces() {
    let text: String = (0..200)
        .map(|i| format!("match: line number {i}\n"))
        .collect();
    assert!(text.len() > 3 * wire::limits::CHUNK_DATA);
    let served = entry(&text, &[]);
    let version = served.version().unwrap();
    let mut w = World::new(vec![change("web1", Some(served))]);

    w.send(OBS, &request(None, None));
    w.step();
    let sent = w.drain();
    assert!(sent.len() >= 4, "several chunks: {}", sent.len());
    let mut reassembly = None;
    for (to, msg) in &sent {
        assert_eq!(*to, OBS.parse().unwrap());
        let Message::ConfigChunk {
            version: v,
            index,
            total,
            data,
            ..
        } = msg
        else {
            panic!("not a chunk: {msg:?}");
        };
        assert_eq!(*v, version);
        let r = reassembly.get_or_insert_with(|| Reassembly::new(*v, *total).unwrap());
        r.insert(*index, *total, data).unwrap();
    }
    assert_eq!(reassembly.unwrap().text().unwrap().unwrap(), text);

    w.send(OBS, &request(Some(version), None));
    w.step();
    assert_eq!(
        w.drain(),
        [(
            OBS.parse().unwrap(),
            Message::ConfigUnchanged {
                host: "web1".into(),
                version
            }
        )]
    );

    w.send(
        OBS,
        &request(
            None,
            Some(MissingChunks {
                version,
                indices: vec![2, 0, 2, 999],
            }),
        ),
    );
    w.step();
    let indices: Vec<u16> = w
        .drain()
        .into_iter()
        .map(|(_, m)| match m {
            Message::ConfigChunk { index, .. } => index,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(indices, [2, 0], "only the missing chunks, once each");

    // Missing pieces of an old version: the whole current one.
    w.send(
        OBS,
        &request(
            Some(1),
            Some(MissingChunks {
                version: 1,
                indices: vec![0],
            }),
        ),
    );
    w.step();
    assert_eq!(w.drain().len(), sent.len());
}

#[test]
fn host_without_a_file_gets_no_config_and_one_system_event() {
    let mut w = World::new(vec![]);
    for _ in 0..3 {
        w.send(OBS, &request(None, None));
        w.step();
        assert_eq!(
            w.drain(),
            [(
                OBS.parse().unwrap(),
                Message::NoConfig {
                    host: "web1".into()
                }
            )]
        );
        w.advance(Duration::from_secs(5));
    }
    let lines = w.stream_lines();
    assert_eq!(lines.len(), 1);
    assert!(lines[0].ends_with("%%SYSTEM%%NULL%%Host asked for configuration but has none"));
}

#[test]
fn edited_include_resets_every_host_that_includes_it_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    let includes = dir.path().join("includes");
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::create_dir_all(&includes).unwrap();
    std::fs::write(includes.join("common"), "ps_command: ps -ef\n").unwrap();
    std::fs::write(includes.join("web"), "include: common\n").unwrap();
    std::fs::write(hosts.join("web1"), "include: web\n").unwrap();
    std::fs::write(hosts.join("web2"), "include: common\n").unwrap();
    std::fs::write(hosts.join("db"), "ps_command: ps ax\n").unwrap();
    let mut loader = CatalogLoader::new(&hosts, &includes);
    let mut w = World::new(loader.rescan());
    for (host, port) in [("web1", 1), ("web2", 2), ("db", 3)] {
        w.send(
            &format!("10.0.0.{port}:40000"),
            &Message::Heartbeat {
                host: host.into(),
                version: None,
                queue_len: 0,
                uptime_secs: 0,
            },
        );
    }
    w.step();
    w.drain();

    w.advance(Duration::from_secs(5));
    std::fs::write(includes.join("common"), "ps_command: ps -e\n").unwrap();
    w.sup.handle_catalog(w.now, loader.rescan());
    w.step();
    let mut reset: Vec<String> = resets_for(&w.drain()).into_iter().map(|(h, _)| h).collect();
    reset.dedup();
    assert_eq!(reset, ["web1", "web2"], "web1 through the web include");

    // A touch (same content) resets nobody.
    w.advance(Duration::from_secs(5));
    std::fs::write(includes.join("common"), "ps_command: ps -e\n").unwrap();
    w.sup.handle_catalog(w.now, loader.rescan());
    w.step();
    assert!(resets_for(&w.drain()).is_empty());
}

#[test]
fn changed_host_is_reset_by_broadcast_and_unicast_at_most_once_a_second() {
    let mut w = World::new(vec![change("web1", Some(entry("a\n", &[])))]);
    w.send(OBS, &request(None, None));
    w.step();
    w.drain();

    w.advance(Duration::from_secs(3));
    w.sup
        .handle_catalog(w.now, vec![change("web1", Some(entry("b\n", &[])))]);
    w.step();
    let resets = resets_for(&w.drain());
    assert_eq!(
        resets,
        [
            ("web1".to_string(), BROADCAST.parse().unwrap()),
            ("web1".to_string(), OBS.parse().unwrap())
        ]
    );

    // Saved again 200 ms later: held back, then sent once the second is over.
    w.advance(Duration::from_millis(200));
    w.sup
        .handle_catalog(w.now, vec![change("web1", Some(entry("c\n", &[])))]);
    w.step();
    assert!(resets_for(&w.drain()).is_empty());
    assert!(w.sup.poll_timeout() <= w.now.mono + Duration::from_millis(800));
    w.advance(Duration::from_millis(800));
    w.step();
    assert_eq!(resets_for(&w.drain()).len(), 2);

    // The file is deleted: reset, and the host now gets NoConfig.
    w.advance(Duration::from_secs(2));
    w.sup.handle_catalog(w.now, vec![change("web1", None)]);
    w.step();
    assert_eq!(resets_for(&w.drain()).len(), 2);
    w.send(OBS, &request(None, None));
    w.step();
    assert_eq!(
        w.drain(),
        [(
            OBS.parse().unwrap(),
            Message::NoConfig {
                host: "web1".into()
            }
        )]
    );
}

#[test]
fn configuration_errors_are_reported_once_per_change() {
    let broken = Arc::new(HostEntry::from_text(
        "bogus: 1\n",
        &[],
        &["hosts/web1:1: unknown directive `bogus:`"],
    ));
    let mut w = World::new(vec![]);
    w.sup
        .handle_catalog(w.now, vec![change("web1", Some(broken.clone()))]);
    w.step();
    w.sup
        .handle_catalog(w.now, vec![change("web1", Some(broken))]);
    w.step();
    let lines = w.stream_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].ends_with(
        "%%SYSTEM%%NULL%%Configuration error: hosts/web1:1: unknown directive `bogus:`"
    ));
}

#[test]
fn beacons_go_to_every_broadcast_address_each_interval() {
    let now = start();
    let mut sup = Supervisor::new(settings(), Codec::open(), now, vec![]);
    let mut codec = Codec::open();
    let mut beacons = 0;
    let mut t = now;
    for _ in 0..20 {
        sup.handle_timeout(t);
        while let Some(tx) = sup.poll_transmit() {
            assert_eq!(tx.to, BROADCAST.parse().unwrap());
            assert_eq!(
                codec.decode(&tx.datagram, t.wall_ms).unwrap(),
                Message::Beacon {
                    supervisor: "sup1".into(),
                    run_id: 42
                }
            );
            beacons += 1;
        }
        t = t.after(Duration::from_secs(1));
    }
    assert_eq!(beacons, 4, "at 0, 5, 10 and 15 s");
}

/// Idle, the machine asks to be woken only for beacons and for the moment a
/// silent host reaches `max_idle` — not on a short period — and the silence
/// is still reported at exactly `max_idle`.
#[test]
fn idle_supervisor_wakes_only_for_beacons_and_the_silence_deadline() {
    let t0 = start();
    let mut sup = Supervisor::new(
        settings(),
        Codec::open(),
        t0,
        vec![change("web1", Some(entry("a\n", &[])))],
    );
    let mut wake_ups = 0;
    let mut now = t0;
    let mut inactive_at = None;
    while now.mono < t0.mono + Duration::from_secs(200) {
        sup.handle_timeout(now);
        while sup.poll_transmit().is_some() {}
        while let Some(note) = sup.poll_note() {
            if let supervisor::notes::Note::WentInactive { .. } = note {
                inactive_at = Some(now.mono - t0.mono);
            }
        }
        let next = sup.poll_timeout();
        assert!(next > now.mono, "a wake-up that is already due");
        now = now.after(next - now.mono);
        wake_ups += 1;
    }
    // Beacons at 0, 5, …, 195 s (40) and the silence deadline at 180 s,
    // which falls on a beacon.
    assert_eq!(wake_ups, 40, "{wake_ups} wake-ups in 200 s");
    assert_eq!(inactive_at, Some(Duration::from_secs(180)));
}
