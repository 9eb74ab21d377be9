//! A host file and its include files, expanded and parsed in memory through
//! the same code as the folders (`conf::load_host_in_memory`).
//!
//! Input: the host file, then include files, separated by NUL bytes; the
//! include files are named, in order, by `NAMES`. What must hold: the
//! expanded text stays under its limit, and every error (of expansion or of
//! parsing) names a file that exists and a line in it, through a chain of
//! `include:` lines that exist.
#![no_main]

use std::collections::BTreeMap;
use std::hint::black_box;

use conf::expand::MAX_EXPANDED_BYTES;
use conf::{ConfigVersion, HostName, Origin};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 6] = ["a", "b", "common", "sshd", "nightly-window", "c"];

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0);
    let host_file = parts.next().unwrap_or_default();
    let includes: BTreeMap<String, Vec<u8>> = NAMES
        .iter()
        .zip(parts)
        .map(|(name, bytes)| (name.to_string(), bytes.to_vec()))
        .collect();
    let host = HostName::new("h").expect("a valid name");
    let load = black_box(conf::load_host_in_memory(
        &host,
        black_box(host_file),
        &includes,
    ));

    let text = &load.expanded.text;
    assert!(text.len() <= MAX_EXPANDED_BYTES);
    assert_eq!(load.expanded.version, ConfigVersion::of(text));
    let lines = |label: &str| -> Option<usize> {
        let bytes = if label == "hosts/h" {
            host_file
        } else {
            includes.get(label.strip_prefix("includes/")?)?
        };
        Some(bytes.split(|b| *b == b'\n').count())
    };
    let names_a_line =
        |file: &str, line: usize| lines(file).is_some_and(|n| (1..=n).contains(&line));
    for e in &load.errors {
        let Origin {
            file,
            line,
            included_from,
        } = &e.origin;
        assert!(names_a_line(file, *line), "{e}");
        for (file, line) in included_from {
            assert!(names_a_line(file, *line), "{e}: chain names {file}:{line}");
        }
    }
    assert!(load.expanded.errors.iter().all(|e| load.errors.contains(e)));
});
