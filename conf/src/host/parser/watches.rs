//! The built-in check groups of the parser: `metric: NAME [ARGUMENT]` and
//! `probe: KIND TARGET [KEYS]` open a group; one `alert_if:`,
//! `alert_metric:` or (probes only) `alert_failed:` line closes it.
//!
//! A probe line's keys are `key=value` words; a value with spaces is
//! written in double quotes (`header="Authorization: Bearer x"`), which are
//! removed. No backslash escapes, so a `regex=` is read as written.

use std::path::PathBuf;
use std::time::Duration;

use super::{At, Group, Parser, id_line};
use crate::checks_model::{
    DEFAULT_PROBE_TIMEOUT, ExpectStatus, HostPort, HttpRequest, JsonCheck,
    MAX_PROBE_TIMEOUT_SECONDS, MetricSpec, MetricWatch, Probe, ProbeAlert, ProbeField, ProbeKind,
    ProbeWatch, WatchAlert,
};
use crate::error::shorten;
use crate::host::directive::{CommandAlertKind, Directive};
use crate::host::keys::{Args, MessageRule, STATE_KEYS};
use crate::host::regexes::compile;
use crate::model::{CheckId, StateKeys};

impl Parser {
    pub(super) fn metric(&mut self, at: At, argument: &str) {
        self.close_group();
        let (name, rest) = match argument.split_once(char::is_whitespace) {
            Some((name, rest)) => (name, Some(rest)),
            None => (argument, None),
        };
        let metric = if name.is_empty() {
            self.error(
                &at,
                "`metric:` needs a metric name (cpu, memory, disk PATH, …)",
            );
            None
        } else {
            match MetricSpec::parse(name, rest) {
                Ok(m) => Some(m),
                Err(e) => {
                    self.error(&at, format!("bad `metric:`: {e}"));
                    None
                }
            }
        };
        self.group = Some(Group::Metric {
            at,
            metric,
            line: id_line(Directive::Metric, argument),
        });
    }

    pub(super) fn probe(&mut self, at: At, argument: &str) {
        self.close_group();
        let probe = match probe_line(argument) {
            Ok(p) => Some(p),
            Err(problems) => {
                for p in problems {
                    self.error(&at, format!("bad `probe:`: {p}"));
                }
                None
            }
        };
        self.group = Some(Group::Probe {
            at,
            probe,
            line: id_line(Directive::Probe, argument),
        });
    }

    /// `alert_if:` / `alert_metric:` after a `metric:` or `probe:`, and
    /// `alert_failed:`.
    pub(super) fn watch_alert(&mut self, at: At, directive: Directive, argument: &str) {
        let active = self.take_active();
        match self.group.take() {
            Some(Group::Metric {
                metric,
                line: group_line,
                ..
            }) => {
                if directive == Directive::AlertFailed {
                    self.error(
                        &at,
                        "`alert_failed:` closes a `probe:` group; a `metric:` takes `alert_if:` or `alert_metric:`",
                    );
                    return;
                }
                let line = read_alert(directive, argument, false);
                let mut args = line.args;
                let field = match (&metric, line.value) {
                    (Some(m), Some(v)) => match m.fields().iter().find(|f| **f == v) {
                        Some(f) => Some(*f),
                        None => {
                            args.problems.push(format!(
                                "`value={}`: metric {m} has {}",
                                shorten(v),
                                m.fields().join(", ")
                            ));
                            None
                        }
                    },
                    (Some(m), None) => Some(m.fields()[0]),
                    (None, _) => None,
                };
                self.report(&at, directive, &args);
                if let (
                    Some(metric),
                    Some(field),
                    Some(tags),
                    Some(alert),
                    Some(state),
                    Ok(active),
                    true,
                ) = (
                    metric,
                    field,
                    line.tags,
                    line.alert,
                    line.state,
                    active,
                    args.problems.is_empty(),
                ) && let ProbeAlert::Value(alert) = alert
                {
                    let alert_line = args.canonical(directive.name());
                    self.config.metrics.push(MetricWatch {
                        metric,
                        tags,
                        field,
                        alert,
                        state,
                        active,
                        check: CheckId::new("metric", [group_line.as_str(), alert_line.as_str()]),
                        origin: at.origin,
                    });
                }
            }
            Some(Group::Probe {
                probe,
                line: group_line,
                ..
            }) => {
                let line = read_alert(directive, argument, true);
                let mut args = line.args;
                let field = match line.value {
                    None | Some("response_ms") => Some(ProbeField::ResponseMs),
                    Some("cert_days") => Some(ProbeField::CertDays),
                    Some(other) => {
                        args.problems.push(format!(
                            "`value={}`: a probe has response_ms or cert_days",
                            shorten(other)
                        ));
                        None
                    }
                };
                let wants_cert = field == Some(ProbeField::CertDays)
                    || matches!(
                        line.alert,
                        Some(ProbeAlert::Failed {
                            cert_days: Some(_),
                            ..
                        })
                    );
                if let Some(p) = &probe
                    && wants_cert
                    && !matches!(&p.kind, ProbeKind::Http(h) if h.is_https())
                {
                    args.problems.push(format!(
                        "certificate days need an https probe, not `{}`",
                        shorten(&p.to_string())
                    ));
                }
                self.report(&at, directive, &args);
                if let (
                    Some(probe),
                    Some(field),
                    Some(tags),
                    Some(alert),
                    Some(state),
                    Ok(active),
                    true,
                ) = (
                    probe,
                    field,
                    line.tags,
                    line.alert,
                    line.state,
                    active,
                    args.problems.is_empty(),
                ) {
                    let alert_line = args.canonical(directive.name());
                    self.config.probes.push(ProbeWatch {
                        probe,
                        tags,
                        field,
                        alert,
                        state,
                        active,
                        check: CheckId::new("probe", [group_line.as_str(), alert_line.as_str()]),
                        origin: at.origin,
                    });
                }
            }
            other => {
                // Only `alert_failed:` gets here without a group of its own.
                self.group = other;
                self.error(&at, "`alert_failed:` without `probe:` before it");
            }
        }
    }
}

/// An alert line of a metric or probe group, read.
struct WatchAlertLine<'a> {
    args: Args<'a>,
    tags: Option<String>,
    /// `value=` as written.
    value: Option<&'a str>,
    /// A metric group's alert is always a [`ProbeAlert::Value`].
    alert: Option<ProbeAlert>,
    /// `None` when a state key had a problem.
    state: Option<StateKeys>,
}

fn read_alert(directive: Directive, argument: &str, probe: bool) -> WatchAlertLine<'_> {
    let mut keys: Vec<&str> = vec!["tags"];
    let rule = match directive {
        Directive::CommandAlert(CommandAlertKind::If) => {
            keys.extend(["upper_limit", "lower_limit", "value"]);
            keys.extend(STATE_KEYS);
            MessageRule::Required
        }
        Directive::CommandAlert(CommandAlertKind::Metric) => {
            keys.extend(["value", "every"]);
            MessageRule::Forbidden
        }
        _ => {
            keys.extend(["cert_days"]);
            keys.extend(STATE_KEYS);
            MessageRule::Optional
        }
    };
    let mut args = Args::parse(argument, &keys, rule);
    let tags = args.tags();
    let value = if args.has("value") {
        args.text("value")
    } else {
        None
    };
    let state = args.state_keys(StateKeys::DEFAULT);
    let alert = match directive {
        Directive::CommandAlert(CommandAlertKind::If) => limit(&mut args).map(ProbeAlert::Value),
        Directive::CommandAlert(CommandAlertKind::Metric) => {
            Some(ProbeAlert::Value(WatchAlert::Metric))
        }
        _ => {
            let cert_days = if args.has("cert_days") {
                args.count("cert_days")
            } else {
                None
            };
            (cert_days.is_some() || !args.has("cert_days")).then(|| ProbeAlert::Failed {
                message: args.message.filter(|m| !m.is_empty()).map(str::to_string),
                cert_days,
            })
        }
    };
    debug_assert!(probe || !matches!(alert, Some(ProbeAlert::Failed { .. })));
    WatchAlertLine {
        args,
        tags,
        value,
        alert,
        state,
    }
}

/// `upper_limit=VALUE` or `lower_limit=VALUE`, with the message.
fn limit(args: &mut Args<'_>) -> Option<WatchAlert> {
    let upper = args.has("upper_limit");
    let lower = args.has("lower_limit");
    let message = args.message();
    match (upper, lower) {
        (true, true) => {
            args.problems
                .push("give either `upper_limit=` or `lower_limit=`, not both".to_string());
            None
        }
        (false, false) => {
            args.problems
                .push("missing key `upper_limit=` or `lower_limit=`".to_string());
            None
        }
        (true, false) => {
            let limit = args.number("upper_limit")?;
            Some(WatchAlert::Above {
                limit,
                message: message?,
            })
        }
        (false, true) => {
            let limit = args.number("lower_limit")?;
            Some(WatchAlert::Below {
                limit,
                message: message?,
            })
        }
    }
}

/// `KIND TARGET [key=value ...]` of a `probe:` line.
fn probe_line(argument: &str) -> Result<Probe, Vec<String>> {
    let words = split_words(argument)?;
    let mut words = words.iter().map(String::as_str);
    let (Some(kind), Some(target)) = (words.next(), words.next()) else {
        return Err(vec![
            "expected `tcp HOST:PORT`, `http URL` or `ping HOST`, then keys".to_string(),
        ]);
    };
    let mut problems = Vec::new();
    let mut timeout = DEFAULT_PROBE_TIMEOUT;
    let mut seen: Vec<&str> = Vec::new();
    let mut http = match kind {
        "http" | "https" => match HttpRequest::new(target) {
            Ok(r) => Some(r),
            Err(e) => return Err(vec![e.to_string()]),
        },
        "tcp" | "ping" => None,
        other => {
            return Err(vec![format!(
                "unknown probe `{}`: expected tcp, http or ping",
                shorten(other)
            )]);
        }
    };
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            problems.push(format!("expected KEY=VALUE, found `{}`", shorten(word)));
            continue;
        };
        let repeatable = matches!(key, "header" | "json");
        if !repeatable && seen.contains(&key) {
            problems.push(format!("key `{key}=` given twice"));
            continue;
        }
        seen.push(key);
        if key == "timeout" {
            match value.parse::<f64>() {
                Ok(s) if s > 0.0 && s <= MAX_PROBE_TIMEOUT_SECONDS as f64 => {
                    timeout = Duration::from_secs_f64(s);
                }
                _ => problems.push(format!(
                    "`timeout={}` must be seconds above 0, at most {MAX_PROBE_TIMEOUT_SECONDS}",
                    shorten(value)
                )),
            }
            continue;
        }
        let Some(request) = &mut http else {
            problems.push(format!(
                "unknown key `{}=` (a {kind} probe takes only timeout=)",
                shorten(key)
            ));
            continue;
        };
        let done = match key {
            "method" => request.set_method(value).map_err(|e| e.to_string()),
            "header" => request.add_header(value).map_err(|e| e.to_string()),
            "body" => {
                request.body = Some(value.to_string());
                Ok(())
            }
            "expect" => ExpectStatus::parse(value)
                .map(|e| request.expect = e)
                .map_err(|e| e.to_string()),
            "contains" if value.is_empty() => Err("`contains=` is empty".to_string()),
            "contains" => {
                request.contains = Some(value.to_string());
                Ok(())
            }
            "regex" => compile(value)
                .map(|r| request.body_regex = Some(r))
                .map_err(|e| format!("bad regex `{}`: {e}", shorten(value))),
            "json" => JsonCheck::parse(value)
                .map(|j| request.json.push(j))
                .map_err(|e| e.to_string()),
            "ca" if !value.starts_with('/') => Err(format!(
                "`ca={}` must be an absolute path to a PEM file",
                shorten(value)
            )),
            "ca" => {
                request.ca_file = Some(PathBuf::from(value));
                Ok(())
            }
            other => Err(format!(
                "unknown key `{}=` (an http probe takes timeout, method, header, body, expect, contains, regex, json, ca)",
                shorten(other)
            )),
        };
        if let Err(p) = done {
            problems.push(p);
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let kind = match (kind, http) {
        (_, Some(request)) => ProbeKind::Http(Box::new(request)),
        ("tcp", None) => match HostPort::parse(target) {
            Ok(t) => ProbeKind::Tcp(t),
            Err(e) => return Err(vec![e.to_string()]),
        },
        _ => {
            if target.contains(['/', ':'])
                && !target.contains("::")
                && target.parse::<std::net::IpAddr>().is_err()
            {
                return Err(vec![format!(
                    "`ping {}` needs a host name or address, no port or path",
                    shorten(target)
                )]);
            }
            ProbeKind::Ping(target.to_string())
        }
    };
    Ok(Probe { kind, timeout })
}

/// Words split at whitespace; `"..."` keeps spaces (the quotes are removed).
fn split_words(text: &str) -> Result<Vec<String>, Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err(vec!["unbalanced double quote".to_string()]);
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_keep_their_spaces_and_backslashes() {
        assert_eq!(
            split_words(r#"http http://x/ header="A: b c" regex=\d+"#).unwrap(),
            ["http", "http://x/", "header=A: b c", r"regex=\d+"]
        );
        assert!(split_words(r#"a "b"#).is_err());
    }

    #[test]
    fn probe_lines_read_every_key() {
        let p = probe_line(
            r#"http https://web.lan:8443/health method=post header="X-A: 1" body={} expect=200,204 contains=ok regex=up\s json=status=ok json=n=3 ca=/etc/ca.pem timeout=2.5"#,
        )
        .unwrap();
        assert_eq!(p.timeout, Duration::from_millis(2500));
        let ProbeKind::Http(h) = p.kind else { panic!() };
        assert_eq!(h.method, "POST");
        assert_eq!(h.headers.len(), 1);
        assert_eq!(h.json.len(), 2);
        assert!(h.is_https());
        assert!(probe_line("tcp db:5432 method=GET").is_err());
        assert!(probe_line("ping 10.0.0.1:80").is_err());
        assert!(probe_line("ping ::1").is_ok());
        assert!(probe_line("smtp x").is_err());
    }
}
