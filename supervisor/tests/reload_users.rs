//! `http_users:` read again on SIGHUP by the real supervisor binary: a
//! removed user is refused at once (a credential checked before is
//! forgotten), a new one gets in, and a users file with an error is refused
//! with its `FILE:LINE`, the running users kept.

mod common;

use common::web::hash_line;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use base64::Engine;
use common::{Fixture, PATIENCE};
use wire::Codec;

fn status(addr: SocketAddr, user: &str, password: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    write!(
        s,
        "GET /api/v1/hosts HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn sighup_reads_the_users_file_again() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut fx = Fixture::new(&format!(
        "http: {addr}\nhttp_users: users\nstream_rotation: never\n"
    ));
    fx.write("users", &hash_line("vera", "viewer", "view-pw"));
    fx.start_listening(Codec::open());
    let deadline = std::time::Instant::now() + PATIENCE;
    while TcpStream::connect(addr).is_err() {
        assert!(std::time::Instant::now() < deadline, "no HTTP listener");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(status(addr, "vera", "view-pw"), 200);
    assert_eq!(status(addr, "otto", "op-pw"), 401);

    // An error in the users file: refused, vera still gets in.
    fx.write("users", "# ok\nana admin $argon2id$x\n");
    fx.signal(libc::SIGHUP);
    let error = fx.wait_for_log("role must be `viewer` or `operator`", 1);
    assert!(error.contains("users:2:"), "{error}");
    fx.wait_for_log("reload refused", 1);
    assert_eq!(status(addr, "vera", "view-pw"), 200);

    fx.write("users", &hash_line("otto", "operator", "op-pw"));
    fx.signal(libc::SIGHUP);
    fx.wait_for_log("reloaded:", 1);
    assert_eq!(status(addr, "vera", "view-pw"), 401);
    assert_eq!(status(addr, "otto", "op-pw"), 200);
    assert_eq!(fx.terminate().code(), Some(0));
}
