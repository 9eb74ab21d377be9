//! The async shell (mini-redis style), with no policy of its own: it reads
//! the clocks, receives datagrams, file-change notifications and finished
//! jobs, feeds them to the [`Observer`] core, and carries out what the core
//! asks — write a batch to the spool and report the outcome, start jobs,
//! watch directories, send datagrams. It runs on tokio's current-thread
//! runtime; blocking work runs in the [`JobRunner`]. At shutdown every
//! running job is cancelled and waited for (commands' process groups are
//! killed), the spool is written one last time, and then every supervisor
//! heard is told `Goodbye` (twice, [`GOODBYE_GAP`] apart, best effort), so a
//! clean stop is not taken for a dead host.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use conf::HostName;
use tokio::net::UdpSocket;
use wire::limits::MAX_DATAGRAM;
use wire::{Codec, DecodeError, Key};

use crate::clock::Now;
use crate::core::{Observer, Spooled};
use crate::jobs::JobRunner;
pub use crate::net::node_name;
use crate::net::{DecodeLog, bind_beacon_socket, bind_session_socket, interface_of};
use crate::positions::{PositionsFile, positions_path};
use crate::spool::{EventSpool, SpoolError};
use crate::timers::{GOODBYE_GAP, SPOOL_FAILURE_LOG_INTERVAL};
use crate::watch::FileWatch;

/// What the observer needs to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// UDP port P: beacons and resets arrive on P, supervisors listen on P+1.
    pub port: u16,
    pub name: HostName,
    pub key: Option<Key>,
    pub spool_dir: PathBuf,
    /// `--bind`: the local address to talk from, whose interface alone is
    /// listened on for beacons (see [`crate::net`]); `None`: every interface.
    pub bind: Option<Ipv4Addr>,
}

/// Why the observer could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot listen for beacons on UDP port {port}: {source}")]
    BeaconSocket { port: u16, source: std::io::Error },
    #[error("cannot open a UDP socket for sending: {0}")]
    SendSocket(std::io::Error),
    #[error("--bind {0}: no interface of this machine has that address")]
    NoSuchAddress(Ipv4Addr),
    #[error("--bind {address}: cannot list the interfaces: {source}")]
    Interfaces {
        address: Ipv4Addr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

struct Shell {
    codec: Codec,
    core: Observer,
    spool: EventSpool,
    files: FileWatch,
    jobs: JobRunner,
    decode_log: DecodeLog,
    send_errors: u64,
    compact_failure_said: Option<std::time::Instant>,
    positions_path: PathBuf,
    positions_failure_said: Option<std::time::Instant>,
}

/// Runs the observer until `shutdown` completes, then stops every job and
/// writes the spool.
pub async fn run(opts: Options, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let device = match opts.bind {
        Some(address) => Some(
            interface_of(address)
                .map_err(|source| DaemonError::Interfaces { address, source })?
                .ok_or(DaemonError::NoSuchAddress(address))?,
        ),
        None => None,
    };
    let beacon_sock = bind_beacon_socket(opts.port, device.as_deref()).map_err(|source| {
        DaemonError::BeaconSocket {
            port: opts.port,
            source,
        }
    })?;
    let sock = bind_session_socket(opts.bind.unwrap_or(Ipv4Addr::UNSPECIFIED))
        .map_err(DaemonError::SendSocket)?;
    if let (Some(address), Some(device)) = (opts.bind, &device) {
        tracing::info!("bound to {address}: beacons heard on {device} only");
    }
    let host = opts.name.as_str().to_string();
    let (codec, sizing) = match &opts.key {
        Some(k) => (Codec::sealed(k), Codec::sealed(k)),
        None => {
            tracing::warn!(
                "NO KEY: running in open mode. Anyone on the LAN can hand this observer commands to run. Use --key-file."
            );
            (Codec::open(), Codec::open())
        }
    };
    let (spool, replayed) = EventSpool::open(&opts.spool_dir, &host)?;
    if replayed.cut_bytes > 0 {
        tracing::warn!(
            "spool: {} bytes of a torn record were discarded",
            replayed.cut_bytes
        );
    }
    let positions_path = positions_path(&opts.spool_dir, &host);
    let positions = match PositionsFile::load(&positions_path) {
        Ok(file) => Some(file.resolve(replayed.events.iter().map(|e| e.event.id))),
        // Followed from their ends, as on a first start.
        Err(e) => {
            tracing::warn!("{e}; log files are followed from their ends");
            None
        }
    };
    let spooled = Spooled {
        next_id: replayed.next_id,
        events: replayed.events,
    };
    let mut core = Observer::new(&host, sizing, Now::read(), spooled);
    if let Some(p) = positions {
        core.resume_from(p);
    }
    let mut shell = Shell {
        codec,
        core,
        spool,
        files: FileWatch::new(),
        jobs: JobRunner::new(),
        decode_log: DecodeLog::default(),
        send_errors: 0,
        compact_failure_said: None,
        positions_path,
        positions_failure_said: None,
    };
    tracing::info!(
        host = %host,
        port = opts.port,
        sealed = shell.codec.is_sealed(),
        "observer started; listening for beacons"
    );
    let wake = shell.files.wake.clone();
    let mut buf_beacon = vec![0u8; MAX_DATAGRAM + 1];
    let mut buf_reply = vec![0u8; MAX_DATAGRAM + 1];
    tokio::pin!(shutdown);
    loop {
        let now = Now::read();
        shell.core.handle_timeout(now);
        shell.carry_out(now, &sock).await;
        let deadline = shell.core.poll_timeout(now.mono);
        tokio::select! {
            () = &mut shutdown => break,
            r = beacon_sock.recv_from(&mut buf_beacon) => shell.on_recv(r, &buf_beacon),
            r = sock.recv_from(&mut buf_reply) => shell.on_recv(r, &buf_reply),
            () = wake.notified() => {
                let changed = shell.files.take_changed();
                shell.core.handle_files_changed(Now::read(), &changed);
            }
            job = shell.jobs.next_result() => shell.core.handle_job(Now::read(), job),
            () = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
    tracing::info!("shutting down; stopping checks and writing the spool");
    shell.jobs.shutdown().await;
    let now = Now::read();
    shell.core.handle_timeout(now);
    shell.carry_out(now, &sock).await;
    // The last batch may be waiting for an id-reservation retry: write what
    // can be written.
    shell.write_spool(Now::read());
    let flushed = shell.spool.flush();
    shell.save_positions(Now::read(), true);
    shell.say_goodbye(&sock).await;
    flushed?;
    Ok(())
}

impl Shell {
    fn on_recv(&mut self, r: std::io::Result<(usize, SocketAddr)>, buf: &[u8]) {
        let (n, from) = match r {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!("receive error: {e}");
                return;
            }
        };
        let now = Now::read();
        if n > MAX_DATAGRAM {
            self.decode_log
                .record(now.mono, from, &DecodeError::TooLarge { len: n });
            return;
        }
        match self.codec.decode(&buf[..n], now.wall_ms.max(0) as u64) {
            Ok(msg) => self.core.handle_datagram(now, from, msg),
            Err(e) => self.decode_log.record(now.mono, from, &e),
        }
    }

    /// Everything the core asks for, in the gate's order: the spool batch
    /// is written (and reported) before the datagrams it releases are sent.
    async fn carry_out(&mut self, now: Now, sock: &UdpSocket) {
        self.write_spool(now);
        self.save_positions(now, false);
        while let Some(job) = self.core.poll_job() {
            self.jobs.start(job);
        }
        let follow = match self.core.poll_follow() {
            Some(files) => Some(files),
            None if self.files.retry_due(now.mono) => Some(self.core.followed()),
            None => None,
        };
        if let Some(files) = follow {
            self.files.follow(&files);
            let notified = self.files.covers(&files);
            self.core.set_files_notified(now.mono, notified);
        }
        self.send_all(sock).await;
    }

    fn write_spool(&mut self, now: Now) {
        let Some(batch) = self.core.take_spool_batch(now.mono) else {
            return;
        };
        if let Some(file) = self.core.positions_before(&batch) {
            self.write_positions(now, &file, false);
        }
        // A failure is reported by the core as the `spool` problem (logged
        // once, sent as a SYSTEM event).
        let result = self.spool.write(&batch);
        self.core.handle_spool_written(now, result);
        match self
            .spool
            .maybe_compact(self.core.queue_len(), self.core.unacked())
        {
            Ok(true) => tracing::debug!("spool compacted"),
            Ok(false) => {}
            Err(e) => {
                // Retried after every write while the disk is full: said
                // once a minute at most.
                if self
                    .compact_failure_said
                    .is_none_or(|t| now.mono >= t + SPOOL_FAILURE_LOG_INTERVAL)
                {
                    self.compact_failure_said = Some(now.mono);
                    tracing::error!("spool compaction failed: {e}");
                }
            }
        }
    }

    /// Writes the read positions the core released, right after the spool
    /// write that released them. Only the final write, at a clean stop, is
    /// fsynced: the others are on the way from a log line to its datagram,
    /// and an fsync there (two per batch with the pending write) cost
    /// milliseconds a line; like the spool, the file survives a crash of
    /// the observer without one (docs/RELIABILITY.md, "Power loss").
    fn save_positions(&mut self, now: Now, final_write: bool) {
        let Some(positions) = self.core.take_positions(now.mono, final_write) else {
            return;
        };
        let file = PositionsFile {
            positions,
            pending: None,
        };
        self.write_positions(now, &file, final_write);
    }

    fn write_positions(&mut self, now: Now, file: &PositionsFile, durable: bool) {
        if let Err(e) = file.save(&self.positions_path, durable) {
            // A full disk: the lines since the last written positions are
            // read again after a restart. Said once a minute at most.
            if self
                .positions_failure_said
                .is_none_or(|t| now.mono >= t + SPOOL_FAILURE_LOG_INTERVAL)
            {
                self.positions_failure_said = Some(now.mono);
                tracing::error!("{e}");
            }
        }
    }

    /// `Goodbye` to every supervisor heard, twice: a lost datagram would
    /// make a clean stop look like a crash.
    async fn say_goodbye(&mut self, sock: &UdpSocket) {
        let goodbyes = self.core.goodbyes(Now::read().mono);
        let now_ms = crate::clock::unix_ms().max(0) as u64;
        for round in 0..2 {
            if round > 0 {
                tokio::time::sleep(GOODBYE_GAP).await;
            }
            for (to, msg) in &goodbyes {
                match self.codec.encode(msg, now_ms) {
                    Ok(bytes) => {
                        if let Err(e) = sock.send_to(&bytes, to).await {
                            tracing::debug!("cannot say goodbye to {to}: {e}");
                        }
                    }
                    Err(e) => tracing::error!("cannot encode a goodbye: {e}"),
                }
            }
        }
        if !goodbyes.is_empty() {
            tracing::info!("said goodbye to {} supervisor(s)", goodbyes.len());
        }
    }

    async fn send_all(&mut self, sock: &UdpSocket) {
        let now_ms = crate::clock::unix_ms().max(0) as u64;
        while let Some((to, msg)) = self.core.poll_transmit() {
            let bytes = match self.codec.encode(&msg, now_ms) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!("cannot encode a {} message: {e}", msg.kind());
                    continue;
                }
            };
            if let Err(e) = sock.send_to(&bytes, to).await {
                self.send_errors += 1;
                if self.send_errors.is_power_of_two() {
                    tracing::warn!(
                        "cannot send to {to}: {e} ({} send errors so far)",
                        self.send_errors
                    );
                }
            }
        }
    }
}
