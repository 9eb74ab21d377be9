//! The notification file (`conf::NotifyConfig::parse`) on arbitrary text:
//! every error names the file and one of its lines (0: the file as a
//! whole); a file accepted has at least one channel for every route, every
//! channel a route or an escalation names exists, and no duration is longer
//! than the documented 30 days.
#![no_main]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use conf::NotifyConfig;
use fuzz::assert_errors_name_the_file;
use libfuzzer_sys::fuzz_target;

const LABEL: &str = "notify.conf";
const THIRTY_DAYS: Duration = Duration::from_secs(30 * 24 * 3600);

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    let base = Path::new("/etc/ax436");
    match black_box(NotifyConfig::parse(black_box(text), LABEL, base)) {
        Ok(config) => {
            for route in &config.routes {
                assert!(!route.channels.is_empty(), "route without a channel");
                let named = route
                    .channels
                    .iter()
                    .chain(route.escalate.iter().map(|(_, c)| c));
                for name in named {
                    assert!(config.channel(name).is_some(), "unknown channel {name}");
                }
                let durations = [route.wait, route.point_every]
                    .into_iter()
                    .chain(route.repeat)
                    .chain(route.escalate.iter().map(|(d, _)| *d));
                for d in durations {
                    assert!(d <= THIRTY_DAYS, "{d:?}");
                }
            }
            for channel in &config.channels {
                assert!(channel.timeout <= THIRTY_DAYS, "{:?}", channel.timeout);
            }
        }
        Err(errors) => assert_errors_name_the_file(&errors, text, LABEL),
    }
});
