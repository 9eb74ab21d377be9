//! `probe: tcp|http|ping TARGET` with its alert line (issue 14): the shell
//! runs the probe ([`Work::Probe`], async on the runtime); this check turns
//! each [`ProbeOutcome`] into results of the check's problem on the
//! [`ProblemBoard`] (which judges `for=`, `clear_for=`, `repeat=` and
//! `active:` as for every other stateful check) or into metric events.
//!
//! * `alert_failed:` — a problem of this check, with its tags, that opens
//!   after `for=` failed runs in a row (`TEXT: REASON`) and clears after
//!   `clear_for=` good ones (repeating the opening's words). With
//!   `cert_days=N`, an HTTPS certificate expiring in fewer than N days is a
//!   failure too.
//! * `alert_if:` — the response time in ms (or `value=cert_days`) against a
//!   limit (`TEXT [VALUE]`). Only runs that got an answer are judged: a
//!   probe that fails has no response time, and saying so is
//!   `alert_failed:`'s business.
//! * `alert_metric:` — a metric event with the response time in ms (or the
//!   certificate's days) of each run that got an answer.

use std::sync::Arc;
use std::time::Duration;

use conf::{HostConfig, ProbeAlert, ProbeField, ProbeWatch, StateKeys, WatchAlert};
use wire::Transition;

use crate::checks::{Check, JobOutput, Work};
use crate::clock::Now;
use crate::probe::{ProbeOutcome, ProbeSpec};
use crate::problems::{CheckRef, ProblemBoard};
use crate::raised::{Raised, format_number};

/// One `probe:` group.
#[derive(Debug, Clone)]
pub struct ProbeCheck {
    watch: ProbeWatch,
    spec: Arc<Result<ProbeSpec, String>>,
    /// The state keys the board judges with (`--try` lowers `for=`).
    keys: StateKeys,
}

impl ProbeCheck {
    pub fn new(watch: &ProbeWatch) -> ProbeCheck {
        let spec = ProbeSpec::from_probe(&watch.probe).map_err(|e| e.to_string());
        ProbeCheck {
            watch: watch.clone(),
            spec: Arc::new(spec),
            keys: watch.state,
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
        self.keys.open_after = 1;
        self
    }

    pub fn watch(&self) -> &ProbeWatch {
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
    pub fn evaluate(
        &mut self,
        outcome: &ProbeOutcome,
        now: &Now,
        problems: &mut ProblemBoard,
    ) -> Vec<Raised> {
        let value = match self.watch.field {
            ProbeField::ResponseMs => outcome.response_ms,
            ProbeField::CertDays => outcome.cert_days_left.map(|d| d as f64),
        };
        let rounded = value.map(|v| (v * 10.0).round() / 10.0);
        let check = self.check_ref(now);
        let (bad, message, value) = match &self.watch.alert {
            ProbeAlert::Failed { message, cert_days } => {
                match self.failure(outcome, *cert_days) {
                    Some(reason) => {
                        let text = message
                            .clone()
                            .unwrap_or_else(|| format!("probe {} failed", self.watch.probe));
                        (true, format!("{text}: {reason}"), None)
                    }
                    // No words of its own: the clearing repeats the
                    // opening's, reason included.
                    None => (false, String::new(), None),
                }
            }
            ProbeAlert::Value(alert) => {
                let (Some(v), Some(shown)) = (value, rounded) else {
                    return Vec::new();
                };
                let (bad, message) = match alert {
                    WatchAlert::Metric => {
                        if !check.active {
                            return Vec::new();
                        }
                        let raised = Raised::metric(now.wall_ms, check.tags, None, shown);
                        return vec![raised.in_check(check.id, Transition::Point)];
                    }
                    WatchAlert::Above { limit, message } => (v > *limit, message),
                    WatchAlert::Below { limit, message } => (v < *limit, message),
                };
                (
                    bad,
                    format!("{message} [{}]", format_number(shown)),
                    Some(shown),
                )
            }
        };
        problems
            .result(check, bad, message, value, now.wall_ms)
            .into_iter()
            .collect()
    }
}

impl Check for ProbeCheck {
    fn interval(&self) -> Duration {
        self.watch.every()
    }

    fn work(&self) -> Work {
        Work::Probe(self.spec.clone())
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
        match output {
            JobOutput::ProbeOutcome(outcome) => self.evaluate(&outcome, &now, problems),
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

    /// The events of one run per outcome, a second apart: the message and
    /// its transition.
    fn messages(c: &mut ProbeCheck, outcomes: Vec<ProbeOutcome>) -> Vec<(String, Transition)> {
        let mut problems = ProblemBoard::new();
        let id = c.watch().check.to_string();
        outcomes
            .iter()
            .enumerate()
            .flat_map(|(i, o)| c.evaluate(o, &at(i as u64), &mut problems))
            .map(|r| {
                assert_eq!(r.check.as_deref(), Some(id.as_str()));
                (r.message, r.transition)
            })
            .collect()
    }

    fn texts(events: &[(String, Transition)]) -> Vec<&str> {
        events.iter().map(|(m, _)| m.as_str()).collect()
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
        // The clearing repeats the opening's words; the transition says
        // which is which.
        let words =
            "PostgreSQL is not answering: connection to 127.0.0.1:5432 refused (nothing listening)";
        assert_eq!(
            got,
            [
                (words.to_string(), Transition::Open),
                (words.to_string(), Transition::Clear { open_ms: 2_000 })
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
            texts(&got),
            ["probe http https://web.lan/ failed: the certificate expires in 9 days (limit 14)"]
        );
    }

    #[test]
    fn response_time_is_a_metric_and_slowness_a_problem() {
        let mut c = check("probe: tcp db:5432\nalert_metric: tags=db,latency\n");
        let mut problems = ProblemBoard::new();
        let out: Vec<Raised> = [answered(12.34, None), refused()]
            .iter()
            .flat_map(|o| c.evaluate(o, &at(0), &mut problems))
            .collect();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value, Some(12.3));
        assert_eq!(out[0].tags, "db,latency");
        assert_eq!(out[0].transition, Transition::Point);

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
        assert_eq!(
            got,
            [
                ("slow [250]".to_string(), Transition::Open),
                (
                    "slow [20]".to_string(),
                    Transition::Clear { open_ms: 2_000 }
                )
            ]
        );
    }
}
