//! `probe: http URL` (and https): one request, then the assertions on its
//! answer in a fixed order — status (`expect=`, default any 2xx or 3xx),
//! `contains=`, `regex=`, every `json=PATH=VALUE` — the first that fails
//! being the probe's failure.
//!
//! Redirects are not followed (a 3xx is the answer; `expect=` decides), no
//! proxy from the environment is used (a probe checks the service, not a
//! proxy), and every request opens a fresh connection, so the response time
//! includes connecting and the TLS handshake, and each HTTPS run sees the
//! certificate. At most [`MAX_BODY`] bytes of the body are read.

use std::cell::RefCell;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use regex::Regex;
use ureq::http::{Method, Request, Uri};
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{Connector, NextTimeout, TcpConnector};

use super::ExpectStatus;
use super::json_path::{self, JsonCheck};
use super::tls::{self, TlsConnector};
use super::{DEFAULT_TIMEOUT, NameResolver, ProbeFailure, ProbeOutcome, ResolveError};

/// Bytes of the body read for the assertions; the rest is not waited for.
pub const MAX_BODY: u64 = 1 << 20;

/// Bytes of ureq's input and output buffers, and of a response header at most.
const BUFFER_SIZE: usize = 16 * 1024;

/// `probe: http URL key=value...`
#[derive(Debug, Clone)]
pub struct HttpProbe {
    pub url: String,
    pub timeout: Duration,
    /// `method=`, GET by default.
    pub method: Method,
    /// `header=NAME: VALUE`, repeatable.
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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpProbeError {
    #[error("bad URL {0:?}: expected http://HOST[:PORT]/PATH or https://...")]
    BadUrl(String),
    #[error("bad method {0:?}")]
    BadMethod(String),
    #[error("bad header {0:?}: expected NAME: VALUE")]
    BadHeader(String),
}

impl HttpProbe {
    /// A GET of `url` accepting any 2xx or 3xx, with the default timeout.
    pub fn new(url: &str) -> Result<HttpProbe, HttpProbeError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| HttpProbeError::BadUrl(url.to_string()))?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        if !scheme_ok || uri.host().is_none_or(str::is_empty) {
            return Err(HttpProbeError::BadUrl(url.to_string()));
        }
        Ok(HttpProbe {
            url: url.to_string(),
            timeout: DEFAULT_TIMEOUT,
            method: Method::GET,
            headers: Vec::new(),
            body: None,
            expect: ExpectStatus::Success,
            contains: None,
            body_regex: None,
            json: Vec::new(),
            ca_file: None,
        })
    }

    /// The probe a host file's `probe: http` line asks for (checked by
    /// `conf`; the URL is checked again by the HTTP library here).
    pub fn from_request(
        request: &conf::HttpRequest,
        timeout: Duration,
    ) -> Result<HttpProbe, HttpProbeError> {
        let mut probe = HttpProbe::new(&request.url)?;
        probe.timeout = timeout;
        probe.set_method(&request.method)?;
        for (name, value) in &request.headers {
            probe.add_header(&format!("{name}: {value}"))?;
        }
        probe.body = request.body.clone();
        probe.expect = request.expect.clone();
        probe.contains = request.contains.clone();
        probe.body_regex = request.body_regex.clone();
        probe.json = request.json.clone();
        probe.ca_file = request.ca_file.clone();
        Ok(probe)
    }

    /// `method=`: any HTTP token, upper-cased ([`conf::parse_method`]).
    pub fn set_method(&mut self, method: &str) -> Result<(), HttpProbeError> {
        let bad = || HttpProbeError::BadMethod(method.to_string());
        let method = conf::parse_method(method).map_err(|_| bad())?;
        self.method = Method::from_bytes(method.as_bytes()).map_err(|_| bad())?;
        Ok(())
    }

    /// `header=NAME: VALUE` ([`conf::parse_header`]).
    pub fn add_header(&mut self, text: &str) -> Result<(), HttpProbeError> {
        let header =
            conf::parse_header(text).map_err(|_| HttpProbeError::BadHeader(text.to_string()))?;
        self.headers.push(header);
        Ok(())
    }
}

/// A ureq agent with our resolver and TLS; cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
}

impl HttpClient {
    /// Trusting the system's roots (or the bundled list), loaded when the
    /// first HTTPS request needs them. Inside a runtime.
    pub fn with_system_roots(resolver: &NameResolver) -> Result<HttpClient, String> {
        let make = Box::new(|| {
            let (store, _source) = tls::system_roots();
            tls::client_config(store).map_err(|e| format!("TLS set-up: {e}"))
        });
        HttpClient::build(resolver, TlsConnector::new(make))
    }

    /// Trusting only the certificates of a PEM file, read now. Inside a runtime.
    pub fn with_ca_file(resolver: &NameResolver, path: &Path) -> Result<HttpClient, String> {
        let (store, _certificates) = tls::roots_from_file(path).map_err(|e| e.to_string())?;
        let config = tls::client_config(store).map_err(|e| format!("TLS set-up: {e}"))?;
        HttpClient::build(resolver, TlsConnector::ready(config))
    }

    fn build(resolver: &NameResolver, tls: TlsConnector) -> Result<HttpClient, String> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| "HTTP probes need the tokio runtime".to_string())?;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .proxy(None)
            .user_agent(concat!("436-observer/", env!("CARGO_PKG_VERSION")))
            // ureq's defaults (128 KiB each way, 64 KiB of header) are sized
            // for throughput; a probe reads one small answer.
            .input_buffer_size(BUFFER_SIZE)
            .output_buffer_size(BUFFER_SIZE)
            .max_response_header_size(BUFFER_SIZE)
            .build();
        let connector = ().chain(TcpConnector::default()).chain(tls);
        let resolver = UreqResolver {
            resolver: resolver.clone(),
            handle,
        };
        Ok(HttpClient {
            agent: ureq::Agent::with_parts(config, connector, resolver),
        })
    }

    /// Runs the probe on this (blocking) thread.
    pub fn run(&self, probe: &HttpProbe) -> ProbeOutcome {
        tls::clear_note();
        RESOLVE_NOTE.with(|n| n.borrow_mut().take());
        let start = Instant::now();
        let answer = self.request(probe);
        let elapsed_ms = start.elapsed().as_secs_f64() * 1000.0;
        let note = tls::take_note();
        let cert_days_left = note.not_after.map(days_left);
        let (status, body) = match answer {
            Ok(answer) => answer,
            Err(e) => {
                let failure = request_failure(probe, e, note.error);
                let mut outcome = ProbeOutcome::failed(failure);
                outcome.cert_days_left = cert_days_left;
                return outcome;
            }
        };
        ProbeOutcome {
            failure: check_answer(probe, status, &body),
            response_ms: Some(elapsed_ms),
            address: None,
            status: Some(status),
            cert_days_left,
        }
    }

    fn request(&self, probe: &HttpProbe) -> Result<(u16, Vec<u8>), ureq::Error> {
        let mut builder = Request::builder()
            .method(probe.method.clone())
            .uri(probe.url.as_str());
        for (name, value) in &probe.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let mut response = match &probe.body {
            Some(body) => {
                let request = self
                    .agent
                    .configure_request(builder.body(body.clone().into_bytes())?)
                    .timeout_global(Some(probe.timeout))
                    .build();
                self.agent.run(request)?
            }
            None => {
                let request = self
                    .agent
                    .configure_request(builder.body(())?)
                    .timeout_global(Some(probe.timeout))
                    .build();
                self.agent.run(request)?
            }
        };
        let status = response.status().as_u16();
        let mut body = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_BODY)
            .read_to_end(&mut body)?;
        Ok((status, body))
    }
}

/// The assertions on an answer, in order; the first that fails.
pub fn check_answer(probe: &HttpProbe, status: u16, body: &[u8]) -> Option<ProbeFailure> {
    if !probe.expect.accepts(status) {
        return Some(ProbeFailure::Status {
            got: status,
            expected: probe.expect.to_string(),
        });
    }
    let text = String::from_utf8_lossy(body);
    if let Some(wanted) = &probe.contains
        && !text.contains(wanted.as_str())
    {
        return Some(ProbeFailure::BodyLacks {
            text: wanted.clone(),
        });
    }
    if let Some(regex) = &probe.body_regex
        && !regex.is_match(&text)
    {
        return Some(ProbeFailure::BodyNoMatch {
            regex: regex.as_str().to_string(),
        });
    }
    if probe.json.is_empty() {
        return None;
    }
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Some(ProbeFailure::NotJson {
                reason: e.to_string(),
            });
        }
    };
    for check in &probe.json {
        match json_path::find(&check.path, &value) {
            None => {
                return Some(ProbeFailure::JsonMissing {
                    path: check.path.to_string(),
                });
            }
            Some(found) if !json_path::matches(found, &check.expected) => {
                return Some(ProbeFailure::JsonMismatch {
                    path: check.path.to_string(),
                    found: found.to_string(),
                    expected: check.expected.clone(),
                });
            }
            Some(_) => {}
        }
    }
    None
}

/// Whole days from now until `not_after` (Unix seconds), rounded down.
fn days_left(not_after: i64) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    (not_after - now).div_euclid(86_400)
}

fn request_failure(
    probe: &HttpProbe,
    error: ureq::Error,
    tls_error: Option<rustls::Error>,
) -> ProbeFailure {
    let target = probe
        .url
        .parse::<Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| probe.url.clone());
    if let Some(e) = tls_error {
        return ProbeFailure::Tls {
            target,
            reason: describe_tls(&e),
        };
    }
    match error {
        ureq::Error::HostNotFound => {
            let resolve = RESOLVE_NOTE.with(|n| n.borrow_mut().take());
            ProbeFailure::Resolve(resolve.unwrap_or(ResolveError::Failed {
                name: target,
                reason: "no address".into(),
            }))
        }
        ureq::Error::Timeout(_) => ProbeFailure::Timeout {
            target,
            after: probe.timeout,
        },
        ureq::Error::Io(e) => match e.kind() {
            std::io::ErrorKind::ConnectionRefused => ProbeFailure::Refused { target },
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                ProbeFailure::Timeout {
                    target,
                    after: probe.timeout,
                }
            }
            _ => ProbeFailure::Connect {
                target,
                reason: e.to_string(),
            },
        },
        ureq::Error::Tls(reason) => ProbeFailure::Tls {
            target,
            reason: reason.to_string(),
        },
        other => ProbeFailure::Http {
            url: probe.url.clone(),
            reason: other.to_string(),
        },
    }
}

fn describe_tls(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "certificate not trusted: unknown issuer (a private CA or a self-signed certificate? trust it with ca=FILE)".into()
        }
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "certificate expired".into()
        }
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "certificate not valid for this host name".into()
        }
        other => other.to_string(),
    }
}

thread_local! {
    /// Why the last name on this thread did not resolve: ureq only carries
    /// `HostNotFound` back.
    static RESOLVE_NOTE: RefCell<Option<ResolveError>> = const { RefCell::new(None) };
}

/// ureq's resolver hook over [`NameResolver`]: ureq runs on a blocking
/// thread, the resolver on the runtime; `block_on` of the runtime's handle
/// bridges them (allowed on a blocking thread, never on a runtime thread).
#[derive(Debug)]
struct UreqResolver {
    resolver: NameResolver,
    handle: tokio::runtime::Handle,
}

impl Resolver for UreqResolver {
    fn resolve(
        &self,
        uri: &Uri,
        _config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let bad = || ureq::Error::BadUri(uri.to_string());
        let authority = uri.authority().ok_or_else(bad)?;
        let port = match (authority.port_u16(), uri.scheme_str()) {
            (Some(p), _) => p,
            (None, Some("https")) => 443,
            (None, Some("http")) => 80,
            _ => return Err(bad()),
        };
        let after = if timeout.after.is_not_happening() {
            DEFAULT_TIMEOUT
        } else {
            *timeout.after
        };
        let host = authority.host();
        match self.handle.block_on(self.resolver.resolve(host, after)) {
            Ok(ips) => {
                let mut addresses = self.empty();
                // ureq keeps at most 16 addresses.
                for ip in ips.into_iter().take(16) {
                    addresses.push(SocketAddr::new(ip, port));
                }
                Ok(addresses)
            }
            Err(e) => {
                RESOLVE_NOTE.with(|n| *n.borrow_mut() = Some(e));
                Err(ureq::Error::HostNotFound)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> HttpProbe {
        HttpProbe::new("http://127.0.0.1:8080/health").unwrap()
    }

    #[test]
    fn urls_methods_and_headers_are_checked() {
        assert!(HttpProbe::new("ftp://x/").is_err());
        assert!(HttpProbe::new("http:///x").is_err());
        assert!(HttpProbe::new("https://[::1]:8443/").is_ok());
        let mut p = probe();
        p.set_method("post").unwrap();
        assert_eq!(p.method, Method::POST);
        assert!(p.set_method("BAD METHOD").is_err());
        p.add_header("X-Token: abc").unwrap();
        assert_eq!(p.headers, vec![("X-Token".into(), "abc".into())]);
        assert!(p.add_header("no colon").is_err());
        assert!(p.add_header("Bad Name: x").is_err());
    }

    #[test]
    fn assertions_apply_in_order() {
        let mut p = probe();
        p.contains = Some("ok".into());
        p.json = vec![JsonCheck::parse("db.state=up").unwrap()];
        assert_eq!(
            check_answer(&p, 503, b"ok").map(|f| f.reason()),
            Some("status")
        );
        assert_eq!(
            check_answer(&p, 200, b"fine").map(|f| f.reason()),
            Some("body_lacks")
        );
        assert_eq!(
            check_answer(&p, 200, b"ok, not json").map(|f| f.reason()),
            Some("not_json")
        );
        assert_eq!(
            check_answer(&p, 200, br#"{"ok":1,"db":{}}"#).map(|f| f.reason()),
            Some("json_missing")
        );
        let mismatch = check_answer(&p, 200, br#"{"ok":1,"db":{"state":"down"}}"#).unwrap();
        assert_eq!(mismatch.to_string(), "db.state is \"down\", expected up");
        assert_eq!(
            check_answer(&p, 200, br#"{"ok":1,"db":{"state":"up"}}"#),
            None
        );
        p.body_regex = Some(Regex::new("^x").unwrap());
        assert_eq!(
            check_answer(&p, 200, br#"{"ok":1}"#).map(|f| f.reason()),
            Some("body_no_match")
        );
    }

    #[test]
    fn days_left_round_down() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert_eq!(days_left(now + 86_400 * 30 + 100), 30);
        assert_eq!(days_left(now - 10), -1);
    }
}
