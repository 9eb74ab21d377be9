//! Sealed datagrams past the seal: the input chooses the nonce, the send
//! time, the receiver's clock and the body, and is sealed with the test key
//! so decoding reaches the age check, the body and the replay memory.
//!
//! Input: nonce (24) | sent_ms (8, LE) | clock skew in ms (4, LE, signed) |
//! body. What must hold: an accepted message is within the age window and
//! round-trips; the same datagram again is refused as a replay exactly when
//! it is a control message; any one byte changed is refused.
#![no_main]

use std::hint::black_box;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use fuzz::{assert_round_trip, test_key};
use libfuzzer_sys::fuzz_target;
use wire::codec::{MAGIC, PROTOCOL_VERSION, SEALED_OVERHEAD};
use wire::limits::MAX_SEALED_AGE_MS;
use wire::{Codec, DecodeError, Message};

/// The mode byte of a sealed datagram (see `wire::codec`).
const MODE_SEALED: u8 = 1;

fuzz_target!(|data: &[u8]| {
    if data.len() < 36 {
        return;
    }
    let (nonce, rest) = data.split_at(24);
    let (sent, rest) = rest.split_at(8);
    let (skew, body) = rest.split_at(4);
    let sent_ms = u64::from_le_bytes(sent.try_into().expect("8 bytes"));
    let skew = i32::from_le_bytes(skew.try_into().expect("4 bytes"));
    let now_ms = sent_ms.saturating_add_signed(i64::from(skew));

    let header = [
        MAGIC[0],
        MAGIC[1],
        MAGIC[2],
        MAGIC[3],
        PROTOCOL_VERSION,
        MODE_SEALED,
    ];
    let mut plain = sent.to_vec();
    plain.extend_from_slice(body);
    let cipher = XChaCha20Poly1305::new(test_key().as_bytes().into());
    let nonce_array = XNonce::try_from(nonce).expect("24 bytes");
    let sealed = cipher
        .encrypt(
            &nonce_array,
            Payload {
                msg: &plain,
                aad: &header,
            },
        )
        .expect("sealing cannot fail");
    let mut datagram = header.to_vec();
    datagram.extend_from_slice(nonce);
    datagram.extend_from_slice(&sealed);

    let mut codec = Codec::sealed(&test_key());
    let first = black_box(codec.decode(black_box(&datagram), now_ms));
    let second = codec.decode(&datagram, now_ms);
    match &first {
        Ok(msg) => {
            assert!(now_ms.abs_diff(sent_ms) <= MAX_SEALED_AGE_MS);
            assert_round_trip(msg, datagram.len() - SEALED_OVERHEAD);
            let control = !matches!(
                msg,
                Message::Events { .. }
                    | Message::EventsV2 { .. }
                    | Message::Ack { .. }
                    | Message::Heartbeat { .. }
                    | Message::HeartbeatV2 { .. }
            );
            if control {
                assert_eq!(
                    second,
                    Err(DecodeError::Replay),
                    "a control message was replayed"
                );
            } else {
                assert!(
                    second.is_ok(),
                    "an idempotent message was refused again: {second:?}"
                );
            }
        }
        Err(e) => assert_eq!(
            &second,
            &Err(e.clone()),
            "the same datagram decoded differently"
        ),
    }

    // One byte changed anywhere (chosen by the input) must be refused.
    let at = usize::from(data[0]) * datagram.len() / 256;
    datagram[at] ^= 1 | data[1];
    let tampered = Codec::sealed(&test_key()).decode(&datagram, now_ms);
    assert!(
        tampered.is_err(),
        "a tampered datagram was accepted: {tampered:?}"
    );
});
