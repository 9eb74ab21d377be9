#!/usr/bin/env python3
"""The ingest flood (scenario 8 of run.py) with the history database on and
off, and the history's lag behind the stream during and after it.

    cargo build --release -p supervisor -p bench
    python3 bench/history_flood.py [--events 1000000] [--runs 3]

"Off" runs the same binary with `history.db` made a folder, so the database
cannot be opened and the supervisor runs without it (as it does, logged, on
any such error). The lag is read from `/api/v1/supervisor` (`history`,
`lag_bytes`) every 0.2 s while loadgen runs, then until it is 0. Each
line also gives the CPU seconds each supervisor thread used during the flood
(`flood_thread_cpu_s`): compare rates only between runs whose threads needed
about the same CPU for the same work, as this machine's speed varies.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REL = ROOT / "target" / "release"


def free_port(kind=socket.SOCK_STREAM, pair=False):
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


def sup_doc(http):
    with urllib.request.urlopen(f"http://{http}/api/v1/supervisor", timeout=5) as r:
        return json.load(r)


def thread_cpu(pid):
    """CPU seconds (user + system) of each thread of `pid`, by name."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def run(events, history_on, work):
    lab = Path(tempfile.mkdtemp(dir=work))
    for sub in ("hosts", "includes", "stream"):
        (lab / sub).mkdir()
    port = free_port(socket.SOCK_DGRAM, pair=True)
    http = f"127.0.0.1:{free_port()}"
    (lab / "ax436.conf").write_text(
        f"event_stream: stream/events.json\nport: {port}\nbroadcast: 127.255.255.255\n"
        f"hosts: hosts\nincludes: includes\nstream_format: json\nstream_rotation: never\n"
        f"log_file: supervisor.log\nbeacon_interval: 1\nhttp: {http}\n")
    if not history_on:
        (lab / "stream" / "history.db").mkdir()
    sup = subprocess.Popen([str(REL / "supervisor"), str(lab / "ax436.conf")], cwd=lab,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                sup_doc(http)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the supervisor did not start")
                time.sleep(0.1)
        lg = subprocess.Popen([str(REL / "loadgen"), "--supervisor", f"127.0.0.1:{port + 1}",
                               "--flood", "--events", str(events), "--window", "256"],
                              cwd=lab, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        cpu0 = thread_cpu(sup.pid)
        max_lag = 0
        while lg.poll() is None:
            h = sup_doc(http).get("history")
            if h:
                max_lag = max(max_lag, h["lag_bytes"])
            time.sleep(0.2)
        flood_s = time.monotonic() - t0
        cpu1 = thread_cpu(sup.pid)
        flood_cpu = {k: round(v - cpu0.get(k, 0), 2) for k, v in cpu1.items()
                     if v - cpu0.get(k, 0) > 0}
        summary = json.loads(lg.stdout.read().decode().strip().splitlines()[-1])
        caught_up_s = None
        h = None
        if history_on:
            t1 = time.monotonic()
            while time.monotonic() - t1 < 120:
                h = sup_doc(http)["history"]
                max_lag = max(max_lag, h["lag_bytes"])
                if h["lag_bytes"] == 0:
                    caught_up_s = time.monotonic() - t1
                    break
                time.sleep(0.2)
        stream_bytes = (lab / "stream" / "events.json").stat().st_size
        return {
            "history": history_on,
            "events_per_s": summary["events_per_s"],
            "lost": summary["events_unacked"],
            "ack_p99_ms": summary["ack_p99_ms"],
            "flood_s": round(flood_s, 2),
            "stream_bytes": stream_bytes,
            "max_lag_bytes": max_lag,
            "max_lag_share": round(max_lag / stream_bytes, 3),
            "caught_up_after_s": None if caught_up_s is None else round(caught_up_s, 1),
            "dropped_batches": h and h["dropped_batches"],
            "catch_ups": h and h["catch_ups"],
            "db_bytes": h and h["file_bytes"],
            # CPU seconds of each supervisor thread (by name) during the flood.
            "flood_thread_cpu_s": flood_cpu,
        }
    finally:
        os.killpg(sup.pid, signal.SIGTERM)
        sup.wait(timeout=30)
        subprocess.run(["rm", "-rf", str(lab)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        for _ in range(a.runs):
            for on in (False, True):
                print(json.dumps(run(a.events, on, work)), flush=True)


if __name__ == "__main__":
    main()
