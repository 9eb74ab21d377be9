//! The bincode body of a datagram: the one encoding configuration every
//! message is written in, and how many bytes a value takes in it.
//!
//! It sits below both [`crate::message`] (an event measures itself) and
//! [`crate::codec`] (framing and sealing around the body), so neither needs
//! the other for the encoding.

use bincode::config::{Configuration, Limit, LittleEndian, Varint};
use serde::Serialize;

use crate::limits::DECODE_LIMIT;

pub(crate) type WireConfig = Configuration<LittleEndian, Varint, Limit<DECODE_LIMIT>>;

/// bincode 2 standard encoding, with [`DECODE_LIMIT`] on what decoding may
/// claim.
pub(crate) const WIRE: WireConfig = bincode::config::standard().with_limit::<DECODE_LIMIT>();

/// Bytes `value` takes in the bincode body.
pub(crate) fn body_len<T: Serialize>(value: &T) -> usize {
    let mut counter = SizeCounter(0);
    match bincode::serde::encode_into_writer(value, &mut counter, WIRE) {
        Ok(()) => counter.0,
        // Encoding into a counter cannot fail for our types; treat the
        // impossible as "does not fit".
        Err(_) => usize::MAX,
    }
}

struct SizeCounter(usize);

impl bincode::enc::write::Writer for SizeCounter {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0 += bytes.len();
        Ok(())
    }
}
