//! What pages and the API share: filters from the query string, and how
//! times and versions are written.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

use crate::fleet::{FleetSnapshot, HostStatus, HostView, Problem};

/// `?host=&tag=&state=` on `/`, `/api/v1/hosts` and `/api/v1/problems`.
/// `host` matches a part of the name (case-insensitive), `tag` one of the
/// tags exactly, `state` the state's name (`never-seen` for `never seen`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct FilterQuery {
    pub host: Option<String>,
    pub tag: Option<String>,
    pub state: Option<String>,
}

/// A [`FilterQuery`] checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub host: Option<String>,
    pub tag: Option<String>,
    pub state: Option<HostStatus>,
}

impl FilterQuery {
    /// Empty values mean "any" (an HTML form sends them); an unknown state
    /// is an error naming the known ones.
    pub fn check(&self) -> Result<Filter, String> {
        let nonempty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let state = match nonempty(&self.state) {
            None => None,
            Some(s) => Some(HostStatus::from_name(&s).ok_or_else(|| {
                let names: Vec<&str> = HostStatus::ALL.iter().map(|s| s.name()).collect();
                format!("unknown state `{s}`; states are {}", names.join(", "))
            })?),
        };
        Ok(Filter {
            host: nonempty(&self.host).map(|h| h.to_lowercase()),
            tag: nonempty(&self.tag),
            state,
        })
    }
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.host.is_none() && self.tag.is_none() && self.state.is_none()
    }

    pub fn host_matches(&self, h: &HostView, snapshot: &FleetSnapshot) -> bool {
        self.host
            .as_ref()
            .is_none_or(|part| h.name.to_lowercase().contains(part))
            && self.state.is_none_or(|s| h.status == s)
            && self.tag.as_ref().is_none_or(|t| {
                h.tags.contains(t)
                    || snapshot
                        .problems
                        .iter()
                        .any(|p| p.host == h.name && p.tags.contains(t))
            })
    }

    pub fn problem_matches(&self, p: &Problem, snapshot: &FleetSnapshot) -> bool {
        self.host
            .as_ref()
            .is_none_or(|part| p.host.to_lowercase().contains(part))
            && self.tag.as_ref().is_none_or(|t| p.tags.contains(t))
            && self
                .state
                .is_none_or(|s| snapshot.host(&p.host).is_some_and(|h| h.status == s))
    }

    /// The query string that gives this filter back (for links).
    pub fn query(&self) -> String {
        let mut parts = Vec::new();
        if let Some(h) = &self.host {
            parts.push(format!("host={}", url_encode(h)));
        }
        if let Some(t) = &self.tag {
            parts.push(format!("tag={}", url_encode(t)));
        }
        if let Some(s) = self.state {
            parts.push(format!("state={}", url_encode(s.name())));
        }
        parts.join("&")
    }
}

/// Percent-encodes everything but unreserved characters.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// RFC 3339 in UTC, seconds precision.
pub fn rfc3339(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms as i64)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// `2026-12-02 01:02:03 UTC`.
pub fn clock(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms as i64)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// `45s`, `3m 12s`, `2h 5m`, `4d 3h`.
pub fn age(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

/// Seconds from `then_ms` to `now_ms` (0 if the clock went back).
pub fn secs_between(then_ms: u64, now_ms: u64) -> u64 {
    now_ms.saturating_sub(then_ms) / 1000
}

/// A configuration version as the supervisor's log and `--check` write it.
pub fn version(v: u64) -> String {
    conf::ConfigVersion(v).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_an_operator_says_them() {
        assert_eq!(age(45), "45s");
        assert_eq!(age(192), "3m 12s");
        assert_eq!(age(7_500), "2h 5m");
        assert_eq!(age(4 * 86_400 + 3 * 3600 + 5), "4d 3h");
    }

    #[test]
    fn filter_query_checks_the_state_and_ignores_empty_fields() {
        let q = FilterQuery {
            host: Some("".into()),
            tag: Some("disk".into()),
            state: Some("never-seen".into()),
        };
        let f = q.check().unwrap();
        assert_eq!(f.host, None);
        assert_eq!(f.tag.as_deref(), Some("disk"));
        assert_eq!(f.state, Some(HostStatus::NeverSeen));
        assert_eq!(f.query(), "tag=disk&state=never%20seen");
        let bad = FilterQuery {
            state: Some("down".into()),
            ..FilterQuery::default()
        };
        assert!(bad.check().unwrap_err().contains("unknown state `down`"));
    }
}
