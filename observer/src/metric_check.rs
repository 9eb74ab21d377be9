//! `metric: NAME [ARGUMENT]` with its `alert_if:` or `alert_metric:` line
//! (issue 14): the shell reads the metric in-process ([`Work::Metric`]);
//! this check turns each reading into a value (rates against its own
//! previous reading), and then into a problem that opens after `for=` bad
//! readings and clears after `clear_for=` good ones ([`Streak`]), or into a
//! metric event.
//!
//! A rate (`cpu`, `net`) needs two readings: the first run of such a check
//! only sets its baseline, so its first value comes one `every=` later. A
//! metric that cannot be read (a path that is gone, an interface that does
//! not exist) is an observer problem under [`MetricCheck::problem_key`],
//! cleared by the next good reading; it is neither good nor bad for the
//! alert.

use std::time::Duration;

use conf::{HostConfig, MetricWatch, WatchAlert};

use crate::checks::{Check, JobOutput, Work};
use crate::clock::Now;
use crate::problems::ProblemBoard;
use crate::raised::{Raised, format_number};
use crate::streak::Streak;
use crate::sysmetrics::{MetricValue, Sample};

/// One `metric:` group.
#[derive(Debug, Clone)]
pub struct MetricCheck {
    watch: MetricWatch,
    previous: Option<Sample>,
    streak: Streak,
}

impl MetricCheck {
    pub fn new(watch: &MetricWatch) -> MetricCheck {
        MetricCheck {
            watch: watch.clone(),
            previous: None,
            streak: Streak::new(watch.timing),
        }
    }

    /// One check per `metric:` group of `config`.
    pub fn from_config(config: &HostConfig) -> Vec<Box<dyn Check>> {
        config
            .metrics
            .iter()
            .map(|w| Box::new(MetricCheck::new(w)) as Box<dyn Check>)
            .collect()
    }

    /// The same check opening at its first bad reading, for `--try`, which
    /// shows what a condition that persists would raise.
    pub fn at_once(mut self) -> MetricCheck {
        let mut timing = self.watch.timing;
        timing.open_after = 1;
        self.streak = Streak::new(timing);
        self
    }

    pub fn watch(&self) -> &MetricWatch {
        &self.watch
    }

    /// Events for one reading's value.
    pub fn evaluate(&mut self, value: &MetricValue, now: &Now) -> Vec<Raised> {
        let field = self.watch.field;
        let Some(number) = value.field(field) else {
            tracing::error!("metric {} has no figure {field}", self.watch.metric);
            return Vec::new();
        };
        let tags = &self.watch.tags;
        let allowed = now.local.allows(self.watch.active.as_ref());
        let (bad, message) = match &self.watch.alert {
            WatchAlert::Metric => {
                return if allowed {
                    // Two decimals: a percentage to 0.01 is all anyone reads.
                    let rounded = (number * 100.0).round() / 100.0;
                    vec![Raised::metric(now.wall_ms, tags, None, rounded)]
                } else {
                    Vec::new()
                };
            }
            WatchAlert::Above { limit, message } => (number > *limit, message),
            WatchAlert::Below { limit, message } => (number < *limit, message),
        };
        let shown = format_number((number * 100.0).round() / 100.0);
        let change = self.streak.judge(bad, allowed, now);
        crate::streak::raised_for(change, now, tags, message, &shown)
    }
}

impl MetricCheck {
    /// The observer problem of a check that cannot read or run.
    fn problem_key(&self) -> String {
        format!("metric:{} ({})", self.watch.metric, self.watch.origin)
    }
}

impl Check for MetricCheck {
    fn interval(&self) -> Duration {
        self.watch.timing.every
    }

    fn work(&self) -> Work {
        Work::Metric {
            spec: self.watch.metric.clone(),
        }
    }

    fn problem_keys(&self) -> Vec<String> {
        vec![self.problem_key()]
    }

    fn on_output(
        &mut self,
        output: JobOutput,
        now: Now,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        let key = self.problem_key();
        let sample = match output {
            JobOutput::MetricSample(Ok(sample)) => sample,
            JobOutput::MetricSample(Err(reason)) => {
                self.previous = None;
                let message = format!("cannot read metric {}: {reason}", self.watch.metric);
                return problems
                    .raise(&key, &message, now.wall_ms)
                    .into_iter()
                    .collect();
            }
            other => {
                tracing::error!("metric check given {other:?}");
                return Vec::new();
            }
        };
        let mut out: Vec<Raised> = problems.clear(&key, now.wall_ms).into_iter().collect();
        let value = sample.value_since(self.previous.as_ref());
        self.previous = Some(sample);
        if let Ok(value) = value {
            out.extend(self.evaluate(&value, &now));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::clock::LocalMinute;
    use crate::sysmetrics::CpuTimes;

    fn watch(text: &str) -> MetricWatch {
        let (config, errors) = conf::parse_host(text);
        assert!(errors.is_empty(), "{errors:?}");
        config.metrics[0].clone()
    }

    fn at(t0: Instant, s: u64) -> Now {
        Now {
            mono: t0 + Duration::from_secs(s),
            wall_ms: s as i64 * 1000,
            local: LocalMinute {
                weekday: 1,
                hour: 12,
                minute: 0,
            },
        }
    }

    fn disk(percent: f64) -> JobOutput {
        JobOutput::MetricSample(Ok(Sample::Gauge(MetricValue::Disk {
            used_percent: percent,
            free_bytes: 1,
            total_bytes: 2,
        })))
    }

    #[test]
    fn a_disk_above_its_limit_twice_opens_once_and_clears_once() {
        let t0 = Instant::now();
        let mut check = MetricCheck::new(&watch(
            "metric: disk /var\nalert_if: tags=disk upper_limit=90 for=2 message=/var nearly full\n",
        ));
        let mut problems = ProblemBoard::new();
        let mut messages = Vec::new();
        for (s, percent) in [
            (0, 95.0),
            (60, 80.0),
            (120, 95.0),
            (180, 96.5),
            (240, 97.0),
            (300, 50.0),
        ] {
            for r in check.on_output(disk(percent), at(t0, s), &mut problems) {
                assert_eq!(r.tags, "disk");
                messages.push((s, r.message));
            }
        }
        assert_eq!(
            messages,
            [
                (180, "/var nearly full [96.5]".to_string()),
                (300, "cleared: /var nearly full [50]".to_string())
            ]
        );
    }

    #[test]
    fn cpu_gives_its_first_value_at_the_second_reading() {
        let t0 = Instant::now();
        let mut check = MetricCheck::new(&watch("metric: cpu\nalert_metric: tags=cpu every=10\n"));
        let mut problems = ProblemBoard::new();
        let cpu = |s: u64, total, idle| {
            JobOutput::MetricSample(Ok(Sample::Cpu {
                at: t0 + Duration::from_secs(s),
                times: CpuTimes { total, idle },
            }))
        };
        assert!(
            check
                .on_output(cpu(0, 1000, 900), at(t0, 0), &mut problems)
                .is_empty()
        );
        let out = check.on_output(cpu(10, 2000, 1750), at(t0, 10), &mut problems);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value, Some(15.0));
        assert_eq!(out[0].tags, "cpu");
        assert_eq!(check.interval(), Duration::from_secs(10));
    }

    #[test]
    fn an_unreadable_metric_is_an_observer_problem_until_it_reads_again() {
        let t0 = Instant::now();
        let mut check = MetricCheck::new(&watch(
            "metric: memory\nalert_if: tags=m value=available_bytes lower_limit=100 message=low memory\n",
        ));
        let mut problems = ProblemBoard::new();
        let failed = check.on_output(
            JobOutput::MetricSample(Err("no /proc".into())),
            at(t0, 0),
            &mut problems,
        );
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].tags, "SYSTEM");
        assert!(
            failed[0]
                .message
                .contains("cannot read metric memory: no /proc")
        );
        let low = JobOutput::MetricSample(Ok(Sample::Gauge(MetricValue::Memory {
            used_percent: 99.0,
            available_bytes: 50,
            total_bytes: 5000,
        })));
        let out = check.on_output(low, at(t0, 60), &mut problems);
        let texts: Vec<&str> = out.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(
            texts,
            ["cannot read metric memory: no /proc", "low memory [50]"]
        );
        assert!(matches!(out[0].transition, wire::Transition::Clear { .. }));
    }
}
