//! TLS for HTTPS probes: which roots are trusted (the system's CA bundle,
//! Mozilla's bundled list when the box has none, or the probe's own
//! `ca=FILE`), and the peer certificate's expiry.
//!
//! ureq's own rustls connector builds its configuration from `TlsConfig`
//! and never shows the peer certificate, so HTTPS goes through
//! `TlsConnector` here: the same rustls handshake, with a verifier that
//! notes the server's certificate before checking it. The note goes to a
//! thread-local slot because ureq runs the whole request, handshake
//! included, on the calling thread: the probe clears the slot, calls, and
//! reads it back — no sharing between probes running at once, and an expired
//! or untrusted certificate still reports its days left.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

/// CA bundles of the common distributions, the first readable one is used
/// (Debian/Ubuntu, Fedora/RHEL, openSUSE, RHEL 7 extracted, Alpine).
pub const SYSTEM_CA_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Where the trusted roots came from, for `--try` and the observer's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootsSource {
    /// A system bundle, and how many certificates it gave.
    System { path: PathBuf, certificates: usize },
    /// No system bundle: Mozilla's list compiled into the observer.
    Bundled,
    /// The probe's own `ca=FILE`.
    File { path: PathBuf, certificates: usize },
}

/// A `ca=FILE` that cannot serve as a root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaFileError {
    #[error("cannot read CA file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("CA file {path} holds no usable PEM certificate")]
    NoCertificate { path: String },
}

/// The roots of the first system bundle that yields any, else the bundled list.
pub fn system_roots() -> (RootCertStore, RootsSource) {
    for path in SYSTEM_CA_BUNDLES {
        if let Ok((store, certificates)) = roots_from_file(Path::new(path))
            && certificates > 0
        {
            let source = RootsSource::System {
                path: PathBuf::from(path),
                certificates,
            };
            return (store, source);
        }
    }
    let store = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    (store, RootsSource::Bundled)
}

/// The roots in a PEM file. A file whose certificates all fail to parse is
/// an error here: rustls would drop them silently and every handshake would
/// then fail as "unknown issuer".
pub fn roots_from_file(path: &Path) -> Result<(RootCertStore, usize), CaFileError> {
    let unreadable = |reason: String| CaFileError::Unreadable {
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(e.to_string()))?;
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(CaFileError::NoCertificate {
            path: path.display().to_string(),
        });
    }
    Ok((store, added))
}

/// A rustls client configuration trusting `roots`, with ring, noting each
/// server certificate's expiry; no session resumption.
pub fn client_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider: Arc<CryptoProvider> = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NotingVerifier { inner }))
        .with_no_client_auth();
    // A resumed session shows no certificate: every run must do a full
    // handshake, or only the first run would see the days to expiry.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// What the last handshake on this thread showed.
#[derive(Debug, Default, Clone)]
pub(crate) struct HandshakeNote {
    /// The server certificate's notAfter, Unix seconds.
    pub not_after: Option<i64>,
    /// Why the handshake failed, if it did.
    pub error: Option<rustls::Error>,
}

thread_local! {
    static NOTE: RefCell<HandshakeNote> = RefCell::new(HandshakeNote::default());
}

/// Clears this thread's note before a request.
pub(crate) fn clear_note() {
    NOTE.with(|n| *n.borrow_mut() = HandshakeNote::default());
}

/// Takes this thread's note after a request.
pub(crate) fn take_note() -> HandshakeNote {
    NOTE.with(|n| std::mem::take(&mut *n.borrow_mut()))
}

/// notAfter of a DER certificate, Unix seconds.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

#[derive(Debug)]
struct NotingVerifier {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for NotingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let expiry = not_after(end_entity);
        NOTE.with(|n| n.borrow_mut().not_after = expiry);
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Makes the rustls configuration when the first HTTPS connection needs it.
pub(crate) type MakeConfig = Box<dyn Fn() -> Result<Arc<ClientConfig>, String> + Send + Sync>;

/// ureq connector wrapping the TCP transport in rustls with our
/// configuration, made on first use: plain HTTP probes never load the
/// system's roots (about 150 certificates parsed and kept in memory).
pub(crate) struct TlsConnector {
    make: MakeConfig,
    config: OnceLock<Result<Arc<ClientConfig>, String>>,
}

impl TlsConnector {
    pub fn new(make: MakeConfig) -> TlsConnector {
        TlsConnector {
            make,
            config: OnceLock::new(),
        }
    }

    /// Roots already loaded (a `ca=FILE` checked before any request).
    pub fn ready(config: Arc<ClientConfig>) -> TlsConnector {
        let connector = TlsConnector::new(Box::new(|| Err("unreachable".into())));
        let _ = connector.config.set(Ok(config));
        connector
    }

    fn config(&self) -> Result<Arc<ClientConfig>, rustls::Error> {
        self.config
            .get_or_init(|| (self.make)())
            .clone()
            .map_err(rustls::Error::General)
    }
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("loaded", &self.config.get().is_some())
            .finish()
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .host()
            .ok_or(ureq::Error::Tls("no host name in the URL"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let name = ServerName::try_from(host).map_err(|_| ureq::Error::Tls("invalid host name"))?;
        let config = self.config().map_err(|e| {
            NOTE.with(|n| n.borrow_mut().error = Some(e));
            ureq::Error::Tls("no TLS configuration")
        })?;
        let mut conn = ClientConnection::new(config, name).map_err(|e| {
            NOTE.with(|n| n.borrow_mut().error = Some(e.clone()));
            ureq::Error::Tls("cannot start a TLS session")
        })?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        if let Err(e) = conn.complete_io(&mut sock) {
            if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                let tls = tls.clone();
                NOTE.with(|n| n.borrow_mut().error = Some(tls));
            }
            return Err(ureq::Error::Io(e));
        }
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned { conn, sock },
        })))
    }
}

/// A TLS connection as a ureq transport.
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport").finish()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}
