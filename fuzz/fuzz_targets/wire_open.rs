//! Any datagram into an open codec: a decoded message round-trips, and a
//! codec with a key accepts nothing that was not sealed with it.
#![no_main]

use std::hint::black_box;

use fuzz::{NOW_MS, assert_round_trip, test_key};
use libfuzzer_sys::fuzz_target;
use wire::Codec;
use wire::codec::OPEN_OVERHEAD;

fuzz_target!(|data: &[u8]| {
    let mut open = Codec::open();
    if let Ok(msg) = black_box(open.decode(black_box(data), NOW_MS)) {
        assert_round_trip(&msg, data.len() - OPEN_OVERHEAD);
    }
    let mut sealed = Codec::sealed(&test_key());
    let got = black_box(sealed.decode(black_box(data), NOW_MS));
    assert!(
        got.is_err(),
        "a sealed codec accepted {got:?} without the key"
    );
});
