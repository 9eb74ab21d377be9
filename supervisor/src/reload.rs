//! Reloading `ax436.conf` on SIGHUP (`systemctl reload ax436-supervisor`).
//!
//! What changes without a restart: `max_idle`, `beacon_interval`,
//! `broadcast`, the stream (`event_stream`, `stream_format`,
//! `stream_rotation`, `stream_keep`), `key_file` (the key is read again
//! even when the path is the same) and `http_users` (read again). Every
//! other directive (`port`, `listen`, `hosts`, `includes`, `http`,
//! `http_tls`, `log_file`, `notify`, `peers`, `peer_user`,
//! `peer_password_file`) is reported in the log as changed but
//! waiting for a restart.
//!
//! A reload is all or nothing: the file is parsed, the key and users file
//! read and the new stream file opened before anything is swapped in; any
//! error is logged (`FILE:LINE` for errors in a file) and the running
//! configuration stays as it was, the stream included.
//!
//! A format change starts a new file ([`crate::stream::set_aside`]); what
//! was received before the reload is written in the old format first.

use std::path::{Path, PathBuf};

use chrono::Utc;
use conf::{ConfErrors, SupervisorConfig};
use wire::{Codec, Key, KeyError};

use crate::fleet::SnapshotPublisher;
use crate::http::HttpServer;
use crate::http::users::Users;
use crate::protocol::{Settings, Supervisor};
use crate::stream::set_aside::{format_word, set_aside_if_other_format};
use crate::stream::{EventStream, StreamError};

/// Where reload requests come from: the path of `ax436.conf` to read again,
/// and one message per request (the binary sends one per SIGHUP).
#[derive(Debug)]
pub struct Reload {
    pub path: PathBuf,
    pub requests: tokio::sync::mpsc::Receiver<()>,
}

/// Why a reload was refused (the running configuration is kept).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{0}")]
    Config(ConfErrors),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("{0}")]
    Users(ConfErrors),
    #[error("cannot set the stream file {path} aside for the new format: {source}")]
    SetAside {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Stream(#[from] StreamError),
}

impl ReloadError {
    /// One line per error, each naming its `FILE:LINE` when it has one.
    pub fn lines(&self) -> Vec<String> {
        match self {
            ReloadError::Config(errors) | ReloadError::Users(errors) => {
                errors.0.iter().map(ToString::to_string).collect()
            }
            other => vec![other.to_string()],
        }
    }
}

/// The directives changed between `old` and `new` that take effect only
/// at the next restart.
pub fn needs_restart(old: &SupervisorConfig, new: &SupervisorConfig) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name: &'static str, differs: bool| {
        if differs {
            changed.push(name);
        }
    };
    check("port", old.port != new.port);
    check("listen", old.listen != new.listen);
    check("hosts", old.hosts != new.hosts);
    check("includes", old.includes != new.includes);
    check("http", old.http != new.http);
    check("http_tls", old.http_tls != new.http_tls);
    check("log_file", old.log_file != new.log_file);
    check("notify", old.notify != new.notify);
    check("peers", old.peers != new.peers);
    check(
        "peer_user/peer_password_file",
        old.peer_credentials != new.peer_credentials,
    );
    changed
}

/// Whether the stream file must be opened again.
pub fn stream_changed(old: &SupervisorConfig, new: &SupervisorConfig) -> bool {
    old.event_stream != new.event_stream
        || old.stream_format != new.stream_format
        || old.stream_rotation != new.stream_rotation
        || old.stream_keep != new.stream_keep
}

/// Everything a reload swaps in, read and opened already.
pub struct Prepared {
    pub config: SupervisorConfig,
    /// The key read again (`None`: open mode).
    pub key: Option<Key>,
    /// The codec of the key read again; `None` when it is the same key.
    pub codec: Option<Codec>,
    /// The users file read again, when the window is on.
    pub users: Option<Users>,
    /// The new stream, when a stream setting changed.
    pub stream: Option<EventStream>,
    /// A file set aside for a format change: `(from, to)`.
    pub set_aside: Option<(PathBuf, PathBuf)>,
}

/// Reads `path` and everything it names that a reload takes; the new
/// stream is opened last, so an error before it leaves no trace. `key` is
/// the running key (`None` in open mode).
pub fn prepare(
    path: &Path,
    running: &SupervisorConfig,
    key: Option<&Key>,
) -> Result<Prepared, ReloadError> {
    let config = SupervisorConfig::load(path).map_err(ReloadError::Config)?;
    let new_key = match &config.key_file {
        Some(file) => Some(Key::load(file)?),
        None => None,
    };
    let codec = match (key, &new_key) {
        (Some(old), Some(new)) if old.as_bytes() == new.as_bytes() => None,
        (None, None) => None,
        (_, Some(new)) => Some(Codec::sealed(new)),
        (Some(_), None) => Some(Codec::open()),
    };
    let users = match (&config.http, &config.http_users) {
        (Some(_), Some(file)) => Some(Users::load(file).map_err(ReloadError::Users)?),
        _ => None,
    };
    let (stream, set_aside) = if stream_changed(running, &config) {
        // A no-op unless the file the new settings append to holds the
        // other format (a new format, or a path or rotation that leads to
        // an older file).
        let moved = set_aside_if_other_format(
            &config.event_stream,
            config.stream_rotation,
            config.stream_format,
            Utc::now(),
        )
        .map_err(|source| ReloadError::SetAside {
            path: config.event_stream.clone(),
            source,
        })?;
        match EventStream::open(
            &config.event_stream,
            config.stream_rotation,
            config.stream_keep,
        ) {
            Ok(stream) => (Some(stream), moved),
            Err(e) => {
                // Put the file back: the running stream goes on in it.
                if let Some((from, to)) = &moved
                    && let Err(back) = std::fs::rename(to, from)
                {
                    tracing::error!(
                        "could not rename {} back to {}: {back}",
                        to.display(),
                        from.display()
                    );
                }
                return Err(e.into());
            }
        }
    } else {
        (None, None)
    };
    Ok(Prepared {
        config,
        key: new_key,
        codec,
        users,
        stream,
        set_aside,
    })
}

/// The running key, as the shell keeps it to tell a changed key.
pub fn load_key(config: &SupervisorConfig) -> Result<Option<Key>, KeyError> {
    config.key_file.as_deref().map(Key::load).transpose()
}

/// The next reload request; never without a source of them.
pub(crate) async fn requested(reload: &mut Option<Reload>) -> Option<()> {
    match reload {
        Some(r) => r.requests.recv().await,
        None => std::future::pending().await,
    }
}

/// At start: a stream file left in another format by the previous run is
/// set aside, so the new format starts a file of its own.
pub(crate) fn set_aside_other_format(config: &SupervisorConfig) {
    match set_aside_if_other_format(
        &config.event_stream,
        config.stream_rotation,
        config.stream_format,
        chrono::Utc::now(),
    ) {
        Ok(Some((from, to))) => tracing::info!(
            "stream_format changed since the last run: {} was renamed {}",
            from.display(),
            to.display()
        ),
        Ok(None) => {}
        // The read-back reads each line in its own format, so a mixed file
        // costs nothing but tidiness.
        Err(e) => tracing::warn!(
            "could not set the stream file aside for the new format ({e}); lines of both formats follow each other in it"
        ),
    }
}

/// What a reload may replace, borrowed from the loop.
pub(crate) struct Running<'a> {
    pub(crate) config: &'a mut SupervisorConfig,
    pub(crate) key: &'a mut Option<Key>,
    pub(crate) stream: &'a mut EventStream,
    pub(crate) publisher: Option<&'a mut SnapshotPublisher>,
    pub(crate) http: Option<&'a HttpServer>,
}

impl Running<'_> {
    /// Reads `path` again and swaps in what a reload can change, or keeps
    /// everything and logs why.
    pub(crate) fn reload(&mut self, path: &Path, sup: &mut Supervisor) {
        tracing::info!("SIGHUP: reading {} again", path.display());
        let prepared = match prepare(path, self.config, self.key.as_ref()) {
            Ok(p) => p,
            Err(e) => {
                for line in e.lines() {
                    tracing::error!("reload: {line}");
                }
                tracing::error!("reload refused: the running configuration is kept");
                return;
            }
        };
        let new = prepared.config;
        for name in needs_restart(self.config, &new) {
            tracing::warn!("reload: `{name}:` changed; it takes effect at the next restart");
        }
        if let Some(codec) = &prepared.codec {
            tracing::info!(
                "reload: key read again ({})",
                if codec.is_sealed() {
                    "sealed mode"
                } else {
                    "OPEN MODE: no key_file"
                }
            );
        }
        *self.key = prepared.key;
        let settings = Settings::from_config(&new, String::new(), 0);
        sup.handle_settings(crate::now(), settings, prepared.codec);
        if let Some(stream) = prepared.stream {
            *self.stream = stream;
            if let Some((from, to)) = &prepared.set_aside {
                tracing::info!(
                    "reload: stream_format changed: {} was renamed {}",
                    from.display(),
                    to.display()
                );
            }
            if let Some(publisher) = self.publisher.as_deref_mut() {
                publisher.set_stream(new.event_stream.clone(), new.stream_rotation);
            }
        }
        if let Some(http) = self.http {
            // Without a users file the window lets everyone in: allowed
            // only while it listens on loopback, which the running address
            // decides (a new `http:` waits for a restart).
            let loopback = self.config.http.is_some_and(|a| a.ip().is_loopback());
            if prepared.users.is_some() || loopback {
                http.set_users(prepared.users);
            } else {
                tracing::warn!(
                    "reload: the window listens beyond loopback; its users stay as they were until a restart"
                );
            }
        }
        tracing::info!(
            "reloaded: beacons to {:?} every {} s, max_idle {} s, stream {} ({})",
            new.broadcast,
            new.beacon_interval.as_secs(),
            new.max_idle.as_secs(),
            new.event_stream.display(),
            format_word(new.stream_format),
        );
        *self.config = new;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, extra: &str) -> SupervisorConfig {
        let text = format!(
            "event_stream: stream/events.436\nport: 9000\nbroadcast: 127.255.255.255\n\
             hosts: hosts\nincludes: includes\nhttp: off\nstream_rotation: never\n{extra}"
        );
        SupervisorConfig::parse(&text, "ax436.conf", dir).unwrap()
    }

    #[test]
    fn only_settings_a_reload_cannot_take_are_named_for_a_restart() {
        let dir = Path::new("/srv");
        let old = config(dir, "");
        let new = config(
            dir,
            "max_idle: 9\nbeacon_interval: 2\nstream_format: json\n",
        );
        assert!(needs_restart(&old, &new).is_empty());
        assert!(stream_changed(&old, &new));
        let new = config(dir, "listen: 127.0.0.1\nlog_file: other.log\n");
        assert_eq!(needs_restart(&old, &new), ["listen", "log_file"]);
        assert!(!stream_changed(&old, &new));
    }

    #[test]
    fn an_error_anywhere_leaves_no_trace_in_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let running = config(dir.path(), "");
        std::fs::create_dir_all(dir.path().join("stream")).unwrap();
        let file = dir.path().join("stream/events.436");
        std::fs::write(&file, "Wed Dec  2 02:03:04 2026%%web1%%1%%0%%t%%NULL%%m\n").unwrap();
        let conf = dir.path().join("ax436.conf");
        std::fs::write(
            &conf,
            "event_stream: stream/events.436\nport: 9000\nbroadcast: 127.255.255.255\n\
             hosts: hosts\nincludes: includes\nhttp: off\nstream_rotation: never\n\
             stream_format: json\nkey_file: missing.key\n",
        )
        .unwrap();
        let err = prepare(&conf, &running, None).err().unwrap();
        assert!(matches!(err, ReloadError::Key(_)), "{err}");
        assert!(file.exists(), "the file was not set aside");
        std::fs::write(&conf, "port: 9000\nbogus: 1\n").unwrap();
        let err = prepare(&conf, &running, None).err().unwrap();
        let lines = err.lines();
        assert!(
            lines
                .iter()
                .any(|l| l.ends_with("ax436.conf:2: unknown directive `bogus:`")),
            "{lines:?}"
        );
    }
}
