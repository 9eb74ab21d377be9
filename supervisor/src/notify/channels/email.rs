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
use lettre::transport::smtp::client::{Tls, TlsParameters};
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

    fn transport(&self) -> Result<SmtpTransport, Delivery> {
        let server = self.config.server.as_str();
        let tls_error = |e: lettre::transport::smtp::Error| {
            Delivery::Rejected(format!("TLS set-up for {server}: {e}"))
        };
        let builder = match self.config.security {
            MailSecurity::Tls => SmtpTransport::relay(server).map_err(tls_error)?,
            MailSecurity::StartTlsRequired => {
                SmtpTransport::starttls_relay(server).map_err(tls_error)?
            }
            MailSecurity::StartTlsOpportunistic => SmtpTransport::builder_dangerous(server).tls(
                Tls::Opportunistic(TlsParameters::new(server.to_string()).map_err(tls_error)?),
            ),
            MailSecurity::Plain => SmtpTransport::builder_dangerous(server),
        };
        let mut builder = builder.port(self.config.port).timeout(Some(self.timeout));
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
