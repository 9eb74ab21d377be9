//! The real supervisor binary over loopback sockets, in temporary folders.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use common::{Fixture, TestObserver, wait_for, wall_ms};
use wire::{Codec, Event, EventKind, Key, Message};

fn big_host_file(tag: &str) -> String {
    (0..40)
        .map(|i| {
            format!(
                "# group {i}\nfile: /var/log/app-{i}.log\nmatch: ERROR in module number {i} of {tag}\n\
                 alert_all: tags=app,{tag} message=module {i} failed\n"
            )
        })
        .collect()
}

fn resets(socket: &std::net::UdpSocket, codec: &mut Codec, host: &str) {
    wait_for(
        socket,
        codec,
        &format!("reset of {host}"),
        |m, _| matches!(m, Message::Reset { host: h } if h == host),
    );
}

fn drain(socket: &std::net::UdpSocket) {
    let mut buf = [0u8; 2048];
    while socket.recv_from(&mut buf).is_ok() {}
}

#[test]
fn beacon_is_broadcast_and_configuration_fetched_in_chunks() {
    let mut fx = Fixture::new("");
    let text = big_host_file("web1");
    assert!(text.len() > 3 * 1024);
    fx.write("hosts/web1", &text);
    let (listener, mut codec) = fx.start_listening(Codec::open());
    let (beacon, from) = wait_for(&listener, &mut codec, "beacon", |m, _| {
        matches!(m, Message::Beacon { .. })
    });
    assert_eq!(
        from.port(),
        fx.port + 1,
        "beacons leave from the request port"
    );
    let Message::Beacon { supervisor, .. } = beacon else {
        unreachable!()
    };
    assert!(!supervisor.is_empty());

    let mut obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    let (version, served, datagrams) = obs.fetch_config("web1");
    assert!(datagrams >= 4, "{datagrams} chunks");
    assert!(served.contains("match: ERROR in module number 39 of web1"));
    assert_eq!(conf::ConfigVersion::of(&served).0, version);

    obs.request_config("web1", Some(version));
    obs.wait_for("unchanged", |m| {
        matches!(m, Message::ConfigUnchanged { .. })
    });

    obs.request_config("nobody", None);
    obs.wait_for("no config", |m| matches!(m, Message::NoConfig { .. }));
}

#[test]
fn editing_a_host_file_in_place_or_by_rename_resets_it() {
    let mut fx = Fixture::new("");
    fx.write(
        "hosts/web1",
        "file: /var/log/a\nmatch: x\nalert_all: tags=a\n",
    );
    let (listener, mut codec) = fx.start_listening(Codec::open());
    let mut obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    obs.fetch_config("web1");

    // In place.
    fx.write(
        "hosts/web1",
        "file: /var/log/b\nmatch: x\nalert_all: tags=a\n",
    );
    resets(&listener, &mut codec, "web1");
    obs.wait_for("unicast reset", |m| matches!(m, Message::Reset { .. }));

    // Written elsewhere and renamed over, as editors do.
    std::thread::sleep(Duration::from_millis(1100));
    drain(&listener);
    fx.write(
        "hosts/.web1.swp",
        "file: /var/log/c\nmatch: x\nalert_all: tags=a\n",
    );
    std::fs::rename(fx.path("hosts/.web1.swp"), fx.path("hosts/web1")).unwrap();
    resets(&listener, &mut codec, "web1");

    // Deleted: reset, then NoConfig.
    std::thread::sleep(Duration::from_millis(1100));
    drain(&listener);
    std::fs::remove_file(fx.path("hosts/web1")).unwrap();
    resets(&listener, &mut codec, "web1");
    obs.request_config("web1", None);
    obs.wait_for("no config", |m| matches!(m, Message::NoConfig { .. }));
}

#[test]
fn editing_an_include_resets_both_hosts_that_include_it() {
    let mut fx = Fixture::new("");
    fx.write(
        "includes/common",
        "file: /var/log/a\nmatch: x\nalert_all: tags=a\n",
    );
    fx.write("hosts/web1", "include: common\n");
    fx.write("hosts/web2", "include: common\n");
    fx.write(
        "hosts/db",
        "file: /var/log/db\nmatch: x\nalert_all: tags=db\n",
    );
    let (listener, mut codec) = fx.start_listening(Codec::open());

    fx.write(
        "includes/common",
        "file: /var/log/b\nmatch: x\nalert_all: tags=a\n",
    );
    let mut seen = std::collections::BTreeSet::new();
    wait_for(&listener, &mut codec, "resets of web1 and web2", |m, _| {
        if let Message::Reset { host } = m {
            assert_ne!(host, "db", "db does not include common");
            seen.insert(host.clone());
        }
        seen.len() == 2
    });
}

fn event(id: u64, message: &str) -> Event {
    Event {
        id,
        time_ms: wall_ms() as i64,
        tags: "app,error".into(),
        source: Some("/var/log/app.log".into()),
        kind: EventKind::Alert,
        message: message.into(),
        value: None,
    }
}

fn send_events(obs: &mut TestObserver, host: &str, ids: std::ops::Range<u64>) {
    let events: Vec<Event> = ids
        .clone()
        .map(|id| event(id, &format!("line {id}\tend")))
        .collect();
    obs.send(&Message::Events {
        host: host.into(),
        floor: 0,
        events,
    });
    let mut acked = Vec::new();
    let want: Vec<u64> = ids.collect();
    obs.wait_for("ack", |m| {
        if let Message::Ack { ids, .. } = m {
            acked.extend_from_slice(ids);
        }
        acked.len() >= want.len()
    });
    assert_eq!(acked, want);
}

#[test]
fn events_land_in_the_classic_stream_once() {
    let mut fx = Fixture::new("stream_format: 436\nstream_rotation: never\n");
    fx.write(
        "hosts/web1",
        "file: /var/log/a\nmatch: x\nalert_all: tags=a\n",
    );
    fx.start_listening(Codec::open());
    let mut obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    send_events(&mut obs, "web1", 1..4);
    // Again, as after a lost acknowledgement.
    send_events(&mut obs, "web1", 1..4);
    let lines = fx.wait_for_lines(3);
    assert_eq!(fx.stream_files(), ["events.436"]);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let fields: Vec<&str> = lines[2].split("%%").collect();
    assert_eq!(fields.len(), 7, "{}", lines[2]);
    assert_eq!(fields[1], "web1");
    assert_eq!(fields[2], "3");
    assert_eq!(
        &fields[4..],
        ["app,error", "/var/log/app.log", "line 3 end"]
    );
    let raised = fields[3].parse::<u64>().unwrap();
    assert!(raised.abs_diff(wall_ms() / 1000) < 600, "{raised}");
    assert_eq!(fx.terminate().code(), Some(0));
}

#[test]
fn events_land_in_the_json_stream_with_hourly_rotation_names() {
    let mut fx = Fixture::new("stream_format: json\nstream_rotation: hourly\n");
    fx.start_listening(Codec::open());
    let mut obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    send_events(&mut obs, "db", 10..12);
    let lines = fx.wait_for_lines(2);
    let files = fx.stream_files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        files[0].starts_with("events.") && files[0].ends_with(".436"),
        "{files:?}"
    );
    assert_eq!(
        files[0].len(),
        "events.2026-11-21-16.436".len(),
        "{files:?}"
    );
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(v["host"], "db");
    assert_eq!(v["id"], 10);
    assert_eq!(v["kind"], "alert");
    assert_eq!(v["message"], "line 10\tend");
    assert_eq!(v["source"], "/var/log/app.log");
    assert!(v["time"].as_f64().unwrap() > 1.7e9);
    assert!(common::only_stream_files(&fx.path("stream")));
}

#[test]
fn sigterm_leaves_complete_lines_and_exits_0() {
    let mut fx = Fixture::new("stream_format: json\nstream_rotation: never\n");
    fx.start_listening(Codec::open());
    let obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    // A stream of batches still arriving when the signal comes.
    for batch in 0..200u64 {
        let events = (0..5)
            .map(|i| event(batch * 5 + i, &"x".repeat(100)))
            .collect();
        obs.send(&Message::Events {
            host: "web1".into(),
            floor: 0,
            events,
        });
    }
    let status = fx.terminate();
    assert_eq!(status.code(), Some(0));
    let text = fx.stream_text();
    assert!(text.is_empty() || text.ends_with('\n'));
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["host"], "web1");
    }
}

#[test]
fn sealed_supervisor_answers_only_sealed_requests() {
    let key = Key::generate().unwrap();
    let mut fx = Fixture::new("key_file: 436.key\n");
    fx.write("436.key", &format!("{}\n", key.to_hex()));
    fx.write(
        "hosts/web1",
        "file: /var/log/a\nmatch: x\nalert_all: tags=a\n",
    );
    fx.start_listening(Codec::sealed(&key));
    let open = TestObserver::new(fx.supervisor_addr(), Codec::open());
    open.request_config("web1", None);
    let mut sealed = TestObserver::new(fx.supervisor_addr(), Codec::sealed(&key));
    sealed.fetch_config("web1");
    let mut buf = [0u8; 2048];
    assert!(
        open.socket.recv_from(&mut buf).is_err(),
        "no answer to an unsealed request"
    );
}

#[test]
fn check_reports_every_error_with_file_and_line() {
    let fx = Fixture::new("");
    fx.write(
        "hosts/web1",
        "file: /var/log/a\nmatch: (unclosed\nalert_all: tags=a\nbogus: 1\nalert_all: tags=b\n",
    );
    fx.write(
        "hosts/web2",
        "file: /var/log/a\nmatch: ok\nalert_all: tags=a\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .arg("--check")
        .arg(fx.path("ax436.conf"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let errors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("hosts/web1:"))
        .collect();
    assert_eq!(errors.len(), 3, "{stdout}");
    for (line, number) in errors.iter().zip([2, 4, 5]) {
        assert!(
            line.starts_with(&format!("hosts/web1:{number}: ")),
            "{line}"
        );
    }
    assert!(
        stdout.contains("web2: 1 log watch, 0 process watches, 0 commands, version "),
        "{stdout}"
    );
}

#[test]
fn check_reports_notification_file_errors_with_file_and_line() {
    let fx = Fixture::new("notify: notify.conf\n");
    fx.write(
        "hosts/web1",
        "file: /var/log/a\nmatch: ok\nalert_all: tags=a\n",
    );
    fx.write(
        "notify.conf",
        "channel: ops webhook http://127.0.0.1:1/hook\nroute: channel=ops wait=soon\n",
    );
    let check = || {
        let out = Command::new(env!("CARGO_BIN_EXE_supervisor"))
            .arg("--check")
            .arg(fx.path("ax436.conf"))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stdout) = check();
    assert_eq!(code, Some(1), "{stdout}");
    let label = fx.path("notify.conf").display().to_string();
    assert!(
        stdout.contains(&format!(
            "{label}:2: route: `wait=`: `soon` is not a duration"
        )),
        "{stdout}"
    );
    fx.write(
        "notify.conf",
        "channel: ops webhook http://127.0.0.1:1/hook\nroute: channel=ops wait=30s\n",
    );
    let (code, stdout) = check();
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("{label}: 1 channels, 1 routes")),
        "{stdout}"
    );
}

#[test]
fn check_accepts_the_shipped_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../ax436.conf");
    let out = Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .arg("--check")
        .arg(example)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn gen_key_writes_a_private_key_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("436.key");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_supervisor"))
            .arg("--gen-key")
            .arg(&path)
            .output()
            .unwrap()
    };
    assert!(run().status.success());
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.len(), 65);
    assert!(text.ends_with('\n'));
    Key::load(&path).unwrap();
    let again = run();
    assert!(!again.status.success());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "not overwritten"
    );
}

#[test]
fn hosts_folder_removed_and_created_again_is_watched_again() {
    let mut fx = Fixture::new("");
    fx.write(
        "hosts/web1",
        "file: /var/log/a\nmatch: x\nalert_all: tags=a\n",
    );
    let (listener, mut codec) = fx.start_listening(Codec::open());

    std::fs::remove_dir_all(fx.path("hosts")).unwrap();
    resets(&listener, &mut codec, "web1");
    std::thread::sleep(Duration::from_millis(1100));
    drain(&listener);

    std::fs::create_dir(fx.path("hosts")).unwrap();
    fx.write(
        "hosts/web1",
        "file: /var/log/b\nmatch: x\nalert_all: tags=a\n",
    );
    resets(&listener, &mut codec, "web1");

    // And later edits in the new folder are seen too.
    std::thread::sleep(Duration::from_millis(1100));
    drain(&listener);
    fx.write(
        "hosts/web1",
        "file: /var/log/c\nmatch: x\nalert_all: tags=a\n",
    );
    resets(&listener, &mut codec, "web1");
}
