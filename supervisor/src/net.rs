//! The supervisor's UDP socket and its node name.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use crate::timers::RECEIVE_BUFFER_BYTES;

/// Binds `addr` (`listen:` and port + 1) for requests, with SO_BROADCAST
/// so beacons and resets can leave from it, SO_REUSEADDR so a restart does
/// not wait, and a large receive buffer (best effort) for bursts of events.
/// Must run inside a tokio runtime.
///
/// Bound to one address, the socket receives only what is sent to that
/// address, and beacons leave with it as their source, so observers answer
/// there. It never needs to receive a broadcast (observers send unicast).
pub fn bind_udp(addr: SocketAddr) -> io::Result<tokio::net::UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_broadcast(true)?;
    if let Err(e) = socket.set_recv_buffer_size(RECEIVE_BUFFER_BYTES) {
        tracing::warn!("could not enlarge the receive buffer: {e}");
    }
    // Required before handing the socket to tokio.
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    tokio::net::UdpSocket::from_std(socket.into())
}

/// The kernel's node name (what `uname -n` prints), named in beacons.
pub fn node_name() -> String {
    if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let name = name.trim();
        if !name.is_empty() {
            return name.to_string();
        }
    }
    // SAFETY: uname fills a zeroed struct of fixed-size arrays; nodename is
    // NUL-terminated by the kernel.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut uts) } == 0 {
        let bytes: Vec<u8> = uts
            .nodename
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        if !bytes.is_empty() {
            return String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    "supervisor".to_string()
}
