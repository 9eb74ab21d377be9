//! `probe: ping HOST`: one ICMP echo over an unprivileged ICMP socket
//! (`SOCK_DGRAM` + `IPPROTO_ICMP`), which needs no root and no
//! capability but only the kernel's consent: `net.ipv4.ping_group_range`
//! must hold the observer's group (it holds no group by default on many
//! distributions). When it does not, the failure says so and names the
//! sysctl; no raw socket is tried instead.
//!
//! On these sockets the kernel sets the echo identifier to the socket's
//! port and delivers only the replies that match it, without the IP header.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::{NameResolver, PingProbe, ProbeFailure, ProbeOutcome};

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
/// Bytes after the 8-byte ICMP header, to tell our reply from a stray one.
const PAYLOAD: &[u8] = b"436 observer ping";

pub(crate) async fn run(resolver: &NameResolver, probe: &PingProbe) -> ProbeOutcome {
    let start = Instant::now();
    let ip = match resolver.resolve(&probe.host, probe.timeout).await {
        Ok(addresses) => addresses[0],
        Err(e) => return ProbeOutcome::failed(ProbeFailure::Resolve(e)),
    };
    let remaining = probe.timeout.saturating_sub(start.elapsed());
    match tokio::time::timeout(remaining, echo(ip)).await {
        Ok(Ok(())) => ProbeOutcome {
            failure: None,
            response_ms: Some(start.elapsed().as_secs_f64() * 1000.0),
            address: Some(SocketAddr::new(ip, 0)),
            status: None,
            cert_days_left: None,
        },
        Ok(Err(failure)) => ProbeOutcome::failed(failure),
        Err(_) => ProbeOutcome::failed(ProbeFailure::Timeout {
            target: probe.host.clone(),
            after: probe.timeout,
        }),
    }
}

/// Opens an ICMP socket for `ip`'s family; a refusal names the sysctl.
pub fn open_icmp_socket(ip: IpAddr) -> Result<Socket, ProbeFailure> {
    let (domain, protocol) = match ip {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    Socket::new(domain, Type::DGRAM, Some(protocol)).map_err(|e| match e.kind() {
        io::ErrorKind::PermissionDenied => ProbeFailure::PingNotPermitted {
            // SAFETY: getegid cannot fail and touches no memory.
            gid: unsafe { libc::getegid() },
        },
        _ => ProbeFailure::Ping {
            target: ip.to_string(),
            reason: format!("cannot open an ICMP socket: {e}"),
        },
    })
}

async fn echo(ip: IpAddr) -> Result<(), ProbeFailure> {
    let failed = |reason: String| ProbeFailure::Ping {
        target: ip.to_string(),
        reason,
    };
    let socket = open_icmp_socket(ip)?;
    socket
        .set_nonblocking(true)
        .map_err(|e| failed(e.to_string()))?;
    // SAFETY: the `Socket` owns its descriptor and moves into the `AsyncFd`,
    // so it stays open and the same for the `AsyncFd`'s whole life.
    let socket = unsafe { AsyncFd::register(socket) }.map_err(|e| failed(e.to_string()))?;
    // Sequence numbers from the clock, so a late reply to an earlier run of
    // this probe is not taken for this one.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let sequence = (nanos >> 10) as u16;
    let request = echo_request(ip, sequence);
    let to = SocketAddr::new(ip, 0).into();
    loop {
        let mut guard = socket.writable().await.map_err(|e| failed(e.to_string()))?;
        match guard.try_io(|s| s.get_ref().send_to(&request, &to)) {
            Ok(Ok(_)) => break,
            Ok(Err(e)) => return Err(failed(format!("cannot send: {e}"))),
            Err(_would_block) => continue,
        }
    }
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1500];
    loop {
        let mut guard = socket.readable().await.map_err(|e| failed(e.to_string()))?;
        let n = match guard.try_io(|s| s.get_ref().recv(&mut buf)) {
            Ok(Ok(n)) => n,
            // ICMP errors (host unreachable) arrive as socket errors.
            Ok(Err(e)) => return Err(failed(e.to_string())),
            Err(_would_block) => continue,
        };
        // SAFETY: recv initialised the first n bytes.
        let reply: Vec<u8> = buf[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        if is_our_reply(ip, sequence, &reply) {
            return Ok(());
        }
    }
}

fn echo_request(ip: IpAddr, sequence: u16) -> Vec<u8> {
    let kind = if ip.is_ipv4() {
        ECHO_REQUEST_V4
    } else {
        ECHO_REQUEST_V6
    };
    let mut packet = vec![kind, 0, 0, 0, 0, 0];
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(PAYLOAD);
    // The kernel recomputes the checksum on these sockets (and for ICMPv6
    // always); filled in anyway so the packet is valid as sent.
    if ip.is_ipv4() {
        let sum = checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    packet
}

fn is_our_reply(ip: IpAddr, sequence: u16, reply: &[u8]) -> bool {
    let kind = if ip.is_ipv4() {
        ECHO_REPLY_V4
    } else {
        ECHO_REPLY_V6
    };
    reply.len() >= 8
        && reply[0] == kind
        && reply[6..8] == sequence.to_be_bytes()
        && &reply[8..] == PAYLOAD
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_packet_with_its_checksum_is_zero() {
        let packet = echo_request("127.0.0.1".parse().unwrap(), 0x1234);
        assert_eq!(checksum(&packet), 0);
        assert_eq!(packet[0], ECHO_REQUEST_V4);
    }

    #[test]
    fn only_our_echo_reply_counts() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let mut reply = echo_request(ip, 7);
        reply[0] = ECHO_REPLY_V4;
        assert!(is_our_reply(ip, 7, &reply));
        assert!(!is_our_reply(ip, 8, &reply));
        reply[0] = ECHO_REQUEST_V4;
        assert!(!is_our_reply(ip, 7, &reply));
        assert!(!is_our_reply(ip, 7, &reply[..5]));
    }
}
