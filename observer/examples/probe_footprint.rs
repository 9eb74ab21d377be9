//! Cost of the built-in probes and metric readers, for docs/PERFORMANCE.md.
//!
//! ```text
//! RUSTFLAGS='-C target-feature=+crt-static' cargo build --release -p observer \
//!     --example probe_footprint --target x86_64-unknown-linux-gnu
//! target/x86_64-unknown-linux-gnu/release/examples/probe_footprint cpu 1000
//! target/x86_64-unknown-linux-gnu/release/examples/probe_footprint rss
//! ```
//!
//! `cpu N`: N tcp, N http and N https probes in a row against a server in a
//! child process on loopback; prints this process's CPU time (user+system,
//! from getrusage) per 1,000 probes of each kind — the server's CPU is not
//! counted. `rss`: holds a prober with 10 probes and a reader of every
//! metric (one probe by name, resolved from /etc/hosts), runs each 5 times,
//! and prints VmRSS/VmHWM before and after.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use observer::probe::{HostPort, HttpProbe, PingProbe, ProbeSpec, Prober, ResolverFiles, TcpProbe};
use observer::sysmetrics::{MetricSpec, SystemReader};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("serve") => serve(Path::new(&args[2])),
        Some("cpu") => cpu(args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1000)),
        Some("rss") => rss(),
        _ => eprintln!("usage: probe_footprint cpu [N] | rss"),
    }
}

/// The child: plain HTTP and HTTPS listeners; writes their ports and the
/// certificate into `dir`, then answers until killed.
fn serve(dir: &Path) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join("ca.pem"), cert.pem()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            )
            .unwrap(),
    );
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let secure = TcpListener::bind("127.0.0.1:0").unwrap();
    let ports = format!(
        "{} {}",
        plain.local_addr().unwrap().port(),
        secure.local_addr().unwrap().port()
    );
    std::thread::spawn(move || {
        for s in secure.incoming().flatten() {
            let conn = rustls::ServerConnection::new(tls.clone()).unwrap();
            answer(rustls::StreamOwned::new(conn, s));
        }
    });
    std::fs::write(dir.join("ports.tmp"), ports).unwrap();
    std::fs::rename(dir.join("ports.tmp"), dir.join("ports")).unwrap();
    for s in plain.incoming().flatten() {
        answer(s);
    }
}

fn answer(mut stream: impl Read + Write) {
    let mut reader = BufReader::new(&mut stream);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return, // a tcp probe: connected and closed
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let body = r#"{"status":"ok"}"#;
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes());
    let _ = stream.flush();
}

struct Server {
    child: Child,
    plain: u16,
    secure: u16,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .arg("serve")
        .arg(dir.path())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let ports_file = dir.path().join("ports");
    let start = Instant::now();
    while !ports_file.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let ports = std::fs::read_to_string(&ports_file).unwrap();
    let mut ports = ports.split(' ').map(|p| p.parse().unwrap());
    let (plain, secure) = (ports.next().unwrap(), ports.next().unwrap());
    // Wait until both accept.
    for port in [plain, secure] {
        drop(TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap());
    }
    Server {
        child,
        plain,
        secure,
        ca: dir.path().join("ca.pem"),
        _dir: dir,
    }
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn specs(server: &Server) -> (ProbeSpec, ProbeSpec, ProbeSpec) {
    let timeout = Duration::from_secs(5);
    let tcp = ProbeSpec::Tcp(TcpProbe {
        target: HostPort::parse(&format!("127.0.0.1:{}", server.plain)).unwrap(),
        timeout,
    });
    let mut http = HttpProbe::new(&format!("http://127.0.0.1:{}/health", server.plain)).unwrap();
    http.contains = Some("ok".into());
    http.timeout = timeout;
    let mut https = HttpProbe::new(&format!("https://127.0.0.1:{}/health", server.secure)).unwrap();
    https.contains = Some("ok".into());
    https.ca_file = Some(server.ca.clone());
    https.timeout = timeout;
    (
        tcp,
        ProbeSpec::Http(Box::new(http)),
        ProbeSpec::Http(Box::new(https)),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    // As the observer: one thread, plus tokio's blocking pool for HTTP.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn cpu(n: usize) {
    let server = start_server();
    let (tcp, http, https) = specs(&server);
    let rt = runtime();
    let prober = Prober::new(ResolverFiles::default());
    for (name, spec) in [("tcp", &tcp), ("http", &http), ("https (ca=FILE)", &https)] {
        rt.block_on(async {
            // Warm-up: resolver, TLS configuration, blocking thread.
            assert!(prober.run(spec).await.is_ok());
            let cpu0 = cpu_seconds();
            let wall0 = Instant::now();
            let mut failed = 0;
            for _ in 0..n {
                if !prober.run(spec).await.is_ok() {
                    failed += 1;
                }
            }
            let cpu = cpu_seconds() - cpu0;
            let wall = wall0.elapsed().as_secs_f64();
            println!(
                "{name}: {n} probes, {failed} failed, {:.3} CPU-s per 1,000 probes, {:.3} ms wall per probe",
                cpu * 1000.0 / n as f64,
                wall * 1000.0 / n as f64
            );
        });
    }
}

fn status_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn rss() {
    let rt = runtime();
    let before = (status_kib("VmRSS"), status_kib("VmHWM"));
    let server = start_server();
    let (tcp, http, https) = specs(&server);
    let mut probes = Vec::new();
    for _ in 0..3 {
        probes.extend([tcp.clone(), http.clone(), https.clone()]);
    }
    // One name, so the resolver (hosts file, resolv.conf, cache) is held too.
    probes[0] = ProbeSpec::Tcp(TcpProbe {
        target: HostPort::parse(&format!("localhost:{}", server.plain)).unwrap(),
        timeout: Duration::from_secs(5),
    });
    probes.push(ProbeSpec::Ping(PingProbe {
        host: "127.0.0.1".into(),
        timeout: Duration::from_secs(1),
    }));
    let metrics = [
        MetricSpec::Cpu,
        MetricSpec::Memory,
        MetricSpec::Swap,
        MetricSpec::Load1,
        MetricSpec::Load5,
        MetricSpec::Load15,
        MetricSpec::Disk("/".into()),
        MetricSpec::Inodes("/".into()),
        MetricSpec::Net("lo".into()),
        MetricSpec::Uptime,
        MetricSpec::Processes,
    ];
    let prober = Prober::new(ResolverFiles::default());
    let mut reader = SystemReader::new();
    let mut ok = 0;
    let mut failed = Vec::new();
    let phase = |name: &str| {
        println!("  after {name}: VmRSS {} KiB", status_kib("VmRSS"));
    };
    phase("server started");
    rt.block_on(async {
        for spec in &metrics {
            reader.sample(spec).unwrap();
        }
        phase("every metric read once");
        for spec in &probes {
            prober.run(spec).await;
            phase(&spec.to_string());
        }
        for _ in 0..5 {
            for spec in &probes {
                let outcome = prober.run(spec).await;
                match outcome.failure {
                    None => ok += 1,
                    Some(f) => failed.push(f.reason()),
                }
            }
            for spec in &metrics {
                reader.sample(spec).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    failed.sort();
    failed.dedup();
    println!(
        "{} probes x 5 rounds: {ok} ok, failures: {failed:?}; {} metrics x 5",
        probes.len(),
        metrics.len()
    );
    println!(
        "before: VmRSS {} KiB (VmHWM {} KiB); after: VmRSS {} KiB, VmHWM {} KiB",
        before.0,
        before.1,
        status_kib("VmRSS"),
        status_kib("VmHWM")
    );
}
