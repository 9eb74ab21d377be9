//! What the window costs with a large fleet: builds a supervisor state
//! machine with N hosts (each heard, with a spool backlog and two metric
//! series), then times the snapshot (built on the loop's thread once a
//! second) and each rendering (done on the blocking pool).
//!
//! `cargo run --release -p supervisor --example window_render -- 10000`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conf::{HostName, StreamFormat};
use supervisor::http::refusal::HttpCounts;
use supervisor::http::view::{Filter, Pages, Slice};
use supervisor::http::{api, metrics, pages};
use supervisor::{HostChange, HostEntry, Now, Settings, Supervisor};
use wire::{Codec, Event, EventKind, Message};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let now = Now {
        mono: Instant::now(),
        wall_ms: 1_790_000_000_000,
    };
    let settings = Settings {
        supervisor_name: "sup1".into(),
        run_id: 1,
        broadcast: vec!["10.0.0.255:9000".parse().unwrap()],
        max_idle: Duration::from_secs(180),
        beacon_interval: Duration::from_secs(5),
        stream_format: StreamFormat::Classic,
    };
    let names: Vec<String> = (0..n).map(|i| format!("host{i:05}")).collect();
    let catalog = names
        .iter()
        .map(|h| HostChange {
            host: HostName::new(h).unwrap(),
            entry: Some(Arc::new(HostEntry::from_text(h, &["common"], &[]))),
        })
        .collect();
    let mut sup = Supervisor::new(settings, Codec::open(), now, catalog);
    let codec = Codec::open();
    for (i, h) in names.iter().enumerate() {
        let from = format!("10.0.{}.{}:4000", i / 250, i % 250 + 1)
            .parse()
            .unwrap();
        let hb = Message::Heartbeat {
            host: h.clone(),
            version: Some(1),
            queue_len: i as u64 % 7,
            uptime_secs: 100,
        };
        sup.handle_datagram(now, from, &codec.encode(&hb, now.wall_ms).unwrap());
        let events = Message::Events {
            host: h.clone(),
            floor: 0,
            events: ["load,metric", "disk,metric"]
                .iter()
                .enumerate()
                .map(|(k, tags)| Event {
                    id: k as u64 + 1,
                    time_ms: now.wall_ms as i64,
                    tags: tags.to_string(),
                    source: None,
                    kind: EventKind::Metric,
                    message: "1".into(),
                    value: Some(1.5),
                })
                .collect(),
        };
        sup.handle_datagram(now, from, &codec.encode(&events, now.wall_ms).unwrap());
    }
    let time = |what: &str, f: &mut dyn FnMut() -> usize| {
        let mut runs = Vec::new();
        let mut size = 0;
        for _ in 0..20 {
            let t = Instant::now();
            size = black_box(f());
            runs.push(t.elapsed());
        }
        runs.sort();
        println!(
            "{what:<28} median {:>7.2} ms  max {:>7.2} ms  ({size} bytes)",
            runs[runs.len() / 2].as_secs_f64() * 1e3,
            runs[runs.len() - 1].as_secs_f64() * 1e3
        );
    };
    println!("{n} hosts");
    let snapshot = sup.fleet_snapshot(now);
    time("snapshot (loop thread)", &mut || {
        sup.fleet_snapshot(now).hosts.len()
    });
    let filter = Filter::default();
    time("fleet page /", &mut || {
        pages::fleet(&snapshot, &filter, Pages::default(), true, now.wall_ms).len()
    });
    time("/api/v1/hosts", &mut || {
        serde_json::to_vec(&api::hosts(
            &snapshot,
            &filter,
            Slice::default(),
            now.wall_ms,
        ))
        .map_or(0, |b| b.len())
    });
    time("/metrics", &mut || {
        metrics::render(&snapshot, &HttpCounts::default(), now.wall_ms).len()
    });
}
