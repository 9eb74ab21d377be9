//! Properties of the protocol: decoding never panics, every message
//! round-trips, chunks reassemble in any order, sealing refuses what it must.

use proptest::prelude::*;
use wire::codec::{MAGIC, PROTOCOL_VERSION};
use wire::limits::{CHUNK_DATA, MAX_CHUNKS, MAX_DATAGRAM, MAX_HOST_NAME, MAX_SEALED_AGE_MS};
use wire::{
    AckBuilder, Codec, DecodeError, Event, EventBatchBuilder, EventKind, Key, Message,
    MissingChunks, Reassembly, split_config,
};

const NOW: u64 = 1_763_740_620_000;

fn key(byte: u8) -> Key {
    Key::from_bytes([byte; 32])
}

fn short_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ./_%-]{0,40}"
}

fn event() -> impl Strategy<Value = Event> {
    (
        any::<u64>(),
        any::<i64>(),
        short_text(),
        proptest::option::of(short_text()),
        prop_oneof![
            Just(EventKind::Alert),
            Just(EventKind::Metric),
            Just(EventKind::System)
        ],
        ".{0,80}",
        proptest::option::of(-1e12f64..1e12),
    )
        .prop_map(|(id, time_ms, tags, source, kind, message, value)| Event {
            id,
            time_ms,
            tags,
            source,
            kind,
            message,
            value,
        })
}

fn message() -> impl Strategy<Value = Message> {
    let host = "[a-z0-9.-]{1,30}";
    prop_oneof![
        (short_text(), any::<u64>())
            .prop_map(|(supervisor, run_id)| Message::Beacon { supervisor, run_id }),
        (
            host,
            proptest::option::of(any::<u64>()),
            proptest::option::of((any::<u64>(), proptest::collection::vec(any::<u16>(), 0..50)))
        )
            .prop_map(|(host, have, missing)| Message::ConfigRequest {
                host,
                have,
                missing: missing.map(|(version, indices)| MissingChunks { version, indices }),
            }),
        (
            host,
            any::<u64>(),
            any::<u16>(),
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 0..CHUNK_DATA)
        )
            .prop_map(|(host, version, index, total, data)| Message::ConfigChunk {
                host,
                version,
                index,
                total,
                data
            }),
        (host, any::<u64>()).prop_map(|(host, version)| Message::ConfigUnchanged { host, version }),
        host.prop_map(|host| Message::NoConfig { host }),
        host.prop_map(|host| Message::Reset { host }),
        (
            host,
            proptest::option::of(any::<u64>()),
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(
                |(host, version, queue_len, uptime_secs)| Message::Heartbeat {
                    host,
                    version,
                    queue_len,
                    uptime_secs
                }
            ),
        (host, any::<u64>(), proptest::collection::vec(event(), 0..8)).prop_map(
            |(host, floor, events)| Message::Events {
                host,
                floor,
                events
            }
        ),
        (host, proptest::collection::vec(any::<u64>(), 0..60))
            .prop_map(|(host, ids)| Message::Ack { host, ids }),
    ]
}

proptest! {
    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = Codec::open().decode(&bytes, NOW);
        let _ = Codec::sealed(&key(1)).decode(&bytes, NOW);
    }

    #[test]
    fn any_body_after_a_valid_header_never_panics(body in proptest::collection::vec(any::<u8>(), 0..1394)) {
        let mut datagram = MAGIC.to_vec();
        datagram.push(PROTOCOL_VERSION);
        datagram.push(0);
        datagram.extend_from_slice(&body);
        let _ = Codec::open().decode(&datagram, NOW);
    }

    #[test]
    fn every_message_round_trips_open_and_sealed(msg in message()) {
        let open = Codec::open();
        if let Ok(bytes) = open.encode(&msg, NOW) {
            prop_assert!(bytes.len() <= MAX_DATAGRAM);
            prop_assert_eq!(Codec::open().decode(&bytes, NOW).unwrap(), msg.clone());
        }
        let sealed = Codec::sealed(&key(9));
        if let Ok(bytes) = sealed.encode(&msg, NOW) {
            prop_assert_eq!(Codec::sealed(&key(9)).decode(&bytes, NOW + 1).unwrap(), msg);
        }
    }

    #[test]
    fn chunks_reassemble_in_any_order_with_duplicates(
        text in ".{0,6000}",
        seed in any::<u64>(),
    ) {
        let chunks = split_config("web1", 42, text.as_bytes()).unwrap();
        let total = chunks.len() as u16;
        let mut order: Vec<usize> = (0..chunks.len()).chain(0..chunks.len() / 2).collect();
        // A small deterministic shuffle from the seed.
        let mut state = seed | 1;
        for i in (1..order.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let mut reassembly = Reassembly::new(42, total).unwrap();
        for i in order {
            let Message::ConfigChunk { index, total, data, .. } = &chunks[i] else {
                panic!("split_config made a non-chunk");
            };
            reassembly.insert(*index, *total, data).unwrap();
        }
        prop_assert_eq!(reassembly.text().unwrap().unwrap(), text);
    }
}

#[test]
fn huge_length_prefix_is_refused_without_allocating() {
    // Variant 0 (Beacon), then a String length claiming 2^36 bytes.
    let mut datagram = MAGIC.to_vec();
    datagram.extend_from_slice(&[PROTOCOL_VERSION, 0, 0, 253]);
    datagram.extend_from_slice(&(1u64 << 36).to_le_bytes());
    datagram.extend_from_slice(b"abc");
    let err = Codec::open().decode(&datagram, NOW).unwrap_err();
    assert_eq!(err.reason(), "malformed", "{err}");
}

#[test]
fn oversized_datagram_is_refused_before_decoding() {
    let datagram = vec![0u8; MAX_DATAGRAM + 1];
    assert_eq!(
        Codec::open().decode(&datagram, NOW),
        Err(DecodeError::TooLarge {
            len: MAX_DATAGRAM + 1
        })
    );
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = Codec::open()
        .encode(
            &Message::Reset {
                host: "web1".into(),
            },
            NOW,
        )
        .unwrap();
    bytes.extend_from_slice(&[1, 2, 3]);
    assert_eq!(
        Codec::open().decode(&bytes, NOW),
        Err(DecodeError::Trailing(3))
    );
}

#[test]
fn wrong_magic_and_version_are_told_apart() {
    let bytes = Codec::open()
        .encode(
            &Message::Reset {
                host: "web1".into(),
            },
            NOW,
        )
        .unwrap();
    let mut other = bytes.clone();
    other[0] = b'X';
    assert_eq!(Codec::open().decode(&other, NOW), Err(DecodeError::NotOurs));
    let mut newer = bytes;
    newer[4] = PROTOCOL_VERSION + 1;
    assert_eq!(
        Codec::open().decode(&newer, NOW),
        Err(DecodeError::Version(PROTOCOL_VERSION + 1))
    );
}

fn sealed_reset() -> Vec<u8> {
    Codec::sealed(&key(1))
        .encode(
            &Message::Reset {
                host: "web1".into(),
            },
            NOW,
        )
        .unwrap()
}

#[test]
fn sealed_datagram_opens_only_with_its_key() {
    let bytes = sealed_reset();
    assert_eq!(
        Codec::sealed(&key(2)).decode(&bytes, NOW),
        Err(DecodeError::BadSeal)
    );
    assert_eq!(Codec::open().decode(&bytes, NOW), Err(DecodeError::NoKey));
    assert!(Codec::sealed(&key(1)).decode(&bytes, NOW).is_ok());
}

#[test]
fn any_flipped_byte_is_refused() {
    let bytes = sealed_reset();
    for i in 0..bytes.len() {
        for bit in [0x01, 0x80] {
            let mut tampered = bytes.clone();
            tampered[i] ^= bit;
            assert!(
                Codec::sealed(&key(1)).decode(&tampered, NOW).is_err(),
                "flipping bit {bit:#x} of byte {i} was accepted"
            );
        }
    }
}

#[test]
fn old_or_future_sealed_datagram_is_refused() {
    let bytes = sealed_reset();
    let late = NOW + MAX_SEALED_AGE_MS + 1;
    assert!(matches!(
        Codec::sealed(&key(1)).decode(&bytes, late),
        Err(DecodeError::Stale { .. })
    ));
    let early = NOW - MAX_SEALED_AGE_MS - 1;
    assert!(matches!(
        Codec::sealed(&key(1)).decode(&bytes, early),
        Err(DecodeError::Stale { .. })
    ));
    assert!(
        Codec::sealed(&key(1))
            .decode(&bytes, NOW + MAX_SEALED_AGE_MS)
            .is_ok()
    );
}

#[test]
fn replayed_control_datagram_is_refused_but_events_are_idempotent() {
    let mut receiver = Codec::sealed(&key(1));
    let reset = sealed_reset();
    assert!(receiver.decode(&reset, NOW).is_ok());
    assert_eq!(receiver.decode(&reset, NOW + 10), Err(DecodeError::Replay));
    let ack = Codec::sealed(&key(1))
        .encode(
            &Message::Ack {
                host: "web1".into(),
                ids: vec![1],
            },
            NOW,
        )
        .unwrap();
    assert!(receiver.decode(&ack, NOW).is_ok());
    assert!(receiver.decode(&ack, NOW).is_ok());
}

#[test]
fn unsealed_datagram_is_refused_by_a_keyed_side() {
    let bytes = Codec::open()
        .encode(
            &Message::Reset {
                host: "web1".into(),
            },
            NOW,
        )
        .unwrap();
    assert_eq!(
        Codec::sealed(&key(1)).decode(&bytes, NOW),
        Err(DecodeError::Unsealed)
    );
}

#[test]
fn largest_chunk_with_longest_host_fits_sealed() {
    let host = "h".repeat(MAX_HOST_NAME);
    let chunks = split_config(&host, u64::MAX, &vec![b'x'; CHUNK_DATA * 3]).unwrap();
    for chunk in chunks {
        let bytes = Codec::sealed(&key(1)).encode(&chunk, NOW).unwrap();
        assert!(bytes.len() <= MAX_DATAGRAM);
    }
    assert!(MAX_CHUNKS < usize::from(u16::MAX));
}

#[test]
fn missing_chunks_are_reported() {
    let chunks = split_config("web1", 7, &vec![b'a'; CHUNK_DATA * 4 + 1]).unwrap();
    assert_eq!(chunks.len(), 5);
    let mut reassembly = Reassembly::new(7, 5).unwrap();
    for i in [0usize, 2, 4] {
        let Message::ConfigChunk {
            index, total, data, ..
        } = &chunks[i]
        else {
            unreachable!()
        };
        reassembly.insert(*index, *total, data).unwrap();
    }
    assert!(reassembly.text().is_none());
    assert_eq!(reassembly.missing().indices, vec![1, 3]);
    assert!(reassembly.insert(9, 5, b"").is_err());
    assert!(reassembly.insert(1, 6, b"").is_err());
}

fn big_event(id: u64) -> Event {
    let mut e = Event {
        id,
        time_ms: 1,
        tags: "web,error".into(),
        source: Some("/var/log/syslog".into()),
        kind: EventKind::Alert,
        message: "x".repeat(5000),
        value: None,
    };
    e.fit_to_datagram();
    e
}

#[test]
fn event_batches_fill_but_never_overflow_a_datagram() {
    let host = "h".repeat(MAX_HOST_NAME);
    for codec in [Codec::open(), Codec::sealed(&key(1))] {
        let mut batch = EventBatchBuilder::new(&host, u64::MAX, &codec);
        batch.try_push(big_event(u64::MAX)).unwrap();
        assert!(batch.try_push(big_event(2)).is_err());
        let bytes = codec.encode(&batch.finish(), NOW).unwrap();
        assert!(bytes.len() <= MAX_DATAGRAM);

        let mut small = EventBatchBuilder::new("web1", 0, &codec);
        let mut n = 0;
        while small
            .try_push(Event {
                message: "short line".into(),
                ..big_event(u64::MAX - n)
            })
            .is_ok()
        {
            n += 1;
        }
        assert!(n > 5, "only {n} small events fit");
        assert!(codec.encode(&small.finish(), NOW).is_ok());

        let mut ack = AckBuilder::new(&host, &codec);
        let mut id = u64::MAX;
        while ack.try_push(id) {
            id -= 1;
        }
        assert!(codec.encode(&ack.finish(), NOW).unwrap().len() <= MAX_DATAGRAM);
    }
}
