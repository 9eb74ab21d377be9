//! The supervisor's window: status pages, the JSON API and `/metrics` over
//! HTTP(S), on the supervisor's own tokio runtime.
//!
//! * [`pages`], [`api`], [`metrics`] — pure rendering of a
//!   [`FleetSnapshot`](crate::fleet::FleetSnapshot); [`history_view`] —
//!   the event search, charts and availability from the history database.
//! * [`routes`] — the axum router: authentication, cross-site protection,
//!   acknowledgements from the API and the pages' form (`routes::ack`),
//!   refusal counting.
//! * [`users`] — the `http_users:` file and password hashes.
//! * [`refusal`] — stable reasons for refused requests.
//! * [`peer_view`] — the peers on the pages and in the API.
//! * this module — the listener: accept loop, optional TLS, connection
//!   limit, and a shutdown with a deadline.
//!
//! Decisions:
//! * The accept loop is ours (hyper's HTTP/1 connection builder under the
//!   axum router), not `axum::serve`, so that a connection that fails to
//!   parse is counted by reason, a client that never finishes its headers
//!   is dropped after [`HEADER_READ_TIMEOUT`], and shutdown gives open
//!   connections [`SHUTDOWN_DEADLINE`] and then drops them (a half-sent
//!   request would otherwise hold graceful shutdown for as long as the
//!   client likes).
//! * Pages are rendered on the blocking pool, so a fleet page of 10,000
//!   hosts never runs on the thread that acknowledges events.
//! * A busy port at start does not stop the supervisor: events matter more
//!   than the window. It is logged and retried every [`BIND_RETRY`].

pub mod api;
pub mod history_view;
pub mod metrics;
pub mod pages;
pub mod peer_view;
pub mod refusal;
pub mod routes;
pub mod users;
pub mod view;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use conf::{ConfErrors, SupervisorConfig, TlsFiles};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::fleet::{AckRequest, SnapshotReader};
use crate::peers::PeerBoard;
use crate::peers::poll::{PeerAuth, PeerPoller};
use refusal::{HttpCounters, Refusal};
use users::Users;

/// A client must send its request headers within this time.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A TLS handshake must finish within this time.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// After shutdown begins, open connections get this long to finish.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(3);
/// Most connections served at once; more are closed at accept.
pub const MAX_CONNECTIONS: usize = 512;
/// Largest request head (request line and headers).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How often a busy HTTP port is tried again.
pub const BIND_RETRY: Duration = Duration::from_secs(30);

/// Why the HTTP side cannot start (the supervisor does not start either:
/// these are configuration errors the operator must fix).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Users(ConfErrors),
    #[error("cannot read the TLS certificate {path}: {message}")]
    Certificate { path: String, message: String },
    #[error("cannot read the TLS key {path}: {message}")]
    Key { path: String, message: String },
    #[error("the TLS certificate and key do not fit together: {0}")]
    Tls(String),
    #[error("cannot read peer_password_file {path}: {message}")]
    PeerPassword { path: String, message: String },
}

/// `peers:` and the credentials sent to them.
#[derive(Debug, Clone)]
pub struct PeerSettings {
    pub urls: Vec<String>,
    pub auth: Option<PeerAuth>,
}

impl PeerSettings {
    /// Reads `peer_password_file:` (its first line: a trailing newline is
    /// not part of the password); `None` without `peers:`.
    pub fn from_config(config: &SupervisorConfig) -> Result<Option<PeerSettings>, HttpError> {
        if config.peers.is_empty() {
            return Ok(None);
        }
        let auth = match &config.peer_credentials {
            None => None,
            Some(c) => {
                let refuse = |message: String| HttpError::PeerPassword {
                    path: c.password_file.display().to_string(),
                    message,
                };
                let meta =
                    std::fs::metadata(&c.password_file).map_err(|e| refuse(e.to_string()))?;
                // A password file is a few bytes; anything large is the wrong file.
                if meta.len() > 4096 {
                    return Err(refuse("larger than 4096 bytes".into()));
                }
                let text =
                    std::fs::read_to_string(&c.password_file).map_err(|e| refuse(e.to_string()))?;
                let password = text.lines().next().unwrap_or("");
                if password.is_empty() {
                    return Err(refuse("the file is empty".into()));
                }
                Some(PeerAuth::basic(&c.user, password))
            }
        };
        Ok(Some(PeerSettings {
            urls: config.peers.clone(),
            auth,
        }))
    }
}

/// What the listener needs, read and checked at start.
pub struct HttpSettings {
    pub addr: SocketAddr,
    /// `None`: no users file (loopback only); everyone may read and act.
    pub users: Option<Users>,
    pub tls: Option<TlsAcceptor>,
    /// The history database, when the supervisor keeps one.
    pub history: Option<Arc<crate::history::HistoryReader>>,
    /// `peers:`, whose views the window merges.
    pub peers: Option<PeerSettings>,
}

impl HttpSettings {
    /// Reads the users file and TLS files named in `config`; `None` for
    /// `http: off`.
    pub fn from_config(config: &SupervisorConfig) -> Result<Option<HttpSettings>, HttpError> {
        let Some(addr) = config.http else {
            return Ok(None);
        };
        let users = match &config.http_users {
            Some(path) => Some(Users::load(path).map_err(HttpError::Users)?),
            None => None,
        };
        let tls = match &config.http_tls {
            Some(files) => Some(tls_acceptor(files)?),
            None => None,
        };
        let peers = PeerSettings::from_config(config)?;
        Ok(Some(HttpSettings {
            addr,
            users,
            tls,
            history: None,
            peers,
        }))
    }
}

/// A TLS acceptor for the PEM certificate chain and key, with the ring
/// provider (no aws-lc, no OpenSSL).
pub fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, HttpError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let shown = |p: &Path| p.display().to_string();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| HttpError::Certificate {
            path: shown(&files.cert),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(HttpError::Certificate {
            path: shown(&files.cert),
            message: "no certificate in the file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| HttpError::Key {
        path: shown(&files.key),
        message: e.to_string(),
    })?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| HttpError::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| HttpError::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The running listener; [`HttpServer::stop`] ends it.
pub struct HttpServer {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    counters: Arc<HttpCounters>,
    state: Arc<routes::AppState>,
    peers: Option<PeerPoller>,
}

impl HttpServer {
    /// Starts the listener task on the current runtime; acknowledgements
    /// go to the loop through `acks`.
    pub fn start(
        settings: HttpSettings,
        snapshots: SnapshotReader,
        acks: tokio::sync::mpsc::Sender<AckRequest>,
    ) -> HttpServer {
        let counters = Arc::new(HttpCounters::default());
        let (stop, stop_rx) = watch::channel(false);
        let board = settings
            .peers
            .as_ref()
            .map(|p| PeerBoard::new(&p.urls, p.auth.clone()));
        let peers = board.as_ref().map(PeerPoller::start);
        let state = routes::AppState::new(snapshots, acks, settings.users, counters.clone())
            .with_history(settings.history)
            .with_peers(board);
        let router = routes::router(state.clone());
        let task = tokio::spawn(accept_loop(
            settings.addr,
            settings.tls,
            router,
            counters.clone(),
            stop_rx,
        ));
        HttpServer {
            stop,
            task,
            counters,
            state,
            peers,
        }
    }

    /// The `http_users:` file read again by a reload (`None`: no users
    /// file, loopback only).
    pub fn set_users(&self, users: Option<Users>) {
        self.state.set_users(users);
    }

    pub fn counters(&self) -> &HttpCounters {
        &self.counters
    }

    /// Stops accepting, lets open connections finish for at most
    /// [`SHUTDOWN_DEADLINE`], then drops them.
    pub async fn stop(self) {
        if let Some(peers) = self.peers {
            peers.stop();
        }
        self.stop.send_replace(true);
        if let Err(e) = self.task.await
            && e.is_panic()
        {
            tracing::error!("the HTTP listener panicked");
        }
    }
}

async fn bind(
    addr: SocketAddr,
    tls: bool,
    stop: &mut watch::Receiver<bool>,
) -> Option<TcpListener> {
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => {
                let scheme = if tls { "https" } else { "http" };
                tracing::info!("status page and API on {scheme}://{addr}/");
                return Some(l);
            }
            Err(e) => {
                tracing::error!(
                    "cannot listen for HTTP on {addr}: {e}; the status page is unavailable, retrying every {} s",
                    BIND_RETRY.as_secs()
                );
            }
        }
        tokio::select! {
            _ = stop.changed() => return None,
            () = tokio::time::sleep(BIND_RETRY) => {}
        }
    }
}

async fn accept_loop(
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    router: axum::Router,
    counters: Arc<HttpCounters>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(listener) = bind(addr, tls.is_some(), &mut stop).await else {
        return;
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // One request per connection: hyper's header timeout also ends idle
    // keep-alive connections, which would then count as refusals, and a
    // page refreshed every few seconds gains nothing from keeping them.
    builder
        .keep_alive(false)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES);
    let builder = Arc::new(builder);
    let mut connections: JoinSet<()> = JoinSet::new();
    let mut last_accept_error = None;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (tcp, _peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors, usually: wait a little
                        // rather than spin.
                        if crate::logbook::due(&mut last_accept_error, std::time::Instant::now(), crate::timers::FAILURE_LOG_INTERVAL) {
                            tracing::warn!("accepting an HTTP connection failed: {e}");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if connections.len() >= MAX_CONNECTIONS {
                    counters.refused(Refusal::TooManyConnections);
                    continue;
                }
                counters.connection();
                let service = TowerToHyperService::new(router.clone());
                let (builder, counters, stop, tls) = (builder.clone(), counters.clone(), stop.clone(), tls.clone());
                connections.spawn(async move {
                    match tls {
                        None => serve_connection(tcp, &builder, service, &counters, stop).await,
                        Some(acceptor) => {
                            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                                Ok(Ok(stream)) => serve_connection(stream, &builder, service, &counters, stop).await,
                                _ => counters.refused(Refusal::TlsHandshake),
                            }
                        }
                    }
                });
            }
        }
    }
    drop(listener);
    let open = connections.len();
    let finished = tokio::time::timeout(SHUTDOWN_DEADLINE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::info!(
            "HTTP: {} of {open} connections still open after {} s at shutdown: closed",
            connections.len(),
            SHUTDOWN_DEADLINE.as_secs()
        );
        connections.abort_all();
    }
}

type Service = TowerToHyperService<axum::Router>;

async fn serve_connection<IO>(
    io: IO,
    builder: &hyper::server::conn::http1::Builder,
    service: Service,
    counters: &HttpCounters,
    mut stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result
        && let Some(refusal) = Refusal::of_connection_error(&e)
    {
        counters.refused(refusal);
    }
}
