//! The 436 supervisor: beacons, configuration serving and resets, liveness,
//! and the event stream (SPEC.md §1, §5, §7).
//!
//! * [`protocol`] — the state machine ([`Supervisor`]): everything the
//!   supervisor decides, driven by `handle_*` inputs and `poll_*` outputs,
//!   with no sockets or clocks inside.
//! * [`notes`] — what the state machine reports as having happened, and
//!   [`logbook`] — the shell's policy of what of it to log and how often.
//! * [`catalog`] — host files and includes read into served entries, and
//!   what changed between two reads.
//! * [`watch`] — the folder watcher thread feeding catalog changes.
//! * [`stream`] — stream line formats, the stream file and its rotation,
//!   and the read-back at restart.
//! * [`own_log`] — the supervisor's own log; [`rolling`] — file names and
//!   rotation shared by it and the stream.
//! * [`problems`] — problems as state: each host's open problems, and the
//!   happenings the notifications are fed; [`fleet_state`] — the hosts'
//!   states and open problems saved beside the stream across a restart.
//! * [`dedup`], [`liveness`], [`counters`] — per-host pieces of the state
//!   machine; `stream_gate` — its write-then-acknowledge gate; `serve` —
//!   which datagrams answer a configuration request.
//! * [`net`] — the UDP socket.
//! * [`check`] — `supervisor --check` and `supervisor --gen-key`.
//! * [`fleet`] — the snapshot of the fleet the window shows, published by
//!   the shell on demand; [`http`] — the window itself (pages, API,
//!   `/metrics`); [`status`] — `supervisor status`; [`history`] — the
//!   SQLite index of the stream, written by its own thread.
//! * [`notify`] — notifications: the policy, the persistent queue and the
//!   channels.
//! * [`peers`] — `peers:`: other supervisors' views fetched by a poller
//!   thread and merged into this one's (a pure merge).
//! * [`service`] — the systemd unit of `supervisor install`.
//! * [`reload`] — `ax436.conf` read again on SIGHUP: what changes, what
//!   waits for a restart.
//! * [`timers`] — every timer and bound, in one place, and the state
//!   machine's timer table.
//!
//! [`run`] is the async shell: one task that `select!`s over the socket,
//! the next deadline, catalog changes and shutdown, feeding the state
//! machine and doing what it asks. Tests and other crates can run a
//! supervisor in-process with it.

pub mod catalog;
pub mod check;
pub mod counters;
pub mod dedup;
pub mod fleet;
pub mod fleet_state;
pub mod history;
pub mod http;
pub mod liveness;
pub mod logbook;
pub mod net;
pub mod notes;
pub mod notify;
pub mod own_log;
pub mod peers;
pub mod problems;
pub mod protocol;
pub mod reload;
mod serve;
pub mod service;
pub mod status;
mod stream_gate;
pub mod timers;
pub mod watch;

use std::future::Future;
use std::io;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use conf::SupervisorConfig;
use wire::limits::MAX_DATAGRAM;
use wire::{Codec, KeyError};

pub use catalog::{CatalogLoader, HostChange, HostEntry};
pub use protocol::{Now, Settings, StreamBatch, Supervisor, Transmit};
// The event stream is a crate of its own, so what only reads or writes the
// stream's lines (the fuzz targets) builds without the supervisor's HTTP,
// database and mail stack; it stays reachable as `supervisor::stream`.
pub use ::stream::{self, EventStream, rolling};

use crate::logbook::Logbook;
use crate::stream::StreamError;
use crate::timers::{RECEIVE_BURST, RESTART_DEDUP_TAIL};
use crate::watch::WatchError;

/// Why the supervisor could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("cannot listen on UDP {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: io::Error,
    },
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error(transparent)]
    Http(#[from] http::HttpError),
}

/// A supervisor running on a thread of its own (with its own
/// single-threaded runtime) until [`Background::stop`] or drop: for tools
/// and tests that embed one.
pub struct Background {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), RunError>>>,
}

impl Background {
    /// Starts `config` on a new thread. Errors of the start (a busy port, a
    /// bad key) come back from [`Background::stop`].
    pub fn start(config: SupervisorConfig) -> io::Result<Background> {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("supervisor".into())
            .spawn(move || {
                runtime.block_on(run(config, async {
                    let _ = rx.await;
                }))
            })?;
        Ok(Background {
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Shuts the supervisor down as SIGTERM would and waits for it.
    pub fn stop(mut self) -> Result<(), RunError> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<(), RunError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            // A panic on that thread has already been printed.
            Some(Err(_)) | None => Ok(()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

/// The current time on both clocks.
pub fn now() -> Now {
    let wall_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Now {
        mono: Instant::now(),
        wall_ms,
    }
}

/// Runs a supervisor until `shutdown` completes, then stops receiving,
/// writes what was received and sends its acknowledgements, and returns.
pub async fn run(
    config: SupervisorConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    run_reloadable(config, None, shutdown).await
}

/// As [`run`], and reads `ax436.conf` again at each request of `reload`
/// (see [`reload`]).
pub async fn run_reloadable(
    mut config: SupervisorConfig,
    mut reload: Option<reload::Reload>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let mut key = reload::load_key(&config)?;
    let codec = match (&config.key_file, &key) {
        (Some(path), Some(key)) => {
            tracing::info!("sealed mode: key from {}", path.display());
            Codec::sealed(key)
        }
        _ => {
            tracing::warn!(
                "OPEN MODE: no key_file in the configuration; anyone on the LAN can send \
                 observers commands to run. Make a key with `supervisor --gen-key FILE`."
            );
            Codec::open()
        }
    };
    let addr = config.listen_addr();
    let socket = net::bind_udp(addr).map_err(|source| RunError::Bind { addr, source })?;
    reload::set_aside_other_format(&config);
    let mut stream = EventStream::open(
        &config.event_stream,
        config.stream_rotation,
        config.stream_keep,
    )?;
    let mut http_settings = http::HttpSettings::from_config(&config)?;
    let history = history::History::start(&config);
    if let (Some(http), Some(history)) = (http_settings.as_mut(), &history) {
        http.history = Some(std::sync::Arc::new(history.reader()));
    }
    let (initial, mut folders) = watch::start(&config.hosts, &config.includes)?;
    let run_id = wire::random_u64()?;
    let settings = Settings::from_config(&config, net::node_name(), run_id);
    tracing::info!(
        "supervisor {} listening on {addr}, beacons to {:?} every {} s, {} hosts, stream {}",
        settings.supervisor_name,
        settings.broadcast,
        settings.beacon_interval.as_secs_f64(),
        initial.len(),
        config.event_stream.display(),
    );
    let started = now();
    let (ack_tx, mut ack_rx) = tokio::sync::mpsc::channel(fleet::MAX_PENDING_ACKS);
    let status_url = http_settings.as_ref().map(|h| {
        let scheme = if h.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", status::local_address(h.addr))
    });
    let (mut publisher, http) = match http_settings {
        Some(http_settings) => {
            let facts = fleet::ShellFacts {
                started_ms: started.wall_ms,
                stream_path: config.event_stream.clone(),
                rotation: config.stream_rotation,
            };
            let (publisher, reader) =
                fleet::SnapshotPublisher::new(&settings.supervisor_name, facts);
            (
                Some(publisher),
                Some(http::HttpServer::start(http_settings, reader, ack_tx)),
            )
        }
        None => (None, None),
    };
    let mut sup = Supervisor::new(settings, codec, started, initial);
    let fleet_path = fleet_state::FleetState::path_beside(&config.event_stream);
    match fleet_state::FleetState::load(&fleet_path) {
        Ok(Some(saved)) => {
            tracing::info!(
                "fleet state of {} hosts read back from {}",
                saved.hosts.len(),
                fleet_path.display()
            );
            sup.restore_fleet(started, saved);
        }
        Ok(None) => {}
        Err(e) => tracing::warn!("{e}; open problems will be learned from heartbeats"),
    }
    let mut saver = fleet_state::FleetSaver::new(fleet_path, started.mono);
    sup.report_happenings(config.notify.is_some());
    let mut notifications = config.notify.as_ref().map(|file| {
        notify::LoopNotifications::start(file, &config.event_stream, status_url, &sup, started)
    });
    let written = stream::recently_written(
        &config.event_stream,
        config.stream_rotation,
        RESTART_DEDUP_TAIL,
    );
    tracing::info!(
        "{} recent events read back from the stream (duplicates of them will not be written)",
        written.len()
    );
    for (host, id) in written {
        sup.remember_written(&host, id);
    }
    let mut shell = Shell {
        socket,
        logbook: Logbook::new(Instant::now()),
        history,
    };
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut watching = true;
    let wanted = publisher.as_ref().map(fleet::SnapshotPublisher::wanted);
    tokio::pin!(shutdown);
    loop {
        sup.handle_timeout(now());
        shell.flush(&mut sup, &mut stream).await;
        let mut wake = sup.poll_timeout().min(shell.logbook.next_counters());
        if let Some(n) = notifications.as_mut() {
            let at = now();
            while let Some(h) = sup.poll_happening() {
                n.feed(at, h);
            }
            wake = wake.min(n.turn(at, &sup));
        }
        if let Some(due) = saver.turn(Instant::now(), &mut sup) {
            wake = wake.min(due);
        }
        if let Some(publisher) = publisher.as_mut() {
            publisher.maybe_publish(Instant::now(), || {
                let mut snapshot = sup.fleet_snapshot(now());
                snapshot.supervisor.notify_channels =
                    notifications.as_ref().and_then(|n| n.health());
                snapshot
            });
            if let Some(due) = publisher.next_due() {
                wake = wake.min(due);
            }
        }
        let deadline = tokio::time::Instant::from_std(wake);
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            ready = shell.socket.readable() => {
                if let Err(e) = ready {
                    shell.receive_error(&e);
                    continue;
                }
                shell.receive_burst(&mut sup, &mut buf);
            }
            changes = folders.changed(), if watching => match changes {
                Some(changes) => sup.handle_catalog(now(), changes),
                None => {
                    tracing::error!("the folder watcher stopped; configuration changes are no longer seen");
                    watching = false;
                }
            },
            request = reload::requested(&mut reload) => match request {
                Some(()) => {
                    // What was received so far is written in the old format.
                    shell.flush(&mut sup, &mut stream).await;
                    if let Some(r) = &reload {
                        let path = r.path.clone();
                        let mut running = reload::Running {
                            config: &mut config,
                            key: &mut key,
                            stream: &mut stream,
                            publisher: publisher.as_mut(),
                            http: http.as_ref(),
                        };
                        running.reload(&path, &mut sup);
                    }
                }
                None => reload = None,
            },
            () = snapshot_wanted(wanted.as_deref()) => {
                if let Some(publisher) = publisher.as_mut() {
                    publisher.asked();
                }
            }
            Some(ack) = ack_rx.recv() => {
                let at = now();
                let recorded = sup.handle_ack(at, &ack.host, &ack.check, &ack.by, &ack.note);
                if recorded.is_some() {
                    tracing::info!("{}/{} acknowledged by {}", ack.host, ack.check, ack.by);
                    if let Some(publisher) = publisher.as_mut() {
                        publisher.publish(Instant::now(), || {
                            let mut snapshot = sup.fleet_snapshot(at);
                            snapshot.supervisor.notify_channels =
                                notifications.as_ref().and_then(|n| n.health());
                            snapshot
                        });
                    }
                }
                // The asker may have given up waiting: nothing to do then.
                let _ = ack.reply.send(recorded);
            }
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
    tracing::info!("shutting down: writing what was received");
    shell.flush(&mut sup, &mut stream).await;
    saver.save(&sup);
    if let Some(mut n) = notifications {
        let at = now();
        while let Some(h) = sup.poll_happening() {
            n.feed(at, h);
        }
        n.stop(at);
    }
    tracing::info!("counters at exit: {}", sup.counters());
    if let Some(http) = http {
        http.stop().await;
    }
    if let Some(history) = shell.history.take() {
        history.stop();
    }
    Ok(())
}

/// Resolves when the window asks for a fresher fleet snapshot; never
/// without a window.
async fn snapshot_wanted(wanted: Option<&tokio::sync::Notify>) {
    match wanted {
        Some(wanted) => wanted.notified().await,
        None => std::future::pending().await,
    }
}

/// The I/O half of the loop.
struct Shell {
    socket: tokio::net::UdpSocket,
    logbook: Logbook,
    history: Option<history::History>,
}

impl Shell {
    /// Reads what the socket holds, up to [`RECEIVE_BURST`] datagrams.
    fn receive_burst(&mut self, sup: &mut Supervisor, buf: &mut [u8]) {
        for _ in 0..RECEIVE_BURST {
            match self.socket.try_recv_from(buf) {
                // A datagram longer than MAX_DATAGRAM fills the buffer
                // (truncation is silent) and is refused by its length.
                Ok((n, from)) => sup.handle_datagram(now(), from, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.receive_error(&e);
                    break;
                }
            }
        }
    }

    fn receive_error(&mut self, e: &io::Error) {
        if let Some(line) = self.logbook.receive_failed(Instant::now(), e) {
            line.emit();
        }
    }

    /// Writes the stream batch, then sends everything queued (the
    /// acknowledgements it released included), then hands the written
    /// lines to the history, then logs what the state machine noted, as the
    /// logbook decides.
    async fn flush(&mut self, sup: &mut Supervisor, stream: &mut EventStream) {
        let mut written = None;
        if let Some(batch) = sup.take_stream_batch() {
            let result = stream.write_batch(&batch.lines);
            if result.is_ok() {
                written = Some(batch.lines);
            }
            sup.handle_stream_written(now(), result);
        }
        while let Some(transmit) = sup.poll_transmit() {
            if let Err(e) = self.socket.send_to(&transmit.datagram, transmit.to).await {
                sup.note_send_failure();
                if let Some(line) = self.logbook.send_failed(Instant::now(), transmit.to, &e) {
                    line.emit();
                }
            }
        }
        if let (Some(lines), Some(history)) = (written, &self.history) {
            history.offer(lines);
        }
        let at = Instant::now();
        while let Some(note) = sup.poll_note() {
            if let Some(line) = self.logbook.line(at, note) {
                line.emit();
            }
        }
        if self.logbook.counters_due(at) {
            tracing::info!(
                "counters: {}, hosts known {}, alive {}",
                sup.counters(),
                sup.hosts_known(),
                sup.hosts_alive()
            );
        }
    }
}
