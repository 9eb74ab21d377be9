//! Protocol 2 (problem state): the new messages round-trip, each datagram is
//! framed with the first version that has its message so that protocol-1
//! peers keep reading everything they know, and the largest events and
//! heartbeats still fit in one sealed datagram.

use proptest::prelude::*;
use wire::limits::{MAX_DATAGRAM, MAX_HOST_NAME};
use wire::{
    CheckEvent, Codec, DecodeError, Event, EventBatchBuilder, EventKind, Key, Message, OpenProblem,
    Transition, heartbeat_v2,
};

const NOW: u64 = 1_763_740_620_000;

fn key() -> Key {
    Key::from_bytes([7; 32])
}

fn transition() -> impl Strategy<Value = Transition> {
    prop_oneof![
        Just(Transition::Point),
        Just(Transition::Open),
        Just(Transition::Repeat),
        any::<u64>().prop_map(|open_ms| Transition::Clear { open_ms }),
    ]
}

fn check_event() -> impl Strategy<Value = CheckEvent> {
    (
        any::<u64>(),
        any::<i64>(),
        "[a-z,]{0,20}",
        proptest::option::of("[a-z/]{0,20}"),
        ".{0,60}",
        proptest::option::of(-1e9f64..1e9),
        proptest::option::of("[a-z0-9:-]{1,30}"),
        transition(),
    )
        .prop_map(
            |(id, time_ms, tags, source, message, value, check, transition)| CheckEvent {
                event: Event {
                    id,
                    time_ms,
                    tags,
                    source,
                    kind: EventKind::Alert,
                    message,
                    value,
                },
                check,
                transition,
            },
        )
}

fn problem() -> impl Strategy<Value = OpenProblem> {
    (
        "[a-z0-9:-]{1,30}",
        any::<i64>(),
        "[a-z,]{0,20}",
        ".{0,60}",
        proptest::option::of(-1e9f64..1e9),
    )
        .prop_map(|(check, since_ms, tags, message, value)| OpenProblem {
            check,
            since_ms,
            tags,
            message,
            value,
        })
}

fn v2_message() -> impl Strategy<Value = Message> {
    let host = "[a-z0-9.-]{1,30}";
    prop_oneof![
        (
            host,
            any::<u64>(),
            proptest::collection::vec(check_event(), 0..6)
        )
            .prop_map(|(host, floor, events)| Message::EventsV2 {
                host,
                floor,
                events
            }),
        (
            host,
            proptest::option::of(any::<u64>()),
            any::<u64>(),
            any::<u64>(),
            proptest::option::of(any::<u64>()),
            proptest::collection::vec(problem(), 0..5),
            any::<u32>(),
        )
            .prop_map(
                |(host, version, queue_len, uptime_secs, chosen, problems, omitted)| {
                    Message::HeartbeatV2 {
                        host,
                        version,
                        queue_len,
                        uptime_secs,
                        chosen,
                        problems,
                        omitted,
                    }
                }
            ),
        host.prop_map(|host| Message::Goodbye { host }),
    ]
}

proptest! {
    #[test]
    fn protocol_2_messages_round_trip_open_and_sealed(msg in v2_message()) {
        let open = Codec::open().encode(&msg, NOW).unwrap();
        prop_assert_eq!(open[4], 2);
        prop_assert_eq!(Codec::open().decode(&open, NOW).unwrap(), msg.clone());
        let sealed = Codec::sealed(&key()).encode(&msg, NOW).unwrap();
        prop_assert_eq!(sealed[4], 2);
        prop_assert_eq!(Codec::sealed(&key()).decode(&sealed, NOW).unwrap(), msg);
    }
}

#[test]
fn protocol_1_messages_keep_protocol_1_framing() {
    // What a protocol-2 supervisor sends must stay readable by observers
    // that have not been upgraded: every message it sends is protocol 1.
    for msg in [
        Message::Beacon {
            supervisor: "s".into(),
            run_id: 1,
        },
        Message::Reset {
            host: "web1".into(),
        },
        Message::Ack {
            host: "web1".into(),
            ids: vec![1, 2],
        },
        Message::NoConfig {
            host: "web1".into(),
        },
    ] {
        let bytes = Codec::open().encode(&msg, NOW).unwrap();
        assert_eq!(bytes[4], 1, "{}", msg.kind());
    }
}

#[test]
fn a_protocol_2_message_framed_as_protocol_1_is_refused() {
    let mut bytes = Codec::open()
        .encode(
            &Message::Goodbye {
                host: "web1".into(),
            },
            NOW,
        )
        .unwrap();
    bytes[4] = 1;
    assert!(matches!(
        Codec::open().decode(&bytes, NOW),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn a_replayed_goodbye_is_refused_but_heartbeats_are_not() {
    let sealer = Codec::sealed(&key());
    let mut receiver = Codec::sealed(&key());
    let goodbye = sealer
        .encode(
            &Message::Goodbye {
                host: "web1".into(),
            },
            NOW,
        )
        .unwrap();
    assert!(receiver.decode(&goodbye, NOW).is_ok());
    assert_eq!(receiver.decode(&goodbye, NOW), Err(DecodeError::Replay));
    let heartbeat = heartbeat_v2("web1", None, 0, 1, None, Vec::new(), &sealer);
    let bytes = sealer.encode(&heartbeat, NOW).unwrap();
    assert!(receiver.decode(&bytes, NOW).is_ok());
    assert!(receiver.decode(&bytes, NOW).is_ok());
}

fn largest_check_event(id: u64) -> CheckEvent {
    let mut event = CheckEvent {
        event: Event {
            id: u64::MAX - id,
            time_ms: i64::MIN,
            tags: "t".repeat(1000),
            source: Some("s".repeat(1000)),
            kind: EventKind::Metric,
            message: "é".repeat(5000),
            value: Some(f64::MAX),
        },
        check: Some("c".repeat(500)),
        transition: Transition::Clear { open_ms: u64::MAX },
    };
    assert!(event.fit_to_datagram());
    event
}

#[test]
fn the_largest_check_event_fits_alone_with_the_longest_host_sealed() {
    let codec = Codec::sealed(&key());
    let host = "h".repeat(MAX_HOST_NAME);
    let mut batch = EventBatchBuilder::new(&host, u64::MAX, &codec);
    assert!(batch.try_push(largest_check_event(0)).is_ok());
    // A second one of the same size does not fit, and is handed back.
    assert!(batch.try_push(largest_check_event(1)).is_err());
    let bytes = codec.encode(&batch.finish(), NOW).unwrap();
    assert!(bytes.len() <= MAX_DATAGRAM);
}

#[test]
fn a_heartbeat_carries_what_fits_and_counts_the_rest() {
    let codec = Codec::sealed(&key());
    let host = "h".repeat(MAX_HOST_NAME);
    let problems = (0..100).map(|i| OpenProblem {
        check: format!("cmd-{i:08x}:{}", "x".repeat(200)),
        since_ms: i64::MAX,
        tags: "disk,web".repeat(40),
        message: "m".repeat(400),
        value: Some(1.5),
    });
    let msg = heartbeat_v2(
        &host,
        Some(u64::MAX),
        u64::MAX,
        u64::MAX,
        Some(1),
        problems,
        &codec,
    );
    let Message::HeartbeatV2 {
        problems, omitted, ..
    } = &msg
    else {
        panic!("not a heartbeat: {msg:?}");
    };
    assert!(!problems.is_empty());
    assert_eq!(problems.len() as u32 + omitted, 100);
    assert!(problems.iter().all(|p| p.message.len() <= 120));
    let bytes = codec.encode(&msg, NOW).unwrap();
    assert!(bytes.len() <= MAX_DATAGRAM);
}

#[test]
fn transitions_name_the_stream_state() {
    assert_eq!(Transition::Point.state(), None);
    assert_eq!(Transition::Open.state(), Some("open"));
    assert_eq!(Transition::Repeat.state(), Some("open"));
    assert_eq!(Transition::Clear { open_ms: 1 }.state(), Some("cleared"));
}
