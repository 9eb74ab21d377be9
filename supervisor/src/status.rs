//! `supervisor status CONFIG`: hosts and open problems from the running
//! supervisor's own API (`/api/v1/hosts`, `/api/v1/problems`), as
//! `monit status` prints them; and `supervisor ack HOST CHECK`, which
//! acknowledges a problem through `POST /api/v1/problems/ID/ack`.
//!
//! It reads `http:` from the configuration and asks that address (the
//! loopback address when the supervisor listens on every address). With a
//! users file, the credentials come from the environment variables
//! `AX436_HTTP_USER` and `AX436_HTTP_PASSWORD`. Plain HTTP only: with
//! `http_tls:` use `curl --cacert` on the API instead.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

/// How long `supervisor status` waits for the supervisor.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("the supervisor's HTTP listener is off (`http: off` in its configuration)")]
    Off,
    #[error("`supervisor status` speaks plain HTTP; this supervisor uses `http_tls:`")]
    Tls,
    #[error("cannot reach the supervisor at {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the supervisor answered {path} with: {status}")]
    Status { path: String, status: String },
    #[error("the supervisor's answer to {path} is not the JSON expected: {message}")]
    Body { path: String, message: String },
}

/// Where to ask: the configured address, with an unspecified IP replaced
/// by the loopback address of the same family.
pub fn local_address(http: SocketAddr) -> SocketAddr {
    let ip = match http.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, http.port())
}

/// `GET path` over HTTP/1.0 (so the answer is never chunked); the body as
/// JSON.
pub fn get_json(
    addr: SocketAddr,
    path: &str,
    credentials: Option<(&str, &str)>,
) -> Result<Value, StatusError> {
    request_json(addr, "GET", path, None, credentials)
}

/// `POST path` with a JSON body; the answer's body as JSON.
pub fn post_json(
    addr: SocketAddr,
    path: &str,
    body: &Value,
    credentials: Option<(&str, &str)>,
) -> Result<Value, StatusError> {
    request_json(addr, "POST", path, Some(body), credentials)
}

fn request_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    credentials: Option<(&str, &str)>,
) -> Result<Value, StatusError> {
    let connect_error = |source| StatusError::Connect { addr, source };
    let mut stream = TcpStream::connect_timeout(&addr, STATUS_TIMEOUT).map_err(connect_error)?;
    stream
        .set_read_timeout(Some(STATUS_TIMEOUT))
        .map_err(connect_error)?;
    let mut request =
        format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n");
    if let Some((user, password)) = credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    let body = body.map(Value::to_string).unwrap_or_default();
    if method != "GET" {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream
        .write_all(request.as_bytes())
        .map_err(connect_error)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(connect_error)?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next().unwrap_or("");
    if status_line.split(' ').nth(1) != Some("200") {
        // The API's errors say why in `{"error": …}`.
        let why = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v["error"].as_str().map(|e| format!(" ({e})")))
            .unwrap_or_default();
        return Err(StatusError::Status {
            path: path.into(),
            status: format!("{status_line}{why}"),
        });
    }
    serde_json::from_str(body).map_err(|e| StatusError::Body {
        path: path.into(),
        message: e.to_string(),
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The report, from the two API documents.
pub fn format_status(hosts: &Value, problems: &Value) -> String {
    let mut out = String::new();
    let counts = hosts["counts"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    out.push_str(&format!(
        "Supervisor {} (as of {}): {counts}\n",
        text(&hosts["supervisor"]),
        text(&hosts["taken"])
    ));
    let problems = problems["problems"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!("\nOpen problems: {}\n", problems.len()));
    for p in &problems {
        out.push_str(&format!(
            "  {:<20} {:<16} since {}  {}\n",
            text(&p["host"]),
            text(&p["check"]),
            text(&p["since"]),
            text(&p["message"])
        ));
    }
    let list = hosts["hosts"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!("\nHosts: {}\n", list.len()));
    out.push_str(&format!(
        "  {:<20} {:<11} {:<21} {:<21} {:<17} {}\n",
        "NAME", "STATE", "SINCE", "LAST HEARD", "CONFIGURATION", "SPOOL"
    ));
    for h in &list {
        let errors = h["config_errors"].as_array().map_or(0, Vec::len);
        let config = if errors > 0 {
            format!("{} ({errors} errors)", text(&h["config_version"]))
        } else {
            text(&h["config_version"])
        };
        out.push_str(&format!(
            "  {:<20} {:<11} {:<21} {:<21} {:<17} {}\n",
            text(&h["name"]),
            text(&h["state"]),
            text(&h["since"]),
            text(&h["last_heard"]),
            config,
            text(&h["spool_backlog"])
        ));
    }
    out
}

/// The address to ask and the credentials from the environment.
fn target(
    config: &conf::SupervisorConfig,
) -> Result<(SocketAddr, Option<(String, String)>), StatusError> {
    let http = config.http.ok_or(StatusError::Off)?;
    if config.http_tls.is_some() {
        return Err(StatusError::Tls);
    }
    let user = std::env::var("AX436_HTTP_USER").ok();
    let password = std::env::var("AX436_HTTP_PASSWORD").ok();
    Ok((local_address(http), user.zip(password)))
}

/// Reads both documents from the supervisor configured in `config`.
pub fn status(config: &conf::SupervisorConfig) -> Result<String, StatusError> {
    let (addr, credentials) = target(config)?;
    let credentials = credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
    let hosts = get_json(addr, "/api/v1/hosts", credentials)?;
    let problems = get_json(addr, "/api/v1/problems", credentials)?;
    Ok(format_status(&hosts, &problems))
}

/// Acknowledges `host`'s problem `check` with `note`; the line to print.
pub fn acknowledge(
    config: &conf::SupervisorConfig,
    host: &str,
    check: &str,
    note: &str,
) -> Result<String, StatusError> {
    let (addr, credentials) = target(config)?;
    let credentials = credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
    let path = ack_path(host, check);
    let answer = post_json(
        addr,
        &path,
        &serde_json::json!({ "note": note }),
        credentials,
    )?;
    let ack = &answer["acknowledged"];
    Ok(format!(
        "{host} {check} acknowledged by {} at {}",
        text(&ack["by"]),
        text(&ack["at"])
    ))
}

/// `/api/v1/problems/HOST%2FCHECK/ack`: the id in one path segment.
pub fn ack_path(host: &str, check: &str) -> String {
    format!(
        "/api/v1/problems/{}/ack",
        percent_encode(&format!("{host}/{check}"))
    )
}

/// Every byte but the URL's unreserved characters as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn report_lists_problems_then_hosts() {
        let hosts = json!({
            "supervisor": "sup1", "taken": "2026-12-02T01:00:00Z",
            "counts": {"up": 1, "inactive": 1},
            "hosts": [
                {"name": "db1", "state": "inactive", "since": "2026-12-02T00:50:00Z", "last_heard": "2026-12-02T00:47:00Z",
                 "config_version": "e3b0c44298fc1c14", "config_errors": ["x"], "spool_backlog": null},
                {"name": "web1", "state": "up", "since": "2026-12-02T00:00:00Z", "last_heard": "2026-12-02T00:59:58Z",
                 "config_version": "e3b0c44298fc1c14", "config_errors": [], "spool_backlog": 0}
            ]
        });
        let problems = json!({"problems": [{"host": "db1", "check": "disk", "since": "2026-12-02T00:40:00Z", "message": "Disk full"}]});
        let out = format_status(&hosts, &problems);
        assert!(
            out.starts_with("Supervisor sup1 (as of 2026-12-02T01:00:00Z): inactive 1, up 1\n"),
            "{out}"
        );
        let p = out.find("Disk full").unwrap();
        let h = out.find("web1").unwrap();
        assert!(p < h);
        assert!(out.contains("e3b0c44298fc1c14 (1 errors)"), "{out}");
    }

    #[test]
    fn the_problem_id_is_one_path_segment() {
        assert_eq!(
            ack_path("web1", "cmd-0a1b2c3d:/var"),
            "/api/v1/problems/web1%2Fcmd-0a1b2c3d%3A%2Fvar/ack"
        );
    }

    #[test]
    fn unspecified_address_is_asked_on_loopback() {
        assert_eq!(
            local_address("0.0.0.0:9436".parse().unwrap()),
            "127.0.0.1:9436".parse().unwrap()
        );
        assert_eq!(
            local_address("[::]:9436".parse().unwrap()),
            "[::1]:9436".parse().unwrap()
        );
        assert_eq!(
            local_address("10.1.2.3:80".parse().unwrap()),
            "10.1.2.3:80".parse().unwrap()
        );
    }
}
