//! `probe: tcp|http|ping TARGET` with its alert line (issue 14): the shell
//! runs the probe ([`Work::Probe`], async on the runtime); this check turns
//! each [`ProbeOutcome`] into events.
//!
//! * `alert_failed:` — a problem of this check, with its tags, that opens
//!   after `for=` failed runs in a row (the failure's reason in the
//!   message) and clears after `clear_for=` good ones. With `cert_days=N`,
//!   an HTTPS certificate expiring in fewer than N days is a failure too.
//! * `alert_if:` — the response time in ms (or `value=cert_days`) against a
//!   limit, with the same `for=` / `clear_for=` rules. Only runs that got an
//!   answer are judged: a probe that fails has no response time, and saying
//!   so is `alert_failed:`'s business.
//! * `alert_metric:` — a metric event with the response time in ms (or the
//!   certificate's days) of each run that got an answer.

use std::sync::Arc;
use std::time::Duration;

use conf::{HostConfig, ProbeAlert, ProbeField, ProbeWatch, WatchAlert};

use crate::checks::{Check, JobOutput, Work};
use crate::clock::Now;
use crate::probe::{ProbeOutcome, ProbeSpec};
use crate::problems::ProblemBoard;
use crate::raised::{Raised, format_number};
use crate::streak::{Change, Streak};

/// One `probe:` group.
#[derive(Debug, Clone)]
pub struct ProbeCheck {
    watch: ProbeWatch,
    spec: Arc<Result<ProbeSpec, String>>,
    streak: Streak,
}

impl ProbeCheck {
    pub fn new(watch: &ProbeWatch) -> ProbeCheck {
        let spec = ProbeSpec::from_probe(&watch.probe).map_err(|e| e.to_string());
        ProbeCheck {
            watch: watch.clone(),
            spec: Arc::new(spec),
            streak: Streak::new(watch.timing),
        }
    }

    /// One check per `probe:` group of `config`.
    pub fn from_config(config: &HostConfig) -> Vec<Box<dyn Check>> {
        config
            .probes
            .iter()
            .map(|w| Box::new(ProbeCheck::new(w)) as Box<dyn Check>)
            .collect()
    }

    /// The same check opening at its first bad run, for `--try`.
    pub fn at_once(mut self) -> ProbeCheck {
        let mut timing = self.watch.timing;
        timing.open_after = 1;
        self.streak = Streak::new(timing);
        self
    }

    pub fn watch(&self) -> &ProbeWatch {
        &self.watch
    }

    /// Why this run counts as failed for `alert_failed:`, if it does.
    fn failure(&self, outcome: &ProbeOutcome, cert_days: Option<u64>) -> Option<String> {
        if let Some(f) = &outcome.failure {
            return Some(f.to_string());
        }
        let limit = i64::try_from(cert_days?).unwrap_or(i64::MAX);
        match outcome.cert_days_left {
            Some(left) if left < limit => Some(format!(
                "the certificate expires in {left} days (limit {limit})"
            )),
            Some(_) => None,
            None => Some("no certificate was seen to check its expiry".to_string()),
        }
    }

    /// Events for one run's outcome.
    pub fn evaluate(&mut self, outcome: &ProbeOutcome, now: &Now) -> Vec<Raised> {
        let tags = &self.watch.tags;
        let allowed = now.local.allows(self.watch.active.as_ref());
        let value = match self.watch.field {
            ProbeField::ResponseMs => outcome.response_ms,
            ProbeField::CertDays => outcome.cert_days_left.map(|d| d as f64),
        };
        let rounded = value.map(|v| (v * 10.0).round() / 10.0);
        let (bad, message) = match &self.watch.alert {
            ProbeAlert::Failed { message, cert_days } => {
                let failure = self.failure(outcome, *cert_days);
                let text = message
                    .clone()
                    .unwrap_or_else(|| format!("probe {} failed", self.watch.probe));
                let change = self.streak.judge(failure.is_some(), allowed, now);
                let shown = match (change, failure) {
                    (Change::Open | Change::Repeat, Some(reason)) => format!("{text}: {reason}"),
                    (Change::Clear { .. }, _) => format!("cleared: {text}"),
                    _ => return Vec::new(),
                };
                return vec![Raised::alert(now.wall_ms, tags, None, shown)];
            }
            ProbeAlert::Value(WatchAlert::Metric) => {
                return match rounded {
                    Some(v) if allowed => vec![Raised::metric(now.wall_ms, tags, None, v)],
                    _ => Vec::new(),
                };
            }
            ProbeAlert::Value(WatchAlert::Above { limit, message }) => {
                (value.map(|v| v > *limit), message)
            }
            ProbeAlert::Value(WatchAlert::Below { limit, message }) => {
                (value.map(|v| v < *limit), message)
            }
        };
        let (Some(bad), Some(shown)) = (bad, rounded) else {
            return Vec::new();
        };
        let shown = format_number(shown);
        let change = self.streak.judge(bad, allowed, now);
        crate::streak::raised_for(change, now, tags, message, &shown)
    }
}

impl ProbeCheck {
    /// The observer problem of a check that cannot read or run.
    fn problem_key(&self) -> String {
        format!("probe:{} ({})", self.watch.probe, self.watch.origin)
    }
}

impl Check for ProbeCheck {
    fn interval(&self) -> Duration {
        self.watch.timing.every
    }

    fn work(&self) -> Work {
        Work::Probe(self.spec.clone())
    }

    fn problem_keys(&self) -> Vec<String> {
        vec![self.problem_key()]
    }

    fn on_output(
        &mut self,
        output: JobOutput,
        now: Now,
        _problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        match output {
            JobOutput::ProbeOutcome(outcome) => self.evaluate(&outcome, &now),
            other => {
                tracing::error!("probe check given {other:?}");
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::clock::LocalMinute;
    use crate::probe::ProbeFailure;

    fn check(text: &str) -> ProbeCheck {
        let (config, errors) = conf::parse_host(text);
        assert!(errors.is_empty(), "{errors:?}");
        ProbeCheck::new(&config.probes[0])
    }

    fn at(s: u64) -> Now {
        Now {
            mono: Instant::now() + Duration::from_secs(s),
            wall_ms: s as i64 * 1000,
            local: LocalMinute {
                weekday: 1,
                hour: 12,
                minute: 0,
            },
        }
    }

    fn answered(ms: f64, cert_days: Option<i64>) -> ProbeOutcome {
        ProbeOutcome {
            failure: None,
            response_ms: Some(ms),
            address: None,
            status: None,
            cert_days_left: cert_days,
        }
    }

    fn refused() -> ProbeOutcome {
        ProbeOutcome {
            failure: Some(ProbeFailure::Refused {
                target: "127.0.0.1:5432".into(),
            }),
            response_ms: None,
            address: None,
            status: None,
            cert_days_left: None,
        }
    }

    fn messages(c: &mut ProbeCheck, outcomes: Vec<ProbeOutcome>) -> Vec<String> {
        outcomes
            .iter()
            .enumerate()
            .flat_map(|(i, o)| c.evaluate(o, &at(i as u64)))
            .map(|r| r.message)
            .collect()
    }

    #[test]
    fn alert_failed_opens_after_for_failures_with_the_reason_and_clears_once() {
        let mut c = check(
            "probe: tcp 127.0.0.1:5432 timeout=2\nalert_failed: tags=db,postgres for=3 message=PostgreSQL is not answering\n",
        );
        let got = messages(
            &mut c,
            vec![
                refused(),
                refused(),
                answered(1.0, None),
                refused(),
                refused(),
                refused(),
                refused(),
                answered(1.0, None),
                answered(1.0, None),
            ],
        );
        assert_eq!(
            got,
            [
                "PostgreSQL is not answering: connection to 127.0.0.1:5432 refused (nothing listening)",
                "cleared: PostgreSQL is not answering"
            ]
        );
    }

    #[test]
    fn a_certificate_near_expiry_fails_a_probe_with_cert_days() {
        let mut c = check("probe: http https://web.lan/\nalert_failed: tags=w cert_days=14\n");
        let got = messages(
            &mut c,
            vec![answered(5.0, Some(30)), answered(5.0, Some(9))],
        );
        assert_eq!(
            got,
            ["probe http https://web.lan/ failed: the certificate expires in 9 days (limit 14)"]
        );
    }

    #[test]
    fn response_time_is_a_metric_and_slowness_a_problem() {
        let mut c = check("probe: tcp db:5432\nalert_metric: tags=db,latency\n");
        let out: Vec<Raised> = [answered(12.34, None), refused()]
            .iter()
            .flat_map(|o| c.evaluate(o, &at(0)))
            .collect();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value, Some(12.3));
        assert_eq!(out[0].tags, "db,latency");

        let mut slow =
            check("probe: tcp db:5432\nalert_if: tags=db upper_limit=100 message=slow\n");
        let got = messages(
            &mut slow,
            vec![
                answered(50.0, None),
                answered(250.0, None),
                refused(),
                answered(20.0, None),
            ],
        );
        assert_eq!(got, ["slow [250]", "cleared: slow [20]"]);
    }
}
