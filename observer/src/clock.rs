//! Local wall-clock minutes for active windows (SPEC §4), read with chrono's
//! `Local::now()` fields only: a DST gap or overlap never panics, the clock
//! simply shows what the system shows.

use chrono::{Datelike, Local, Timelike};
use conf::ActiveWindows;

/// A local minute: weekday 0 = Sunday … 6 = Saturday, hour, minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMinute {
    pub weekday: u32,
    pub hour: u32,
    pub minute: u32,
}

impl LocalMinute {
    /// The system's local time now.
    pub fn now() -> LocalMinute {
        let now = Local::now();
        LocalMinute {
            weekday: now.weekday().num_days_from_sunday(),
            hour: now.hour(),
            minute: now.minute(),
        }
    }

    /// Whether a monitor with `windows` may raise events now (always, without
    /// windows).
    pub fn allows(&self, windows: Option<&ActiveWindows>) -> bool {
        windows.is_none_or(|w| w.is_active(self.weekday, self.hour, self.minute))
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// The time of one input to the observer's core: monotonic for timers, wall
/// clock for event times, local minutes for active windows. Only the shell
/// reads the clocks ([`Now::read`]); tests build it in virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: std::time::Instant,
    /// Milliseconds since the Unix epoch.
    pub wall_ms: i64,
    pub local: LocalMinute,
}

impl Now {
    /// The clocks now.
    pub fn read() -> Now {
        Now {
            mono: std::time::Instant::now(),
            wall_ms: unix_ms(),
            local: LocalMinute::now(),
        }
    }

    /// `self` moved forward by `d` on the monotonic and wall clocks (the
    /// local minute is kept: virtual time in tests).
    pub fn after(self, d: std::time::Duration) -> Now {
        Now {
            mono: self.mono + d,
            wall_ms: self
                .wall_ms
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            local: self.local,
        }
    }
}
