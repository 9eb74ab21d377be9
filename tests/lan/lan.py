"""Shared helper of the LAN suite: a test LAN made of network namespaces.

One namespace holds a bridge (the "switch"); each host is a namespace with a
veth into it, an address in 198.18.0.0/24 with broadcast 198.18.0.255 and no
default route, so nothing a scenario does can leave the machine. Hosts run the
real release binaries (target/release/supervisor and observer, or the ones
LAN_SUPERVISOR and LAN_OBSERVER name: CI passes the packaged supervisor and
the statically linked observer it ships).

Everything a run creates carries a unique prefix (`t436` + the run's pid in
hex): namespaces, temp dirs. Before it starts, a run sweeps namespaces left by
runs whose pid is gone. Teardown (kill our processes, delete our namespaces)
runs from `finally`, on SIGINT/SIGTERM/SIGHUP and at exit, so a failed or
interrupted scenario leaves nothing behind but the logs of a failed run, which
are kept in a temp dir whose path is printed.

Scenarios use `scenario(name, body)`: body(lan) builds hosts, runs programs,
calls `lan.check(...)` and `lan.figure(...)`; any failed check fails the
scenario. Python 3.11 standard library only.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "target" / "release"
SUPERVISOR_BIN = Path(os.environ.get("LAN_SUPERVISOR") or BIN / "supervisor").absolute()
OBSERVER_BIN = Path(os.environ.get("LAN_OBSERVER") or BIN / "observer").absolute()
SUBNET = "198.18.0."
BROADCAST = "198.18.0.255"
STEM = "t436"
PORT = 9000  # namespaces are isolated, so every run can use the same port

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_ns_lock = threading.Lock()


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(*args: str, check: bool = True, timeout: float = 30, input: str | None = None) -> subprocess.CompletedProcess:
    """Runs a command (no shell), bounded in time."""
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise RuntimeError(f"command failed ({p.returncode}): {' '.join(args)}\n{p.stderr.strip()}")
    return p


def wait_until(pred, timeout: float, interval: float = 0.05):
    """Polls pred() until it returns a true value or `timeout` seconds pass.
    Returns (value, elapsed seconds); value is the last falsy value on
    time-out."""
    start = time.monotonic()
    while True:
        v = pred()
        el = time.monotonic() - start
        if v or el >= timeout:
            return v, el
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def sweep_leftovers() -> list[str]:
    """Deletes namespaces of earlier runs (prefix STEM) whose pid is gone,
    killing whatever still runs inside them."""
    gone = []
    out = sh("ip", "netns", "list", check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(rf"^{STEM}([0-9a-f]+)-", name)
        if not m:
            continue
        if pid_alive(int(m.group(1), 16)):
            continue  # a run still in progress
        _kill_ns_pids(name)
        sh("ip", "netns", "delete", name, check=False)
        gone.append(name)
    return gone


def _kill_ns_pids(ns: str) -> None:
    pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
    for p in pids:
        try:
            os.kill(int(p), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


class CheckFailed(Exception):
    pass


# --------------------------------------------------------------------------
# Streams


def stream_files(d: Path) -> list[Path]:
    """The stream files of folder d (`events*`), in name order: not the
    fleet state, the history database or the notification queue the
    supervisor keeps beside them."""
    if not d.exists():
        return []
    return [f for f in sorted(d.iterdir()) if f.is_file() and f.name.startswith("events")]


def malformed_lines(d: Path) -> list[str]:
    """Stream lines that are not JSON objects (a torn write), except an
    unfinished last line."""
    bad = []
    for f in stream_files(d):
        data = f.read_bytes()
        lines = data.split(b"\n")
        if not data.endswith(b"\n"):
            lines = lines[:-1]
        for raw in lines:
            if not raw.strip():
                continue
            try:
                if not isinstance(json.loads(raw), dict):
                    raise ValueError
            except ValueError:
                bad.append(f"{f.name}: {raw[:120]!r}")
    return bad


def read_stream_dir(d: Path) -> list[dict]:
    """Every JSON event in the stream files of folder d, in file order.
    An unfinished last line (being written) is ignored."""
    events = []
    for f in stream_files(d):
        data = f.read_bytes()
        for raw in data.split(b"\n"):
            if not raw.strip():
                continue
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
    return events


SEQ_RE = re.compile(r"seq=(\S+)")


def seqs(events: list[dict], host: str | None = None) -> list[str]:
    """The `seq=` markers of the events (of one host), with repeats."""
    out = []
    for e in events:
        if host is not None and e.get("host") != host:
            continue
        m = SEQ_RE.search(e.get("message") or "")
        if m:
            out.append(m.group(1))
    return out


def count(items) -> dict:
    d: dict = {}
    for i in items:
        d[i] = d.get(i, 0) + 1
    return d


def sample(items, n: int = 8) -> str:
    items = sorted(items)
    s = ", ".join(str(i) for i in items[:n])
    return s + (f", ... ({len(items)} in all)" if len(items) > n else "")


# --------------------------------------------------------------------------
# Hosts and programs


class Proc:
    """A program started inside a host's namespace."""

    def __init__(self, host: "Host", argv: list[str], cwd: Path, out: Path, label: str):
        self.host, self.argv, self.cwd, self.out, self.label = host, argv, cwd, out, label
        self.p: subprocess.Popen | None = None
        self.started = 0.0

    def start(self) -> "Proc":
        self.cwd.mkdir(parents=True, exist_ok=True)
        f = open(self.out, "ab")
        f.write(f"--- start {time.strftime('%H:%M:%S')} {' '.join(self.argv)}\n".encode())
        f.flush()
        # `ip netns exec` execs the program, so our pid is the program's pid.
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", self.host.ns, *self.argv],
            cwd=self.cwd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        f.close()
        self.started = time.monotonic()
        self.host.lan.procs.append(self)
        log(f"started {self.label} in {self.host.name} (pid {self.p.pid})")
        return self

    @property
    def pid(self) -> int:
        assert self.p is not None
        return self.p.pid

    def alive(self) -> bool:
        return self.p is not None and self.p.poll() is None

    def kill(self, sig=signal.SIGKILL, wait: float = 10) -> None:
        if not self.alive():
            return
        self.p.send_signal(sig)
        try:
            self.p.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=5)
        log(f"stopped {self.label} with {signal.Signals(sig).name} (exit {self.p.returncode})")

    def stop(self) -> None:
        self.kill(signal.SIGTERM, wait=10)


class Host:
    def __init__(self, lan: "Lan", name: str, idx: int):
        self.lan, self.name, self.idx = lan, name, idx
        self.ns = f"{lan.prefix}-{name}"
        self.ip = f"{SUBNET}{idx}"
        self.dir = lan.work / name
        self.dir.mkdir(parents=True, exist_ok=True)

    def exec(self, *args: str, check: bool = True, timeout: float = 30, input: str | None = None):
        return sh("ip", "netns", "exec", self.ns, *args, check=check, timeout=timeout, input=input)

    # -- packet loss and blocking with nftables --------------------------
    def nft(self, script: str) -> None:
        self.exec("nft", "-f", "-", input=script)

    def loss(self, pct: int) -> None:
        """Drops pct % of datagrams in both directions on this host (table
        `loss`)."""
        rule = f"numgen random mod 100 < {pct}"
        self.block(rule_out=rule, rule_in=rule, table="loss")

    def block(self, rule_out: str | None = None, rule_in: str | None = None, table: str = "block") -> None:
        """Adds drop rules (nft expressions without the verdict)."""
        s = f"table inet {table} {{\n chain out {{ type filter hook output priority 0; }}\n chain in {{ type filter hook input priority 0; }}\n}}\n"
        if rule_out:
            s += f"add rule inet {table} out {rule_out} drop\n"
        if rule_in:
            s += f"add rule inet {table} in {rule_in} drop\n"
        self.nft(s)
        log(f"{self.name}: block out=[{rule_out}] in=[{rule_in}]")

    def unblock(self, table: str = "block") -> None:
        self.exec("nft", "delete", "table", "inet", table, check=False)
        log(f"{self.name}: table {table} removed")

    def socket(self, kind=socket.SOCK_DGRAM) -> socket.socket:
        """A socket created inside this host's network namespace (from this
        process, by switching only the calling thread's namespace)."""
        return socket_in(self.ns, kind)


def socket_in(ns: str, kind=socket.SOCK_DGRAM) -> socket.socket:
    with _ns_lock:
        own = os.open(f"/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            if _libc.setns(target, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns failed")
            try:
                return socket.socket(socket.AF_INET, kind)
            finally:
                if _libc.setns(own, _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back failed")
        finally:
            os.close(own)
            os.close(target)


class Supervisor:
    """A supervisor on a host, with a folder of its own: ax436.conf, hosts/,
    includes/, stream/ (json), supervisor.log."""

    def __init__(self, host: Host, name: str, key: Path | None = None, max_idle: int = 60,
                 beacon_interval: int = 1, extra: str = ""):
        self.host, self.name, self.key = host, name, key
        self.dir = host.dir / f"sup-{name}"
        self.hosts = self.dir / "hosts"
        self.includes = self.dir / "includes"
        self.stream = self.dir / "stream"
        for d in (self.hosts, self.includes, self.stream):
            d.mkdir(parents=True, exist_ok=True)
        conf = [
            f"# supervisor {name} of LAN run {host.lan.prefix}",
            "event_stream: stream/events.json",
            f"port: {PORT}",
            f"broadcast: {BROADCAST}",
            "hosts: hosts",
            "includes: includes",
            f"max_idle: {max_idle}",
            f"beacon_interval: {beacon_interval}",
            "stream_format: json",
            "stream_rotation: never",
            "log_file: supervisor.log",
        ]
        if key:
            conf.append(f"key_file: {key}")
        self.conf = self.dir / "ax436.conf"
        self.conf.write_text("\n".join(conf) + "\n" + extra)
        self.proc = Proc(host, [str(SUPERVISOR_BIN), str(self.conf)], self.dir,
                         self.dir / "stderr.txt", f"supervisor {name}")

    def host_file(self, host: str, text: str) -> None:
        write_atomic(self.hosts / host, text)

    def include_file(self, name: str, text: str, in_place: bool = False) -> None:
        if in_place:  # like `cat > file`: truncate, then write
            with open(self.includes / name, "w") as f:
                f.write(text)
        else:
            write_atomic(self.includes / name, text)

    def start(self) -> "Supervisor":
        self.proc = Proc(self.host, self.proc.argv, self.dir, self.dir / "stderr.txt", f"supervisor {self.name}")
        self.proc.start()
        return self

    def events(self) -> list[dict]:
        return read_stream_dir(self.stream)

    def log_text(self) -> str:
        """The supervisor's own log (log_file; it may carry a date), or its
        stderr when it wrote no log file."""
        return _log_files([f for f in self.dir.glob("supervisor*") if f.is_file()], self.dir / "stderr.txt")


class Observer:
    """An observer on a host, run in its own folder with spool/ and log/."""

    def __init__(self, host: Host, name: str | None = None, key: Path | None = None):
        self.host = host
        self.name = name or host.name
        self.dir = host.dir / f"obs-{self.name}"
        self.spool = self.dir / "spool"
        self.logdir = self.dir / "log"
        for d in (self.spool, self.logdir):
            d.mkdir(parents=True, exist_ok=True)
        self.app = self.dir / "app.log"  # the file scenarios make it follow
        self.app.touch()
        self.key = key
        argv = [str(OBSERVER_BIN), str(PORT), "--name", self.name,
                "--spool-dir", str(self.spool), "--log-dir", str(self.logdir)]
        if key:
            argv += ["--key-file", str(key)]
        self.argv = argv
        self.proc: Proc | None = None

    def start(self) -> "Observer":
        self.proc = Proc(self.host, self.argv, self.dir, self.dir / "stderr.txt", f"observer {self.name}")
        self.proc.start()
        return self

    def log_text(self) -> str:
        """The observer's own log (in --log-dir), or its stderr when it wrote
        no log file."""
        return _log_files([f for f in self.logdir.glob("*") if f.is_file()], self.dir / "stderr.txt")

    def raise_events(self, tag: str, n: int, start: int = 0, path: Path | None = None) -> list[str]:
        """Appends n lines `ERROR seq=<name>-<tag>-<i>` in one write; returns the seqs."""
        ids = [f"{self.name}-{tag}-{i}" for i in range(start, start + n)]
        with open(path or self.app, "a") as f:
            f.write("".join(f"ERROR seq={s}\n" for s in ids))
        return ids


def _log_files(files: list[Path], fallback: Path) -> str:
    files = sorted(files, key=lambda f: f.stat().st_mtime)
    if not files:
        files = [fallback] if fallback.is_file() else []
    return "\n".join(f.read_text(errors="replace") for f in files)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def simple_host_file(obs: Observer, tags: str = "app", extra: str = "") -> str:
    return f"# {obs.name}\nfile: {obs.app}\nmatch: ERROR\nalert_all: tags={tags}\n" + extra


# --------------------------------------------------------------------------
# The LAN


class Lan:
    def __init__(self, scenario: str):
        self.scenario = scenario
        self.prefix = f"{STEM}{os.getpid():x}"
        self.work = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-{scenario}-"))
        self.switch = f"{self.prefix}-switch"
        self.hosts: dict[str, Host] = {}
        self.procs: list[Proc] = []
        self.failures: list[str] = []
        self.figures: list[tuple[str, str]] = []
        self.namespaces: list[str] = []
        self._down = False

    # -- building ----------------------------------------------------------
    def up(self) -> "Lan":
        swept = sweep_leftovers()
        if swept:
            log(f"swept leftovers of earlier runs: {', '.join(swept)}")
        self._ns_add(self.switch)
        sh("ip", "-n", self.switch, "link", "set", "lo", "up")
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        log(f"LAN {self.prefix} up; work dir {self.work}")
        return self

    def _ns_add(self, ns: str) -> None:
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)

    def host(self, name: str) -> Host:
        idx = len(self.hosts) + 1
        h = Host(self, name, idx)
        self._ns_add(h.ns)
        port = f"p{idx}"
        sh("ip", "-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
        sh("ip", "-n", self.switch, "link", "set", port, "master", "br0")
        sh("ip", "-n", self.switch, "link", "set", port, "up")
        sh("ip", "-n", h.ns, "link", "set", "lo", "up")
        sh("ip", "-n", h.ns, "addr", "add", f"{h.ip}/24", "brd", BROADCAST, "dev", "eth0")
        sh("ip", "-n", h.ns, "link", "set", "eth0", "up")
        self.hosts[name] = h
        return h

    def gen_key(self, name: str = "lan.key") -> Path:
        path = self.work / name
        sh(str(SUPERVISOR_BIN), "--gen-key", str(path))
        return path

    # -- results -----------------------------------------------------------
    def check(self, what: str, ok: bool, expected, found, logs: str = "") -> bool:
        if ok:
            log(f"ok    {what}")
        else:
            msg = f"FAIL  {what}\n      expected: {expected}\n      found:    {found}"
            if logs:
                msg += f"\n      logs:     {logs}"
            log(msg)
            self.failures.append(what)
        return ok

    def configured(self, what: str, observers, sups, figure: str = "time to configure (s)",
                   timeout: float = 15) -> bool:
        """Probes until every observer's events reach one of `sups`, reports
        the times as `figure`, and checks that all of them got there."""
        cfg = probe_configured(observers, sups, timeout=timeout)
        self.figure(figure, cfg)
        return self.check(what, all(v is not None for v in cfg.values()), "all configured", cfg, str(self.work))

    def figure(self, name: str, value) -> None:
        self.figures.append((name, str(value)))
        log(f"figure {name}: {value}")

    # -- teardown ----------------------------------------------------------
    def down(self) -> None:
        if self._down:
            return
        self._down = True
        for p in reversed(self.procs):
            if p.alive():
                try:
                    p.p.kill()
                    p.p.wait(timeout=5)
                except Exception:
                    pass
        for ns in reversed(self.namespaces):
            _kill_ns_pids(ns)
            sh("ip", "netns", "delete", ns, check=False)
        self.namespaces.clear()


def _on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def ensure_binaries() -> None:
    given = os.environ.get("LAN_SUPERVISOR") and os.environ.get("LAN_OBSERVER")
    if (given or os.environ.get("LAN_NO_BUILD") == "1") and SUPERVISOR_BIN.exists() \
            and OBSERVER_BIN.exists():
        return
    log("building release binaries (cargo build --release -p supervisor -p observer)")
    r = subprocess.run(["cargo", "build", "--release", "-q", "-p", "supervisor", "-p", "observer"],
                       cwd=ROOT, timeout=900)
    if r.returncode != 0:
        raise RuntimeError("cargo build failed")


def scenario(name: str, body, needs_binaries: bool = True) -> None:
    """Runs one scenario and exits: 0 passed (or skipped), 1 failed."""
    if os.geteuid() != 0:
        print(f"{name}: SKIPPED: the LAN suite needs root (network namespaces, nftables); run it with sudo")
        sys.exit(0)
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            print(f"{name}: FAILED: `{tool}` is missing (tests/lan/run installs it)")
            sys.exit(1)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)
    t0 = time.monotonic()
    lan = None
    ok = False
    try:
        if needs_binaries:
            ensure_binaries()
        lan = Lan(name)
        lan.up()
        body(lan)
        ok = not lan.failures
    except CheckFailed as e:
        log(f"FAIL  {e}")
        if lan:
            lan.failures.append(str(e))
    except KeyboardInterrupt as e:
        log(f"interrupted ({e})")
    except Exception:
        traceback.print_exc()
    finally:
        if lan:
            lan.down()
    dt = time.monotonic() - t0
    figs = "; ".join(f"{k}={v}" for k, v in lan.figures) if lan else ""
    if ok:
        if lan and os.environ.get("LAN_KEEP") != "1":
            shutil.rmtree(lan.work, ignore_errors=True)
        elif lan:
            print(f"(LAN_KEEP=1: work dir kept in {lan.work})")
        print(f"RESULT {name}: PASSED in {dt:.1f} s; {figs}", flush=True)
        sys.exit(0)
    where = f"; logs kept in {lan.work}" if lan else ""
    failed = "; ".join(lan.failures) if lan and lan.failures else "error"
    print(f"RESULT {name}: FAILED in {dt:.1f} s ({failed}){where}; {figs}", flush=True)
    sys.exit(1)


# --------------------------------------------------------------------------
# Common steps of scenarios


def all_events(sups) -> list[dict]:
    out = []
    for s in sups:
        out.extend(s.events())
    return out


_probe_round = 0


def probe_configured(observers, sups, timeout: float = 10, started: dict | None = None) -> dict:
    """Writes a probe line `ERROR seq=<name>-probe-<k>` every 100 ms into each
    observer's app.log until one of them shows up in a stream of `sups`.
    Returns name -> seconds from the observer's start to the write of the
    first probe that arrived (an upper bound on its time to be configured),
    or None when none arrived within `timeout` of now."""
    global _probe_round
    _probe_round += 1
    tag = f"probe{_probe_round}"
    t_written: dict = {}
    found: dict = {o.name: None for o in observers}
    k = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(v is None for v in found.values()):
        now = time.monotonic()
        for o in observers:
            if found[o.name] is None:
                o.raise_events(tag, 1, start=k)
                t_written[(o.name, k)] = now
        k += 1
        time.sleep(0.1)
        seen = set(seqs(all_events(sups)))
        for o in observers:
            if found[o.name] is None:
                for j in range(k):
                    if f"{o.name}-{tag}-{j}" in seen and (o.name, j) in t_written:
                        t0 = (started or {}).get(o.name, o.proc.started)
                        found[o.name] = round(t_written[(o.name, j)] - t0, 2)
                        break
    return found


def wait_for_seqs(sups, want: set, timeout: float, host: str | None = None) -> float | None:
    """Waits until every seq in `want` is in the union of the streams.
    Returns the seconds waited, or None on time-out."""
    v, el = wait_until(lambda: want <= set(seqs(all_events(sups), host)), timeout, 0.25)
    return el if v else None


def check_exactly_once(lan: Lan, label: str, want: set, sups, one_stream: bool = True,
                       allow_cross: set | None = None) -> dict:
    """Every seq in `want` is in the union of the streams, none twice in one
    stream, and (one_stream) none in two streams except those in
    allow_cross. Returns counts for figures."""
    per = [count(s for s in seqs(x.events()) if s in want) for x in sups]
    union: dict = {}
    for c in per:
        for s, n in c.items():
            union[s] = union.get(s, 0) + n
    missing = want - set(union)
    twice_in_one = {s for c in per for s, n in c.items() if n > 1}
    cross = {s for s in union if sum(1 for c in per if s in c) > 1}
    logs = str(lan.work)
    bad = [b for x in sups for b in malformed_lines(x.stream)]
    lan.check(f"{label}: every stream line is a whole JSON object", not bad, "no torn or garbled line",
              f"{len(bad)}: {bad[:3]}", logs)
    lan.check(f"{label}: all {len(want)} events arrived", not missing, "none missing",
              f"{len(missing)} missing: {sample(missing)}", logs)
    lan.check(f"{label}: no event twice in one stream", not twice_in_one, "none",
              f"{len(twice_in_one)}: {sample(twice_in_one)}", logs)
    if one_stream:
        bad = cross - (allow_cross or set())
        lan.check(f"{label}: each event in exactly one stream", not bad, "none in two streams",
                  f"{len(bad)}: {sample(bad)}", logs)
    return {"missing": len(missing), "twice": len(twice_in_one), "cross": len(cross)}


def system_events(events: list[dict], text: str) -> list[dict]:
    return [e for e in events if (e.get("kind") == "system" or "SYSTEM" in (e.get("tags") or ""))
            and text in (e.get("message") or "")]


def tail(path_text: str, n: int = 15) -> str:
    lines = path_text.strip().splitlines()
    return "\n        " + "\n        ".join(lines[-n:])


RESET_RE = re.compile(r"configuration (?:file )?of (\S+) (?:changed|removed): reset")


def resets_logged(sup) -> dict:
    """host -> number of `configuration of HOST changed: reset` lines in the
    supervisor's log (the supervisor resets a host when the expanded
    configuration it serves to it changed)."""
    return count(m.group(1) for m in RESET_RE.finditer(sup.log_text()))


def diff_counts(after: dict, before: dict) -> dict:
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)
            if after.get(k, 0) - before.get(k, 0)}


class Stamper:
    """Polls streams and remembers when each seq was first seen (monotonic)."""

    def __init__(self, sups):
        self.sups = sups
        self.first: dict = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Stamper":
        for i, s in enumerate(self.sups):  # what is there already is old
            for q in seqs(s.events()):
                self.first.setdefault((i, q), 0.0)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            now = time.monotonic()
            for i, s in enumerate(self.sups):
                for q in seqs(s.events()):
                    self.first.setdefault((i, q), now)
            time.sleep(0.05)

    def stop(self):
        self._stop.set()
        self._t.join(5)


class Writer:
    """Appends `ERROR seq=<name>-<tag>-<i>` lines to observers' files at a
    steady rate from a thread; remembers every seq and when it was written."""

    def __init__(self, observers, tag: str, per_second: float):
        self.observers, self.tag, self.period = observers, tag, 1.0 / per_second
        self.written: dict = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Writer":
        self._t.start()
        return self

    def _run(self):
        i = 0
        nxt = time.monotonic()
        while not self._stop.is_set():
            for o in self.observers:
                for s in o.raise_events(self.tag, 1, start=i):
                    self.written[s] = time.monotonic()
            i += 1
            nxt += self.period
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)

    def stop(self) -> set:
        self._stop.set()
        self._t.join(5)
        return set(self.written)


APPLIED_RE = re.compile(r"configuration ([0-9a-f]{16}) applied")


def applied(o) -> list[str]:
    """Versions in the observer's `configuration V applied` log lines."""
    return APPLIED_RE.findall(o.log_text())


def exit_counters(sup) -> dict:
    """The supervisor's last `counters at exit:` line as a dict
    (stop it first)."""
    text = sup.log_text()
    m = None
    for m in re.finditer(r"counters at exit: (.*)", text):
        pass
    if not m:
        return {}
    out: dict = {}
    line = re.sub(r"\(([^)]*)\)", lambda x: "", m.group(1))
    for part in line.split(", "):
        kv = part.strip().rsplit(" ", 1)
        if len(kv) == 2 and kv[1].isdigit():
            out[kv[0]] = int(kv[1])
    return out
