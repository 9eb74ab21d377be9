//! Chunk reassembly against a model, with arbitrary sequences of chunks
//! (wrong totals, out-of-range indices, repeats, oversized pieces), and a
//! configuration split into chunks put back together in an arbitrary order.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use wire::chunk::{ChunkError, Inserted};
use wire::codec::{OPEN_OVERHEAD, SEALED_OVERHEAD};
use wire::limits::{CHUNK_DATA, MAX_CHUNKS, MAX_CONFIG, MAX_DATAGRAM, MAX_MISSING_PER_REQUEST};
use wire::{Codec, Message, Reassembly, split_config};

#[derive(Arbitrary, Debug)]
struct Input {
    version: u64,
    total: u16,
    chunks: Vec<Chunk>,
    text: Vec<u8>,
    order: Vec<u16>,
}

#[derive(Arbitrary, Debug)]
struct Chunk {
    index: u16,
    total: u16,
    data: Data,
}

/// Short pieces as given; long ones (up to and past the chunk size, which
/// the fuzzer's inputs rarely reach byte by byte) as a repeated byte.
#[derive(Arbitrary, Debug)]
enum Data {
    Bytes(Vec<u8>),
    Filled { len: u16, byte: u8 },
}

impl Data {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Data::Bytes(b) => b.clone(),
            Data::Filled { len, byte } => vec![*byte; usize::from(*len) % (2 * CHUNK_DATA)],
        }
    }
}

fuzz_target!(|input: Input| {
    arbitrary_chunks(&input);
    split_and_reassemble(&input);
});

fn arbitrary_chunks(input: &Input) {
    let total = input.total;
    let Ok(mut r) = Reassembly::new(input.version, total) else {
        assert!(total == 0 || usize::from(total) > MAX_CHUNKS);
        return;
    };
    assert!(total >= 1 && usize::from(total) <= MAX_CHUNKS);
    let mut model: Vec<Option<Vec<u8>>> = vec![None; usize::from(total)];
    for c in &input.chunks {
        let data = c.data.bytes();
        let expected = if c.total != total {
            Err(ChunkError::TotalMismatch {
                expected: total,
                got: c.total,
            })
        } else if data.len() > CHUNK_DATA {
            Err(ChunkError::ChunkTooLarge(data.len()))
        } else if usize::from(c.index) >= model.len() {
            Err(ChunkError::OutOfRange {
                index: c.index,
                total: c.total,
            })
        } else if model[usize::from(c.index)].is_some() {
            Ok(Inserted::Duplicate)
        } else {
            model[usize::from(c.index)] = Some(data.clone());
            Ok(Inserted::New)
        };
        assert_eq!(black_box(r.insert(c.index, c.total, &data)), expected);
        check_against_model(&r, &model);
    }
}

fn check_against_model(r: &Reassembly, model: &[Option<Vec<u8>>]) {
    let missing: Vec<u16> = (0..model.len())
        .filter(|i| model[*i].is_none())
        .map(|i| i as u16)
        .collect();
    assert_eq!(r.is_complete(), missing.is_empty());
    let asked = r.missing();
    assert_eq!(asked.version, r.version());
    let limit = missing.len().min(MAX_MISSING_PER_REQUEST);
    assert_eq!(asked.indices, missing[..limit]);
    match r.text() {
        None => assert!(!missing.is_empty()),
        Some(text) => {
            let whole: Vec<u8> = model.iter().flatten().flatten().copied().collect();
            assert!(
                whole.len() <= MAX_CONFIG,
                "reassembled {} bytes",
                whole.len()
            );
            match text {
                Ok(t) => assert_eq!(t.as_bytes(), whole),
                Err(e) => {
                    assert_eq!(e, ChunkError::NotText);
                    assert!(std::str::from_utf8(&whole).is_err());
                }
            }
        }
    }
}

fn split_and_reassemble(input: &Input) {
    let host = "h".repeat(wire::limits::MAX_HOST_NAME);
    let chunks = split_config(&host, input.version, &input.text).expect("under the limit");
    let mut r = None;
    let n = chunks.len();
    let picks = input.order.iter().map(|i| usize::from(*i) % n).chain(0..n);
    for pick in picks {
        let Message::ConfigChunk {
            version,
            index,
            total,
            data,
            ..
        } = &chunks[pick]
        else {
            panic!("split_config made {:?}", chunks[pick]);
        };
        assert_eq!(*version, input.version);
        assert!(data.len() <= CHUNK_DATA);
        let r = r.get_or_insert_with(|| Reassembly::new(*version, *total).expect("valid total"));
        r.insert(*index, *total, data)
            .expect("a chunk of the same split");
    }
    let r = r.expect("at least one chunk");
    assert!(r.is_complete());
    match r.text().expect("complete") {
        Ok(t) => assert_eq!(t.as_bytes(), input.text),
        Err(e) => {
            assert_eq!(e, ChunkError::NotText);
            assert!(std::str::from_utf8(&input.text).is_err());
        }
    }
    // The largest chunk, for the longest host name, fits a sealed datagram.
    let len = Codec::open().encode(&chunks[0], 0).expect("encodes").len();
    assert!(
        len - OPEN_OVERHEAD + SEALED_OVERHEAD <= MAX_DATAGRAM,
        "{len}"
    );
}
