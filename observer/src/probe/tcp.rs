//! `probe: tcp HOST:PORT`: the time until a connection is accepted, trying
//! each address of the host in turn within one overall timeout.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::TcpStream;

use super::{NameResolver, ProbeFailure, ProbeOutcome, TcpProbe};

pub(crate) async fn run(resolver: &NameResolver, probe: &TcpProbe) -> ProbeOutcome {
    let start = Instant::now();
    let deadline = start + probe.timeout;
    let target = probe.target.to_string();
    let addresses = match resolver.resolve(&probe.target.host, probe.timeout).await {
        Ok(a) => a,
        Err(e) => return ProbeOutcome::failed(ProbeFailure::Resolve(e)),
    };
    let mut failure = None;
    for ip in addresses {
        let address = SocketAddr::new(ip, probe.target.port);
        let connect = TcpStream::connect(address);
        match tokio::time::timeout_at(deadline.into(), connect).await {
            Ok(Ok(stream)) => {
                let response_ms = start.elapsed().as_secs_f64() * 1000.0;
                drop(stream);
                return ProbeOutcome {
                    failure: None,
                    response_ms: Some(response_ms),
                    address: Some(address),
                    status: None,
                    cert_days_left: None,
                };
            }
            Ok(Err(e)) => failure = Some(connect_failure(&target, address, &e)),
            Err(_) => {
                failure = Some(ProbeFailure::Timeout {
                    target: target.clone(),
                    after: probe.timeout,
                });
                break;
            }
        }
    }
    ProbeOutcome::failed(failure.unwrap_or(ProbeFailure::Connect {
        target,
        reason: "no address".into(),
    }))
}

pub(crate) fn connect_failure(target: &str, address: SocketAddr, e: &io::Error) -> ProbeFailure {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        ProbeFailure::Refused {
            target: address.to_string(),
        }
    } else {
        ProbeFailure::Connect {
            target: format!("{target} ({address})"),
            reason: e.to_string(),
        }
    }
}
