//! `conf::parse_host` on arbitrary text, as an observer receives it (origin
//! markers included). Without markers every error must name a line of the
//! text, labelled `config`.
#![no_main]

use std::hint::black_box;

use conf::host::UNMARKED_LABEL;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (config, errors) = black_box(conf::parse_host(black_box(&text)));
    black_box(config.group_count());
    if text.split('\n').any(|l| l.starts_with("#@ ")) {
        return;
    }
    let lines = text.split('\n').count();
    for e in &errors {
        assert_eq!(e.origin.file, UNMARKED_LABEL, "{e}");
        assert!(
            (1..=lines).contains(&e.origin.line),
            "{e} (text has {lines} lines)"
        );
        assert!(e.origin.included_from.is_empty(), "{e}");
    }
});
