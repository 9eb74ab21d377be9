//! System metrics read in-process (`metric: NAME [ARGUMENT]`): what can be
//! asked for ([`MetricSpec`], parsed in `conf`), one raw reading of it ([`Sample`]), and the
//! value an alert compares ([`MetricValue`]), computed from a sample and the
//! previous one of the same check.
//!
//! Rates (`cpu`, `net`) come from cumulative counters, so each check keeps
//! its own previous [`Sample`] and two checks of the same metric at different
//! intervals do not disturb each other: the reader only reads, the check
//! computes. Reading is in [`reader`] (sysinfo, `statvfs`, `/proc`); no child
//! process is started.

pub mod reader;

use std::fmt;
use std::time::{Duration, Instant};

pub use conf::{MetricSpec, MetricSpecError};
pub use reader::{MetricError, SystemReader};

/// Cumulative CPU time from `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// All time, idle included.
    pub total: u64,
    /// Idle and waiting for I/O: the CPU had nothing to run.
    pub idle: u64,
}

/// Cumulative counters of one network interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetCounters {
    pub received_bytes: u64,
    pub sent_bytes: u64,
    /// Receive and transmit errors together.
    pub errors: u64,
}

/// One raw reading. Gauges are final; counters need the previous sample of
/// the same check to become a rate.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    Cpu {
        at: Instant,
        times: CpuTimes,
    },
    Net {
        at: Instant,
        counters: NetCounters,
    },
    /// Anything that needs no previous reading.
    Gauge(MetricValue),
}

/// The value of a metric, as alerts compare it and `alert_metric` reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    Cpu {
        busy_percent: f64,
    },
    Memory {
        used_percent: f64,
        available_bytes: u64,
        total_bytes: u64,
    },
    Swap {
        used_percent: f64,
        used_bytes: u64,
        total_bytes: u64,
    },
    Load {
        average: f64,
    },
    Disk {
        used_percent: f64,
        free_bytes: u64,
        total_bytes: u64,
    },
    Inodes {
        used_percent: f64,
        free: u64,
        total: u64,
    },
    Net {
        received_per_second: f64,
        sent_per_second: f64,
        /// Receive and transmit errors since the previous reading.
        errors: u64,
    },
    Uptime {
        seconds: u64,
    },
    Processes {
        count: u64,
    },
}

/// Why a sample gave no value yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// The first reading of a rate only sets the baseline.
    #[error("first reading: a rate needs a second one")]
    Baseline,
    /// Less than a millisecond apart, or the counter went backwards (an
    /// interface re-created, a counter reset): start again from this one.
    #[error("counters reset or read too close together; starting again")]
    Restart,
}

impl Sample {
    /// The value of this sample given the previous sample of the same check.
    pub fn value_since(&self, previous: Option<&Sample>) -> Result<MetricValue, RateError> {
        match (self, previous) {
            (Sample::Gauge(v), _) => Ok(v.clone()),
            (Sample::Cpu { times, .. }, Some(Sample::Cpu { times: before, .. })) => {
                let total = times
                    .total
                    .checked_sub(before.total)
                    .ok_or(RateError::Restart)?;
                let idle = times.idle.saturating_sub(before.idle).min(total);
                if total == 0 {
                    return Err(RateError::Restart);
                }
                Ok(MetricValue::Cpu {
                    busy_percent: percent(total - idle, total),
                })
            }
            (
                Sample::Net { at, counters },
                Some(Sample::Net {
                    at: at_before,
                    counters: before,
                }),
            ) => {
                let elapsed = at.saturating_duration_since(*at_before);
                if elapsed < Duration::from_millis(1) {
                    return Err(RateError::Restart);
                }
                let delta = |now: u64, then: u64| now.checked_sub(then).ok_or(RateError::Restart);
                let received = delta(counters.received_bytes, before.received_bytes)?;
                let sent = delta(counters.sent_bytes, before.sent_bytes)?;
                let errors = delta(counters.errors, before.errors)?;
                let seconds = elapsed.as_secs_f64();
                Ok(MetricValue::Net {
                    received_per_second: received as f64 / seconds,
                    sent_per_second: sent as f64 / seconds,
                    errors,
                })
            }
            _ => Err(RateError::Baseline),
        }
    }
}

impl MetricValue {
    /// The number `alert_if: upper_limit=` / `lower_limit=` compares: the
    /// percentage for cpu, memory, swap, disk and inodes; bytes per second
    /// received plus sent for net.
    pub fn value(&self) -> f64 {
        match self {
            MetricValue::Cpu { busy_percent } => *busy_percent,
            MetricValue::Memory { used_percent, .. }
            | MetricValue::Swap { used_percent, .. }
            | MetricValue::Disk { used_percent, .. }
            | MetricValue::Inodes { used_percent, .. } => *used_percent,
            MetricValue::Load { average } => *average,
            MetricValue::Net {
                received_per_second,
                sent_per_second,
                ..
            } => received_per_second + sent_per_second,
            MetricValue::Uptime { seconds } => *seconds as f64,
            MetricValue::Processes { count } => *count as f64,
        }
    }

    /// The figure `value=NAME` names (one of [`MetricSpec::fields`]).
    pub fn field(&self, name: &str) -> Option<f64> {
        if name == "total_per_second" {
            return matches!(self, MetricValue::Net { .. }).then(|| self.value());
        }
        self.fields()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// Every figure of the reading, named, for `alert_metric` and `--try`.
    pub fn fields(&self) -> Vec<(&'static str, f64)> {
        match self {
            MetricValue::Cpu { busy_percent } => vec![("busy_percent", *busy_percent)],
            MetricValue::Memory {
                used_percent,
                available_bytes,
                total_bytes,
            } => vec![
                ("used_percent", *used_percent),
                ("available_bytes", *available_bytes as f64),
                ("total_bytes", *total_bytes as f64),
            ],
            MetricValue::Swap {
                used_percent,
                used_bytes,
                total_bytes,
            } => vec![
                ("used_percent", *used_percent),
                ("used_bytes", *used_bytes as f64),
                ("total_bytes", *total_bytes as f64),
            ],
            MetricValue::Load { average } => vec![("average", *average)],
            MetricValue::Disk {
                used_percent,
                free_bytes,
                total_bytes,
            } => vec![
                ("used_percent", *used_percent),
                ("free_bytes", *free_bytes as f64),
                ("total_bytes", *total_bytes as f64),
            ],
            MetricValue::Inodes {
                used_percent,
                free,
                total,
            } => vec![
                ("used_percent", *used_percent),
                ("free", *free as f64),
                ("total", *total as f64),
            ],
            MetricValue::Net {
                received_per_second,
                sent_per_second,
                errors,
            } => vec![
                ("received_per_second", *received_per_second),
                ("sent_per_second", *sent_per_second),
                ("errors", *errors as f64),
            ],
            MetricValue::Uptime { seconds } => vec![("seconds", *seconds as f64)],
            MetricValue::Processes { count } => vec![("count", *count as f64)],
        }
    }
}

impl fmt::Display for MetricValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricValue::Cpu { busy_percent } => write!(f, "{busy_percent:.1}% busy"),
            MetricValue::Memory {
                used_percent,
                available_bytes,
                ..
            } => write!(
                f,
                "{used_percent:.1}% used, {} available",
                Bytes(*available_bytes)
            ),
            MetricValue::Swap {
                used_percent,
                used_bytes,
                ..
            } => write!(f, "{used_percent:.1}% used ({})", Bytes(*used_bytes)),
            MetricValue::Load { average } => write!(f, "{average:.2}"),
            MetricValue::Disk {
                used_percent,
                free_bytes,
                ..
            } => write!(f, "{used_percent:.1}% used, {} free", Bytes(*free_bytes)),
            MetricValue::Inodes {
                used_percent, free, ..
            } => write!(f, "{used_percent:.1}% of inodes used, {free} free"),
            MetricValue::Net {
                received_per_second,
                sent_per_second,
                errors,
            } => write!(
                f,
                "{}/s received, {}/s sent, {errors} errors",
                Bytes(*received_per_second as u64),
                Bytes(*sent_per_second as u64)
            ),
            MetricValue::Uptime { seconds } => write!(f, "up {seconds} s"),
            MetricValue::Processes { count } => write!(f, "{count} processes"),
        }
    }
}

/// `part` of `whole` in percent; 0 when there is no whole (no swap at all).
pub(crate) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// Bytes in binary units, one decimal, for messages.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            write!(f, "{} B", self.0)
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_busy_is_the_share_of_non_idle_ticks_between_two_samples() {
        let t0 = Instant::now();
        let first = Sample::Cpu {
            at: t0,
            times: CpuTimes {
                total: 1000,
                idle: 800,
            },
        };
        assert_eq!(first.value_since(None), Err(RateError::Baseline));
        let second = Sample::Cpu {
            at: t0 + Duration::from_secs(1),
            times: CpuTimes {
                total: 1200,
                idle: 850,
            },
        };
        let v = second.value_since(Some(&first)).unwrap();
        assert_eq!(v, MetricValue::Cpu { busy_percent: 75.0 });
        // Counters that went backwards restart instead of giving nonsense.
        assert_eq!(first.value_since(Some(&second)), Err(RateError::Restart));
    }

    #[test]
    fn net_rates_are_per_second_over_the_elapsed_time() {
        let t0 = Instant::now();
        let first = Sample::Net {
            at: t0,
            counters: NetCounters {
                received_bytes: 1000,
                sent_bytes: 500,
                errors: 1,
            },
        };
        let second = Sample::Net {
            at: t0 + Duration::from_secs(2),
            counters: NetCounters {
                received_bytes: 5000,
                sent_bytes: 1500,
                errors: 4,
            },
        };
        let v = second.value_since(Some(&first)).unwrap();
        assert_eq!(
            v,
            MetricValue::Net {
                received_per_second: 2000.0,
                sent_per_second: 500.0,
                errors: 3
            }
        );
        assert_eq!(v.value(), 2500.0);
        // A rate never pairs with a sample of another kind.
        let cpu = Sample::Cpu {
            at: t0,
            times: CpuTimes { total: 1, idle: 1 },
        };
        assert_eq!(second.value_since(Some(&cpu)), Err(RateError::Baseline));
    }

    #[test]
    fn values_print_for_an_operator() {
        let v = MetricValue::Disk {
            used_percent: 91.25,
            free_bytes: 3 * 1024 * 1024 * 1024 / 2,
            total_bytes: 0,
        };
        assert_eq!(v.to_string(), "91.2% used, 1.5 GiB free");
        assert_eq!(v.value(), 91.25);
        assert_eq!(percent(1, 0), 0.0);
    }
}
