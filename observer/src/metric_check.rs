//! `metric: NAME [ARGUMENT]` with its `alert_if:` or `alert_metric:` line
//! (issue 14): the shell reads the metric in-process ([`Work::Metric`]);
//! this check turns each reading into a value (rates against its own
//! previous reading), and then into a result of the check's problem on the
//! [`ProblemBoard`] (`alert_if:`, with `for=` / `clear_for=` / `repeat=` /
//! `active:` judged there, as for every other stateful check) or into a
//! metric event (`alert_metric:`).
//!
//! A rate (`cpu`, `net`) needs two readings: the first run of such a check
//! only sets its baseline, so its first value comes one `every=` later. A
//! metric that cannot be read (a path that is gone, an interface that does
//! not exist) is a bad result of the check itself, with its tags and words
//! saying why (as a command that cannot run is): an `alert_if:` counts it
//! towards `for=` like a value beyond the limit; an `alert_metric:` opens a
//! problem that clears at its next reading.

use std::time::Duration;

use conf::{HostConfig, MetricWatch, StateKeys, WatchAlert};
use wire::Transition;

use crate::checks::{Check, JobOutput, Work};
use crate::clock::Now;
use crate::problems::{CheckRef, ProblemBoard};
use crate::raised::{Raised, format_number};
use crate::sysmetrics::{MetricValue, Sample};

/// One `metric:` group.
#[derive(Debug, Clone)]
pub struct MetricCheck {
    watch: MetricWatch,
    /// The state keys the board judges with (`--try` lowers `for=`).
    keys: StateKeys,
    previous: Option<Sample>,
}

impl MetricCheck {
    pub fn new(watch: &MetricWatch) -> MetricCheck {
        MetricCheck {
            watch: watch.clone(),
            keys: watch.state,
            previous: None,
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
        self.keys.open_after = 1;
        self
    }

    pub fn watch(&self) -> &MetricWatch {
        &self.watch
    }

    fn check_ref(&self, now: &Now) -> CheckRef<'_> {
        CheckRef {
            id: self.watch.check.as_str(),
            tags: &self.watch.tags,
            source: None,
            keys: self.keys,
            active: now.local.allows(self.watch.active.as_ref()),
        }
    }

    /// Events for one reading's value.
    pub fn evaluate(
        &mut self,
        value: &MetricValue,
        now: &Now,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        let field = self.watch.field;
        let Some(number) = value.field(field) else {
            tracing::error!("metric {} has no figure {field}", self.watch.metric);
            return Vec::new();
        };
        // Two decimals: a percentage to 0.01 is all anyone reads.
        let rounded = (number * 100.0).round() / 100.0;
        let check = self.check_ref(now);
        let (bad, message) = match &self.watch.alert {
            WatchAlert::Metric => {
                if !check.active {
                    return Vec::new();
                }
                let raised = Raised::metric(now.wall_ms, check.tags, None, rounded);
                return vec![raised.in_check(check.id, Transition::Point)];
            }
            WatchAlert::Above { limit, message } => (number > *limit, message),
            WatchAlert::Below { limit, message } => (number < *limit, message),
        };
        // The clearing says the same words with the value it cleared at.
        let text = format!("{message} [{}]", format_number(rounded));
        problems
            .result(check, bad, text, Some(rounded), now.wall_ms)
            .into_iter()
            .collect()
    }
}

impl Check for MetricCheck {
    fn interval(&self) -> Duration {
        self.watch.every()
    }

    fn work(&self) -> Work {
        Work::Metric {
            spec: self.watch.metric.clone(),
        }
    }

    fn problem_keys(&self) -> Vec<String> {
        vec![self.watch.check.to_string()]
    }

    fn on_output(
        &mut self,
        output: JobOutput,
        now: Now,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        let sample = match output {
            JobOutput::MetricSample(Ok(sample)) => sample,
            JobOutput::MetricSample(Err(reason)) => {
                // The next reading of a rate starts a new baseline.
                self.previous = None;
                let message = format!("cannot read metric {}: {reason}", self.watch.metric);
                tracing::warn!(check = self.watch.check.as_str(), "{message}");
                return problems
                    .result(self.check_ref(&now), true, message, None, now.wall_ms)
                    .into_iter()
                    .collect();
            }
            other => {
                tracing::error!("metric check given {other:?}");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        // `alert_metric:` has no condition of its own: its only problem is
        // a metric that could not be read, and a reading ends it.
        if self.watch.alert == WatchAlert::Metric && problems.is_open(self.watch.check.as_str()) {
            out.extend(problems.result(
                self.check_ref(&now),
                false,
                String::new(),
                None,
                now.wall_ms,
            ));
        }
        let value = sample.value_since(self.previous.as_ref());
        self.previous = Some(sample);
        if let Ok(value) = value {
            out.extend(self.evaluate(&value, &now, problems));
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

    fn memory(available_bytes: u64) -> JobOutput {
        JobOutput::MetricSample(Ok(Sample::Gauge(MetricValue::Memory {
            used_percent: 99.0,
            available_bytes,
            total_bytes: 5000,
        })))
    }

    #[test]
    fn a_disk_above_its_limit_twice_opens_once_and_clears_once() {
        let t0 = Instant::now();
        let w = watch(
            "metric: disk /var\nalert_if: tags=disk upper_limit=90 for=2 message=/var nearly full\n",
        );
        let mut check = MetricCheck::new(&w);
        let mut problems = ProblemBoard::new();
        let mut seen = Vec::new();
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
                assert_eq!(r.check.as_deref(), Some(w.check.as_str()));
                seen.push((s, r.message, r.transition));
            }
        }
        assert_eq!(
            seen,
            [
                (180, "/var nearly full [96.5]".to_string(), Transition::Open),
                (
                    300,
                    "/var nearly full [50]".to_string(),
                    Transition::Clear { open_ms: 120_000 }
                )
            ]
        );
        assert!(w.check.as_str().starts_with("metric-"));
        assert_eq!(check.problem_keys(), [w.check.to_string()]);
    }

    #[test]
    fn cpu_gives_its_first_value_at_the_second_reading() {
        let t0 = Instant::now();
        let w = watch("metric: cpu\nalert_metric: tags=cpu every=10\n");
        let mut check = MetricCheck::new(&w);
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
        // A point event of its check, as a command's `alert_metric:` is.
        assert_eq!(out[0].check.as_deref(), Some(w.check.as_str()));
        assert_eq!(out[0].transition, Transition::Point);
        assert_eq!(check.interval(), Duration::from_secs(10));
    }

    #[test]
    fn an_unreadable_metric_is_a_bad_result_of_its_check_with_its_tags() {
        let t0 = Instant::now();
        let w = watch(
            "metric: memory\nalert_if: tags=m value=available_bytes lower_limit=100 message=low memory\n",
        );
        let mut check = MetricCheck::new(&w);
        let mut problems = ProblemBoard::new();
        let failed = check.on_output(
            JobOutput::MetricSample(Err("no /proc".into())),
            at(t0, 0),
            &mut problems,
        );
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].tags, "m");
        assert_eq!(failed[0].check.as_deref(), Some(w.check.as_str()));
        assert_eq!(failed[0].transition, Transition::Open);
        assert_eq!(failed[0].message, "cannot read metric memory: no /proc");
        // Still bad (now below the limit): the same problem, not a second.
        assert!(
            check
                .on_output(memory(50), at(t0, 60), &mut problems)
                .is_empty()
        );
        let out = check.on_output(memory(500), at(t0, 120), &mut problems);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].message, "low memory [500]");
        assert_eq!(out[0].transition, Transition::Clear { open_ms: 120_000 });
    }

    #[test]
    fn an_unreadable_metric_of_alert_metric_opens_until_it_reads_again() {
        let t0 = Instant::now();
        let w = watch("metric: memory\nalert_metric: tags=mem value=available_bytes\n");
        let mut check = MetricCheck::new(&w);
        let mut problems = ProblemBoard::new();
        let failed = || JobOutput::MetricSample(Err("no /proc".into()));
        let out = check.on_output(failed(), at(t0, 0), &mut problems);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].tags.as_str(), out[0].transition),
            ("mem", Transition::Open)
        );
        assert!(
            check
                .on_output(failed(), at(t0, 60), &mut problems)
                .is_empty()
        );
        let out = check.on_output(memory(500), at(t0, 120), &mut problems);
        let got: Vec<(Transition, &str)> = out
            .iter()
            .map(|r| (r.transition, r.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    Transition::Clear { open_ms: 120_000 },
                    "cannot read metric memory: no /proc"
                ),
                (Transition::Point, "500")
            ]
        );
        assert!(problems.open_problems().is_empty());
    }
}
