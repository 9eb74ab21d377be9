//! Plain HTTP/1.0 requests to the supervisor's window, for tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::PATIENCE;

pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// One request (never chunked); `extra` are header lines.
pub fn request(addr: SocketAddr, method: &str, path: &str, extra: &[String]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut text = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for line in extra {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    s.write_all(text.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    Answer {
        status: head.split(' ').nth(1).unwrap().parse().unwrap(),
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// A `POST` of an HTML form's fields (`body` already encoded, as
/// `application/x-www-form-urlencoded`); `extra` are header lines.
pub fn post_form(addr: SocketAddr, path: &str, body: &str, extra: &[String]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut text = format!(
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
        body.len()
    );
    for line in extra {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.push_str(body);
    s.write_all(text.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    Answer {
        status: head.split(' ').nth(1).unwrap().parse().unwrap(),
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// The value of header `name` in an answer's head (case-insensitive).
pub fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
    a.head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

pub fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, &[])
}

pub fn json(a: &Answer) -> serde_json::Value {
    assert_eq!(a.status, 200, "{}\n{}", a.head, a.body);
    serde_json::from_str(&a.body).unwrap()
}

/// Polls `path` until `ready` accepts its JSON.
pub fn wait_json(
    addr: SocketAddr,
    path: &str,
    extra: &[String],
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let doc = json(&request(addr, "GET", path, extra));
        if ready(&doc) {
            return doc;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never became ready: {doc}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether a test that needs an outside program must fail rather than
/// skip when it is missing (CI sets `AX436_REQUIRE_TOOLS=1`).
pub fn tools_required() -> bool {
    std::env::var("AX436_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// The path of `program` on PATH, or `None` (after printing `SKIPPED:`)
/// when it is missing and not required; panics when it is required.
pub fn tool(program: &str, test: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            !tools_required(),
            "{test}: `{program}` is not installed and AX436_REQUIRE_TOOLS=1"
        );
        println!("SKIPPED: {test}: `{program}` is not installed");
    }
    found
}

/// An `Authorization: Basic` header line.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Authorization: Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A `http_users:` line for `name` with `role` and `password`, made by the
/// real `supervisor hash-password`.
pub fn hash_line(name: &str, role: &str, password: &str) -> String {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_supervisor"))
        .args(["hash-password", name, role])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}
