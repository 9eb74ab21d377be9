#!/usr/bin/env python3
"""Observer RSS idle and with 10 probes + every metric (docs/PERFORMANCE.md,
"RSS with 10 probes and every metric"): the method of that section as a
script, so the figure can be measured again for any observer binary.

    RUSTFLAGS='-C target-feature=+crt-static' cargo build --profile observer \\
        -p observer --target x86_64-unknown-linux-gnu
    cargo build -p supervisor          # any build: only the observer is measured
    python3 bench/checks_rss.py [--observer PATH] [--supervisor PATH] [--seconds 45]

A supervisor and one observer at a time on loopback. Two host files:

* idle: 1 followed log file and 1 process check (the baseline);
* checks: all 11 metrics (`cpu memory swap load1 load5 load15 disk / inodes /
  net lo uptime processes`, each `alert_metric: every=10`) and 10 probes at
  `every=10`: 3 tcp (one by name from /etc/hosts, one to a closed port), 3
  http and 3 https (`ca=FILE`, a self-signed certificate from `openssl`; one
  with `cert_days=7`, one reporting `value=cert_days`) against Python servers
  on loopback, and 1 ping of 127.0.0.1 (refused where unprivileged ICMP is
  not allowed, as on most boxes).

After `--seconds` (4 rounds of everything at 45 s) VmRSS and VmHWM of the
observer are read from /proc/PID/status. One JSON line per host file on
stdout. Every process started is stopped at the end, also on errors.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
STATIC_OBSERVER = TARGET / "x86_64-unknown-linux-gnu" / "observer" / "observer"
PROCS: list[subprocess.Popen] = []


def free_port(kind=socket.SOCK_STREAM, pair=False):
    """A loopback port free now (and, with `pair`, P+1 free for UDP too)."""
    while True:
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if not pair:
            return p
        try:
            t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            t.bind(("0.0.0.0", p + 1))
            t.close()
            return p
        except OSError:
            continue


def start(argv, **kw):
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True, **kw)
    PROCS.append(p)
    return p


def stop_all():
    for p in PROCS:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.time() + 5
    for p in PROCS:
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


# An HTTP(S) server answering every GET and POST with a small JSON body.
SERVER = r"""
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = answer
    do_POST = answer
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
if len(sys.argv) > 2:
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    c.load_cert_chain(sys.argv[2], sys.argv[3])
    s.socket = c.wrap_socket(s.socket, server_side=True)
s.serve_forever()
"""


def checks_file(lab: Path, http: int, https: int, closed: int) -> str:
    ca = lab / "cert.pem"
    metrics = ["cpu", "memory", "swap", "load1", "load5", "load15", "disk /", "inodes /",
               "net lo", "uptime", "processes"]
    text = "".join(f"metric: {m}\nalert_metric: tags=m every=10\n\n" for m in metrics)
    probes = [
        (f"tcp 127.0.0.1:{http}", "alert_failed: tags=p every=10"),
        (f"tcp localhost:{http}", "alert_failed: tags=p every=10"),
        (f"tcp 127.0.0.1:{closed}", "alert_failed: tags=p every=10"),
        (f"http http://127.0.0.1:{http}/health contains=ok", "alert_metric: tags=p every=10"),
        (f"http http://127.0.0.1:{http}/api method=POST json=status=ok", "alert_failed: tags=p every=10"),
        (f"http http://localhost:{http}/", "alert_failed: tags=p every=10"),
        (f"http https://127.0.0.1:{https}/health ca={ca}", "alert_metric: tags=p every=10"),
        (f"http https://127.0.0.1:{https}/ ca={ca}", "alert_failed: tags=p cert_days=7 every=10"),
        (f"http https://127.0.0.1:{https}/ ca={ca}", "alert_metric: tags=p value=cert_days every=10"),
        ("ping 127.0.0.1 timeout=2", "alert_failed: tags=p every=10"),
    ]
    text += "".join(f"probe: {p}\n{a}\n\n" for p, a in probes)
    return text


def measure(observer: Path, port: int, name: str, lab: Path, seconds: float) -> dict:
    obs_dir = lab / name
    obs_dir.mkdir()
    p = start([str(observer), str(port), "--name", name, "--spool-dir", str(obs_dir),
               "--log-dir", str(obs_dir)], stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    if p.poll() is not None:
        raise SystemExit(f"observer {name} exited with {p.returncode}")
    status = Path(f"/proc/{p.pid}/status").read_text()
    fields = {line.split(":")[0]: line.split()[1] for line in status.splitlines()
              if line.startswith(("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"))}
    os.killpg(p.pid, signal.SIGTERM)
    p.wait(timeout=10)
    # What reached the stream: proof that the configuration was applied and
    # its checks ran (metric events, and the problems of the closed port and
    # of ping where it is refused).
    lines = [json.loads(l) for l in (lab / "stream" / "events.json").read_text().splitlines()]
    mine = [l for l in lines if l.get("host") == name]
    return {"host_file": name, "vmrss_mb": int(fields["VmRSS"]) * 1024 / 1e6,
            "vmhwm_mb": int(fields["VmHWM"]) * 1024 / 1e6,
            # Heap and stacks, against pages of the binary itself.
            "rss_anon_mb": int(fields["RssAnon"]) * 1024 / 1e6,
            "rss_file_mb": int(fields["RssFile"]) * 1024 / 1e6,
            "threads": int(fields["Threads"]),
            "metric_events": sum(1 for l in mine if l.get("kind") == "metric"),
            "problems_opened": [l["message"] for l in mine if l.get("state") == "open"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--observer", type=Path, default=STATIC_OBSERVER)
    ap.add_argument("--supervisor", type=Path, default=TARGET / "debug" / "supervisor")
    ap.add_argument("--seconds", type=float, default=45)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ax436-rss-") as work:
        lab = Path(work)
        try:
            for sub in ("hosts", "includes", "stream"):
                (lab / sub).mkdir()
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                 "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                 # A leaf trusted as its own root: webpki refuses a CA
                 # certificate (openssl's default) as a server's.
                 "-addext", "basicConstraints=critical,CA:FALSE",
                 "-addext", "extendedKeyUsage=serverAuth",
                 "-keyout", str(lab / "key.pem"), "-out", str(lab / "cert.pem")],
                check=True, capture_output=True, timeout=60)
            http, https, closed = free_port(), free_port(), free_port()
            start([sys.executable, "-c", SERVER, str(http)])
            start([sys.executable, "-c", SERVER, str(https), str(lab / "cert.pem"),
                   str(lab / "key.pem")])
            log = lab / "app.log"
            log.write_text("")
            (lab / "hosts" / "rss-idle").write_text(
                f"file: {log}\nmatch: ERROR\nalert_all: tags=app\n\n"
                "process: sshd\nalert_running: tags=ssh min=0 max=100 message=sshd\n")
            (lab / "hosts" / "rss-checks").write_text(checks_file(lab, http, https, closed))
            port = free_port(socket.SOCK_DGRAM, pair=True)
            (lab / "ax436.conf").write_text(
                f"event_stream: stream/events.json\nport: {port}\nbroadcast: 127.255.255.255\n"
                "hosts: hosts\nincludes: includes\nstream_format: json\nstream_rotation: never\n"
                "log_file: supervisor.log\nbeacon_interval: 1\nhttp: off\n")
            start([str(args.supervisor), str(lab / "ax436.conf")], stderr=subprocess.DEVNULL)
            time.sleep(1)
            for name in ("rss-idle", "rss-checks"):
                row = measure(args.observer, port, name, lab, args.seconds)
                row["observer"] = str(args.observer)
                row["bytes"] = args.observer.stat().st_size
                print(json.dumps(row), flush=True)
        finally:
            stop_all()


if __name__ == "__main__":
    main()
