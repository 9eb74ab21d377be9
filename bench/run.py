#!/usr/bin/env python3
"""Benchmarks of 436 on this machine; writes docs/PERFORMANCE.md.

    python3 bench/run.py                 # every scenario, 3 runs each
    python3 bench/run.py --quick         # shorter scenarios (smoke test of the harness)
    python3 bench/run.py --only 3 --runs 1

Builds the release binaries (and the static observer) first, then runs each
scenario with real files and real sockets on loopback (scenario 6: network
namespaces, root only). CPU comes from /proc/PID/stat (utime+stime), memory
from /proc/PID/status (VmRSS, VmHWM). Every process started here is in its
own session and is killed on exit, on Ctrl-C and on errors; all files live
in one mkdtemp directory that is removed at the end (--keep keeps it).

Python 3.11 standard library only. No figure here is asserted by the test
suite: targets are compared in the report, not enforced.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
REL = ROOT / "target" / "release"
# The observer as it ships: its own profile (Cargo.toml `[profile.observer]`).
STATIC_OBSERVER = ROOT / "target" / "x86_64-unknown-linux-gnu" / "observer" / "observer"
CLK_TCK = os.sysconf("SC_CLK_TCK")
BASE_PORT = 19000
GREP_PATTERNS = ["ERROR disk", "panic: ", "segfault at"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rel(path: Path) -> str:
    try:
        return str(Path(path).relative_to(ROOT))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- processes


class Interrupted(Exception):
    pass


def _on_signal(signum, _frame):
    raise Interrupted(f"signal {signum}")


class Procs:
    """Every process this run starts, so that all can be killed."""

    def __init__(self) -> None:
        self.live: list[subprocess.Popen] = []
        self.namespaces: list[str] = []

    def spawn(self, argv: list[str], cwd: Path, logfile: Path, netns: str | None = None,
              env: dict | None = None) -> subprocess.Popen:
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        out = open(logfile, "ab")
        try:
            p = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True,
                                 env=env)
        finally:
            out.close()
        p.argv_shown = argv  # type: ignore[attr-defined]
        self.live.append(p)
        return p

    def stop(self, p: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 5.0) -> None:
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
        if p in self.live:
            self.live.remove(p)

    def stop_all(self) -> None:
        for p in list(self.live):
            try:
                self.stop(p, wait=3)
            except Exception as e:  # keep killing the others
                log(f"could not stop pid {p.pid}: {e}")
        for ns in list(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
            self.namespaces.remove(ns)


PROCS = Procs()


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime+stime of `pid` (plus its waited-for children's), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def memory_kb(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0])
    return out


def run_measured(argv: list[str], cwd: Path, timeout: float, stdout=subprocess.PIPE,
                 env: dict | None = None) -> tuple[int, bytes, float, float]:
    """Runs argv to completion; returns (exit code, stdout, CPU seconds,
    wall seconds), CPU from wait4's rusage of exactly that process."""
    start = time.monotonic()
    p = subprocess.Popen(argv, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    PROCS.live.append(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        PROCS.stop(p, signal.SIGKILL)
        raise RuntimeError(f"{' '.join(argv)} ran past {timeout} s")
    finally:
        if p in PROCS.live:
            PROCS.live.remove(p)
    wall = time.monotonic() - start
    # communicate() reaped it; the rusage of the last reaped child is what
    # RUSAGE_CHILDREN grew by, so measure around it instead.
    return p.returncode, out or b"", _last_child_cpu(), wall


_children_cpu_seen = 0.0


def _last_child_cpu() -> float:
    global _children_cpu_seen
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = ru.ru_utime + ru.ru_stime
    delta = total - _children_cpu_seen
    _children_cpu_seen = total
    return delta


def reset_children_cpu() -> None:
    _last_child_cpu()


def wait_until(pred: Callable[[], object], timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# ---------------------------------------------------------------- the stream


class StreamTail:
    """Follows a JSON event-stream file from its current end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None
        self.buf = b""

    def _open(self) -> bool:
        if self.fd is None:
            try:
                self.fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return False
        return True

    def read_raw(self) -> bytes:
        if not self._open():
            return b""
        chunks = []
        while True:
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def poll(self) -> list[tuple[float, dict]]:
        """New complete lines, parsed, with the time they were seen."""
        data = self.read_raw()
        if not data:
            return []
        now = time.monotonic()
        self.buf += data
        *complete, self.buf = self.buf.split(b"\n")
        out = []
        for line in complete:
            try:
                out.append((now, json.loads(line)))
            except ValueError:
                pass
        return out

    def count_new(self, needle: bytes) -> int:
        """Counts new occurrences of `needle` without parsing lines (cheap
        at 100k lines/s; a needle split across two reads is kept)."""
        data = self.buf + self.read_raw()
        cut = data.rfind(b"\n") + 1
        self.buf = data[cut:]
        return data[:cut].count(needle)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# ---------------------------------------------------------------- a lab


PROBE_GROUP = "file: {probe}\nmatch: PROBE\nalert_all: tags=probe\n"


@dataclass
class Lab:
    """A supervisor configuration (and the processes of one run) in `dir`."""

    dir: Path
    port: int
    beacon_interval: int = 1
    broadcast: str = "127.255.255.255"
    sealed: bool = False
    extra_conf: str = ""
    sup: subprocess.Popen | None = None
    observers: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        for sub in ("hosts", "includes", "stream", "obs"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "ax436.conf").write_text(
            "# written by bench/run.py\n"
            "event_stream: stream/events.json\n"
            f"port: {self.port}\n"
            f"broadcast: {self.broadcast}\n"
            "hosts: hosts\n"
            "includes: includes\n"
            "stream_format: json\n"
            "stream_rotation: never\n"
            "log_file: supervisor.log\n"
            f"beacon_interval: {self.beacon_interval}\n"
            + ("key_file: lan.key\n" if self.sealed else "")
            + self.extra_conf)
        if self.sealed:
            subprocess.run([str(REL / "supervisor"), "--gen-key", str(self.key_file)],
                           check=True, capture_output=True, timeout=30)
        (self.dir / "stream" / "events.json").touch()

    @property
    def key_file(self) -> Path:
        return self.dir / "lan.key"

    @property
    def stream(self) -> Path:
        return self.dir / "stream" / "events.json"

    def supervisor_argv(self) -> list[str]:
        return [str(REL / "supervisor"), str(self.dir / "ax436.conf")]

    def start_supervisor(self, netns: str | None = None) -> subprocess.Popen:
        self.sup = PROCS.spawn(self.supervisor_argv(), self.dir, self.dir / "supervisor.out",
                               netns=netns)
        return self.sup

    def write_host(self, name: str, text: str) -> None:
        (self.dir / "hosts" / name).write_text(text)

    def observer_command(self, name: str, binary: Path | None = None) -> str:
        """The observer's command line as the report shows it."""
        return " ".join(self.observer_argv(name, binary)).replace(str(ROOT) + "/", "")

    def observer_argv(self, name: str, binary: Path | None = None) -> list[str]:
        # Run from its own working directory, as deployed.
        return [str(binary or REL / "observer"), str(self.port), "--name", name,
                "--spool-dir", ".", "--log-dir", "."]

    def start_observer(self, name: str, binary: Path | None = None,
                       netns: str | None = None) -> subprocess.Popen:
        wd = self.dir / "obs" / name
        wd.mkdir(parents=True, exist_ok=True)
        p = PROCS.spawn(self.observer_argv(name, binary), wd, wd / "observer.out", netns=netns)
        self.observers.append(p)
        return p

    def stop(self) -> None:
        for p in self.observers:
            PROCS.stop(p)
        if self.sup:
            PROCS.stop(self.sup)

    def supervisor_exit_counters(self) -> dict[str, int]:
        """The counters the supervisor logs when it stops (after `stop`)."""
        found: dict[str, int] = {}
        for f in sorted(self.dir.glob("supervisor*.log*")):
            for line in f.read_text(errors="replace").splitlines():
                if "counters at exit:" in line:
                    tail = line.split("counters at exit:", 1)[1]
                    for part in tail.split(","):
                        m = re.match(r"\s*([a-z ]+?) (\d+)\s*$", part)
                        if m:
                            found[m.group(1)] = int(m.group(2))
        return found


def append_line(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode() + b"\n")
    finally:
        os.close(fd)


def wait_ready(tail: StreamTail, probe: Path, procs: list[subprocess.Popen],
               timeout: float = 40) -> list[tuple[float, dict]]:
    """Writes PROBE lines until the observer's probe event is in the stream:
    the observer has then found the supervisor and applied its
    configuration. Returns the other events seen meanwhile."""
    deadline = time.monotonic() + timeout
    seen: list[tuple[float, dict]] = []
    n = 0
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{' '.join(p.argv_shown)} exited with {p.returncode}")
        append_line(probe, f"PROBE {n}")
        n += 1
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            for at, ev in tail.poll():
                if ev.get("tags") == "probe":
                    return seen
                seen.append((at, ev))
            time.sleep(0.01)
    raise RuntimeError(f"no probe event within {timeout} s: the observer did not get its configuration")


# ---------------------------------------------------------------- results


@dataclass
class Figure:
    scenario: int
    name: str
    unit: str
    values: list[float]
    reference: float | str | None = None
    reference_label: str = ""
    target: str = ""
    meets: Callable[[float], bool] | None = None
    command: str = ""
    note: str = ""

    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None


@dataclass
class Scenario:
    number: int
    title: str
    body: Callable[["Context", int], dict[str, float]]
    rows: Callable[["Context", list[dict[str, float]]], list[Figure]]
    needs_root: bool = False


@dataclass
class Context:
    work: Path
    quick: bool
    runs: int
    commands: dict[str, str] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)


def fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if v != 0 and abs(v) >= 1000:
        s = f"{v:,.0f}"
    elif v != 0 and abs(v) < 1:
        s = f"{v:.3g}"
    elif float(v).is_integer():
        s = f"{v:.0f}"
    else:
        s = f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"
    return s + (f" {unit}" if unit else "")


def collect(values: list[dict[str, float]], key: str) -> list[float]:
    return [v[key] for v in values if key in v and v[key] is not None]


# ---------------------------------------------------------------- scenario 1


def lines_file(ctx: Context, count: int) -> tuple[Path, int]:
    """A file of `count` ~100-byte log lines, 1 % matching one of three
    patterns; cached for the whole invocation. Returns (path, matches)."""
    path = ctx.work / f"lines-{count}.log"
    key = f"matches-{count}"
    if path.exists():
        return path, ctx.extra[key]  # type: ignore[return-value]
    log(f"writing {count:,} lines to {path.name}")
    matches = 0
    with open(path, "w") as f:
        block = []
        for i in range(count):
            if i % 100 == 37:
                word = ("ERROR disk /dev/sda1 failed", "panic: runtime error", "segfault at 0 ip")[
                    (i // 100) % 3]
                matches += 1
            else:
                word = "INFO request served ok"
            line = f"2026-11-21T12:00:00.{i % 1000000:06d} web{i % 50:02d} app[{1000 + i % 97}]: {word} id={i}"
            block.append(line.ljust(99, "."))
            if len(block) == 10000:
                f.write("\n".join(block) + "\n")
                block.clear()
        if block:
            f.write("\n".join(block) + "\n")
    ctx.extra[key] = matches
    return path, matches


def append_file(src: Path, dst: Path) -> float:
    """Appends src to dst in 1 MiB writes; returns the seconds it took."""
    start = time.monotonic()
    with open(src, "rb") as fin, open(dst, "ab") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
    return time.monotonic() - start


def watching_lab(ctx: Context, scenario: int, run: int, watched_name: str,
                  group: str) -> tuple[Lab, Path, Path, StreamTail]:
    """A lab whose one host `benchN` watches `watched_name` with `group`
    (the lines after `file:`) besides the readiness probe; both files exist."""
    lab = Lab(ctx.work / f"s{scenario}-r{run}", BASE_PORT + 10 * scenario)
    watched = lab.dir / watched_name
    probe = lab.dir / "probe.log"
    watched.touch()
    probe.touch()
    host = f"bench{scenario}"
    lab.write_host(host, PROBE_GROUP.format(probe=probe) + f"file: {watched}\n{group}")
    return lab, watched, probe, StreamTail(lab.stream)


def scenario_follow(ctx: Context, run: int) -> dict[str, float]:
    count = 500_000 if ctx.quick else 2_000_000
    data, expected = lines_file(ctx, count)
    grep_argv = ["grep", "-cE", "|".join(GREP_PATTERNS), str(data)]
    reset_children_cpu()
    rc, out, grep_cpu, _ = run_measured(grep_argv, ctx.work, 120, env={**os.environ, "LC_ALL": "C"})
    if rc != 0 or int(out.strip() or 0) != expected:
        raise RuntimeError(f"grep found {out.strip()!r}, expected {expected}")
    ctx.commands["1-grep"] = f"LC_ALL=C grep -cE '{'|'.join(GREP_PATTERNS)}' lines.log"

    matches = "".join(f"match: {p}\n" for p in GREP_PATTERNS)
    lab, watched, probe, tail = watching_lab(ctx, 1, run, "watched.log",
                                             f"{matches}alert_count: tags=count seconds=1\n")
    try:
        lab.start_supervisor()
        obs = lab.start_observer("bench1")
        wait_ready(tail, probe, [lab.sup, obs])
        ctx.commands["1"] = lab.observer_command("bench1")
        time.sleep(1.5)  # let the current count block close
        tail.poll()
        cpu0 = cpu_seconds(obs.pid)
        t0 = time.monotonic()
        append_file(data, watched)
        counted = 0.0
        deadline = t0 + 180
        while counted < expected and time.monotonic() < deadline:
            for _, ev in tail.poll():
                if ev.get("tags") == "count" and ev.get("value") is not None:
                    counted += float(ev["value"])
            time.sleep(0.05)
        t_counted = time.monotonic() - t0
        # Then until the observer's CPU stops increasing.
        last = cpu_seconds(obs.pid)
        for _ in range(50):
            time.sleep(0.2)
            now = cpu_seconds(obs.pid)
            if now == last:
                break
            last = now
        cpu = last - cpu0
    finally:
        tail.close()
        lab.stop()
    if counted < expected:
        raise RuntimeError(f"only {counted:.0f} of {expected} matches were counted within 180 s")
    return {
        "lines": count,
        "matches": expected,
        "counted": counted,
        "observer_cpu_s": cpu,
        "observer_lines_per_cpu_s": count / cpu if cpu > 0 else float("inf"),
        "grep_cpu_s": grep_cpu,
        "grep_lines_per_cpu_s": count / grep_cpu if grep_cpu > 0 else float("inf"),
        "seconds_until_counted": t_counted,
    }


def rows_follow(ctx: Context, res: list[dict[str, float]]) -> list[Figure]:
    obs = collect(res, "observer_lines_per_cpu_s")
    grep = collect(res, "grep_lines_per_cpu_s")
    grep_med = statistics.median(grep) if grep else None
    lines = int(res[0]["lines"]) if res else 0
    cmd = f"`{ctx.commands.get('1', 'observer')}`; {lines:,} lines appended in 1 MiB writes"
    return [
        Figure(1, "observer: lines per CPU-second (alert_count, 3 patterns)", "lines/s", obs,
               grep_med, "grep -cE, lines per CPU-second", "≥ 3 × grep",
               (lambda v: v >= 3 * grep_med) if grep_med else None, cmd),
        Figure(1, "grep: lines per CPU-second (reference)", "lines/s", grep, None, "", "",
               None, f"`{ctx.commands.get('1-grep', 'grep')}`"),
        Figure(1, "observer CPU seconds for the file", "s", collect(res, "observer_cpu_s"),
               None, "", "", None, cmd),
        Figure(1, "append → all matches counted in the stream", "s",
               collect(res, "seconds_until_counted"), None, "", "", None, cmd),
    ]


# ---------------------------------------------------------------- scenario 2


def burst_file(ctx: Context, count: int) -> Path:
    path = ctx.work / f"burst-{count}.log"
    if not path.exists():
        log(f"writing {count:,} matching lines to {path.name}")
        with open(path, "w") as f:
            for start in range(0, count, 10000):
                f.write("".join(f"BURST {i:09d} " + "x" * 70 + "\n"
                                for i in range(start, min(count, start + 10000))))
    return path


def scenario_burst(ctx: Context, run: int) -> dict[str, float]:
    sizes = [10_000, 200_000] if ctx.quick else [10_000, 1_000_000]
    out: dict[str, float] = {}
    lab, watched, probe, tail = watching_lab(ctx, 2, run, "burst.log",
                                             "match: ^BURST\nalert_all: tags=bench\n")
    try:
        lab.start_supervisor()
        obs = lab.start_observer("bench2")
        wait_ready(tail, probe, [lab.sup, obs])
        ctx.commands["2"] = lab.observer_command("bench2")
        tail.read_raw()  # skip what is there
        for size in sizes:
            data = burst_file(ctx, size)
            offset = lab.stream.stat().st_size
            t0 = time.monotonic()
            append_file(data, watched)
            got = 0
            last_growth = time.monotonic()
            complete_at = None
            limit = 60 + size / 5000  # generous: 260 s for a million
            while time.monotonic() - t0 < limit:
                n = tail.count_new(b'"tags":"bench"')
                now = time.monotonic()
                if n:
                    got += n
                    last_growth = now
                if got >= size:
                    complete_at = now
                    break
                if now - last_growth > 20:
                    break  # nothing for 20 s: the rest is lost
                time.sleep(0.01)
            # Let stragglers (doubles) arrive before counting.
            time.sleep(1.0)
            tail.count_new(b"\n")
            seqs: dict[int, int] = {}
            spool_reports = 0
            with open(lab.stream, "rb") as f:
                f.seek(offset)
                for line in f:
                    if b'"tags":"SYSTEM"' in line and b"spool full" in line:
                        spool_reports += 1
                    if b'"tags":"bench"' not in line:
                        continue
                    m = re.search(rb"BURST (\d{9})", line)
                    if m:
                        k = int(m.group(1))
                        seqs[k] = seqs.get(k, 0) + 1
            unique = sum(1 for k in seqs if k < size)
            doubled = sum(c - 1 for c in seqs.values())
            seconds = (complete_at or last_growth) - t0
            tag = f"{size}"
            out[f"events_{tag}"] = unique
            out[f"lost_{tag}"] = size - unique
            out[f"doubled_{tag}"] = doubled
            out[f"seconds_{tag}"] = seconds
            out[f"complete_{tag}"] = 1.0 if complete_at else 0.0
            out[f"rate_{tag}"] = unique / seconds if seconds > 0 else 0.0
            out[f"spool_full_{tag}"] = spool_reports
            log(f"  burst {size:,}: {unique:,} events, {size - unique} lost, {doubled} doubled, "
                f"{seconds:.2f} s")
            # The next burst must not catch the observer's spool mid-flight.
            time.sleep(2)
    finally:
        tail.close()
        lab.stop()
    # Re-sent events (their acknowledgement was late or lost) that the
    # supervisor recognised and did not write again, over both bursts.
    out["sup_duplicates"] = lab.supervisor_exit_counters().get("duplicates", -1)
    return out


def rows_burst(ctx: Context, res: list[dict[str, float]]) -> list[Figure]:
    sizes = [10_000, 200_000] if ctx.quick else [10_000, 1_000_000]
    cmd = f"`{ctx.commands.get('2', 'observer')}`; lines appended at once, `alert_all`"
    rows = []
    for size in sizes:
        per_dgram = 13  # ~100-byte events in a 1400-byte datagram
        rows += [
            Figure(2, f"burst {size:,}: events in the stream", "", collect(res, f"events_{size}"),
                   size, "lines written", f"= {size:,}", lambda v, s=size: v == s, cmd),
            Figure(2, f"burst {size:,}: lost", "", collect(res, f"lost_{size}"), 0, "", "0",
                   lambda v: v == 0, cmd),
            Figure(2, f"burst {size:,}: doubled", "", collect(res, f"doubled_{size}"), 0, "", "0",
                   lambda v: v == 0, cmd),
            Figure(2, f"burst {size:,}: append → last event in the stream (complete or not)", "s",
                   collect(res, f"seconds_{size}"), None, "", "", None, cmd),
            Figure(2, f"burst {size:,}: events/s end to end (delivered ÷ time to the last)",
                   "events/s",
                   collect(res, f"rate_{size}"), None,
                   f"≥ {math.ceil(size / per_dgram):,} datagrams needed", "≥ 100,000",
                   lambda v: v >= 100_000, cmd),
            Figure(2, f"burst {size:,}: SYSTEM \"event spool full\" reports in the stream", "",
                   collect(res, f"spool_full_{size}"), 0, "", "", None, cmd),
        ]
    rows.append(Figure(2, "re-sent events the supervisor recognised and did not write again (both bursts)",
                       "", collect(res, "sup_duplicates"), None, "", "", None, cmd))
    return rows


# ---------------------------------------------------------------- scenario 3


def scenario_latency(ctx: Context, run: int) -> dict[str, float]:
    seconds = 10 if ctx.quick else 60
    lab, watched, probe, tail = watching_lab(ctx, 3, run, "app.log",
                                             "match: ^LAT\nalert_all: tags=lat\n")
    written: dict[int, float] = {}
    arrived: dict[int, float] = {}
    try:
        lab.start_supervisor()
        obs = lab.start_observer("bench3")
        wait_ready(tail, probe, [lab.sup, obs])
        ctx.commands["3"] = lab.observer_command("bench3")
        fd = os.open(watched, os.O_WRONLY | os.O_APPEND)
        try:
            start = time.monotonic()
            total = seconds * 10
            seq = 0
            deadline = start + seconds + 10
            while time.monotonic() < deadline and (seq < total or len(arrived) < total):
                now = time.monotonic()
                if seq < total and now >= start + seq * 0.1:
                    written[seq] = time.monotonic()
                    os.write(fd, f"LAT {seq:06d} {time.time_ns()}\n".encode())
                    seq += 1
                for at, ev in tail.poll():
                    m = re.match(r"LAT (\d+)", ev.get("message", ""))
                    if m and ev.get("tags") == "lat":
                        arrived.setdefault(int(m.group(1)), at)
                time.sleep(0.0005)
        finally:
            os.close(fd)
    finally:
        tail.close()
        lab.stop()
    lat = sorted((arrived[k] - written[k]) * 1000 for k in arrived if k in written)
    if not lat:
        raise RuntimeError("no line reached the stream")

    def q(p: float) -> float:
        return lat[min(len(lat) - 1, max(0, math.ceil(p * len(lat)) - 1))]

    return {"p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": lat[-1],
            "lost": len(written) - len(arrived)}


def rows_latency(ctx: Context, res: list[dict[str, float]]) -> list[Figure]:
    secs = 10 if ctx.quick else 60
    cmd = f"`{ctx.commands.get('3', 'observer')}`; one line every 100 ms for {secs} s"
    return [
        Figure(3, "write → line in the stream, p50", "ms", collect(res, "p50_ms"), None, "", "",
               None, cmd),
        Figure(3, "write → line in the stream, p99", "ms", collect(res, "p99_ms"), None, "",
               "≤ 10 ms", lambda v: v <= 10, cmd),
        Figure(3, "write → line in the stream, max", "ms", collect(res, "max_ms"), None, "", "",
               None, cmd),
        Figure(3, "lines not in the stream", "", collect(res, "lost"), 0, "", "0",
               lambda v: v == 0, cmd),
    ]


# ---------------------------------------------------------------- scenario 10


class HookReceiver:
    """A webhook receiver on loopback: the wall-clock time each POST arrived
    and its JSON body."""

    def __init__(self) -> None:
        import http.server
        import threading
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                at_ms = time.time() * 1000
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                try:
                    received.append((at_ms, json.loads(body)))
                except ValueError:
                    pass
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


NOTIFY_CHECKS = 4  # stateful checks toggled side by side


def scenario_notify(ctx: Context, run: int) -> dict[str, float]:
    cycles = 8 if ctx.quick else 30
    lab = Lab(ctx.work / f"s10-r{run}", BASE_PORT + 100)
    hook = HookReceiver()
    levels = [lab.dir / f"level{i}" for i in range(NOTIFY_CHECKS)]
    for f in levels:
        f.write_text("level 10\n")
    (lab.dir / "notify.conf").write_text(
        f"channel: ops webhook http://127.0.0.1:{hook.port}/hook\n"
        "route: channel=ops wait=0 resolved=yes\n")
    with open(lab.dir / "ax436.conf", "a") as f:
        f.write("notify: notify.conf\n")
    lab.write_host("bench10", "".join(
        f"run: command=cat {f} extract=^(\\S+) (\\d+)$\n"
        f"alert_if: tags=level{i} match=1,level upper_limit=2,90 every=1 message=Level {i} high\n"
        for i, f in enumerate(levels)))
    try:
        lab.start_supervisor()
        obs = lab.start_observer("bench10")
        ok = wait_until(lambda: (lab.dir / "obs" / "bench10").exists() and any(
            "configuration" in p.read_text(errors="replace")
            for p in (lab.dir / "obs" / "bench10").glob("observer*.log")), 30, 0.2)
        if not ok:
            raise RuntimeError("the observer was not configured within 30 s")
        ctx.commands["10"] = lab.observer_command("bench10")
        # Each check opens and clears once per cycle, a quarter cycle apart.
        period = 3.0
        start = time.monotonic()
        for c in range(cycles):
            for i, f in enumerate(levels):
                at = start + c * period + i * period / NOTIFY_CHECKS
                while time.monotonic() < at:
                    time.sleep(0.01)
                f.write_text("level 95\n")
            for i, f in enumerate(levels):
                at = start + c * period + period / 2 + i * period / NOTIFY_CHECKS
                while time.monotonic() < at:
                    time.sleep(0.01)
                f.write_text("level 10\n")
        wanted = cycles * NOTIFY_CHECKS
        wait_until(lambda: sum(1 for _, b in hook.received for it in b.get("items", [])
                               if it.get("state") == "open") >= wanted, 20, 0.2)
        time.sleep(2)
    finally:
        lab.stop()
        hook.close()
    lat = sorted(at_ms - it["since_ms"] for at_ms, b in hook.received
                 for it in b.get("items", []) if it.get("state") == "open")
    if not lat:
        raise RuntimeError("no notification reached the receiver")
    openings = {(it["check"], it["since_ms"]) for _, b in hook.received
                for it in b.get("items", []) if it.get("state") == "open"}

    def q(p: float) -> float:
        return lat[min(len(lat) - 1, max(0, math.ceil(p * len(lat)) - 1))]

    return {"p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": lat[-1], "samples": len(lat),
            "expected": cycles * NOTIFY_CHECKS, "twice": len(lat) - len(openings)}


def rows_notify(ctx: Context, res: list[dict[str, float]]) -> list[Figure]:
    cycles = 8 if ctx.quick else 30
    cmd = (f"`{ctx.commands.get('10', 'observer')}`; {NOTIFY_CHECKS} checks (`every=1`) each "
           f"opened and cleared {cycles} times; route `wait=0` to a loopback webhook")
    return [
        Figure(10, "problem opened on the observer → webhook received, p50", "ms",
               collect(res, "p50_ms"), None, "", "", None, cmd),
        Figure(10, "problem opened on the observer → webhook received, p99", "ms",
               collect(res, "p99_ms"), None, "", "< 1000 ms", lambda v: v < 1000, cmd),
        Figure(10, "problem opened on the observer → webhook received, max", "ms",
               collect(res, "max_ms"), None, "", "", None, cmd),
        Figure(10, "openings received", "", collect(res, "samples"), None, "", "", None, cmd),
        Figure(10, "openings received twice", "", collect(res, "twice"), 0, "", "0",
               lambda v: v == 0, cmd),
    ]


# ---------------------------------------------------------------- scenario 4


def scenario_edit(ctx: Context, run: int) -> dict[str, float]:
    port = BASE_PORT + 40
    lab = Lab(ctx.work / f"s4-r{run}", port)
    probe = lab.dir / "probe.log"
    new = lab.dir / "new.log"
    probe.touch()
    new.touch()
    host_file = lab.dir / "hosts" / "bench4"
    host_file.write_text(PROBE_GROUP.format(probe=probe))
    tail = StreamTail(lab.stream)
    try:
        lab.start_supervisor()
        obs = lab.start_observer("bench4")
        wait_ready(tail, probe, [lab.sup, obs])
        ctx.commands["4"] = lab.observer_command("bench4")
        time.sleep(1.0)
        # Save the host file as editors do: a new file renamed over it.
        tmp = lab.dir / "hosts" / ".bench4.swp-bench"
        tmp.write_text(PROBE_GROUP.format(probe=probe)
                       + f"file: {new}\nmatch: ^NEW\nalert_all: tags=new\n")
        fd = os.open(new, os.O_WRONLY | os.O_APPEND)
        first = None
        try:
            os.replace(tmp, host_file)
            saved = time.monotonic()
            seq = 0
            next_write = saved
            while time.monotonic() - saved < 30 and first is None:
                now = time.monotonic()
                if now >= next_write:
                    os.write(fd, f"NEW {seq}\n".encode())
                    seq += 1
                    next_write = now + 0.01
                for at, ev in tail.poll():
                    if ev.get("tags") == "new":
                        first = at
                        break
                time.sleep(0.001)
        finally:
            os.close(fd)
    finally:
        tail.close()
        lab.stop()
    if first is None:
        raise RuntimeError("no event from the new watch within 30 s of the save")
    return {"save_to_event_s": first - saved}


def rows_edit(ctx: Context, res: list[dict[str, float]]) -> list[Figure]:
    cmd = (f"`{ctx.commands.get('4', 'observer')}`; host file replaced by rename, "
           "a line every 10 ms to the new file")
    return [Figure(4, "host file saved → first event of the new watch", "s",
                   collect(res, "save_to_event_s"), None, "", "≤ 1 s", lambda v: v <= 1.0, cmd)]


# ---------------------------------------------------------------- scenario 5


def scenario_idle(ctx: Context, run: int) -> dict[str, float]:
    seconds = ctx.extra.get("idle_seconds") or (20 if ctx.quick else 60)
    port = BASE_PORT + 50
    lab = Lab(ctx.work / f"s5-r{run}", port, beacon_interval=5)
    probe = lab.dir / "probe.log"
    app = lab.dir / "app.log"
    probe.touch()
    app.touch()
    binary = STATIC_OBSERVER if STATIC_OBSERVER.exists() else REL / "observer"
    lab.write_host("bench5",
        PROBE_GROUP.format(probe=probe)
        + f"file: {app}\nmatch: ERROR\nmatch: FATAL\nalert_all: tags=app\n"
        + "process: observer\nalert_running: tags=p min=1 max=100 message=observers\n"
        # The built-in metric in place of `run: df -P /` (a child process
        # every minute): what the shipped examples do now.
        + "metric: disk /\nalert_metric: tags=disk\n")
    tail = StreamTail(lab.stream)
    sleeper = None
    try:
        lab.start_supervisor()
        obs = lab.start_observer("bench5", binary)
        wait_ready(tail, probe, [lab.sup, obs], timeout=60)
        ctx.commands["5"] = lab.observer_command("bench5", binary)
        ctx.commands["5-sup"] = "target/release/supervisor ax436.conf"
        time.sleep(2)
        sleeper = PROCS.spawn(["sleep", str(seconds + 30)], lab.dir, lab.dir / "sleep.out")
        o0, s0, z0 = cpu_seconds(obs.pid, True), cpu_seconds(lab.sup.pid, True), 0.0
        t0 = time.monotonic()
        o_rss, s_rss, z_rss = [], [], []
        while time.monotonic() - t0 < seconds:
            time.sleep(1)
            o_rss.append(memory_kb(obs.pid)["VmRSS"])
            s_rss.append(memory_kb(lab.sup.pid)["VmRSS"])
            z_rss.append(memory_kb(sleeper.pid)["VmRSS"])
            tail.poll()
        wall = time.monotonic() - t0
        o1, s1 = cpu_seconds(obs.pid, True), cpu_seconds(lab.sup.pid, True)
        z1 = cpu_seconds(sleeper.pid)
        o_hwm = memory_kb(obs.pid)["VmHWM"]
        s_hwm = memory_kb(lab.sup.pid)["VmHWM"]
    finally:
        tail.close()
        if sleeper:
            PROCS.stop(sleeper)
        lab.stop()
    return {
        "observer_rss_mb": max(o_rss) / 1024,
        "observer_hwm_mb": o_hwm / 1024,
        "observer_cpu_pct": (o1 - o0) / wall * 100,
        "supervisor_rss_mb": max(s_rss) / 1024,
        "supervisor_hwm_mb": s_hwm / 1024,
        "supervisor_cpu_pct": (s1 - s0) / wall * 100,
        "sleep_rss_mb": max(z_rss) / 1024,
        "sleep_cpu_pct": (z1 - z0) / wall * 100,
        "binary_mb": binary.stat().st_size / 1e6,
        "static": 1.0 if binary == STATIC_OBSERVER else 0.0,
    }


def rows_idle(ctx: Context, res: list[dict[str, float]]) -> list[Figure]:
    secs = 20 if ctx.quick else 60
    sleep_rss = statistics.median(collect(res, "sleep_rss_mb")) if res else None
    sleep_cpu = statistics.median(collect(res, "sleep_cpu_pct")) if res else None
    cmd = (f"`{ctx.commands.get('5', 'observer')}`; 2 files, 1 process check, "
           f"`metric: disk /`, {secs} s idle (CPU includes children)")
    scmd = f"`{ctx.commands.get('5-sup', 'supervisor')}`, beacon every 5 s, one observer"
    return [
        Figure(5, "observer RSS (max over the window)", "MB", collect(res, "observer_rss_mb"),
               sleep_rss, "RSS of /bin/sleep", "< 8 MB", lambda v: v < 8, cmd),
        Figure(5, "observer CPU", "%", collect(res, "observer_cpu_pct"), sleep_cpu,
               "CPU of /bin/sleep", "≤ 0.03 %", lambda v: v <= 0.03, cmd),
        Figure(5, "supervisor RSS (max over the window)", "MB",
               collect(res, "supervisor_rss_mb"), sleep_rss, "RSS of /bin/sleep", "", None, scmd),
        Figure(5, "supervisor CPU", "%", collect(res, "supervisor_cpu_pct"), sleep_cpu,
               "CPU of /bin/sleep", "", None, scmd),
        Figure(5, "static observer binary size", "MB", collect(res, "binary_mb"), None, "",
               "≤ 8 MB (issue 14)", lambda v: v <= 8,
               "`RUSTFLAGS='-C target-feature=+crt-static' cargo build --profile observer "
               "-p observer --target x86_64-unknown-linux-gnu`"),
    ]


# ---------------------------------------------------------------- scenario 6


NS_SUBNET = "198.19.0."


def netns_lan(names: list[str]) -> dict[str, str]:
    """Namespaces joined by a bridge in a namespace of their own. Returns
    name -> address. Everything is deleted by PROCS.stop_all()."""
    stem = f"b436{os.getpid():x}"
    lan = f"{stem}-lan"
    addrs = {}

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)

    ip("netns", "add", lan)
    PROCS.namespaces.append(lan)
    ip("-n", lan, "link", "add", "br0", "type", "bridge")
    ip("-n", lan, "link", "set", "br0", "up")
    for i, name in enumerate(names, start=1):
        ns = f"{stem}-{name}"
        ip("netns", "add", ns)
        PROCS.namespaces.append(ns)
        addr = f"{NS_SUBNET}{i}"
        ip("link", "add", f"b{os.getpid() % 100000}v{i}", "netns", lan, "type", "veth",
           "peer", "name", "eth0", "netns", ns)
        ip("-n", lan, "link", "set", f"b{os.getpid() % 100000}v{i}", "master", "br0", "up")
        ip("-n", ns, "addr", "add", f"{addr}/24", "broadcast", f"{NS_SUBNET}255", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        ip("-n", ns, "link", "set", "lo", "up")
        addrs[name] = addr
    return addrs


def scenario_failover(ctx: Context, run: int) -> dict[str, float]:
    port = BASE_PORT + 60
    stem = f"b436{os.getpid():x}"
    netns_lan(["s1", "s2", "obs"])
    base = ctx.work / f"s6-r{run}"
    flow = base / "flow.log"
    labs = {}
    try:
        for s in ("s1", "s2"):
            lab = Lab(base / s, port, beacon_interval=5, broadcast=f"{NS_SUBNET}255")
            lab.write_host("bench6", f"file: {flow}\nmatch: ^FLOW\nalert_all: tags=flow\n")
            lab.start_supervisor(netns=f"{stem}-{s}")
            labs[s] = lab
        flow.touch()
        obs_lab = labs["s1"]
        obs = obs_lab.start_observer("bench6", netns=f"{stem}-obs")
        ctx.commands["6"] = ("ip netns exec NS " + " ".join(obs_lab.observer_argv("bench6"))
                             .replace(str(ROOT) + "/", ""))
        tails = {s: StreamTail(labs[s].stream) for s in labs}
        written: set[int] = set()
        fd = os.open(flow, os.O_WRONLY | os.O_APPEND)
        seq = 0
        next_write = time.monotonic()

        def pump(until: float, stop_on: Callable[[str, float, dict], bool] | None = None):
            nonlocal seq, next_write
            while time.monotonic() < until:
                now = time.monotonic()
                if now >= next_write:
                    os.write(fd, f"FLOW {seq:06d}\n".encode())
                    written.add(seq)
                    seq += 1
                    next_write = now + 0.1
                hit = None
                for s, t in tails.items():
                    for at, ev in t.poll():
                        m = re.match(r"FLOW (\d+)", ev.get("message", ""))
                        if m:
                            got[s].add(int(m.group(1)))
                        if hit is None and stop_on and stop_on(s, at, ev):
                            hit = (s, at)
                if hit:
                    return hit
                time.sleep(0.002)
                for p in [labs["s1"].sup, labs["s2"].sup, obs]:
                    if p.poll() is not None and p is not killed:
                        raise RuntimeError(f"{' '.join(p.argv_shown)} exited with {p.returncode}")
            return None

        got: dict[str, set[int]] = {"s1": set(), "s2": set()}

        def all_delivered(upto: int) -> bool:
            u = got["s1"] | got["s2"]
            return bool(u) and all(k in u for k in range(min(u), upto))
        killed = None
        try:
            first = pump(time.monotonic() + 60,
                         lambda s, at, ev: ev.get("tags") == "flow")
            if not first:
                raise RuntimeError("no event reached either supervisor within 60 s")
            chosen = first[0]
            other = "s2" if chosen == "s1" else "s1"
            pump(time.monotonic() + 3)
            killed = labs[chosen].sup
            t_kill = time.monotonic()
            os.killpg(killed.pid, signal.SIGKILL)
            moved = pump(t_kill + 60,
                         lambda s, at, ev: s == other and ev.get("tags") == "flow" and at > t_kill)
            if not moved:
                raise RuntimeError("no event reached the other supervisor within 60 s of the kill")
            # Keep writing a little, then stop and let everything drain.
            pump(time.monotonic() + 3)
            last_written = seq
            pump(time.monotonic() + 15,
                 lambda s, at, ev: all_delivered(last_written))
        finally:
            os.close(fd)
        delivered = got["s1"] | got["s2"]
        # Lines written before the observer applied its configuration are
        # not followed (it starts at the end of the file): count from the
        # first line delivered.
        lost = len([k for k in range(min(delivered), last_written) if k not in delivered])
        return {"kill_to_event_s": moved[1] - t_kill, "lost": lost,
                "doubled_across": len(got["s1"] & got["s2"])}
    finally:
        for lab in labs.values():
            lab.stop()
        PROCS.stop_all()  # also deletes the namespaces


def rows_failover(ctx: Context, res: list[dict[str, float]]) -> list[Figure]:
    cmd = (f"`{ctx.commands.get('6', 'observer')}` in a namespace; two supervisors in two others "
           "(beacon every 5 s), a line every 100 ms; `kill -9` of the chosen one")
    return [
        Figure(6, "supervisor killed → first event in the other stream", "s",
               collect(res, "kill_to_event_s"), 15, "3 beacon intervals", "≤ 3 s",
               lambda v: v <= 3, cmd),
        Figure(6, "lines in neither stream", "", collect(res, "lost"), 0, "", "0",
               lambda v: v == 0, cmd),
    ]


# ---------------------------------------------------------------- scenarios 7, 8


def loadgen_against_supervisor(ctx: Context, run: int, number: int, args: list[str],
                               timeout: float, name: str, sealed: bool = False) -> dict[str, float]:
    port = BASE_PORT + 10 * number
    lab = Lab(ctx.work / f"s{number}-{name}-r{run}", port, sealed=sealed)
    if sealed:
        args = args + ["--key-file", "lan.key"]
    argv = [str(REL / "loadgen"), "--supervisor", f"127.0.0.1:{port + 1}"] + args
    ctx.commands[f"{number}-{name}"] = " ".join(["target/release/loadgen", "--supervisor",
                                                 f"127.0.0.1:{port + 1}"] + args)
    try:
        sup = lab.start_supervisor()
        if not wait_until(lambda: (lab.dir / "supervisor.out").exists()
                          and b"listening" in (lab.dir / "supervisor.out").read_bytes(), 10):
            raise RuntimeError("the supervisor did not start listening")
        time.sleep(0.5)
        c0 = cpu_seconds(sup.pid)
        t0 = time.monotonic()
        p = subprocess.Popen(argv, cwd=lab.dir, stdout=subprocess.PIPE,
                             stderr=open(lab.dir / "loadgen.err", "wb"),
                             stdin=subprocess.DEVNULL, start_new_session=True)
        PROCS.live.append(p)
        rss = []
        loadgen_cpu = 0.0
        while True:
            # wait4 gives the rusage of exactly this child.
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                p.returncode = os.waitstatus_to_exitcode(status)
                loadgen_cpu = usage.ru_utime + usage.ru_stime
                break
            if time.monotonic() - t0 > timeout:
                PROCS.stop(p, signal.SIGKILL)
                raise RuntimeError(f"loadgen ran past {timeout} s")
            rss.append(memory_kb(sup.pid)["VmRSS"])
            time.sleep(0.1 if time.monotonic() - t0 < 2 else 0.5)
        wall = time.monotonic() - t0
        c1 = cpu_seconds(sup.pid)
        hwm = memory_kb(sup.pid)["VmHWM"]
        out = p.stdout.read() if p.stdout else b""
        PROCS.live.remove(p)
        if p.returncode != 0:
            raise RuntimeError(f"loadgen exited with {p.returncode}: "
                               f"{(lab.dir / 'loadgen.err').read_text()[-500:]}")
        summary = json.loads(out.decode().strip().splitlines()[-1])
        time.sleep(0.5)
        with open(lab.stream, "rb") as f:
            stream_lines = sum(1 for line in f if b'"host":"lg' in line)
    finally:
        lab.stop()
    return {
        "sup_cpu_pct": (c1 - c0) / wall * 100,
        "sup_rss_mb": max(rss) / 1024 if rss else hwm / 1024,
        "sup_hwm_mb": hwm / 1024,
        "loadgen_cpu_pct": loadgen_cpu / wall * 100,
        "events_sent": summary["events_sent"],
        "events_acked": summary["events_acked"],
        "lost": summary["events_unacked"],
        "retransmits": summary["retransmits"],
        "events_per_s": summary["events_per_s"],
        "datagrams_per_s": summary["datagrams_sent_per_s"],
        "datagrams_sent": summary["datagrams_sent"],
        "ack_p99_ms": summary["ack_p99_ms"] or 0.0,
        "stream_lines": stream_lines,
        "elapsed_s": summary["elapsed_s"],
    }


# Open problems each simulated observer carries in its heartbeats in the
# second run of the largest fleet (row 7).
OPEN_PROBLEMS = 3


def many_sizes(ctx: Context) -> list[int]:
    return [1_000, 10_000]


def scenario_many(ctx: Context, run: int) -> dict[str, float]:
    seconds = 20 if ctx.quick else 60
    out: dict[str, float] = {}
    for n in many_sizes(ctx):
        r = loadgen_against_supervisor(
            ctx, run, 7, ["--observers", str(n), "--rate", "1", "--duration", str(seconds)],
            seconds + 120, f"n{n}")
        log(f"  N={n}: supervisor {r['sup_cpu_pct']:.1f} % CPU, {r['sup_rss_mb']:.1f} MB, "
            f"{r['lost']} lost")
        out.update({f"{k}_{n}": v for k, v in r.items()})
    # The largest fleet again, each observer carrying open problems in
    # every heartbeat (protocol 2), as a fleet with problems open does.
    n = many_sizes(ctx)[-1]
    r = loadgen_against_supervisor(
        ctx, run, 7, ["--observers", str(n), "--rate", "1", "--duration", str(seconds),
                      "--open-problems", str(OPEN_PROBLEMS)],
        seconds + 120, f"n{n}p")
    log(f"  N={n} with {OPEN_PROBLEMS} open problems each: supervisor {r['sup_cpu_pct']:.1f} % "
        f"CPU, {r['sup_rss_mb']:.1f} MB, {r['lost']} lost")
    out.update({f"{k}_{n}p": v for k, v in r.items()})
    return out


def rows_many(ctx: Context, res: list[dict[str, float]]) -> list[Figure]:
    seconds = 20 if ctx.quick else 60
    rows = []
    for n in many_sizes(ctx):
        cmd = f"`{ctx.commands.get(f'7-n{n}', 'loadgen')}`"
        big = n == 10_000
        rows += [
            Figure(7, f"N={n:,}: supervisor CPU", "% of a core", collect(res, f"sup_cpu_pct_{n}"),
                   None, "", "< 33 %" if big else "",
                   (lambda v: v < 33) if big else None, cmd),
            Figure(7, f"N={n:,}: supervisor RSS (max)", "MB", collect(res, f"sup_rss_mb_{n}"),
                   None, "", "< 64 MB" if big else "", (lambda v: v < 64) if big else None, cmd),
            Figure(7, f"N={n:,}: events acknowledged", "", collect(res, f"events_acked_{n}"),
                   n * seconds, "N × duration × 1/s", "", None, cmd),
            Figure(7, f"N={n:,}: events lost", "", collect(res, f"lost_{n}"), 0, "", "0",
                   lambda v: v == 0, cmd),
            Figure(7, f"N={n:,}: datagrams sent by the observers", "",
                   collect(res, f"datagrams_sent_{n}"), n * seconds + round(n * seconds / 15),
                   "events + heartbeats, one event a datagram", "", None, cmd),
            Figure(7, f"N={n:,}: lines in the stream", "", collect(res, f"stream_lines_{n}"),
                   n * seconds, "one per event", "", None, cmd),
            Figure(7, f"N={n:,}: loadgen's own CPU", "% of a core",
                   collect(res, f"loadgen_cpu_pct_{n}"), None, "", "", None, cmd),
        ]
    n = many_sizes(ctx)[-1]
    cmd = f"`{ctx.commands.get(f'7-n{n}p', 'loadgen')}`"
    label = f"N={n:,}, {OPEN_PROBLEMS} open problems in each heartbeat"
    plain = collect(res, f"sup_cpu_pct_{n}")
    with_problems = collect(res, f"sup_cpu_pct_{n}p")
    ratio = [p / q for p, q in zip(with_problems, plain) if q > 0]
    rows += [
        Figure(7, f"{label}: supervisor CPU", "% of a core", with_problems, None, "", "", None,
               cmd),
        Figure(7, f"{label}: supervisor CPU ÷ the same fleet without problems", "×", ratio,
               None, "", "≤ 1.10", lambda v: v <= 1.10, cmd),
        Figure(7, f"{label}: supervisor RSS (max)", "MB", collect(res, f"sup_rss_mb_{n}p"), None,
               "", "< 64 MB", lambda v: v < 64, cmd),
        Figure(7, f"{label}: events lost", "", collect(res, f"lost_{n}p"), 0, "", "0",
               lambda v: v == 0, cmd),
    ]
    return rows


def flood_events(ctx: Context) -> int:
    return 300_000 if ctx.quick else 1_000_000


def scenario_flood(ctx: Context, run: int) -> dict[str, float]:
    n = flood_events(ctx)
    args = ["--flood", "--events", str(n), "--window", "256"]
    out = loadgen_against_supervisor(ctx, run, 8, args, 300, "flood")
    sealed = loadgen_against_supervisor(ctx, run, 8, args, 300, "sealed", sealed=True)
    out.update({f"sealed_{k}": v for k, v in sealed.items()})
    return out


def rows_flood(ctx: Context, res: list[dict[str, float]]) -> list[Figure]:
    n = flood_events(ctx)
    cmd = f"`{ctx.commands.get('8-flood', 'loadgen --flood')}`"
    return [
        Figure(8, "sustained events/s (acknowledged)", "events/s", collect(res, "events_per_s"),
               None, "", "≥ 100,000", lambda v: v >= 100_000, cmd),
        Figure(8, "events lost", "", collect(res, "lost"), 0, "", "0", lambda v: v == 0, cmd),
        Figure(8, "event datagrams/s", "datagrams/s", collect(res, "datagrams_per_s"), None, "",
               "", None, cmd),
        Figure(8, "datagrams sent", "", collect(res, "datagrams_sent"), math.ceil(n / 13),
               "events ÷ 13 per datagram", "", None, cmd),
        Figure(8, "lines in the stream", "", collect(res, "stream_lines"), n, "events sent", "",
               None, cmd),
        Figure(8, "supervisor CPU during the flood", "% of a core", collect(res, "sup_cpu_pct"),
               None, "", "", None, cmd),
        Figure(8, "ack latency p99 under flood", "ms", collect(res, "ack_p99_ms"), None, "", "",
               None, cmd),
        Figure(8, "sealed (key_file set): sustained events/s", "events/s",
               collect(res, "sealed_events_per_s"), None, "", "", None,
               f"`{ctx.commands.get('8-sealed', 'loadgen --flood --key-file')}`"),
        Figure(8, "sealed: events lost", "", collect(res, "sealed_lost"), 0, "", "0",
               lambda v: v == 0, f"`{ctx.commands.get('8-sealed', 'loadgen --flood --key-file')}`"),
        Figure(8, "sealed: supervisor CPU during the flood", "% of a core",
               collect(res, "sealed_sup_cpu_pct"), None, "", "", None,
               f"`{ctx.commands.get('8-sealed', 'loadgen --flood --key-file')}`"),
    ]


# ---------------------------------------------------------------- scenario 9


# What scenario 9 asks of the supervisor's window, in this order, again and
# again: the fleet page (its first page), the whole host list, one page of
# it, and the Prometheus metrics.
WINDOW_PATHS = [
    ("fleet", "/"),
    ("hosts", "/api/v1/hosts"),
    ("hosts_page", "/api/v1/hosts?limit=200"),
    ("metrics", "/metrics"),
]
WINDOW_HOST_FILE = "file: /var/log/syslog\nmatch: error\nalert_all: tags=web\n"


def http_get(port: int, path: str, timeout: float = 30.0) -> tuple[int, int, float]:
    """One GET over a new connection (as the supervisor serves one request
    per connection): status, body bytes, seconds from connect to the last
    byte."""
    import socket
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        chunks = []
        while True:
            b = s.recv(1 << 18)
            if not b:
                break
            chunks.append(b)
    took = time.monotonic() - t0
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    return status, len(body), took


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def window_sizes(ctx: Context) -> tuple[int, int, int]:
    """Observers, requests of each path, seconds of load."""
    return (10_000, 50, 90) if ctx.quick else (10_000, 200, 150)


def scenario_window(ctx: Context, run: int) -> dict[str, float]:
    n, requests, seconds = window_sizes(ctx)
    port = BASE_PORT + 90
    http_port = port + 2
    lab = Lab(ctx.work / f"s9-r{run}", port, extra_conf=f"http: 127.0.0.1:{http_port}\n")
    for i in range(n):
        lab.write_host(f"lg{i:05d}", WINDOW_HOST_FILE)
    # Each simulated observer fetches its configuration at start, as a
    # real one does; its heartbeats then carry the version it runs (without
    # it every heartbeat would earn a reset).
    args = ["--observers", str(n), "--rate", "1", "--duration", str(seconds), "--fetch-config"]
    argv = [str(REL / "loadgen"), "--supervisor", f"127.0.0.1:{port + 1}"] + args
    ctx.commands["9"] = " ".join(["target/release/loadgen", "--supervisor",
                                  f"127.0.0.1:{port + 1}"] + args)
    out: dict[str, float] = {}
    try:
        sup = lab.start_supervisor()
        if not wait_until(lambda: (lab.dir / "supervisor.out").exists()
                          and b"listening" in (lab.dir / "supervisor.out").read_bytes(), 30):
            raise RuntimeError("the supervisor did not start listening")

        def answers() -> bool:
            try:
                return http_get(http_port, "/api/v1/hosts?limit=1", 5)[0] == 200
            except OSError:
                return False
        if not wait_until(answers, 30, 0.2):
            raise RuntimeError(f"no HTTP answer on 127.0.0.1:{http_port}")
        p = subprocess.Popen(argv, cwd=lab.dir, stdout=subprocess.PIPE,
                             stderr=open(lab.dir / "loadgen.err", "wb"),
                             stdin=subprocess.DEVNULL, start_new_session=True)
        PROCS.live.append(p)

        def all_up() -> bool:
            try:
                body = http_get_json(http_port, "/api/v1/hosts?limit=1")
            except (OSError, ValueError):
                return False
            return body.get("counts", {}).get("up", 0) >= n
        # Every simulated observer heard: the fleet is all there.
        if not wait_until(all_up, 60, 1.0):
            raise RuntimeError("not every simulated observer was heard within 60 s")
        log(f"  {n} hosts up; {requests} requests of each of {len(WINDOW_PATHS)} paths")
        rss: list[int] = []
        lag: list[int] = []
        times: dict[str, list[float]] = {k: [] for k, _ in WINDOW_PATHS}
        sizes: dict[str, int] = {}
        c0, t0 = cpu_seconds(sup.pid), time.monotonic()
        for _ in range(requests):
            for key, path in WINDOW_PATHS:
                status, size, took = http_get(http_port, path)
                if status != 200:
                    raise RuntimeError(f"GET {path} answered {status}")
                times[key].append(took * 1000)
                sizes[key] = size
            rss.append(memory_kb(sup.pid)["VmRSS"])
            # How far the history thread (nice 10) is behind: what it has
            # queued in memory, at most 16 MB (history::MAX_QUEUED_BYTES).
            history = http_get_json(http_port, "/api/v1/supervisor").get("history") or {}
            lag.append(int(history.get("lag_bytes", 0)))
        wall = time.monotonic() - t0
        c1 = cpu_seconds(sup.pid)
        if p.poll() is not None:
            raise RuntimeError("the load ended before the requests did: raise the duration")
        hwm = memory_kb(sup.pid)["VmHWM"]
        stdout, _ = p.communicate(timeout=seconds + 120)
        PROCS.live.remove(p)
        if p.returncode != 0:
            raise RuntimeError(f"loadgen exited with {p.returncode}: "
                               f"{(lab.dir / 'loadgen.err').read_text()[-500:]}")
        summary = json.loads(stdout.decode().strip().splitlines()[-1])
        for key, _ in WINDOW_PATHS:
            out[f"{key}_p50_ms"] = nearest_rank(times[key], 0.50)
            out[f"{key}_p99_ms"] = nearest_rank(times[key], 0.99)
            out[f"{key}_max_ms"] = max(times[key])
            out[f"{key}_bytes"] = sizes[key]
        out.update({
            "rss_mb": max(rss) / 1024,
            "hwm_mb": hwm / 1024,
            "history_lag_mb": max(lag) / 1e6 if lag else 0.0,
            "sup_cpu_pct": (c1 - c0) / wall * 100,
            "requests_s": wall,
            "lost": summary["events_unacked"],
            "events_acked": summary["events_acked"],
            "ack_p99_ms": summary["ack_p99_ms"] or 0.0,
        })
    finally:
        lab.stop()
    return out


def http_get_json(port: int, path: str) -> dict:
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        raw = b""
        while True:
            b = s.recv(1 << 16)
            if not b:
                break
            raw += b
    return json.loads(raw.partition(b"\r\n\r\n")[2])


def rows_window(ctx: Context, res: list[dict[str, float]]) -> list[Figure]:
    n, requests, seconds = window_sizes(ctx)
    cmd = (f"`{ctx.commands.get('9', 'loadgen')}`; {n:,} host files; {requests} sequential "
           f"GETs of each path, round robin, while the load runs")
    rows = []
    targets = {"fleet": (100, "< 100 ms"), "hosts": (100, "< 100 ms"),
               "hosts_page": (None, ""), "metrics": (250, "< 250 ms")}
    for key, path in WINDOW_PATHS:
        limit, label = targets[key]
        rows += [
            Figure(9, f"`GET {path}` p50", "ms", collect(res, f"{key}_p50_ms"), None, "", "",
                   None, cmd),
            Figure(9, f"`GET {path}` p99", "ms", collect(res, f"{key}_p99_ms"), None, "", label,
                   (lambda v, lim=limit: v < lim) if limit else None, cmd),
            Figure(9, f"`GET {path}` max", "ms", collect(res, f"{key}_max_ms"), None, "", "",
                   None, cmd),
            Figure(9, f"`GET {path}` body", "bytes", collect(res, f"{key}_bytes"), None, "", "",
                   None, cmd),
        ]
    rows += [
        Figure(9, "supervisor RSS (max while serving)", "MB", collect(res, "rss_mb"), None, "",
               "< 64 MB", lambda v: v < 64, cmd),
        Figure(9, "supervisor RSS peak (VmHWM)", "MB", collect(res, "hwm_mb"), None, "", "",
               None, cmd),
        Figure(9, "history thread behind the stream (max)", "MB", collect(res, "history_lag_mb"),
               None, "", "", None, cmd),
        Figure(9, "supervisor CPU while serving", "% of a core", collect(res, "sup_cpu_pct"),
               None, "", "", None, cmd),
        Figure(9, "time for all the requests", "s", collect(res, "requests_s"), None, "", "",
               None, cmd),
        Figure(9, "events lost", "", collect(res, "lost"), 0, "", "0", lambda v: v == 0, cmd),
        Figure(9, "ack latency p99 (loadgen)", "ms", collect(res, "ack_p99_ms"), None, "", "",
               None, cmd),
    ]
    return rows


SCENARIOS = [
    Scenario(1, "Following a file: observer vs grep", scenario_follow, rows_follow),
    Scenario(2, "Bursts of matching lines", scenario_burst, rows_burst),
    Scenario(3, "Latency: write → stream", scenario_latency, rows_latency),
    Scenario(4, "Central edit: save → first event of a new watch", scenario_edit, rows_edit),
    Scenario(5, "Idle footprint", scenario_idle, rows_idle),
    Scenario(6, "Fail-over: chosen supervisor killed", scenario_failover, rows_failover,
             needs_root=True),
    Scenario(7, "Many observers against one supervisor (loadgen)", scenario_many, rows_many),
    Scenario(8, "Supervisor ingest limit (loadgen --flood)", scenario_flood, rows_flood),
    Scenario(9, "The window under load: pages, API and /metrics over HTTP", scenario_window,
             rows_window),
    Scenario(10, "Notification latency: problem → webhook", scenario_notify, rows_notify),
]


# ---------------------------------------------------------------- build, report


def build(skip: bool) -> list[str]:
    problems = []
    if skip:
        return problems
    steps = [
        (["cargo", "build", "--release", "--workspace"], {}),
        (["cargo", "build", "--profile", "observer", "-p", "observer",
          "--target", "x86_64-unknown-linux-gnu"],
         {"RUSTFLAGS": "-C target-feature=+crt-static"}),
    ]
    for argv, env in steps:
        log("building: " + " ".join(f"{k}='{v}'" for k, v in env.items()) + " " + " ".join(argv))
        p = subprocess.run(argv, cwd=ROOT, env={**os.environ, **env}, timeout=1800,
                           capture_output=True, text=True)
        if p.returncode != 0:
            problems.append(f"`{' '.join(argv)}` failed: {p.stderr.strip().splitlines()[-1:]}")
            log(p.stderr[-2000:])
    return problems


def loadavg() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


LOAD_AT_START = loadavg()


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass

    def out(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "unknown"

    return {
        "cores (nproc)": out("nproc"),
        "CPU": model,
        "memory": mem,
        "kernel (uname -r)": out("uname", "-r"),
        "OS": platform.freedesktop_os_release().get("PRETTY_NAME", "?")
        if hasattr(platform, "freedesktop_os_release") else "?",
        "rustc": out("rustc", "--version"),
        "commit": out("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"),
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "load average at start / end": f"{LOAD_AT_START} / {loadavg()}",
    }


def verdict(fig: Figure) -> str:
    m = fig.median()
    if m is None:
        return "not measured"
    if fig.meets is None:
        return ""
    ok_all = all(fig.meets(v) for v in fig.values)
    ok_med = fig.meets(m)
    if ok_all:
        return "met"
    if ok_med:
        return "met (median; not every run)"
    return "**missed**"


def report(ctx: Context, figures: list[Figure], notes: list[str], ran: list[Scenario],
           argv: list[str], started: float) -> str:
    facts = machine()
    lines = ["# Performance", "",
             "Measured by `python3 bench/run.py` on the machine below; every row gives the median "
             f"and the range (min–max) over {ctx.runs} run(s) of its scenario, the reference "
             "figure measured beside it, the ratio median ÷ reference, the target, and the exact "
             "command. Re-run with `python3 bench/run.py` (all), `--only N` (one scenario), "
             "`--runs K`, `--quick` (shorter scenarios, for checking the harness).", ""]
    if ctx.quick:
        lines += ["> **Quick run** (`--quick`): shortened scenarios; figures are indicative only.",
                  ""]
    lines += ["## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in facts.items()]
    lines += [f"| invocation | `python3 bench/run.py {' '.join(argv)}` "
              f"({(time.monotonic() - started) / 60:.0f} min) |", ""]
    lines += ["All processes run on this one machine and share its cores: the load generator, "
              "the supervisor, the observer and the runner itself. The supervisor and observers "
              "run from `target/release/` (scenario 5 uses the static observer), over loopback "
              "(scenario 6 over a bridge between network namespaces).", ""]
    targets = [f for f in figures if f.meets is not None]
    met = [f for f in targets if verdict(f).startswith("met")]
    missed = [f for f in targets if not verdict(f).startswith("met")]
    lines += ["## Targets at a glance", "",
              f"{len(met)} of {len(targets)} targets met (on the median of the runs)."
              + (" Missed:" if missed else ""), ""]
    lines += [f"- #{f.scenario} {f.name}: {fmt(f.median(), f.unit)} against {f.target}"
              for f in missed]
    lines += ["", "## Results", "",
              "| # | figure | median | min–max | reference | ratio | target | verdict | command |",
              "|---|---|---|---|---|---|---|---|---|"]
    for f in figures:
        m = f.median()
        rng = f"{fmt(min(f.values))} – {fmt(max(f.values))}" if f.values else "—"
        if isinstance(f.reference, (int, float)):
            ref = fmt(f.reference, f.unit if f.unit not in ("", "% of a core") else "")
            ratio = fmt(m / f.reference) if m is not None and f.reference else "—"
        else:
            ref, ratio = (f.reference or "—"), "—"
        if f.reference_label:
            ref = f"{ref} ({f.reference_label})" if ref != "—" else f.reference_label
        lines.append(f"| {f.scenario} | {f.name} | {fmt(m, f.unit)} | {rng} | {ref} | {ratio} | "
                     f"{f.target or '—'} | {verdict(f)} | {f.command} |")
    lines += ["", "## Scenarios", ""]
    for s in ran:
        lines.append(f"{s.number}. **{s.title}.** {SCENARIO_TEXT[s.number]}")
    if notes:
        lines += ["", "## Notes from this run", ""] + [f"- {n}" for n in notes]
    lines += ["", "## Method", "", METHOD, ""]
    return "\n".join(lines)


SCENARIO_TEXT = {
    1: "An observer follows a file (`alert_count: tags=count seconds=1`, three `match:` "
       "patterns). A file of ~100-byte lines, 1 % matching, is appended at once (1 MiB writes); "
       "the observer's CPU (utime+stime) is taken from the append until the `count` metrics in "
       "the stream add up to the number of matching lines and its CPU stops increasing. The "
       "reference is `grep -cE` (LC_ALL=C) on the same file, CPU from the kernel's rusage of "
       "that process. Full run: 2,000,000 lines; quick: 500,000.",
    2: "`alert_all` on every line; 10,000 and then 1,000,000 matching lines (quick: 200,000) "
       "appended at once. Counted in the stream: distinct lines (by sequence number), lost, "
       "doubled, and the time from the start of the append to the last event.",
    3: "One line every 100 ms (60 s; quick 10 s). Each line's write time and the time the runner "
       "sees it in the stream file (polled every 0.5 ms) give the end-to-end latency: inotify "
       "→ observer → UDP → supervisor → stream write.",
    4: "The host file is replaced by rename (as editors save) with a new `file:` group; a line is "
       "written to the new file every 10 ms; measured from the rename to the first event of "
       "that file in the stream.",
    5: "Static observer with 2 files, 1 process check (every 20 s), 1 command (`df -P /` every "
       "60 s), idle for 60 s (quick 20 s); RSS sampled every second (max reported), CPU = "
       "(utime+stime, plus waited-for children) ÷ wall time. The reference is an idle "
       "`/bin/sleep` measured the same way.",
    6: "Three network namespaces on a bridge (198.19.0.0/24): two supervisors with the same "
       "port and configuration, one observer, a line every 100 ms. The supervisor that "
       "receives the events is killed with SIGKILL; measured from the kill to the first event "
       "in the other supervisor's stream. Needs root (skipped otherwise).",
    7: "`loadgen` simulates N observers (each its own socket and name, 1 event/s, a heartbeat "
       "every 15 s) against one supervisor for 60 s (quick 20 s). Supervisor CPU over the run, "
       "RSS sampled every 0.5 s, events not acknowledged by the end (after a 10 s drain). "
       "The largest fleet runs a second time with `--open-problems 3`: every heartbeat is a "
       "protocol-2 heartbeat carrying three open problems, which the supervisor compares "
       "with what it knows of the host.",
    8: "`loadgen --flood`: one simulated observer sends full 1400-byte datagrams of ~100-byte "
       "events, 256 datagrams in flight, as fast as acknowledgements return; 1,000,000 events "
       "(quick 300,000). Events/s = acknowledged events ÷ time to the last acknowledgement.",
    9: "10,000 host files and `loadgen --fetch-config` simulating those 10,000 observers (each "
       "fetches its configuration, then 1 event/s); "
       "once every one is `up`, 200 sequential GETs of each of `/` (the fleet page, first "
       "page), `/api/v1/hosts` (all 10,000 hosts), `/api/v1/hosts?limit=200` and `/metrics`, "
       "round robin, each over a new connection from this runner on the same machine, timed "
       "from connect to the last byte; supervisor RSS sampled after each round. Quick: 50 "
       "requests each.",
    10: "A supervisor with `notify:` (one webhook channel on a loopback receiver, a route with "
       "`wait=0`) and one observer whose host file has four `run: cat FILE` checks with "
       "`alert_if ... every=1`; each file is set above the limit and back every 3 s, the four "
       "a quarter period apart, 30 times (quick 8). Latency = the receiver's clock when the "
       "POST arrived − the problem's `since` (the observer's clock when it opened the "
       "problem; same machine), so the check interval is not counted.",
}

METHOD = """- CPU: `/proc/PID/stat` fields utime+stime (÷ `SC_CLK_TCK`) of the process under test,
  read before and after the measured interval; for programs run to completion (grep) the
  kernel's rusage of that child.
- Memory: `/proc/PID/status` VmRSS (sampled) and VmHWM (peak).
- Every process runs in its own session and is killed (SIGTERM, then SIGKILL) at the end of
  its scenario, on Ctrl-C and on errors; temporary files live in one `mkdtemp` directory,
  removed at the end. Each scenario has its own port pair (19000 + 10 × N, +1).
- Targets are compared here, not asserted by the test suite."""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", type=int, action="append", metavar="N",
                    help="run only scenario N (may repeat)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each scenario (default 3)")
    ap.add_argument("--quick", action="store_true", help="shorter scenarios")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--out", type=Path, default=None,
                    help="report file (default docs/PERFORMANCE.md for a run of every scenario; "
                         "with --only the report goes to stdout unless --out is given)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--idle-seconds", type=int, default=None, metavar="S",
                    help="how long scenario 5 idles (default 60, quick 20); longer runs "
                         "resolve smaller CPU shares (one 10 ms tick is 0.017 %% of 60 s)")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    known = {s.number for s in SCENARIOS}
    for n in args.only or []:
        if n not in known:
            ap.error(f"no scenario {n} (there are {min(known)}..{max(known)})")
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    work = Path(tempfile.mkdtemp(prefix="436-bench-"))
    ctx = Context(work=work, quick=args.quick, runs=args.runs)
    if args.idle_seconds:
        ctx.extra["idle_seconds"] = args.idle_seconds
    notes: list[str] = []
    figures: list[Figure] = []
    ran: list[Scenario] = []
    try:
        notes += build(args.no_build)
        global LOAD_AT_START
        LOAD_AT_START = loadavg()
        for binary in ("supervisor", "observer", "loadgen"):
            if not (REL / binary).exists():
                notes.append(f"target/release/{binary} is missing")
        for s in SCENARIOS:
            if args.only and s.number not in args.only:
                continue
            ran.append(s)
            if s.needs_root and (os.geteuid() != 0 or not shutil.which("ip")):
                notes.append(f"Scenario {s.number} skipped: it needs root and `ip` "
                             "(network namespaces).")
                continue
            results = []
            for run in range(1, args.runs + 1):
                log(f"scenario {s.number} ({s.title}), run {run}/{args.runs}")
                try:
                    r = s.body(ctx, run)
                    results.append(r)
                    log("  " + json.dumps({k: round(v, 3) if isinstance(v, float) else v
                                           for k, v in r.items()}))
                except Interrupted:
                    raise
                except KeyboardInterrupt:
                    raise
                except Exception as e:
                    log(traceback.format_exc())
                    notes.append(f"Scenario {s.number}, run {run} failed: {e}")
                finally:
                    PROCS.stop_all()
            figures += s.rows(ctx, results)
    except (KeyboardInterrupt, Interrupted) as e:
        log(f"interrupted ({e}); stopping every process")
        notes.append("Run interrupted; figures are partial.")
    finally:
        PROCS.stop_all()
        if args.keep:
            log(f"files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = report(ctx, figures, notes, ran, sys.argv[1:], started)
    out = args.out if args.out else (None if args.only else ROOT / "docs" / "PERFORMANCE.md")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        log(f"wrote {rel(out)}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
