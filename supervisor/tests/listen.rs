//! `listen:` binds the supervisor's UDP socket to one address: it answers
//! there, and nothing sent to another address of the machine reaches it.

mod common;

use std::net::{Ipv4Addr, SocketAddr};

use common::{Fixture, TestObserver};
use wire::Codec;

#[test]
fn listen_address_answers_and_another_local_address_does_not() {
    let mut fx = Fixture::new("listen: 127.0.0.1\nstream_rotation: never\n");
    fx.write(
        "hosts/web1",
        "file: /var/log/a\nmatch: x\nalert_all: tags=a\n",
    );
    fx.start_listening(Codec::open());
    let mut obs = TestObserver::new(fx.supervisor_addr(), Codec::open());
    let (_, text, _) = obs.fetch_config("web1");
    assert!(text.contains("match: x"), "{text}");

    // The same port on 127.0.0.2 (also loopback, not bound): no answer.
    let elsewhere = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), fx.port + 1));
    let mut other = TestObserver::new(elsewhere, Codec::open());
    other.request_config("web1", None);
    let mut buf = [0u8; 2048];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        if let Ok((n, _)) = other.socket.recv_from(&mut buf) {
            let msg = other.codec.decode(&buf[..n], common::wall_ms());
            panic!("answered on an address not listened on: {msg:?}");
        }
    }
    assert_eq!(fx.terminate().code(), Some(0));
}

#[test]
fn check_refuses_a_listen_address_of_no_interface() {
    let fx = Fixture::new("listen: 203.0.113.7\n");
    fx.write(
        "hosts/web1",
        "file: /var/log/a\nmatch: x\nalert_all: tags=a\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .arg("--check")
        .arg(fx.path("ax436.conf"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("listen: 203.0.113.7: the supervisor could not listen there"),
        "{stdout}"
    );
}
