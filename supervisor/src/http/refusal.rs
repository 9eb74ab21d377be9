//! Why an HTTP request or connection was refused, with stable reason names
//! that double as counter keys (`ax436_http_refusals_total{reason=…}`), as
//! `DecodeError::reason()` does for datagrams.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// A refused request or connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// No credentials where they are required (a browser's first visit).
    Unauthenticated,
    /// The `Authorization` header is not valid basic authentication.
    MalformedCredentials,
    /// Unknown user or wrong password.
    BadCredentials,
    /// A viewer tried an action.
    ForbiddenRole,
    /// An action from another site (Origin / Sec-Fetch-Site).
    CrossSite,
    NotFound,
    /// A query string or path that does not parse.
    BadQuery,
    MethodNotAllowed,
    /// hyper could not parse the request.
    MalformedRequest,
    /// Headers larger than the limit.
    TooLarge,
    /// Headers not complete within the read timeout.
    HeaderTimeout,
    /// The TLS handshake failed or timed out.
    TlsHandshake,
    /// Connection refused because the connection limit was reached.
    TooManyConnections,
}

impl Refusal {
    pub const ALL: [Refusal; 13] = [
        Refusal::Unauthenticated,
        Refusal::MalformedCredentials,
        Refusal::BadCredentials,
        Refusal::ForbiddenRole,
        Refusal::CrossSite,
        Refusal::NotFound,
        Refusal::BadQuery,
        Refusal::MethodNotAllowed,
        Refusal::MalformedRequest,
        Refusal::TooLarge,
        Refusal::HeaderTimeout,
        Refusal::TlsHandshake,
        Refusal::TooManyConnections,
    ];

    /// Stable name, used as the counter label.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::MalformedCredentials => "malformed-credentials",
            Refusal::BadCredentials => "bad-credentials",
            Refusal::ForbiddenRole => "forbidden-role",
            Refusal::CrossSite => "cross-site",
            Refusal::NotFound => "not-found",
            Refusal::BadQuery => "bad-query",
            Refusal::MethodNotAllowed => "method-not-allowed",
            Refusal::MalformedRequest => "malformed-request",
            Refusal::TooLarge => "too-large",
            Refusal::HeaderTimeout => "header-timeout",
            Refusal::TlsHandshake => "tls-handshake",
            Refusal::TooManyConnections => "too-many-connections",
        }
    }

    /// The refusal a connection error of hyper stands for, if any (a
    /// client closing early is not one).
    pub fn of_connection_error(e: &hyper::Error) -> Option<Refusal> {
        if e.is_parse_too_large() {
            Some(Refusal::TooLarge)
        } else if e.is_parse() {
            Some(Refusal::MalformedRequest)
        } else if e.is_timeout() {
            Some(Refusal::HeaderTimeout)
        } else {
            None
        }
    }
}

/// What the HTTP side counts: requests served and refusals by reason.
#[derive(Debug, Default)]
pub struct HttpCounters {
    inner: Mutex<HttpCounts>,
}

/// A copy of the HTTP counters, for rendering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpCounts {
    pub requests: u64,
    pub connections: u64,
    pub refusals: BTreeMap<&'static str, u64>,
}

impl HttpCounters {
    pub fn refused(&self, why: Refusal) {
        if let Ok(mut c) = self.inner.lock() {
            *c.refusals.entry(why.reason()).or_default() += 1;
        }
    }

    pub fn request(&self) {
        if let Ok(mut c) = self.inner.lock() {
            c.requests += 1;
        }
    }

    pub fn connection(&self) {
        if let Ok(mut c) = self.inner.lock() {
            c.connections += 1;
        }
    }

    pub fn get(&self) -> HttpCounts {
        self.inner.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_distinct_and_lowercase() {
        let mut names: Vec<&str> = Refusal::ALL.iter().map(|r| r.reason()).collect();
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
        );
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Refusal::ALL.len());
    }
}
