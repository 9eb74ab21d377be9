//! What a probe line names and asks of the answer, parsed: `HOST:PORT`,
//! an HTTP request (URL, method, headers, body) and its checks (`expect=`,
//! `contains=`, `regex=`, `json=PATH=VALUE`, `ca=`). Pure; the observer's
//! probes run them.

use std::fmt;
use std::path::PathBuf;

use regex::Regex;

/// `probe: http URL` and its keys.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub url: String,
    /// `method=`, upper-cased; `GET` by default.
    pub method: String,
    /// `header="NAME: VALUE"`, repeatable.
    pub headers: Vec<(String, String)>,
    /// `body=`: sent as the request body.
    pub body: Option<String>,
    /// `expect=`: the accepted statuses.
    pub expect: ExpectStatus,
    /// `contains=`: text the body must contain.
    pub contains: Option<String>,
    /// `regex=`: a pattern the body must match.
    pub body_regex: Option<Regex>,
    /// `json=PATH=VALUE`, repeatable.
    pub json: Vec<JsonCheck>,
    /// `ca=FILE`: trust only the certificates in this PEM file.
    pub ca_file: Option<PathBuf>,
}

impl HttpRequest {
    /// A GET of `url` accepting any 2xx or 3xx; `url` must be
    /// `http://HOST[:PORT][/PATH]` or `https://...`.
    pub fn new(url: &str) -> Result<HttpRequest, HttpRequestError> {
        let bad = || HttpRequestError::BadUrl(url.to_string());
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(bad)?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host_only, port) = match host.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((h, "")) => (h, None),
                Some((h, p)) => (h, Some(p.strip_prefix(':').ok_or_else(bad)?)),
                None => return Err(bad()),
            },
            None => match host.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host, None),
            },
        };
        let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p != 0));
        if host_only.is_empty()
            || !port_ok
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad());
        }
        Ok(HttpRequest {
            url: url.to_string(),
            method: "GET".to_string(),
            headers: Vec::new(),
            body: None,
            expect: ExpectStatus::Success,
            contains: None,
            body_regex: None,
            json: Vec::new(),
            ca_file: None,
        })
    }

    pub fn is_https(&self) -> bool {
        self.url.starts_with("https://")
    }

    /// `method=`: any HTTP token (RFC 9110), upper-cased.
    pub fn set_method(&mut self, method: &str) -> Result<(), HttpRequestError> {
        self.method = parse_method(method)?;
        Ok(())
    }

    /// `header=NAME: VALUE`.
    pub fn add_header(&mut self, text: &str) -> Result<(), HttpRequestError> {
        self.headers.push(parse_header(text)?);
        Ok(())
    }
}

/// An HTTP method as `method=` gives it: any token, upper-cased.
pub fn parse_method(method: &str) -> Result<String, HttpRequestError> {
    if !is_token(method) {
        return Err(HttpRequestError::BadMethod(method.to_string()));
    }
    Ok(method.to_ascii_uppercase())
}

/// `NAME: VALUE` of a request header: NAME a token, VALUE visible
/// characters, spaces and tabs; both trimmed.
pub fn parse_header(text: &str) -> Result<(String, String), HttpRequestError> {
    let (name, value) = text
        .split_once(':')
        .filter(|(n, v)| {
            is_token(n.trim())
                && v.trim()
                    .bytes()
                    .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
        })
        .ok_or_else(|| HttpRequestError::BadHeader(text.to_string()))?;
    Ok((name.trim().to_string(), value.trim().to_string()))
}

/// An HTTP token: the characters a method or header name may have.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpRequestError {
    #[error("bad URL {0:?}: expected http://HOST[:PORT]/PATH or https://...")]
    BadUrl(String),
    #[error("bad method {0:?}")]
    BadMethod(String),
    #[error("bad header {0:?}: expected \"NAME: VALUE\"")]
    BadHeader(String),
    #[error("bad expect= {0:?}: expected statuses like 200, 204 or 2xx, comma-separated")]
    BadExpect(String),
}

/// `HOST:PORT`, `[IPV6]:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostPortError {
    #[error("expected HOST:PORT (got {0:?})")]
    NoPort(String),
    #[error("bad port in {0:?}: expected 1 to 65535")]
    BadPort(String),
}

impl HostPort {
    pub fn parse(text: &str) -> Result<HostPort, HostPortError> {
        let (host, port) = text
            .rsplit_once(':')
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| HostPortError::NoPort(text.to_string()))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| HostPortError::BadPort(text.to_string()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || (host.contains(':') && !text.starts_with('[')) {
            return Err(HostPortError::NoPort(text.to_string()));
        }
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Which statuses count as an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectStatus {
    /// Any 2xx or 3xx (the default).
    Success,
    /// `expect=200`, `expect=200,204`, `expect=2xx,301`.
    Any(Vec<StatusPattern>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPattern {
    Exact(u16),
    /// `2xx`: the hundreds digit.
    Class(u16),
}

impl ExpectStatus {
    pub fn parse(text: &str) -> Result<ExpectStatus, HttpRequestError> {
        let bad = || HttpRequestError::BadExpect(text.to_string());
        let patterns = text
            .split(',')
            .map(|p| {
                let p = p.trim().to_ascii_lowercase();
                if let Some(class) = p.strip_suffix("xx") {
                    class
                        .parse::<u16>()
                        .ok()
                        .filter(|c| (1..=5).contains(c))
                        .map(StatusPattern::Class)
                } else {
                    p.parse::<u16>()
                        .ok()
                        .filter(|s| (100..=599).contains(s))
                        .map(StatusPattern::Exact)
                }
                .ok_or_else(bad)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ExpectStatus::Any(patterns))
    }

    pub fn accepts(&self, status: u16) -> bool {
        match self {
            ExpectStatus::Success => (200..400).contains(&status),
            ExpectStatus::Any(patterns) => patterns.iter().any(|p| match p {
                StatusPattern::Exact(s) => *s == status,
                StatusPattern::Class(c) => status / 100 == *c,
            }),
        }
    }
}

impl fmt::Display for ExpectStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectStatus::Success => f.write_str("2xx or 3xx"),
            ExpectStatus::Any(patterns) => {
                let texts: Vec<String> = patterns
                    .iter()
                    .map(|p| match p {
                        StatusPattern::Exact(s) => s.to_string(),
                        StatusPattern::Class(c) => format!("{c}xx"),
                    })
                    .collect();
                f.write_str(&texts.join(" or "))
            }
        }
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonStep {
    Key(String),
    Index(usize),
}

/// A path into a JSON answer: dotted keys and array indices (`status`,
/// `checks[0].state`, `data.items.2.name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    steps: Vec<JsonStep>,
}

/// `json=PATH=VALUE`: the value at PATH must equal VALUE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonCheck {
    pub path: JsonPath,
    pub expected: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPathError {
    #[error("json= needs PATH=VALUE (got {0:?})")]
    NoValue(String),
    #[error("empty step in JSON path {0:?}")]
    EmptyStep(String),
    #[error("bad array index in JSON path {0:?}: expected [NUMBER]")]
    BadIndex(String),
}

impl JsonCheck {
    /// The text after `json=`: `PATH=VALUE`, split at the first `=`.
    pub fn parse(text: &str) -> Result<JsonCheck, JsonPathError> {
        let (path, expected) = text
            .split_once('=')
            .ok_or_else(|| JsonPathError::NoValue(text.to_string()))?;
        Ok(JsonCheck {
            path: JsonPath::parse(path)?,
            expected: expected.to_string(),
        })
    }
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<JsonPath, JsonPathError> {
        let mut steps = Vec::new();
        for part in text.split('.') {
            let (key, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if key.is_empty() && rest.is_empty() {
                return Err(JsonPathError::EmptyStep(text.to_string()));
            }
            if !key.is_empty() {
                // A bare number between dots indexes an array (`items.2`);
                // on an object it is looked up as a key instead.
                steps.push(JsonStep::Key(key.to_string()));
            }
            while !rest.is_empty() {
                let close = rest
                    .find(']')
                    .filter(|_| rest.starts_with('['))
                    .ok_or_else(|| JsonPathError::BadIndex(text.to_string()))?;
                let index = rest[1..close]
                    .parse()
                    .map_err(|_| JsonPathError::BadIndex(text.to_string()))?;
                steps.push(JsonStep::Index(index));
                rest = &rest[close + 1..];
            }
        }
        Ok(JsonPath {
            text: text.to_string(),
            steps,
        })
    }

    pub fn steps(&self) -> &[JsonStep] {
        &self.steps
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_parse() {
        assert_eq!(
            HostPort::parse("db.lan:5432").unwrap(),
            HostPort {
                host: "db.lan".into(),
                port: 5432
            }
        );
        let v6 = HostPort::parse("[::1]:80").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.to_string(), "[::1]:80");
        for bad in ["db.lan", ":80", "db:0", "db:70000", "::1:80", "db:http"] {
            assert!(HostPort::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expected_statuses_parse_and_match() {
        assert!(ExpectStatus::Success.accepts(301));
        assert!(!ExpectStatus::Success.accepts(404));
        let listed = ExpectStatus::parse("200, 2xx ,503").unwrap();
        assert!(listed.accepts(204) && listed.accepts(503) && !listed.accepts(404));
        assert_eq!(listed.to_string(), "200 or 2xx or 503");
        for bad in ["", "20", "600", "6xx", "ok"] {
            assert!(ExpectStatus::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_methods_and_headers_are_checked() {
        for good in [
            "http://127.0.0.1:8080/health",
            "https://web.lan/",
            "https://[::1]:8443/x?y=1",
            "http://web",
        ] {
            assert!(HttpRequest::new(good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://x/",
            "http://",
            "http:///path",
            "web.lan/health",
            "http://web:0/",
            "http://web:99999/",
        ] {
            assert!(HttpRequest::new(bad).is_err(), "{bad}");
        }
        let mut r = HttpRequest::new("http://web/").unwrap();
        r.set_method("post").unwrap();
        assert_eq!(r.method, "POST");
        assert!(r.set_method("GE T").is_err());
        r.add_header("Authorization: Bearer x y").unwrap();
        assert_eq!(r.headers[0], ("Authorization".into(), "Bearer x y".into()));
        assert!(r.add_header("no colon").is_err());
        assert!(r.add_header("bad name: x").is_err());
    }

    #[test]
    fn json_paths_parse_or_say_why_not() {
        let check = JsonCheck::parse("a.b[2]=x=y").unwrap();
        assert_eq!(check.path.to_string(), "a.b[2]");
        assert_eq!(
            check.path.steps(),
            [
                JsonStep::Key("a".into()),
                JsonStep::Key("b".into()),
                JsonStep::Index(2)
            ]
        );
        assert_eq!(check.expected, "x=y");
        assert!(matches!(
            JsonPath::parse("a..b"),
            Err(JsonPathError::EmptyStep(_))
        ));
        assert!(matches!(
            JsonPath::parse("a[x]"),
            Err(JsonPathError::BadIndex(_))
        ));
        assert!(matches!(
            JsonCheck::parse("status"),
            Err(JsonPathError::NoValue(_))
        ));
    }
}
