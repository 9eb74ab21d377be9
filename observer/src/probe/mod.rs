//! Service probes (`probe: tcp HOST:PORT`, `probe: http URL`,
//! `probe: ping HOST`): what a probe asks ([`ProbeSpec`]), running it
//! ([`Prober::run`]) and what came back ([`ProbeOutcome`]) — plain data the
//! probe check turns into problems and metrics.
//!
//! Names are resolved by [`resolve::NameResolver`] (no glibc NSS); HTTPS
//! uses rustls with ring and the system's CA roots ([`tls`]). A probe never
//! panics or returns an error: every failure is a [`ProbeFailure`] an
//! operator can read, with a stable [`ProbeFailure::reason`] key.

pub mod http;
pub mod json_path;
pub mod ping;
pub mod resolve;
pub mod tcp;
pub mod tls;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

pub use conf::{ExpectStatus, HostPort, HostPortError, StatusPattern};
pub use http::{HttpProbe, HttpProbeError};
pub use resolve::{NameResolver, ResolveError, ResolverFiles};

/// Time allowed when a probe line gives no `timeout=`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One probe as a host file asks for it.
#[derive(Debug, Clone)]
pub enum ProbeSpec {
    Tcp(TcpProbe),
    Http(Box<HttpProbe>),
    Ping(PingProbe),
}

impl ProbeSpec {
    /// The probe a host file's `probe:` line asks for.
    pub fn from_probe(probe: &conf::Probe) -> Result<ProbeSpec, http::HttpProbeError> {
        Ok(match &probe.kind {
            conf::ProbeKind::Tcp(target) => ProbeSpec::Tcp(TcpProbe {
                target: target.clone(),
                timeout: probe.timeout,
            }),
            conf::ProbeKind::Http(request) => {
                ProbeSpec::Http(Box::new(HttpProbe::from_request(request, probe.timeout)?))
            }
            conf::ProbeKind::Ping(host) => ProbeSpec::Ping(PingProbe {
                host: host.clone(),
                timeout: probe.timeout,
            }),
        })
    }

    pub fn timeout(&self) -> Duration {
        match self {
            ProbeSpec::Tcp(p) => p.timeout,
            ProbeSpec::Http(p) => p.timeout,
            ProbeSpec::Ping(p) => p.timeout,
        }
    }
}

impl fmt::Display for ProbeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeSpec::Tcp(p) => write!(f, "tcp {}", p.target),
            ProbeSpec::Http(p) => write!(f, "http {}", p.url),
            ProbeSpec::Ping(p) => write!(f, "ping {}", p.host),
        }
    }
}

/// `probe: tcp HOST:PORT`: a connection is accepted within the timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpProbe {
    pub target: HostPort,
    pub timeout: Duration,
}

/// `probe: ping HOST`: an ICMP echo is answered within the timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingProbe {
    pub host: String,
    pub timeout: Duration,
}

/// What one run of a probe found.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome {
    /// `None` when every assertion held.
    pub failure: Option<ProbeFailure>,
    /// Milliseconds until the answer was complete (connection accepted, echo
    /// returned, HTTP body read). Present whenever the service answered,
    /// even when an assertion on the answer failed.
    pub response_ms: Option<f64>,
    /// The address that answered.
    pub address: Option<SocketAddr>,
    /// HTTP status, when one was received.
    pub status: Option<u16>,
    /// Whole days until the server certificate expires (negative once
    /// expired), for HTTPS — also when the certificate was refused.
    pub cert_days_left: Option<i64>,
}

impl ProbeOutcome {
    pub fn is_ok(&self) -> bool {
        self.failure.is_none()
    }

    pub(crate) fn failed(failure: ProbeFailure) -> ProbeOutcome {
        ProbeOutcome {
            failure: Some(failure),
            response_ms: None,
            address: None,
            status: None,
            cert_days_left: None,
        }
    }
}

/// Why a probe failed, as a sentence for the operator.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProbeFailure {
    #[error("{0}")]
    Resolve(ResolveError),
    #[error("no answer from {target} within {:.1} s", after.as_secs_f64())]
    Timeout { target: String, after: Duration },
    #[error("connection to {target} refused (nothing listening)")]
    Refused { target: String },
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("TLS with {target} failed: {reason}")]
    Tls { target: String, reason: String },
    #[error("HTTP request to {url} failed: {reason}")]
    Http { url: String, reason: String },
    #[error("status {got}, expected {expected}")]
    Status { got: u16, expected: String },
    #[error("the answer does not contain {text:?}")]
    BodyLacks { text: String },
    #[error("the answer does not match /{regex}/")]
    BodyNoMatch { regex: String },
    #[error("the answer is not JSON: {reason}")]
    NotJson { reason: String },
    #[error("no value at {path} in the JSON answer")]
    JsonMissing { path: String },
    #[error("{path} is {found}, expected {expected}")]
    JsonMismatch {
        path: String,
        found: String,
        expected: String,
    },
    #[error(
        "the kernel does not allow unprivileged ICMP (ping) sockets for this observer's group (gid {gid}); allow it with: sysctl -w net.ipv4.ping_group_range=\"{gid} {gid}\" (or any range holding {gid}; persist it in /etc/sysctl.d/)"
    )]
    PingNotPermitted { gid: u32 },
    #[error("cannot ping {target}: {reason}")]
    Ping { target: String, reason: String },
    #[error("bad probe: {0}")]
    Setup(String),
}

impl ProbeFailure {
    /// A stable name for counting and filtering failures.
    pub fn reason(&self) -> &'static str {
        match self {
            ProbeFailure::Resolve(_) => "resolve",
            ProbeFailure::Timeout { .. } => "timeout",
            ProbeFailure::Refused { .. } => "refused",
            ProbeFailure::Connect { .. } => "connect",
            ProbeFailure::Tls { .. } => "tls",
            ProbeFailure::Http { .. } => "http",
            ProbeFailure::Status { .. } => "status",
            ProbeFailure::BodyLacks { .. } => "body_lacks",
            ProbeFailure::BodyNoMatch { .. } => "body_no_match",
            ProbeFailure::NotJson { .. } => "not_json",
            ProbeFailure::JsonMissing { .. } => "json_missing",
            ProbeFailure::JsonMismatch { .. } => "json_mismatch",
            ProbeFailure::PingNotPermitted { .. } => "ping_not_permitted",
            ProbeFailure::Ping { .. } => "ping",
            ProbeFailure::Setup(_) => "setup",
        }
    }
}

/// HTTP clients by CA file, with the file's modification time when read.
type CaClients = HashMap<PathBuf, (Option<SystemTime>, http::HttpClient)>;

/// Runs probes; holds what they share (the resolver, the trusted roots).
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Prober {
    resolver: NameResolver,
    default_http: Arc<OnceLock<Result<http::HttpClient, String>>>,
    /// Clients of `ca=FILE` probes by file, with the file's modification
    /// time: the file is read again only when it changes.
    ca_clients: Arc<Mutex<CaClients>>,
    /// Permits for [`HTTP_THREADS`].
    http_threads: Arc<tokio::sync::Semaphore>,
}

/// HTTP probes running at once, each on a blocking thread (ureq blocks).
/// More wait their turn: when a configuration arrives every probe is due
/// together, and a thread per probe costs the observer a stack and a malloc
/// arena each. A probe's time-out and response time start when it runs.
pub const HTTP_THREADS: usize = 2;

impl Prober {
    pub fn new(files: ResolverFiles) -> Prober {
        Prober {
            resolver: NameResolver::new(files),
            default_http: Arc::new(OnceLock::new()),
            ca_clients: Arc::default(),
            http_threads: Arc::new(tokio::sync::Semaphore::new(HTTP_THREADS)),
        }
    }

    pub fn resolver(&self) -> &NameResolver {
        &self.resolver
    }

    /// Runs one probe to its end or its timeout. Must run inside a tokio
    /// runtime; HTTP runs on a blocking thread.
    pub async fn run(&self, spec: &ProbeSpec) -> ProbeOutcome {
        match spec {
            ProbeSpec::Tcp(p) => tcp::run(&self.resolver, p).await,
            ProbeSpec::Ping(p) => ping::run(&self.resolver, p).await,
            ProbeSpec::Http(p) => {
                let client = match &p.ca_file {
                    Some(path) => self.ca_file_client(path),
                    None => self.default_http_client(),
                };
                match client {
                    Ok(client) => {
                        let probe = (**p).clone();
                        // Never closed: waits for a thread, never fails.
                        let _permit = self.http_threads.clone().acquire_owned().await.ok();
                        let handle = tokio::task::spawn_blocking(move || client.run(&probe));
                        match handle.await {
                            Ok(outcome) => outcome,
                            Err(e) => ProbeOutcome::failed(ProbeFailure::Http {
                                url: p.url.clone(),
                                reason: format!("the probe's thread ended: {e}"),
                            }),
                        }
                    }
                    Err(reason) => ProbeOutcome::failed(ProbeFailure::Setup(reason)),
                }
            }
        }
    }

    fn ca_file_client(&self, path: &Path) -> Result<http::HttpClient, String> {
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut clients = self
            .ca_clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((stamp, client)) = clients.get(path)
            && *stamp == modified
        {
            return Ok(client.clone());
        }
        let client = http::HttpClient::with_ca_file(&self.resolver, path)?;
        clients.insert(path.to_path_buf(), (modified, client.clone()));
        Ok(client)
    }

    /// The client for probes without `ca=`, built on first use (reading the
    /// system bundle once).
    fn default_http_client(&self) -> Result<http::HttpClient, String> {
        self.default_http
            .get_or_init(|| http::HttpClient::with_system_roots(&self.resolver))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_read_as_sentences() {
        let f = ProbeFailure::PingNotPermitted { gid: 0 };
        assert!(f.to_string().contains("net.ipv4.ping_group_range=\"0 0\""));
        assert_eq!(f.reason(), "ping_not_permitted");
        let f = ProbeFailure::Timeout {
            target: "db:5432".into(),
            after: Duration::from_secs(2),
        };
        assert_eq!(f.to_string(), "no answer from db:5432 within 2.0 s");
    }
}
