//! What the fuzz targets share: the fixed test key, the clock they run at,
//! the round-trip check every decoded message must pass, and the check that
//! a configuration file's errors name that file and one of its lines.

use conf::ConfErrors;
use wire::codec::{OPEN_OVERHEAD, SEALED_OVERHEAD};
use wire::limits::MAX_DATAGRAM;
use wire::{Codec, Key, Message};

/// The receiver's clock in the targets (2026-11-01), milliseconds.
pub const NOW_MS: u64 = 1_793_491_200_000;

/// A fixed key, so a crash found with a sealed datagram reproduces.
pub fn test_key() -> Key {
    Key::from_bytes(*b"436 fuzz key, not for any LAN!!!")
}

/// `msg` was decoded from a datagram whose body was `body_len` bytes. Its
/// re-encoding must fit where the original did (bincode's canonical form is
/// never longer than any other), decode back, and encode to the same bytes
/// again; sealing it with the test key must open to the same message.
pub fn assert_round_trip(msg: &Message, body_len: usize) {
    let open = Codec::open();
    let bytes = open
        .encode(msg, NOW_MS)
        .expect("a decoded message encodes again");
    assert!(
        bytes.len() - OPEN_OVERHEAD <= body_len,
        "re-encoded body of {} bytes is longer than the {body_len} it was decoded from",
        bytes.len() - OPEN_OVERHEAD
    );
    let again = Codec::open()
        .decode(&bytes, NOW_MS)
        .expect("a re-encoded message decodes");
    assert_eq!(
        open.encode(&again, NOW_MS).expect("encodes"),
        bytes,
        "decode(encode(m)) differs from m"
    );
    // Sealing is compared as the same open bytes: an f64 NaN in a metric
    // makes `Message`'s `==` false even for identical messages.
    if bytes.len() - OPEN_OVERHEAD + SEALED_OVERHEAD <= MAX_DATAGRAM {
        let sealed = Codec::sealed(&test_key())
            .encode(msg, NOW_MS)
            .expect("a message that fits seals");
        let opened = Codec::sealed(&test_key())
            .decode(&sealed, NOW_MS)
            .expect("a freshly sealed datagram opens");
        assert_eq!(open.encode(&opened, NOW_MS).expect("encodes"), bytes);
    }
}

/// Every error of a configuration `text` refused as a whole names `label`
/// and one of the text's lines (0: the file as a whole).
pub fn assert_errors_name_the_file(errors: &ConfErrors, text: &str, label: &str) {
    assert!(!errors.0.is_empty());
    let lines = text.split('\n').count();
    for e in &errors.0 {
        assert_eq!(e.origin.file, label, "{e}");
        assert!(e.origin.line <= lines, "{e} (text has {lines} lines)");
    }
}
