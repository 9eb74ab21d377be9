//! The async shell (mini-redis style): two UDP sockets, the next deadline,
//! file-change notifications, results of blocking jobs and shutdown, feeding
//! the [`Session`] and the [`Monitors`] and sending what they produce. It
//! runs on tokio's current-thread runtime; blocking work (the process table,
//! commands) runs in `spawn_blocking` / `tokio::process` and never stalls
//! the loop. Log files are read inline: reads from the page cache are short
//! and bounded per pass ([`READ_BUDGET`](crate::timers::READ_BUDGET)), and
//! paused while the spool holds many unacknowledged events
//! ([`READ_PAUSE_QUEUE`](crate::timers::READ_PAUSE_QUEUE)).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use conf::HostName;
use notify::{RecursiveMode, Watcher};
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc};
use wire::limits::MAX_DATAGRAM;
use wire::{Codec, DecodeError, Key};

use crate::clock::{LocalMinute, unix_ms};
use crate::command::run_command;
use crate::logs::LOG_PROBLEM_PREFIX;
use crate::monitors::{COMMAND_PROBLEM_PREFIX, Job, Monitors};
use crate::problems::ProblemBoard;
use crate::process::{ProcessTable, count_lines};
use crate::raised::Raised;
use crate::session::{Session, SessionEvent};
use crate::spool::{EventSpool, SpoolError};
use crate::timers::*;

/// What the observer needs to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// UDP port P: beacons and resets arrive on P, supervisors listen on P+1.
    pub port: u16,
    pub name: HostName,
    pub key: Option<Key>,
    pub spool_dir: PathBuf,
}

/// Why the observer could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot listen for beacons on UDP port {port}: {source}")]
    BeaconSocket { port: u16, source: std::io::Error },
    #[error("cannot open a UDP socket for sending: {0}")]
    SendSocket(std::io::Error),
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

const SPOOL_PROBLEM: &str = "spool";
const CONFIG_PROBLEM_PREFIX: &str = "config:";

fn bind_beacon_socket(port: u16) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Several observers on one machine (tests, simulations) share port P:
    // broadcasts reach every one of them.
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    UdpSocket::from_std(s.into())
}

/// The ephemeral socket the observer talks to supervisors from. Its receive
/// buffer is enlarged (best effort): with hundreds of event datagrams in
/// flight, acknowledgements arrive in bursts while the loop is reading a
/// file, and one dropped here means a re-send. The kernel charges only for
/// datagrams actually queued.
fn bind_session_socket() -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = s.set_recv_buffer_size(SESSION_RECEIVE_BUFFER) {
        tracing::debug!("could not enlarge the receive buffer: {e}");
    }
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)).into())?;
    UdpSocket::from_std(s.into())
}

/// File-change notifications: the watcher's thread records paths and wakes
/// the loop. The set is bounded by the number of distinct paths in watched
/// directories between two passes of the loop.
struct FileWatch {
    watcher: Option<notify::RecommendedWatcher>,
    changed: Arc<Mutex<HashSet<PathBuf>>>,
    wake: Arc<Notify>,
    watched: HashSet<PathBuf>,
    failed: HashSet<PathBuf>,
    next_retry: Instant,
}

impl FileWatch {
    fn new() -> FileWatch {
        let changed: Arc<Mutex<HashSet<PathBuf>>> = Arc::default();
        let wake = Arc::new(Notify::new());
        let (c, w) = (changed.clone(), wake.clone());
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                let mut set = c.lock().unwrap_or_else(|e| e.into_inner());
                if set.len() < 4096 {
                    set.extend(ev.paths);
                }
                w.notify_one();
            }
        });
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(
                    "file-change notification unavailable ({e}); polling log files only"
                );
                None
            }
        };
        FileWatch {
            watcher,
            changed,
            wake,
            watched: HashSet::new(),
            failed: HashSet::new(),
            next_retry: Instant::now(),
        }
    }

    /// Watches exactly the parent directories of `files`.
    fn follow(&mut self, files: &[PathBuf]) {
        let dirs: HashSet<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .map(|d| {
                if d.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    d
                }
            })
            .collect();
        let Some(w) = &mut self.watcher else { return };
        for gone in self.watched.difference(&dirs).cloned().collect::<Vec<_>>() {
            if let Err(e) = w.unwatch(&gone) {
                tracing::debug!("unwatch {}: {e}", gone.display());
            }
            self.watched.remove(&gone);
        }
        self.failed.clear();
        for d in dirs {
            if self.watched.contains(&d) {
                continue;
            }
            match w.watch(&d, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(d);
                }
                Err(_) => {
                    self.failed.insert(d);
                }
            }
        }
    }

    /// Whether watches that failed should be tried again now.
    fn retry_due(&mut self, now: Instant) -> bool {
        let due = !self.failed.is_empty() && now >= self.next_retry;
        if due {
            self.next_retry = now + WATCH_RETRY;
        }
        due
    }

    fn take_changed(&self) -> Vec<PathBuf> {
        let mut set = self.changed.lock().unwrap_or_else(|e| e.into_inner());
        set.drain().collect()
    }
}

enum JobResult {
    Processes {
        generation: u64,
        result: Result<Vec<u64>, String>,
    },
    Command {
        generation: u64,
        index: usize,
        result: Result<Vec<String>, crate::command::CommandFailure>,
    },
}

/// Rate-limited log of undecodable datagrams.
#[derive(Default)]
struct DecodeLog {
    counts: HashMap<&'static str, u64>,
    last: HashMap<IpAddr, Instant>,
    no_key_said: Option<Instant>,
}

impl DecodeLog {
    fn record(&mut self, now: Instant, from: SocketAddr, e: &DecodeError) {
        *self.counts.entry(e.reason()).or_default() += 1;
        if *e == DecodeError::NoKey {
            if self
                .no_key_said
                .is_none_or(|t| now >= t + DECODE_LOG_INTERVAL)
            {
                self.no_key_said = Some(now);
                tracing::error!(
                    "{from} sends sealed datagrams: the LAN uses a key and this observer has no key (start it with --key-file)"
                );
            }
            return;
        }
        if self.last.len() > 1024 {
            self.last.clear();
        }
        let due = self
            .last
            .get(&from.ip())
            .is_none_or(|t| now >= *t + DECODE_LOG_INTERVAL);
        if due {
            self.last.insert(from.ip(), now);
            tracing::warn!(
                "dropped a datagram from {from}: {e} (dropped so far by reason: {:?})",
                self.counts
            );
        }
    }
}

struct Shell {
    host: String,
    codec: Codec,
    session: Session,
    spool: EventSpool,
    monitors: Monitors,
    problems: ProblemBoard,
    raised: Vec<Raised>,
    files: FileWatch,
    jobs: mpsc::UnboundedSender<JobResult>,
    table: Arc<Mutex<Option<ProcessTable>>>,
    poll_files_now: bool,
    next_file_poll: Instant,
    decode_log: DecodeLog,
    send_errors: u64,
}

/// Runs the observer until `shutdown` completes, then flushes the spool.
pub async fn run(opts: Options, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let beacon_sock =
        bind_beacon_socket(opts.port).map_err(|source| DaemonError::BeaconSocket {
            port: opts.port,
            source,
        })?;
    let sock = bind_session_socket().map_err(DaemonError::SendSocket)?;
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
    let now = Instant::now();
    let (spool, replayed) = EventSpool::open(&opts.spool_dir, &host)?;
    if replayed.cut_bytes > 0 {
        tracing::warn!(
            "spool: {} bytes of a torn record were discarded",
            replayed.cut_bytes
        );
    }
    let mut session = Session::new(&host, sizing, SPOOL_CAPACITY, now);
    if !replayed.events.is_empty() {
        tracing::info!(
            "spool: {} unacknowledged events will be re-sent",
            replayed.events.len()
        );
    }
    session.queue_events(now, replayed.events);
    let (jobs_tx, mut jobs_rx) = mpsc::unbounded_channel();
    let mut shell = Shell {
        host,
        codec,
        session,
        spool,
        monitors: Monitors::new(),
        problems: ProblemBoard::new(),
        raised: Vec::new(),
        files: FileWatch::new(),
        jobs: jobs_tx,
        table: Arc::new(Mutex::new(None)),
        poll_files_now: false,
        next_file_poll: now + LOG_POLL_INTERVAL,
        decode_log: DecodeLog::default(),
        send_errors: 0,
    };
    tracing::info!(
        host = %shell.host,
        port = opts.port,
        sealed = shell.codec.is_sealed(),
        "observer started; listening for beacons"
    );
    let wake = shell.files.wake.clone();
    let mut buf_beacon = vec![0u8; MAX_DATAGRAM + 1];
    let mut buf_reply = vec![0u8; MAX_DATAGRAM + 1];
    tokio::pin!(shutdown);
    loop {
        let now = Instant::now();
        shell.step(now);
        shell.send_all(&sock).await;
        let deadline = shell.next_deadline(now);
        tokio::select! {
            () = &mut shutdown => break,
            r = beacon_sock.recv_from(&mut buf_beacon) => shell.on_recv(r, &buf_beacon),
            r = sock.recv_from(&mut buf_reply) => shell.on_recv(r, &buf_reply),
            () = wake.notified() => shell.on_files_changed(),
            Some(job) = jobs_rx.recv() => shell.on_job(job),
            () = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
    tracing::info!("shutting down; flushing the spool");
    shell.step(Instant::now());
    shell.send_all(&sock).await;
    shell.settle_spool();
    shell.spool.flush()?;
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
        let now = Instant::now();
        if n > MAX_DATAGRAM {
            self.decode_log
                .record(now, from, &DecodeError::TooLarge { len: n });
            return;
        }
        match self.codec.decode(&buf[..n], unix_ms().max(0) as u64) {
            Ok(msg) => self.session.handle_datagram(now, from, msg),
            Err(e) => self.decode_log.record(now, from, &e),
        }
    }

    /// Whether log files may be read now (see [`READ_PAUSE_QUEUE`]).
    fn logs_have_room(&self) -> bool {
        self.session.queue_len() < READ_PAUSE_QUEUE
    }

    fn on_files_changed(&mut self) {
        if !self.logs_have_room() {
            // Read everything once acknowledgements make room.
            self.poll_files_now = true;
            return;
        }
        let changed = self.files.take_changed();
        let followed: Vec<PathBuf> = self.monitors.logs.paths().map(Path::to_path_buf).collect();
        let now = Instant::now();
        let (local, ms) = (LocalMinute::now(), unix_ms());
        for f in followed {
            let hit = changed
                .iter()
                .any(|c| *c == f || Some(c.as_path()) == f.parent());
            if hit {
                self.poll_files_now |= self.monitors.logs.poll_file(
                    &f,
                    now,
                    local,
                    ms,
                    &mut self.problems,
                    &mut self.raised,
                );
            }
        }
    }

    fn on_job(&mut self, job: JobResult) {
        let (local, ms) = (LocalMinute::now(), unix_ms());
        let out = match job {
            JobResult::Processes { generation, result } => {
                self.monitors
                    .on_process_counts(generation, result, local, ms, &mut self.problems)
            }
            JobResult::Command {
                generation,
                index,
                result,
            } => self.monitors.on_command_output(
                generation,
                index,
                result,
                local,
                ms,
                &mut self.problems,
            ),
        };
        self.raised.extend(out);
    }

    fn followed_files(&self) -> Vec<PathBuf> {
        self.monitors.logs.paths().map(Path::to_path_buf).collect()
    }

    /// Everything that does not wait: timers, session events, due jobs, the
    /// spool.
    fn step(&mut self, now: Instant) {
        let (local, ms) = (LocalMinute::now(), unix_ms());
        self.session.handle_timeout(now);
        while let Some(ev) = self.session.poll_event() {
            self.on_session_event(ev, now, ms);
        }
        if (self.poll_files_now || now >= self.next_file_poll) && self.logs_have_room() {
            self.poll_files_now = false;
            self.next_file_poll = now + LOG_POLL_INTERVAL;
            self.poll_files_now =
                self.monitors
                    .logs
                    .poll_all(now, local, ms, &mut self.problems, &mut self.raised);
            if self.files.retry_due(now) {
                let files = self.followed_files();
                self.files.follow(&files);
            }
        }
        self.monitors.logs.tick(now, local, ms, &mut self.raised);
        for job in self.monitors.due_jobs(now) {
            self.start(job);
        }
        self.spool_raised(now, ms);
    }

    fn spool_raised(&mut self, now: Instant, ms: i64) {
        if !self.raised.is_empty() {
            let raised = std::mem::take(&mut self.raised);
            let n = raised.len();
            match self.spool.append(raised) {
                // Written to the spool by the one flush below, before the
                // shell sends anything.
                Ok(evs) => self.session.queue_events(now, evs),
                Err(e) => tracing::error!("{e}; {n} events could not be given ids and are lost"),
            }
        }
        let dropped = self.session.take_dropped();
        if dropped > 0 {
            tracing::warn!("spool full: {dropped} oldest events dropped");
            let msg = format!(
                "event spool full: oldest events dropped ({dropped} so far in this episode)"
            );
            if let Some(r) = self.problems.raise(SPOOL_PROBLEM, &msg, ms) {
                self.raised.push(r);
            }
        } else if self.session.queue_len() * 10 < SPOOL_CAPACITY * 9
            && let Some(r) = self.problems.clear(SPOOL_PROBLEM, ms)
        {
            // Cleared once the queue is back below 90 % (no-op unless raised).
            self.raised.push(r);
        }
        self.settle_spool();
        if let Err(e) = self.spool.flush() {
            // Still deliver the new events: losing them now is worse than
            // losing them only if the observer also restarts.
            tracing::error!("{e}; the newest events are kept in memory only");
        }
        match self
            .spool
            .maybe_compact(self.session.queue_len(), self.session.unacked())
        {
            Ok(true) => tracing::debug!("spool compacted"),
            Ok(false) => {}
            Err(e) => tracing::error!("spool compaction failed: {e}"),
        }
    }

    fn settle_spool(&mut self) {
        let settled = self.session.take_settled();
        if !settled.is_empty() {
            self.spool.record_settled(&settled);
        }
    }

    fn on_session_event(&mut self, ev: SessionEvent, now: Instant, ms: i64) {
        match ev {
            SessionEvent::Configure { version, text } => {
                let (config, errors) = conf::parse_host(&text);
                tracing::info!(
                    "configuration {version:016x} applied: {} groups, {} with errors",
                    config.group_count(),
                    errors.len()
                );
                let mut keys = HashSet::new();
                for e in &errors {
                    let key = format!("{CONFIG_PROBLEM_PREFIX}{e}");
                    if keys.insert(key.clone()) {
                        let msg = format!("configuration group failed to load: {e}");
                        self.raised.extend(self.problems.raise(&key, &msg, ms));
                    }
                }
                self.monitors.apply(&config, now);
                self.after_apply(&keys, ms);
            }
            SessionEvent::NoConfig => {
                tracing::info!(
                    "the supervisor has no configuration for this host; running nothing"
                );
                self.monitors.clear(now);
                self.after_apply(&HashSet::new(), ms);
            }
            SessionEvent::SupervisorChosen { addr, name } => {
                tracing::info!("working with supervisor {name} at {addr}");
            }
            SessionEvent::SupervisorLost { addr } => {
                tracing::warn!("supervisor at {addr} went silent; waiting for a beacon");
            }
        }
    }

    fn after_apply(&mut self, config_keys: &HashSet<String>, ms: i64) {
        let files = self.followed_files();
        self.files.follow(&files);
        let logs: HashSet<String> = files.iter().map(|f| crate::logs::problem_key(f)).collect();
        let cmds: HashSet<String> = self
            .monitors
            .command_texts()
            .map(crate::monitors::command_problem_key)
            .collect();
        let mut out = Vec::new();
        out.extend(self.problems.clear_stale(
            CONFIG_PROBLEM_PREFIX,
            &|k| config_keys.contains(k),
            ms,
        ));
        out.extend(
            self.problems
                .clear_stale(LOG_PROBLEM_PREFIX, &|k| logs.contains(k), ms),
        );
        out.extend(
            self.problems
                .clear_stale(COMMAND_PROBLEM_PREFIX, &|k| cmds.contains(k), ms),
        );
        self.raised.extend(out);
        self.poll_files_now = true;
    }

    fn start(&self, job: Job) {
        let tx = self.jobs.clone();
        match job {
            Job::CountProcesses {
                generation,
                patterns,
                ps_command,
            } => {
                if let Some(cmd) = ps_command {
                    tokio::spawn(async move {
                        let result =
                            run_command(&cmd.argv, &cmd.text, COMMAND_TIMEOUT, COMMAND_OUTPUT_CAP)
                                .await
                                .map(|lines| count_lines(&patterns, &lines))
                                .map_err(|e| e.to_string());
                        if tx
                            .send(JobResult::Processes { generation, result })
                            .is_err()
                        {
                            tracing::debug!("process count finished after shutdown");
                        }
                    });
                } else {
                    let table = self.table.clone();
                    tokio::task::spawn_blocking(move || {
                        let mut guard = table.lock().unwrap_or_else(|e| e.into_inner());
                        let result = match &mut *guard {
                            Some(t) => t.count(&patterns),
                            slot => ProcessTable::new().and_then(|mut t| {
                                let r = t.count(&patterns);
                                *slot = Some(t);
                                r
                            }),
                        };
                        let result = result.map_err(|e| e.to_string());
                        if tx
                            .send(JobResult::Processes { generation, result })
                            .is_err()
                        {
                            tracing::debug!("process count finished after shutdown");
                        }
                    });
                }
            }
            Job::RunCommand {
                generation,
                index,
                argv,
                text,
            } => {
                tokio::spawn(async move {
                    let result =
                        run_command(&argv, &text, COMMAND_TIMEOUT, COMMAND_OUTPUT_CAP).await;
                    if tx
                        .send(JobResult::Command {
                            generation,
                            index,
                            result,
                        })
                        .is_err()
                    {
                        tracing::debug!("command finished after shutdown");
                    }
                });
            }
        }
    }

    async fn send_all(&mut self, sock: &UdpSocket) {
        let now_ms = unix_ms().max(0) as u64;
        while let Some((to, msg)) = self.session.poll_transmit() {
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

    fn next_deadline(&self, now: Instant) -> Instant {
        let reading = self.logs_have_room();
        if (self.poll_files_now && reading) || !self.raised.is_empty() {
            return now;
        }
        // While reading is paused, acknowledgements (which arrive on the
        // socket) are what resumes it, not the poll timer.
        let file_poll = reading.then_some(self.next_file_poll);
        let mut t = now + LOG_POLL_INTERVAL;
        for d in [
            file_poll,
            self.session.poll_timeout(),
            self.monitors.next_deadline(),
        ]
        .into_iter()
        .flatten()
        {
            t = t.min(d);
        }
        t
    }
}

/// The kernel's node name, as the default host name.
pub fn node_name() -> Option<String> {
    // SAFETY: uname fills the zeroed struct; nodename is NUL-terminated.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } == 0 {
        // SAFETY: the kernel NUL-terminates nodename within the array.
        let c = unsafe { std::ffi::CStr::from_ptr(u.nodename.as_ptr()) };
        let s = c.to_string_lossy().trim().to_string();
        if !s.is_empty() {
            return Some(s);
        }
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
