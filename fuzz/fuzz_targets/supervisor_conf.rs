//! `ax436.conf` (`conf::SupervisorConfig::parse`) on arbitrary text: every
//! error names the file and one of its lines (0: the file as a whole), and
//! a configuration accepted has a port the supervisor can listen above.
#![no_main]

use std::hint::black_box;
use std::path::Path;

use conf::SupervisorConfig;
use fuzz::assert_errors_name_the_file;
use libfuzzer_sys::fuzz_target;

const LABEL: &str = "ax436.conf";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    let base = Path::new("/etc/ax436");
    match black_box(SupervisorConfig::parse(black_box(text), LABEL, base)) {
        Ok(config) => {
            assert!(config.port.checked_add(1).is_some(), "port {}", config.port);
            assert!(
                config.event_stream.is_absolute(),
                "{:?}",
                config.event_stream
            );
            assert!(config.hosts.is_absolute() && config.includes.is_absolute());
        }
        Err(errors) => assert_errors_name_the_file(&errors, text, LABEL),
    }
});
