//! `observer --try FILE` on a host file with every kind of check: a log
//! file present and one missing, a process count, real commands, metrics,
//! a local TCP listener, a closed port and a local HTTP server — the
//! report names each check by FILE:LINE and says what it would raise.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

fn observer_try(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_observer"))
        .arg("--try")
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// An HTTP server answering `ok` to every request.
fn http_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    addr
}

#[test]
fn try_runs_every_kind_of_check_once_and_prints_what_it_would_raise() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    let includes = dir.path().join("includes");
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::create_dir_all(&includes).unwrap();
    let present = dir.path().join("app.log");
    std::fs::write(&present, "").unwrap();
    let db = TcpListener::bind("127.0.0.1:0").unwrap();
    let db_addr = db.local_addr().unwrap();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let web = http_server();
    std::fs::write(
        includes.join("common"),
        "metric: disk /\nalert_if: tags=disk upper_limit=0 for=2 message=/ nearly full\n",
    )
    .unwrap();
    std::fs::write(
        hosts.join("box1"),
        format!(
            "include: common\n\
             file: {present}\nmatch: ERROR\nalert_all: tags=app\n\
             file: /no/such/app.log\nmatch: ERROR\nalert_all: tags=app\n\
             process: .\nalert_running: tags=proc min=1 max=1000000 message=processes\n\
             run: command=echo 93 extract=(\\d+)\n\
             alert_if: tags=cmd match=1,93 upper_limit=1,90 message=too high\n\
             metric: memory\nalert_metric: tags=mem,metric every=30\n\
             metric: cpu\nalert_metric: tags=cpu\n\
             probe: tcp {db_addr} timeout=2\n\
             alert_failed: tags=db,postgres for=3 message=PostgreSQL is not answering\n\
             probe: tcp {closed} timeout=2\n\
             alert_failed: tags=db,postgres for=3 message=PostgreSQL is not answering\n\
             probe: http http://{web}/health expect=200 contains=ok timeout=5\n\
             alert_metric: tags=web,latency every=30\n",
            present = present.display()
        ),
    )
    .unwrap();
    let out = observer_try(&[hosts.join("box1").to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = [
        "(includes from ".to_string(),
        "10 checks".to_string(),
        format!(
            "log hosts/box1:4: would follow {} (exists)",
            present.display()
        ),
        "log hosts/box1:7: would follow /no/such/app.log (missing now)".to_string(),
        "process hosts/box1:9: /./ ".to_string(),
        "command hosts/box1:10: ran `echo 93`: 1 output lines".to_string(),
        "    would raise alert [cmd] too high [93]".to_string(),
        "metric includes/common:2: disk / ".to_string(),
        "    would raise alert [disk] / nearly full [".to_string(),
        "    (the observer opens it after 2 bad results in a row)".to_string(),
        "metric hosts/box1:13: memory ".to_string(),
        "    would raise metric [mem,metric] ".to_string(),
        "metric hosts/box1:15: cpu ".to_string(),
        "    would raise metric [cpu] ".to_string(),
        format!("probe hosts/box1:17: tcp {db_addr} answered in "),
        format!("probe hosts/box1:19: tcp {closed} failed: connection to {closed} refused"),
        format!(
            "    would raise alert [db,postgres] PostgreSQL is not answering: connection to {closed} refused"
        ),
        format!("probe hosts/box1:21: http http://{web}/health answered in "),
        "    would raise metric [web,latency] ".to_string(),
    ];
    let mut rest = stdout.as_ref();
    for w in want {
        let at = rest
            .find(&w)
            .unwrap_or_else(|| panic!("{w:?} not found in order in:\n{stdout}"));
        rest = &rest[at + w.len()..];
    }
    drop(db);
}

#[test]
fn try_lists_the_errors_of_a_file_with_file_and_line_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("box2");
    std::fs::write(
        &file,
        "metric: disks /\nalert_if: tags=d upper_limit=9 message=x\nmetric: uptime\nalert_metric: tags=up\n",
    )
    .unwrap();
    let out = observer_try(&[file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("(no include folder)"), "{stdout}");
    assert!(
        stdout.contains("error: hosts/box2:1: bad `metric:`: unknown metric \"disks\""),
        "{stdout}"
    );
    // The rest still runs.
    assert!(
        stdout.contains("metric hosts/box2:4: uptime up "),
        "{stdout}"
    );
}
