//! A peer's answers read into bounded lists. Only the fields the merge
//! needs are kept; an entry that cannot be read is counted and skipped
//! rather than failing the whole answer (a newer peer may add fields, an
//! older one lack some).

use serde::Deserialize;

use super::{MAX_PEER_HOSTS, MAX_PEER_PROBLEMS};
use crate::fleet::{Acknowledgement, HostStatus};

/// One host of a peer's `/api/v1/hosts`.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerHost {
    pub name: String,
    pub status: HostStatus,
    pub since_ms: u64,
    pub last_heard_ms: Option<u64>,
    pub tags: Vec<String>,
}

/// One open problem of a peer's `/api/v1/problems`.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerProblem {
    pub id: String,
    pub host: String,
    pub check: String,
    pub tags: Vec<String>,
    pub message: String,
    pub opened_ms: u64,
    pub last_value: Option<f64>,
    pub acknowledged: Option<Acknowledgement>,
}

/// A peer's view: its hosts and open problems, and how many entries were
/// skipped (malformed or over the caps).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerAnswer {
    pub hosts: Vec<PeerHost>,
    pub problems: Vec<PeerProblem>,
    pub malformed: u64,
}

#[derive(Deserialize)]
struct HostsDoc {
    hosts: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct ProblemsDoc {
    problems: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct HostEntry {
    name: String,
    state: String,
    since: String,
    #[serde(default)]
    last_heard: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
struct AckEntry {
    by: String,
    at: String,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
struct ProblemEntry {
    id: String,
    host: String,
    check: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    message: String,
    since: String,
    #[serde(default)]
    last_value: Option<f64>,
    #[serde(default)]
    acknowledged: Option<AckEntry>,
}

/// Unix milliseconds of an RFC 3339 time; `None` for anything else.
pub fn parse_time(text: &str) -> Option<u64> {
    let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    u64::try_from(t.timestamp_millis()).ok()
}

impl PeerAnswer {
    /// Reads the bodies of `/api/v1/hosts` and `/api/v1/problems`; `Err`
    /// when either is not such a document at all.
    pub fn read(hosts_body: &[u8], problems_body: &[u8]) -> Result<PeerAnswer, String> {
        let hosts_doc: HostsDoc = serde_json::from_slice(hosts_body)
            .map_err(|e| format!("/api/v1/hosts is not the API's document: {e}"))?;
        let problems_doc: ProblemsDoc = serde_json::from_slice(problems_body)
            .map_err(|e| format!("/api/v1/problems is not the API's document: {e}"))?;
        let mut answer = PeerAnswer::default();
        for value in hosts_doc.hosts {
            if answer.hosts.len() >= MAX_PEER_HOSTS {
                answer.malformed += 1;
                continue;
            }
            match host_of(value) {
                Some(h) => answer.hosts.push(h),
                None => answer.malformed += 1,
            }
        }
        for value in problems_doc.problems {
            if answer.problems.len() >= MAX_PEER_PROBLEMS {
                answer.malformed += 1;
                continue;
            }
            match problem_of(value) {
                Some(p) => answer.problems.push(p),
                None => answer.malformed += 1,
            }
        }
        Ok(answer)
    }
}

fn host_of(value: serde_json::Value) -> Option<PeerHost> {
    let e: HostEntry = serde_json::from_value(value).ok()?;
    Some(PeerHost {
        status: HostStatus::from_name(&e.state)?,
        since_ms: parse_time(&e.since)?,
        last_heard_ms: match e.last_heard {
            Some(t) => Some(parse_time(&t)?),
            None => None,
        },
        name: e.name,
        tags: e.tags,
    })
}

fn problem_of(value: serde_json::Value) -> Option<PeerProblem> {
    let e: ProblemEntry = serde_json::from_value(value).ok()?;
    let acknowledged = match e.acknowledged {
        Some(a) => Some(Acknowledgement {
            by: a.by,
            at_ms: parse_time(&a.at)?,
            note: a.note,
        }),
        None => None,
    };
    Some(PeerProblem {
        opened_ms: parse_time(&e.since)?,
        id: e.id,
        host: e.host,
        check: e.check,
        tags: e.tags,
        message: e.message,
        last_value: e.last_value,
        acknowledged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_that_cannot_be_read_are_counted_and_skipped() {
        let hosts = br#"{"hosts":[
            {"name":"web1","state":"up","since":"2026-12-02T10:00:00Z","last_heard":"2026-12-02T10:05:00Z","tags":["web"]},
            {"name":"db1","state":"sleeping","since":"2026-12-02T10:00:00Z"},
            {"name":42}
        ]}"#;
        let problems = br#"{"problems":[
            {"id":"web1/disk","host":"web1","check":"disk","since":"2026-12-02T10:01:00Z","message":"full",
             "acknowledged":{"by":"ann","at":"2026-12-02T10:02:00Z","note":"on it"}},
            {"id":"x","host":"x","check":"c","since":"yesterday"}
        ]}"#;
        let a = PeerAnswer::read(hosts, problems).unwrap();
        assert_eq!(a.hosts.len(), 1);
        assert_eq!(a.hosts[0].status, HostStatus::Up);
        assert_eq!(
            a.hosts[0].since_ms,
            parse_time("2026-12-02T10:00:00Z").unwrap()
        );
        assert_eq!(a.problems.len(), 1);
        assert_eq!(a.problems[0].acknowledged.as_ref().unwrap().by, "ann");
        assert_eq!(a.malformed, 3);
    }

    #[test]
    fn an_answer_that_is_not_the_api_is_an_error_not_a_panic() {
        assert!(PeerAnswer::read(b"<html>", b"{}").is_err());
        assert!(PeerAnswer::read(b"{\"hosts\":[]}", b"null").is_err());
        assert!(PeerAnswer::read(&[0xff, 0x00], &[]).is_err());
    }
}
