//! `ax436.conf` read again on SIGHUP by the real supervisor binary, and the
//! stream format changed by a reload or a restart, over loopback sockets.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{Fixture, TestObserver, listen_on, wait_for, wall_ms};
use socket2::{Domain, Protocol, Socket, Type};
use wire::{Codec, Event, EventKind, Message};

/// A socket on `ip:port` (SO_REUSEADDR, beside the fixture's 0.0.0.0:P):
/// it receives only datagrams sent to `ip`, never a broadcast.
fn bound_to(ip: Ipv4Addr, port: u16) -> UdpSocket {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    s.set_reuse_address(true).unwrap();
    s.bind(&SocketAddr::from((ip, port)).into()).unwrap();
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    s
}

/// Beacons received on `socket` during `window`.
fn beacons_during(socket: &UdpSocket, window: Duration) -> usize {
    let mut codec = Codec::open();
    let mut buf = [0u8; 2048];
    let end = Instant::now() + window;
    let mut n = 0;
    while Instant::now() < end {
        if let Ok((len, _)) = socket.recv_from(&mut buf)
            && let Ok(Message::Beacon { .. }) = codec.decode(&buf[..len], wall_ms())
        {
            n += 1;
        }
    }
    n
}

fn event(id: u64) -> Event {
    Event {
        id,
        time_ms: wall_ms() as i64,
        tags: "app".into(),
        source: None,
        kind: EventKind::Alert,
        message: format!("line {id}"),
        value: None,
    }
}

/// Sends events `ids` of `host` and waits until all are acknowledged.
fn send_acked(obs: &mut TestObserver, host: &str, ids: std::ops::Range<u64>) {
    obs.send(&Message::Events {
        host: host.into(),
        floor: 0,
        events: ids.clone().map(event).collect(),
    });
    let want: Vec<u64> = ids.collect();
    let mut acked = Vec::new();
    obs.wait_for("ack", |m| {
        if let Message::Ack { ids, .. } = m {
            acked.extend_from_slice(ids);
        }
        acked.len() >= want.len()
    });
    assert_eq!(acked, want);
}

/// The ids of `host`'s events in every stream file, each file read with
/// the parser of its own first line; panics on a file holding both formats.
fn ids_in_stream(fx: &Fixture, host: &str) -> Vec<u64> {
    let mut ids = Vec::new();
    for name in fx.stream_files() {
        let text = std::fs::read_to_string(fx.path("stream").join(&name)).unwrap();
        let json = text.starts_with('{');
        for line in text.lines() {
            assert_eq!(line.starts_with('{'), json, "{name} mixes formats:\n{text}");
            let (h, id) = if json {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                (
                    v["host"].as_str().unwrap().to_string(),
                    v["id"].as_u64().unwrap(),
                )
            } else {
                let f: Vec<&str> = line.split("%%").collect();
                (f[1].to_string(), f[2].parse().unwrap())
            };
            if h == host {
                ids.push(id);
            }
        }
    }
    ids.sort_unstable();
    ids
}

#[test]
fn sighup_moves_beacons_to_new_addresses_and_interval_and_a_bad_file_keeps_them() {
    let mut fx = Fixture::new("stream_rotation: never\n");
    let (everywhere, _) = fx.start_listening(Codec::open());
    let only_127_0_0_2 = bound_to(Ipv4Addr::new(127, 0, 0, 2), fx.port);
    assert!(beacons_during(&everywhere, Duration::from_millis(1500)) >= 1);
    assert_eq!(
        beacons_during(&only_127_0_0_2, Duration::from_millis(300)),
        0
    );

    // A file with an error: nothing changes, the error names FILE:LINE.
    fx.set_conf("broadcast", "broadcast: 127.0.0.2");
    fx.set_conf("beacon_interval", "beacon_interval: 86400");
    fx.set_conf("max_idle", "max_idle: soon");
    fx.signal(libc::SIGHUP);
    let error = fx.wait_for_log("`max_idle:` must be", 1);
    let conf = fx.path("ax436.conf");
    let at = format!("{}:", conf.display());
    assert!(error.contains(&at), "{error}");
    fx.wait_for_log("reload refused", 1);
    assert!(beacons_during(&everywhere, Duration::from_millis(2500)) >= 1);
    assert_eq!(
        beacons_during(&only_127_0_0_2, Duration::from_millis(300)),
        0
    );

    // Fixed: beacons go to 127.0.0.2, one at once, then one a day.
    fx.set_conf("max_idle", "max_idle: 60");
    fx.signal(libc::SIGHUP);
    fx.wait_for_log("reloaded:", 1);
    let mut codec = Codec::open();
    wait_for(
        &only_127_0_0_2,
        &mut codec,
        "beacon to the new address",
        |m, _| matches!(m, Message::Beacon { .. }),
    );
    assert_eq!(
        beacons_during(&only_127_0_0_2, Duration::from_millis(2500)),
        0
    );
    // `everywhere` also hears nothing more: 127.255.255.255 is not used now.
    let mut buf = [0u8; 2048];
    while everywhere.recv_from(&mut buf).is_ok() {}
    assert_eq!(beacons_during(&everywhere, Duration::from_millis(2500)), 0);
    assert_eq!(fx.terminate().code(), Some(0));
}

#[test]
fn sighup_with_a_shorter_max_idle_reports_a_silent_host_inactive() {
    let mut fx = Fixture::new("stream_format: json\nstream_rotation: never\n");
    fx.write(
        "hosts/db1",
        "file: /var/log/a\nmatch: x\nalert_all: tags=a\n",
    );
    fx.start_listening(Codec::open());
    // max_idle is 60 s: nothing yet.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!fx.stream_text().contains("Host is inactive"));
    fx.set_conf("max_idle", "max_idle: 1");
    fx.signal(libc::SIGHUP);
    fx.wait_for_log("reloaded:", 1);
    let lines = fx.wait_for_lines(1);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"db1\"") && l.contains("Host is inactive")),
        "{lines:#?}"
    );
    assert_eq!(fx.terminate().code(), Some(0));
}

#[test]
fn settings_that_need_a_restart_are_named_in_the_log() {
    let mut fx = Fixture::new("stream_rotation: never\n");
    fx.start_listening(Codec::open());
    fx.set_conf("listen", "listen: 127.0.0.1");
    fx.set_conf("hosts", "hosts: elsewhere");
    fx.signal(libc::SIGHUP);
    fx.wait_for_log("reloaded:", 1);
    fx.wait_for_log("`listen:` changed; it takes effect at the next restart", 1);
    fx.wait_for_log("`hosts:` changed; it takes effect at the next restart", 1);
    assert_eq!(fx.terminate().code(), Some(0));
}

#[test]
fn format_change_by_reload_starts_a_new_file_and_the_restart_reads_both() {
    let mut fx = Fixture::new("stream_format: 436\nstream_rotation: never\n");
    fx.start_listening(Codec::open());
    let mut obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    send_acked(&mut obs, "web1", 1..4);
    fx.set_conf("stream_format", "stream_format: json");
    fx.signal(libc::SIGHUP);
    fx.wait_for_log("reloaded:", 1);
    send_acked(&mut obs, "web1", 4..6);
    let files = fx.stream_files();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[0], "events.436");
    assert!(
        files[1].starts_with("events.format-436-until-") && files[1].ends_with(".436"),
        "{files:?}"
    );
    assert_eq!(ids_in_stream(&fx, "web1"), [1, 2, 3, 4, 5]);
    assert_eq!(fx.terminate().code(), Some(0));

    // Restarted, the supervisor recognises every one of them when they
    // come again (as after lost acknowledgements): none written twice.
    let listener = listen_on(fx.port);
    fx.start(&listener, &mut Codec::open());
    fx.wait_for_log("5 recent events read back", 1);
    send_acked(&mut obs, "web1", 1..6);
    send_acked(&mut obs, "web1", 6..7);
    assert_eq!(ids_in_stream(&fx, "web1"), [1, 2, 3, 4, 5, 6]);
    assert_eq!(fx.terminate().code(), Some(0));
}

#[test]
fn format_change_by_restart_starts_a_new_file_and_reads_back_the_old_one() {
    let mut fx = Fixture::new("stream_format: json\nstream_rotation: never\n");
    fx.start_listening(Codec::open());
    let mut obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    send_acked(&mut obs, "web1", 1..4);
    assert_eq!(fx.terminate().code(), Some(0));

    fx.set_conf("stream_format", "stream_format: 436");
    let listener = listen_on(fx.port);
    fx.start(&listener, &mut Codec::open());
    fx.wait_for_log("stream_format changed since the last run", 1);
    fx.wait_for_log("3 recent events read back", 1);
    send_acked(&mut obs, "web1", 1..5);
    let files = fx.stream_files();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files[1].starts_with("events.format-json-until-"),
        "{files:?}"
    );
    assert_eq!(ids_in_stream(&fx, "web1"), [1, 2, 3, 4]);
    let new = std::fs::read_to_string(fx.path("stream/events.436")).unwrap();
    assert!(new.starts_with(|c: char| c.is_ascii_alphabetic()), "{new}");
    assert_eq!(fx.terminate().code(), Some(0));
}

fn gen_key(path: &std::path::Path) -> wire::Key {
    let _ = std::fs::remove_file(path);
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .arg("--gen-key")
        .arg(path)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    wire::Key::load(path).unwrap()
}

#[test]
fn sighup_reads_the_key_file_again() {
    let mut fx = Fixture::new("stream_rotation: never\nkey_file: lan.key\n");
    fx.write(
        "hosts/web1",
        "file: /var/log/a\nmatch: x\nalert_all: tags=a\n",
    );
    let old = gen_key(&fx.path("lan.key"));
    fx.start_listening(Codec::sealed(&old));
    let mut with_old = TestObserver::new(fx.supervisor_addr(), Codec::sealed(&old));
    with_old.fetch_config("web1");

    let new = gen_key(&fx.path("lan.key"));
    fx.signal(libc::SIGHUP);
    fx.wait_for_log("reload: key read again (sealed mode)", 1);
    fx.wait_for_log("reloaded:", 1);
    let mut with_new = TestObserver::new(fx.supervisor_addr(), Codec::sealed(&new));
    let (_, text, _) = with_new.fetch_config("web1");
    assert!(text.contains("match: x"));
    // The old key is refused now: no answer.
    with_old.request_config("web1", None);
    let mut buf = [0u8; 2048];
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        assert!(
            with_old.socket.recv_from(&mut buf).is_err(),
            "answered a request sealed with the old key"
        );
    }
    assert_eq!(fx.terminate().code(), Some(0));
}
