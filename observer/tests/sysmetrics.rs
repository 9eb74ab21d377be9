//! System metrics read by `SystemReader`, compared with what `/proc` and `df`
//! say at the same moment. Tolerances cover what other processes on the box
//! change between the two readings.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use observer::sysmetrics::{MetricError, MetricSpec, MetricValue, Sample, SystemReader};

fn gauge(reader: &mut SystemReader, spec: MetricSpec) -> MetricValue {
    match reader.sample(&spec).unwrap() {
        Sample::Gauge(v) => v,
        other => panic!("{spec}: expected a gauge, got {other:?}"),
    }
}

fn meminfo_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn loadavg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap();
    let f: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .map(|x| x.parse().unwrap())
        .collect();
    [f[0], f[1], f[2]]
}

/// `df` columns for `/`, as numbers (the `%` dropped).
fn df(columns: &str, extra: &[&str]) -> Vec<f64> {
    let out = Command::new("df")
        .args(extra)
        .arg(format!("--output={columns}"))
        .arg("/")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(|f| f.trim_end_matches('%').parse().unwrap())
        .collect()
}

fn lo_received() -> u64 {
    let text = std::fs::read_to_string("/proc/net/dev").unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("lo:"))
        .unwrap();
    let (_, fields) = line.split_once(':').unwrap();
    fields.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn memory_and_swap_match_proc_meminfo() {
    let mut reader = SystemReader::new();
    let before = meminfo_kib("MemAvailable") * 1024;
    let MetricValue::Memory {
        used_percent,
        available_bytes,
        total_bytes,
    } = gauge(&mut reader, MetricSpec::Memory)
    else {
        panic!("not memory")
    };
    let after = meminfo_kib("MemAvailable") * 1024;
    assert_eq!(total_bytes, meminfo_kib("MemTotal") * 1024);
    let slack = 64 << 20; // others allocate between the readings
    assert!(
        available_bytes + slack >= before.min(after)
            && available_bytes <= before.max(after) + slack,
        "available {available_bytes} vs /proc/meminfo {before}..{after}"
    );
    let expected = (total_bytes - available_bytes) as f64 * 100.0 / total_bytes as f64;
    assert!((used_percent - expected).abs() < 1e-9);

    let MetricValue::Swap {
        used_percent,
        used_bytes,
        total_bytes,
    } = gauge(&mut reader, MetricSpec::Swap)
    else {
        panic!("not swap")
    };
    assert_eq!(total_bytes, meminfo_kib("SwapTotal") * 1024);
    let used = (meminfo_kib("SwapTotal") - meminfo_kib("SwapFree")) * 1024;
    assert!(
        used_bytes.abs_diff(used) <= 64 << 20,
        "{used_bytes} vs {used}"
    );
    assert!((0.0..=100.0).contains(&used_percent));
}

#[test]
fn load_averages_match_proc_loadavg() {
    let mut reader = SystemReader::new();
    let before = loadavg();
    let got = [MetricSpec::Load1, MetricSpec::Load5, MetricSpec::Load15]
        .map(|spec| gauge(&mut reader, spec).value());
    let after = loadavg();
    for i in 0..3 {
        let (lo, hi) = (before[i].min(after[i]), before[i].max(after[i]));
        assert!(
            got[i] >= lo - 0.01 && got[i] <= hi + 0.01,
            "load {i}: {} not within {lo}..{hi}",
            got[i]
        );
    }
}

#[test]
fn disk_and_inodes_match_df() {
    let mut reader = SystemReader::new();
    let MetricValue::Disk {
        used_percent,
        free_bytes,
        total_bytes,
    } = gauge(&mut reader, MetricSpec::Disk(PathBuf::from("/")))
    else {
        panic!("not disk")
    };
    let d = df("size,avail,pcent", &["-B1"]);
    assert_eq!(total_bytes as f64, d[0]);
    // Other builds write to this disk between the two readings.
    assert!(
        (free_bytes as f64 - d[1]).abs() <= 512.0 * 1024.0 * 1024.0,
        "free {free_bytes} vs df {}",
        d[1]
    );
    // df rounds the percentage up.
    assert!(
        (used_percent.ceil() - d[2]).abs() <= 1.0,
        "{used_percent} vs df {}%",
        d[2]
    );

    let MetricValue::Inodes {
        used_percent,
        free,
        total,
    } = gauge(&mut reader, MetricSpec::Inodes(PathBuf::from("/")))
    else {
        panic!("not inodes")
    };
    let i = df("itotal,iavail,ipcent", &[]);
    assert_eq!(total as f64, i[0]);
    assert!(
        (free as f64 - i[1]).abs() <= 100_000.0,
        "{free} vs {}",
        i[1]
    );
    assert!((used_percent.ceil() - i[2]).abs() <= 1.0);
}

#[test]
fn a_missing_path_or_interface_is_a_readable_error() {
    let mut reader = SystemReader::new();
    let err = reader
        .sample(&MetricSpec::Disk(PathBuf::from("/no/such/dir/436")))
        .unwrap_err();
    assert!(matches!(err, MetricError::FileSystem { .. }));
    assert_eq!(
        err.to_string(),
        "cannot read the file system of /no/such/dir/436: No such file or directory (os error 2)"
    );
    let err = reader
        .sample(&MetricSpec::Net("nosuch436".into()))
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("no network interface \"nosuch436\" on this host (known: ")
            && text.contains("lo"),
        "{text}"
    );
}

#[test]
fn loopback_traffic_shows_in_net_lo() {
    let mut reader = SystemReader::new();
    let spec = MetricSpec::Net("lo".into());
    let proc_before = lo_received();
    let first = reader.sample(&spec).unwrap();
    let Sample::Net { counters, .. } = &first else {
        panic!("not a counter sample")
    };
    assert!(counters.received_bytes >= proc_before);

    // 4 MiB through a loopback connection between the two readings.
    const SENT: usize = 4 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap();
        buf.len()
    });
    let mut client = TcpStream::connect(addr).unwrap();
    client.write_all(&vec![7u8; SENT]).unwrap();
    drop(client);
    assert_eq!(sink.join().unwrap(), SENT);
    std::thread::sleep(Duration::from_millis(20));

    let second = reader.sample(&spec).unwrap();
    let proc_after = lo_received();
    let Sample::Net { counters, at } = &second else {
        panic!("not a counter sample")
    };
    assert!(counters.received_bytes <= proc_after);
    let Sample::Net { at: at0, .. } = &first else {
        unreachable!()
    };
    let MetricValue::Net {
        received_per_second,
        sent_per_second,
        ..
    } = second.value_since(Some(&first)).unwrap()
    else {
        panic!("not net")
    };
    let seconds = at.duration_since(*at0).as_secs_f64();
    assert!(
        received_per_second * seconds >= SENT as f64,
        "{received_per_second} B/s over {seconds} s"
    );
    // On loopback every byte sent is received.
    assert!((received_per_second - sent_per_second).abs() < 1e-6);
}

#[test]
fn a_busy_thread_shows_in_cpu() {
    let mut reader = SystemReader::new();
    let first = reader.sample(&MetricSpec::Cpu).unwrap();
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < Duration::from_millis(600) {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
    }
    let second = reader.sample(&MetricSpec::Cpu).unwrap();
    let busy = second.value_since(Some(&first)).unwrap().value();
    let cores = std::thread::available_parallelism().unwrap().get() as f64;
    // One core spinning for the whole interval; others' work only adds.
    assert!(
        busy >= 100.0 / cores * 0.6 && busy <= 100.0,
        "busy {busy}% on {cores} cores"
    );
}

#[test]
fn uptime_and_processes_match_proc() {
    let mut reader = SystemReader::new();
    let uptime = gauge(&mut reader, MetricSpec::Uptime).value();
    let proc_uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (uptime - proc_uptime).abs() <= 2.0,
        "{uptime} vs {proc_uptime}"
    );

    let count = gauge(&mut reader, MetricSpec::Processes).value();
    let ps = Command::new("ps")
        .args(["-e", "-o", "pid="])
        .output()
        .unwrap();
    let ps_count = String::from_utf8(ps.stdout).unwrap().lines().count() as f64;
    // Builds and tests start and end processes between the two readings.
    assert!(
        (count - ps_count).abs() <= 30.0,
        "{count} processes vs ps -e {ps_count}"
    );
}
