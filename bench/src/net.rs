//! The async shell: sockets, the file-descriptor limit, supervisor
//! discovery, and one task per simulated observer feeding its state
//! machine.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinSet;
use wire::limits::MAX_DATAGRAM;
use wire::{Codec, Key, KeyError, Message};

use crate::args::{LoadShape, Plan};
use crate::sim::{Load, Profile, SimulatedObserver};
use crate::stats::{SimStats, Summary};

/// Socket buffers asked for on each simulated observer's socket (the kernel
/// caps them at net.core.{r,w}mem_max).
const FLOOD_SOCKET_BUFFER: usize = 4 << 20;
/// Datagrams read in one go before the state machine is polled again.
const RECV_BURST: usize = 64;

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("cannot listen for beacons on UDP port {port}: {source}")]
    BeaconSocket { port: u16, source: std::io::Error },
    #[error(
        "no supervisor beacon heard on UDP port {port} within {seconds} s (give --supervisor ADDR:PORT, or check the port and key)"
    )]
    NoBeacon { port: u16, seconds: f64 },
    #[error("cannot open the socket of simulated observer {index}: {source}")]
    ObserverSocket { index: u32, source: std::io::Error },
    #[error(
        "{needed} file descriptors are needed but the limit is {limit} and cannot be raised: {reason}"
    )]
    FdLimit {
        needed: u64,
        limit: u64,
        reason: String,
    },
}

/// Raises the soft RLIMIT_NOFILE to at least `needed` (and the hard limit
/// too when allowed), so that one socket per simulated observer fits.
pub fn raise_fd_limit(needed: u64) -> Result<(), RunError> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(RunError::FdLimit {
            needed,
            limit: 0,
            reason: std::io::Error::last_os_error().to_string(),
        });
    }
    if lim.rlim_cur >= needed {
        return Ok(());
    }
    let wanted = libc::rlimit {
        rlim_cur: needed,
        rlim_max: lim.rlim_max.max(needed),
    };
    // SAFETY: setrlimit only reads the struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0 {
        return Ok(());
    }
    if lim.rlim_max >= needed {
        let soft = libc::rlimit {
            rlim_cur: needed,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft) } == 0 {
            return Ok(());
        }
    }
    Err(RunError::FdLimit {
        needed,
        limit: lim.rlim_cur,
        reason: std::io::Error::last_os_error().to_string(),
    })
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn udp_socket(addr: SocketAddr, reuse: bool, buffer: Option<usize>) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if reuse {
        s.set_reuse_address(true)?;
        s.set_reuse_port(true)?;
    }
    if let Some(bytes) = buffer {
        // Best effort: a smaller buffer only means more retransmissions.
        s.set_recv_buffer_size(bytes).ok();
        s.set_send_buffer_size(bytes).ok();
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// Waits for a beacon on UDP port `port`; its source address is where the
/// supervisor takes requests.
pub async fn discover(
    port: u16,
    codec: &mut Codec,
    wait: Duration,
) -> Result<SocketAddr, RunError> {
    let bind = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let socket =
        udp_socket(bind, true, None).map_err(|source| RunError::BeaconSocket { port, source })?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let received = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await;
        let Ok(received) = received else {
            return Err(RunError::NoBeacon {
                port,
                seconds: wait.as_secs_f64(),
            });
        };
        let Ok((n, from)) = received else {
            continue;
        };
        if let Ok(Message::Beacon { supervisor, .. }) = codec.decode(&buf[..n], unix_ms()) {
            eprintln!("loadgen: beacon from supervisor `{supervisor}` at {from}");
            return Ok(from);
        }
    }
}

/// Runs the whole load and returns its summary.
pub async fn run(plan: Plan) -> Result<Summary, RunError> {
    let key = plan.key_file.as_deref().map(Key::load).transpose()?;
    let make_codec = || match &key {
        Some(k) => Codec::sealed(k),
        None => Codec::open(),
    };
    let target = match plan.supervisor {
        Some(addr) => addr,
        None => discover(plan.port, &mut make_codec(), plan.discover_timeout).await?,
    };
    let local = if target.is_ipv4() {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
    };
    let buffer = matches!(plan.shape, LoadShape::Flood { .. }).then_some(FLOOD_SOCKET_BUFFER);
    let mut sockets = Vec::with_capacity(plan.observers as usize);
    for index in 0..plan.observers {
        let socket = udp_socket(local, false, buffer)
            .map_err(|source| RunError::ObserverSocket { index, source })?;
        sockets.push(socket);
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("loadgen: interrupted; waiting for no more acknowledgements");
            stop_tx.send_replace(true);
        }
        // Keep the sender alive: a dropped sender would wake every task.
        std::future::pending::<()>().await;
    });

    let started = Instant::now();
    let started_ms = unix_ms();
    let first_id = started_ms.saturating_mul(1000);
    let n = plan.observers;
    let mode = match plan.shape {
        LoadShape::Steady { .. } => "steady",
        LoadShape::Flood { .. } => "flood",
    };
    eprintln!(
        "loadgen: {n} simulated observers ({mode}) -> {target}{}",
        if key.is_some() { ", sealed" } else { ", open" }
    );
    let mut tasks = JoinSet::new();
    // The same for every simulated observer (names of one length, one codec).
    let mut per_datagram = None;
    for (index, socket) in (0..n).zip(sockets) {
        let fraction = f64::from(index) / f64::from(n);
        let load = match plan.shape {
            LoadShape::Steady { rate, duration } => {
                let every = Duration::from_secs_f64(1.0 / rate);
                Load::Steady {
                    every,
                    phase: every.mul_f64(fraction),
                    lasts: duration,
                }
            }
            LoadShape::Flood { events, .. } => {
                let share =
                    events / u64::from(n) + u64::from(u64::from(index) < events % u64::from(n));
                Load::Flood {
                    events: share,
                    window: 0,
                }
            }
        };
        let profile = Profile {
            load,
            heartbeat: plan.heartbeat,
            heartbeat_phase: plan.heartbeat.mul_f64(fraction),
            open_problems: plan.open_problems,
            retry: plan.retry,
            drain: plan.drain,
            event_bytes: plan.event_bytes,
            fetch_config: plan.fetch_config,
            first_id,
        };
        let mut sim = SimulatedObserver::new(
            plan.host_name(index),
            profile,
            make_codec(),
            started,
            started_ms,
        );
        if let (Load::Flood { events, .. }, LoadShape::Flood { window, .. }) = (load, plan.shape) {
            let per_datagram =
                *per_datagram.get_or_insert_with(|| sim.events_per_datagram().max(1));
            let window = (window as usize).saturating_mul(per_datagram);
            sim.set_load(Load::Flood { events, window });
        }
        tasks.spawn(drive(sim, socket, target, stop_rx.clone()));
    }
    let mut total = SimStats::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(stats) => total.merge(stats),
            Err(e) => eprintln!("loadgen: a simulated observer failed: {e}"),
        }
    }
    let stopped = Instant::now();
    Ok(Summary::new(
        mode,
        target.to_string(),
        key.is_some(),
        n,
        total,
        started,
        stopped,
    ))
}

/// Feeds one simulated observer from its socket and its timers until it is
/// finished or the run is interrupted.
async fn drive(
    mut sim: SimulatedObserver,
    socket: UdpSocket,
    target: SocketAddr,
    mut stop: watch::Receiver<bool>,
) -> SimStats {
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut sent = 0u64;
    let mut send_errors = 0u64;
    let mut received = 0u64;
    let mut recv_errors = 0u64;
    let mut send_failed_before = false;
    loop {
        let now = Instant::now();
        sim.handle_timeout(now);
        while let Some(datagram) = sim.poll_transmit(now) {
            match socket.send_to(&datagram, target).await {
                Ok(_) => sent += 1,
                Err(e) => {
                    send_errors += 1;
                    if !std::mem::replace(&mut send_failed_before, true) {
                        eprintln!("loadgen: {}: send to {target} failed: {e}", sim.host());
                    }
                }
            }
        }
        if sim.is_finished(now) || *stop.borrow() {
            break;
        }
        let wake = tokio::time::Instant::from_std(sim.poll_timeout());
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                match r {
                    Ok((n, _from)) => {
                        received += 1;
                        sim.handle_datagram(Instant::now(), &buf[..n]);
                        // Take what else is already queued before sending again.
                        for _ in 0..RECV_BURST {
                            match socket.try_recv_from(&mut buf) {
                                Ok((n, _)) => {
                                    received += 1;
                                    sim.handle_datagram(Instant::now(), &buf[..n]);
                                }
                                Err(_) => break,
                            }
                        }
                    }
                    Err(_) => recv_errors += 1,
                }
            }
            _ = tokio::time::sleep_until(wake) => {}
            _ = stop.changed() => {}
        }
    }
    let mut stats = sim.into_stats();
    stats.datagrams_sent += sent;
    stats.send_errors += send_errors;
    stats.datagrams_received += received;
    stats.recv_errors += recv_errors;
    stats
}
