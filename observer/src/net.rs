//! The observer's sockets: the beacon socket on port P (shared by every
//! observer on the machine), the ephemeral socket it talks to supervisors
//! from, the rate-limited log of undecodable datagrams, and the kernel's node
//! name as the default host name.
//!
//! # `--bind ADDRESS`
//! A socket bound to one address receives no broadcast on Linux (a beacon
//! to 10.0.0.255 is not addressed to 10.0.0.5), so binding the beacon socket
//! to the address would deafen the observer. Instead the beacon socket
//! stays on 0.0.0.0:P and is tied to the interface that holds the address
//! (`SO_BINDTODEVICE`): it hears beacons and broadcast resets arriving on
//! that interface only. The session socket (requests, heartbeats, events,
//! and the acknowledgements and unicast resets coming back) is bound to the
//! address itself, so that is the source supervisors see. Unprivileged
//! `SO_BINDTODEVICE` needs Linux 5.7 or later (before: `CAP_NET_RAW`).
//! IPv4 only: beacons are IPv4 broadcasts.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use tokio::net::UdpSocket;
use wire::DecodeError;

use crate::timers::{DECODE_LOG_INTERVAL, SESSION_RECEIVE_BUFFER};

/// The beacon socket on 0.0.0.0:`port`; with `device`, it hears only what
/// arrives on that interface.
pub fn bind_beacon_socket(port: u16, device: Option<&str>) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Several observers on one machine (tests, simulations) share port P:
    // broadcasts reach every one of them.
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    if let Some(device) = device {
        s.bind_device(Some(device.as_bytes()))?;
    }
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    UdpSocket::from_std(s.into())
}

/// The ephemeral socket the observer talks to supervisors from. Its receive
/// buffer is enlarged (best effort): with hundreds of event datagrams in
/// flight, acknowledgements arrive in bursts while the loop is reading a
/// file, and one dropped here means a re-send. The kernel charges only for
/// datagrams actually queued.
/// Bound to `local` (0.0.0.0 without `--bind`), on an ephemeral port.
pub fn bind_session_socket(local: Ipv4Addr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = s.set_recv_buffer_size(SESSION_RECEIVE_BUFFER) {
        tracing::debug!("could not enlarge the receive buffer: {e}");
    }
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::from((local, 0)).into())?;
    UdpSocket::from_std(s.into())
}

/// The name of the interface holding `address` (`lo` for 127.0.0.1);
/// `None` when no interface has it.
pub fn interface_of(address: Ipv4Addr) -> std::io::Result<Option<String>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list freed below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut found = None;
    let mut at = list;
    while !at.is_null() {
        // SAFETY: `at` is a node of the list getifaddrs returned.
        let entry = unsafe { &*at };
        at = entry.ifa_next;
        if entry.ifa_addr.is_null() || entry.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_addr points to a sockaddr whose family says its type.
        if i32::from(unsafe { (*entry.ifa_addr).sa_family }) != libc::AF_INET {
            continue;
        }
        // SAFETY: an AF_INET address is a sockaddr_in.
        let sin = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
        if Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)) == address {
            // SAFETY: ifa_name is a NUL-terminated interface name.
            let name = unsafe { std::ffi::CStr::from_ptr(entry.ifa_name) };
            found = Some(name.to_string_lossy().into_owned());
            break;
        }
    }
    // SAFETY: the list came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_address_is_on_the_loopback_interface() {
        assert_eq!(
            interface_of(Ipv4Addr::LOCALHOST).unwrap().as_deref(),
            Some("lo")
        );
        // TEST-NET-3: on no interface.
        assert_eq!(interface_of(Ipv4Addr::new(203, 0, 113, 7)).unwrap(), None);
    }
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
