//! Reading the notification file line by line into [`NotifyConfig`]: one
//! method per directive, every problem collected with its line. The typed
//! values and the language's description are in [`crate::notify`].

use std::path::Path;
use std::time::Duration;

use crate::error::{ConfError, ConfErrors};
use crate::model::{CommandLine, Origin};
use crate::notify::{
    Alertmanager, Channel, ChannelKind, DEFAULT_ALERTMANAGER_RESEND, DEFAULT_CHANNEL_TIMEOUT,
    DEFAULT_POINT_EVERY, Email, Grouping, HttpMethod, MailSecurity, NotifyConfig, ROUTE_KINDS,
    ROUTE_STATES, Route, Severity, Webhook, parse_duration,
};
use crate::notify_words::{KeyValues, check_url, looks_like_address, split_server, split_word};
use crate::windows::ActiveWindows;

/// Longest channel name: it appears in logs, metrics labels and the queue.
const MAX_CHANNEL_NAME: usize = 64;

/// The line above a follower line.
enum Follow {
    /// Not a `channel:` line: a follower here is misplaced.
    Nothing,
    /// A good channel, by index.
    Channel(usize),
    /// A channel with errors, already reported: its followers are skipped
    /// quietly.
    BadChannel,
}

pub(crate) struct Parser<'a> {
    label: &'a str,
    base_dir: &'a Path,
    config: NotifyConfig,
    errors: Vec<ConfError>,
    /// What `header:`, `body:`, `subject:` and `timeout:` lines attach to.
    follow: Follow,
    /// `active:` waiting for its route; `Err` when it was bad.
    active: Option<(usize, Result<ActiveWindows, ()>)>,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(label: &'a str, base_dir: &'a Path) -> Self {
        Parser {
            label,
            base_dir,
            config: NotifyConfig::default(),
            errors: Vec::new(),
            follow: Follow::Nothing,
            active: None,
        }
    }

    fn at(&self, line: usize) -> Origin {
        Origin {
            file: self.label.to_string(),
            line,
            included_from: Vec::new(),
        }
    }

    fn error(&mut self, line: usize, message: impl Into<String>) {
        self.errors.push(ConfError::new(self.at(line), message));
    }

    pub(crate) fn line(&mut self, no: usize, line: &str) {
        let Some((directive, argument)) = line.split_once(':') else {
            self.error(
                no,
                format!("expected `directive: argument`, found `{line}`"),
            );
            return;
        };
        let argument = argument.trim();
        match directive.trim() {
            "channel" => self.channel(no, argument),
            "header" | "body" | "subject" | "timeout" => {
                self.follower(no, directive.trim(), argument)
            }
            "active" => {
                self.follow = Follow::Nothing;
                if let Some((first, _)) = self.active {
                    self.error(
                        first,
                        "`active:` has no `route:` after it before the next `active:`",
                    );
                }
                let parsed = ActiveWindows::parse(argument).map_err(|e| self.error(no, e));
                self.active = Some((no, parsed));
            }
            "route" => self.route(no, argument),
            other => self.error(
                no,
                format!(
                    "unknown directive `{other}:` (expected channel, header, body, subject, timeout, active or route)"
                ),
            ),
        }
    }

    pub(crate) fn finish(mut self) -> Result<NotifyConfig, ConfErrors> {
        if let Some((line, _)) = self.active.take() {
            self.error(line, "`active:` has no `route:` after it");
        }
        // Channel names are checked last so that routes may come first.
        let mut unknown = Vec::new();
        for route in &self.config.routes {
            let names = route
                .channels
                .iter()
                .chain(route.escalate.iter().map(|(_, c)| c));
            for name in names {
                if self.config.channel(name).is_none() {
                    unknown.push((route.origin.line, name.clone()));
                }
            }
        }
        for (line, name) in unknown {
            self.error(line, format!("no `channel: {name} ...` in this file"));
        }
        if self.errors.is_empty() {
            Ok(self.config)
        } else {
            self.errors.sort_by_key(|e| e.origin.line);
            Err(ConfErrors(self.errors))
        }
    }

    fn channel(&mut self, no: usize, argument: &str) {
        self.follow = Follow::BadChannel;
        let (name, rest) = split_word(argument);
        let (kind, rest) = split_word(rest);
        if name.is_empty() || kind.is_empty() {
            self.error(
                no,
                "`channel:` needs a name, a type (webhook, alertmanager, email, exec) and its target",
            );
            return;
        }
        if name.len() > MAX_CHANNEL_NAME
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            self.error(
                no,
                format!(
                    "channel name `{name}` must be letters, digits, `-` and `_` (at most {MAX_CHANNEL_NAME})"
                ),
            );
            return;
        }
        if let Some(first) = self.config.channel(name) {
            let first = first.origin.line;
            self.error(
                no,
                format!("channel `{name}` is defined twice (first at line {first})"),
            );
            return;
        }
        let built = match kind {
            "webhook" => self.webhook(rest).map(ChannelKind::Webhook),
            "alertmanager" => alertmanager(rest, self.base_dir).map(ChannelKind::Alertmanager),
            "email" => self.email(rest).map(ChannelKind::Email),
            "exec" => CommandLine::parse(rest)
                .map(ChannelKind::Exec)
                .map_err(|e| vec![format!("`exec`: {e}")]),
            other => Err(vec![format!(
                "unknown channel type `{other}` (expected webhook, alertmanager, email or exec)"
            )]),
        };
        match built {
            Ok(kind) => {
                self.config.channels.push(Channel {
                    name: name.to_string(),
                    kind,
                    timeout: DEFAULT_CHANNEL_TIMEOUT,
                    origin: self.at(no),
                });
                self.follow = Follow::Channel(self.config.channels.len() - 1);
            }
            Err(problems) => {
                for p in problems {
                    self.error(no, format!("channel `{name}`: {p}"));
                }
            }
        }
    }

    fn webhook(&mut self, rest: &str) -> Result<Webhook, Vec<String>> {
        let (url, rest) = split_word(rest);
        let mut problems = Vec::new();
        if let Err(e) = check_url(url, &["http", "https"]) {
            problems.push(e);
        }
        let mut args = KeyValues::parse(rest, &["method", "content_type", "ca_file"]);
        let ca_file = args.take("ca_file").map(|p| self.base_dir.join(p));
        let method = match args.take("method") {
            None | Some("POST") | Some("post") => HttpMethod::Post,
            Some("PUT") | Some("put") => HttpMethod::Put,
            Some(other) => {
                args.problems
                    .push(format!("`method={other}` must be POST or PUT"));
                HttpMethod::Post
            }
        };
        let content_type = args
            .take("content_type")
            .unwrap_or("application/json")
            .to_string();
        problems.append(&mut args.problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Webhook {
            url: url.to_string(),
            method,
            headers: Vec::new(),
            body: None,
            content_type,
            ca_file,
        })
    }

    fn email(&mut self, rest: &str) -> Result<Email, Vec<String>> {
        let (url, rest) = split_word(rest);
        let mut problems = Vec::new();
        let (scheme, server, port) = match split_server(url) {
            Ok(parts) => parts,
            Err(e) => {
                problems.push(e);
                ("smtp", String::new(), None)
            }
        };
        let mut args = KeyValues::parse(
            rest,
            &["from", "to", "user", "password_file", "starttls", "ca_file"],
        );
        let from = args.require("from").unwrap_or_default().to_string();
        let to: Vec<String> = args
            .require("to")
            .unwrap_or_default()
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
        for address in std::iter::once(&from).chain(&to) {
            if !address.is_empty() && !looks_like_address(address) {
                args.problems
                    .push(format!("`{address}` is not a mail address (NAME@DOMAIN)"));
            }
        }
        let user = args.take("user").map(str::to_string);
        let password_file = args.take("password_file").map(|p| self.base_dir.join(p));
        let ca_file = args.take("ca_file").map(|p| self.base_dir.join(p));
        if user.is_some() != password_file.is_some() {
            args.problems
                .push("`user=` and `password_file=` go together".to_string());
        }
        let security = match (scheme, args.take("starttls")) {
            ("smtps", None) => MailSecurity::Tls,
            ("smtps", Some(_)) => {
                args.problems
                    .push("`starttls=` is for smtp://; smtps:// is TLS from the start".to_string());
                MailSecurity::Tls
            }
            (_, None | Some("required")) => MailSecurity::StartTlsRequired,
            (_, Some("opportunistic")) => MailSecurity::StartTlsOpportunistic,
            (_, Some("no")) => MailSecurity::Plain,
            (_, Some(other)) => {
                args.problems.push(format!(
                    "`starttls={other}` must be required, opportunistic or no"
                ));
                MailSecurity::StartTlsRequired
            }
        };
        if security == MailSecurity::Plain && user.is_some() {
            args.problems.push(
                "a password is never sent without TLS: drop `starttls=no` or the login".to_string(),
            );
        }
        problems.append(&mut args.problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        let port = port.unwrap_or(if scheme == "smtps" { 465 } else { 587 });
        Ok(Email {
            server,
            port,
            security,
            from,
            to,
            user,
            password_file,
            ca_file,
            subject: None,
            body: None,
        })
    }

    fn follower(&mut self, no: usize, directive: &str, argument: &str) {
        let index = match self.follow {
            Follow::Channel(index) => index,
            Follow::BadChannel => return,
            Follow::Nothing => {
                self.error(
                    no,
                    format!("`{directive}:` belongs right under a `channel:` line"),
                );
                return;
            }
        };
        let channel = &mut self.config.channels[index];
        let name = channel.name.clone();
        let result: Result<(), String> = match (directive, &mut channel.kind) {
            ("timeout", _) => match parse_duration(argument) {
                Ok(d) if d >= Duration::from_secs(1) => {
                    channel.timeout = d;
                    Ok(())
                }
                Ok(_) => Err("`timeout:` must be at least 1s".to_string()),
                Err(e) => Err(e),
            },
            ("header", ChannelKind::Webhook(w)) => match argument.split_once(':') {
                Some((n, v))
                    if !n.trim().is_empty()
                        && n.trim().bytes().all(|b| b.is_ascii_graphic() && b != b':') =>
                {
                    w.headers.push((n.trim().to_string(), v.trim().to_string()));
                    Ok(())
                }
                _ => Err("`header:` must be `NAME: VALUE`".to_string()),
            },
            ("body", ChannelKind::Webhook(Webhook { body, .. }))
            | ("body", ChannelKind::Email(Email { body, .. }))
            | ("subject", ChannelKind::Email(Email { subject: body, .. })) => {
                if body.is_some() {
                    Err(format!("a second `{directive}:` for this channel"))
                } else if argument.is_empty() {
                    Err(format!("`{directive}:` is empty"))
                } else {
                    *body = Some(argument.to_string());
                    Ok(())
                }
            }
            (_, kind) => Err(format!(
                "`{directive}:` does not apply to a {} channel",
                kind.as_str()
            )),
        };
        if let Err(e) = result {
            self.error(no, format!("channel `{name}`: {e}"));
        }
    }

    fn route(&mut self, no: usize, argument: &str) {
        self.follow = Follow::Nothing;
        let active = self.active.take().map(|(_, a)| a);
        let mut args = KeyValues::parse(
            argument,
            &[
                "host", "tags", "kind", "state", "channel", "severity", "wait", "repeat",
                "resolved", "escalate", "group", "every",
            ],
        );
        let list = |v: Option<&str>| -> Vec<String> {
            v.unwrap_or_default()
                .split(',')
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut hosts = Vec::new();
        for g in list(args.take("host")) {
            match glob::Pattern::new(&g) {
                Ok(p) => hosts.push(p),
                Err(e) => args.problems.push(format!("`host={g}`: {e}")),
            }
        }
        let tags = list(args.take("tags"));
        let kinds = list(args.take("kind"));
        let states = list(args.take("state"));
        for (key, words, allowed) in [
            ("kind", &kinds, ROUTE_KINDS),
            ("state", &states, ROUTE_STATES),
        ] {
            for w in words {
                if !allowed.contains(&w.as_str()) {
                    args.problems
                        .push(format!("`{key}={w}` is not one of {}", allowed.join(", ")));
                }
            }
        }
        let channels = list(args.require("channel"));
        let severity = match args.take("severity") {
            None => Severity::Warning,
            Some(s) => Severity::parse(s).unwrap_or_else(|| {
                args.problems.push(format!(
                    "`severity={s}` must be info, warning, error or critical"
                ));
                Severity::Warning
            }),
        };
        let wait = args.duration("wait").unwrap_or(Duration::ZERO);
        let repeat = args.duration("repeat").filter(|d| !d.is_zero());
        if args.has_zero("repeat") {
            args.problems.push(
                "`repeat=0` would repeat without end; leave `repeat=` out for no reminders".into(),
            );
        }
        let point_every = args.duration("every").unwrap_or(DEFAULT_POINT_EVERY);
        let resolved = match args.take("resolved") {
            None | Some("yes") => true,
            Some("no") => false,
            Some(other) => {
                args.problems
                    .push(format!("`resolved={other}` must be yes or no"));
                true
            }
        };
        let group = match args.take("group") {
            None | Some("all") => Grouping::All,
            Some("host") => Grouping::Host,
            Some("check") => Grouping::Check,
            Some(other) => {
                args.problems
                    .push(format!("`group={other}` must be all, host or check"));
                Grouping::All
            }
        };
        let mut escalate = Vec::new();
        for step in list(args.take("escalate")) {
            match step.split_once(':') {
                Some((d, channel)) if !channel.is_empty() => match parse_duration(d) {
                    Ok(d) => escalate.push((d, channel.to_string())),
                    Err(e) => args.problems.push(format!("`escalate=`: {e}")),
                },
                _ => args.problems.push(format!(
                    "`escalate={step}` must be DURATION:CHANNEL (e.g. 15m:oncall)"
                )),
            }
        }
        escalate.sort_by_key(|(d, _)| *d);
        let active = match active {
            None => None,
            Some(Ok(a)) => Some(a),
            // Already reported; a route with bad quiet hours is left out
            // rather than paging at night.
            Some(Err(())) => return,
        };
        if !args.problems.is_empty() {
            for p in std::mem::take(&mut args.problems) {
                self.error(no, format!("route: {p}"));
            }
            return;
        }
        self.config.routes.push(Route {
            hosts,
            tags,
            kinds,
            states,
            channels,
            severity,
            wait,
            repeat,
            resolved,
            escalate,
            group,
            point_every,
            active,
            origin: self.at(no),
        });
    }
}

fn alertmanager(rest: &str, base_dir: &Path) -> Result<Alertmanager, Vec<String>> {
    let (url, rest) = split_word(rest);
    let mut problems = Vec::new();
    if let Err(e) = check_url(url, &["http", "https"]) {
        problems.push(e);
    }
    let mut args = KeyValues::parse(rest, &["resend", "ca_file"]);
    let ca_file = args.take("ca_file").map(|p| base_dir.join(p));
    let resend = args
        .duration("resend")
        .unwrap_or(DEFAULT_ALERTMANAGER_RESEND);
    if resend.is_zero() {
        args.problems.push("`resend=` must be at least 1s".into());
    }
    problems.append(&mut args.problems);
    if problems.is_empty() {
        Ok(Alertmanager {
            url: url.trim_end_matches('/').to_string(),
            resend,
            ca_file,
        })
    } else {
        Err(problems)
    }
}
