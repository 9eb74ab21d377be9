//! The observer's sockets: the beacon socket on port P (shared by every
//! observer on the machine), the ephemeral socket it talks to supervisors
//! from, the rate-limited log of undecodable datagrams, and the kernel's node
//! name as the default host name.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use tokio::net::UdpSocket;
use wire::DecodeError;

use crate::timers::{DECODE_LOG_INTERVAL, SESSION_RECEIVE_BUFFER};

pub fn bind_beacon_socket(port: u16) -> std::io::Result<UdpSocket> {
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
pub fn bind_session_socket() -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = s.set_recv_buffer_size(SESSION_RECEIVE_BUFFER) {
        tracing::debug!("could not enlarge the receive buffer: {e}");
    }
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)).into())?;
    UdpSocket::from_std(s.into())
}

/// Rate-limited log of undecodable datagrams.
#[derive(Default)]
pub struct DecodeLog {
    counts: HashMap<&'static str, u64>,
    last: HashMap<IpAddr, Instant>,
    no_key_said: Option<Instant>,
}

impl DecodeLog {
    pub fn record(&mut self, now: Instant, from: SocketAddr, e: &DecodeError) {
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
