//! Writes the seed corpus (`corpus/<target>/`) from the shipped examples and
//! from messages and stream lines made by the real encoders. Run from
//! `fuzz/`: `cargo run --example make_seeds`. The output is committed; run
//! it again after a change to the message or stream formats.

use std::fs;
use std::path::Path;

use chrono::{FixedOffset, TimeZone};
use conf::StreamFormat;
use fuzz::NOW_MS;
use stream::{Received, append_event_line, append_system_line};
use wire::{Codec, Event, EventKind, Message, MissingChunks, split_config};

fn main() -> std::io::Result<()> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let dir = corpus.join(target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(name), bytes)
    };

    // Messages: open datagrams, and the sealed target's plaintext layout.
    let open = Codec::open();
    for (i, msg) in messages().iter().enumerate() {
        let datagram = open.encode(msg, NOW_MS).expect("example messages fit");
        let name = format!("{i}-{}", msg.kind());
        write("wire_open", &name, &datagram)?;
        let mut sealed = vec![7u8; 24];
        sealed.extend_from_slice(&NOW_MS.to_le_bytes());
        sealed.extend_from_slice(&(-1500i32).to_le_bytes());
        sealed.extend_from_slice(&datagram[wire::codec::OPEN_OVERHEAD..]);
        write("wire_sealed", &name, &sealed)?;
    }

    // Host files: as files, as the expanded text an observer receives, and
    // as the includes target's NUL-separated layout.
    let names = ["a", "b", "common", "sshd", "nightly-window", "c"];
    let mut layout_tail = Vec::new();
    for name in names {
        layout_tail.push(0);
        layout_tail.extend(fs::read(repo.join("includes_436").join(name)).unwrap_or_default());
    }
    for entry in fs::read_dir(repo.join("hosts_436"))? {
        let entry = entry?;
        let host = entry.file_name().to_string_lossy().into_owned();
        let bytes = fs::read(entry.path())?;
        write("host_parse", &format!("host-{host}"), &bytes)?;
        let expanded = conf::expand_host(
            &repo.join("hosts_436"),
            &repo.join("includes_436"),
            &conf::HostName::new(&host).expect("shipped names are valid"),
        )
        .expect("shipped host files expand");
        write(
            "host_parse",
            &format!("expanded-{host}"),
            expanded.text.as_bytes(),
        )?;
        let mut layout = bytes.clone();
        layout.extend_from_slice(&layout_tail);
        write("host_includes", &host, &layout)?;
    }
    for entry in fs::read_dir(repo.join("includes_436"))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        write(
            "host_parse",
            &format!("include-{name}"),
            &fs::read(entry.path())?,
        )?;
    }

    let conf_text = fs::read_to_string(repo.join("ax436.conf"))?;
    write("supervisor_conf", "ax436.conf", conf_text.as_bytes())?;
    let variant = conf_text
        .replace("stream_format: 436", "stream_format: json")
        .replace("# key_file: 436.key", "key_file: /etc/ax436/436.key")
        + "stream_rotation: hourly\nstream_keep: 3\nbroadcast: 10.0.0.255, 10.1.255.255\n";
    write("supervisor_conf", "json-hourly", variant.as_bytes())?;

    // Notification files: every example of the documentation, numbered.
    let guide = fs::read_to_string(repo.join("docs/NOTIFICATIONS.md"))?;
    for (i, block) in guide.split("```notify\n").skip(1).enumerate() {
        let example = block.split("```").next().unwrap_or_default();
        write("notify_conf", &format!("doc-{i:02}"), example.as_bytes())?;
    }

    // Configuration chunks: a real host file as the text to split.
    write(
        "chunk_reassembly",
        "web1",
        &fs::read(repo.join("hosts_436/web1"))?,
    )?;
    write(
        "chunk_reassembly",
        "small",
        &[
            1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 2, 1, 0, 3, 0, 0, 4, b'a', b'b',
        ],
    )?;

    // Stream lines in both formats, as the supervisor writes them.
    let at = FixedOffset::east_opt(3600)
        .and_then(|z| z.timestamp_millis_opt(NOW_MS as i64).single())
        .expect("valid time");
    for (format, name) in [
        (StreamFormat::Classic, "classic"),
        (StreamFormat::Json, "json"),
    ] {
        let received = Received::new(format, &at);
        let mut out = Vec::new();
        for msg in messages() {
            if let Message::Events { host, events, .. } = msg {
                for e in &events {
                    append_event_line(&mut out, &received, &host, e);
                }
                append_system_line(&mut out, &received, &host, "Host is inactive");
            }
        }
        write("stream_readback", name, &out)?;
    }
    Ok(())
}

fn messages() -> Vec<Message> {
    let event = |id, kind, value| Event {
        id,
        time_ms: NOW_MS as i64 - 2_000,
        tags: "web,nginx,error".into(),
        source: Some("/var/log/nginx/error.log".into()),
        kind,
        message: "upstream timed out %% while reading".into(),
        value,
    };
    let mut chunks = split_config(
        "web1",
        42,
        b"file: /var/log/x\nmatch: x\nalert_all: tags=t\n",
    )
    .expect("small text");
    vec![
        Message::Beacon {
            supervisor: "mon1".into(),
            run_id: 0x0123_4567_89ab_cdef,
        },
        Message::ConfigRequest {
            host: "web1".into(),
            have: Some(41),
            missing: Some(MissingChunks {
                version: 42,
                indices: vec![0, 3, 7],
            }),
        },
        chunks.remove(0),
        Message::ConfigUnchanged {
            host: "web1".into(),
            version: 42,
        },
        Message::NoConfig { host: "db1".into() },
        Message::Reset {
            host: "web1".into(),
        },
        Message::Heartbeat {
            host: "web1".into(),
            version: Some(42),
            queue_len: 3,
            uptime_secs: 86_400,
        },
        Message::Events {
            host: "web1".into(),
            floor: 1_000,
            events: vec![
                event(1_001, EventKind::Alert, None),
                event(1_002, EventKind::Metric, Some(97.5)),
                Event {
                    source: None,
                    tags: "SYSTEM".into(),
                    ..event(1_003, EventKind::System, None)
                },
            ],
        },
        Message::Ack {
            host: "web1".into(),
            ids: vec![1_001, 1_002, 1_003],
        },
    ]
}
