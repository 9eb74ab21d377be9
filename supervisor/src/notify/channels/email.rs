//! `email smtp[s]://...`: one mail per notification over SMTP, with
//! STARTTLS (required by default), TLS from the start (`smtps://`) or
//! plain (`starttls=no`, for a relay on the same machine), and a login
//! whose password is read from `password_file=` at each delivery. The
//! Message-ID is derived from the idempotency key, so a mail delivered
//! twice can be recognised as the same.

use std::time::Duration;

use conf::{Email, MailSecurity};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{SmtpTransport, Transport};

use super::Sender;
use crate::notify::payload::{Escape, Notification};
use crate::notify::queue::Delivery;

/// Subject when the channel has no `subject:` line.
pub const DEFAULT_SUBJECT: &str = "[436] {summary}";

pub struct EmailSender {
    config: Email,
    timeout: Duration,
}

impl EmailSender {
    pub fn new(config: Email, timeout: Duration) -> Self {
        EmailSender { config, timeout }
    }

    /// TLS parameters for the server: the built-in roots, or only the
    /// CAs of `ca_file=`.
    fn tls_parameters(&self) -> Result<TlsParameters, Delivery> {
        let server = &self.config.server;
        let mut builder = TlsParameters::builder(server.clone());
        if let Some(path) = &self.config.ca_file {
            builder = builder.certificate_store(CertificateStore::None);
            for cert in super::read_ca_file(path).map_err(Delivery::Retry)? {
                let cert = Certificate::from_der(cert.der().to_vec())
                    .map_err(|e| Delivery::Retry(format!("ca_file {}: {e}", path.display())))?;
                builder = builder.add_root_certificate(cert);
            }
        }
        builder
            .build()
            .map_err(|e| Delivery::Rejected(format!("TLS set-up for {server}: {e}")))
    }

    fn transport(&self) -> Result<SmtpTransport, Delivery> {
        let tls = match self.config.security {
            MailSecurity::Tls => Tls::Wrapper(self.tls_parameters()?),
            MailSecurity::StartTlsRequired => Tls::Required(self.tls_parameters()?),
            MailSecurity::StartTlsOpportunistic => Tls::Opportunistic(self.tls_parameters()?),
            MailSecurity::Plain => Tls::None,
        };
        let mut builder = SmtpTransport::builder_dangerous(self.config.server.as_str())
            .port(self.config.port)
            .tls(tls)
            .timeout(Some(self.timeout));
        if let (Some(user), Some(file)) = (&self.config.user, &self.config.password_file) {
            // Read each time: a rotated password needs no restart. A
            // missing file may be fixed while the notification waits.
            let password = std::fs::read_to_string(file).map_err(|e| {
                Delivery::Retry(format!("cannot read password file {}: {e}", file.display()))
            })?;
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.trim_end_matches(['\n', '\r']).to_string(),
            ));
        }
        Ok(builder.build())
    }

    /// The mail for one notification.
    pub fn message(&self, n: &Notification) -> Result<Message, String> {
        let mailbox = |a: &str| {
            a.parse::<Mailbox>()
                .map_err(|e| format!("mail address `{a}`: {e}"))
        };
        let subject = n.render(
            self.config.subject.as_deref().unwrap_or(DEFAULT_SUBJECT),
            Escape::None,
        );
        let body = match &self.config.body {
            Some(template) => n.render(template, Escape::None),
            None => n.text(),
        };
        let domain = self
            .config
            .from
            .rsplit_once('@')
            .map_or("localhost", |(_, d)| d);
        let mut builder = Message::builder()
            .from(mailbox(&self.config.from)?)
            // One line: a subject is never folded from operator text.
            .subject(subject.replace(['\r', '\n'], " "))
            .message_id(Some(format!("<{}@{domain}>", n.key)))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.config.to {
            builder = builder.to(mailbox(to)?);
        }
        builder.body(body).map_err(|e| e.to_string())
    }
}

impl Sender for EmailSender {
    fn send(&mut self, n: &Notification) -> Delivery {
        let message = match self.message(n) {
            Ok(m) => m,
            Err(e) => return Delivery::Rejected(e),
        };
        let transport = match self.transport() {
            Ok(t) => t,
            Err(d) => return d,
        };
        match transport.send(&message) {
            Ok(_) => Delivery::Delivered,
            Err(e) if e.is_permanent() => Delivery::Rejected(e.to_string()),
            Err(e) => Delivery::Retry(e.to_string()),
        }
    }
}
