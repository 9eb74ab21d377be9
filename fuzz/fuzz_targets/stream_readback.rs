//! The stream read-back of a restarted supervisor
//! (`stream::written_ids`, what `recently_written` makes of the
//! end of the stream file) in both formats.
//!
//! The input is read twice. As the end of a stream file: every id read back
//! is an event's (never 0) and its host is in the text. As events: lines
//! written by the supervisor itself, with a valid host name, are read back
//! as exactly their `(host, id)`, supervisor-raised ones not at all.
#![no_main]

use std::hint::black_box;

use chrono::{FixedOffset, TimeZone};
use conf::{HostName, StreamFormat};
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use stream::{Received, append_event_line, append_system_line, written_ids};
use wire::{Event, EventKind};

#[derive(Arbitrary, Debug)]
enum Line {
    Event {
        host: String,
        id: u64,
        time_ms: i64,
        tags: String,
        source: Option<String>,
        kind: u8,
        message: String,
        value: Option<f64>,
    },
    System {
        host: String,
        message: String,
    },
}

fuzz_target!(|data: &[u8]| {
    for format in [StreamFormat::Classic, StreamFormat::Json] {
        let ids = black_box(written_ids(black_box(data)));
        let text = String::from_utf8_lossy(data);
        assert!(ids.len() <= text.lines().count());
        for (host, id) in &ids {
            assert_ne!(*id, 0);
            if format == StreamFormat::Classic {
                assert!(text.contains(host.as_str()), "{host:?} is not in the text");
            }
        }
    }
    let mut u = Unstructured::new(data);
    let Ok(lines) = Vec::<Line>::arbitrary(&mut u) else {
        return;
    };
    let Ok(received_ms) = u.int_in_range(0..=4_102_444_800_000_i64) else {
        return;
    };
    let zone = FixedOffset::east_opt(3600).expect("valid offset");
    let Some(at) = zone.timestamp_millis_opt(received_ms).single() else {
        return;
    };
    for format in [StreamFormat::Classic, StreamFormat::Json] {
        let received = Received::new(format, &at);
        let mut out = Vec::new();
        let mut expected = Vec::new();
        for line in &lines {
            match line {
                Line::Event {
                    host,
                    id,
                    time_ms,
                    tags,
                    source,
                    kind,
                    message,
                    value,
                } => {
                    if HostName::new(host).is_err() {
                        continue;
                    }
                    let kind = [EventKind::Alert, EventKind::Metric, EventKind::System]
                        [usize::from(*kind) % 3];
                    let event = Event {
                        id: *id,
                        time_ms: *time_ms,
                        tags: tags.clone(),
                        source: source.clone(),
                        kind,
                        message: message.clone(),
                        value: *value,
                    };
                    let before = out.len();
                    append_event_line(&mut out, &received, host, &event);
                    assert_eq!(out.last(), Some(&b'\n'));
                    assert_eq!(out[before..].iter().filter(|b| **b == b'\n').count(), 1);
                    if *id != 0 {
                        expected.push((host.clone(), *id));
                    }
                }
                Line::System { host, message } => {
                    if HostName::new(host).is_err() {
                        continue;
                    }
                    append_system_line(&mut out, &received, host, message);
                }
            }
        }
        assert_eq!(written_ids(&out), expected, "{format:?}");
    }
});
