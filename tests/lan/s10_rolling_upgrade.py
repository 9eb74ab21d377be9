#!/usr/bin/env python3
"""s10 rolling upgrade: a supervisor of this version with an observer of the
previous protocol (built from the last commit before protocol 2) and an
observer of this version side by side. Both are configured, every event of
both lands exactly once, the old observer's heartbeats keep it alive (no
`Host is inactive`), and a clean stop of the new observer makes its host
`stopped` at once while the old one, which cannot say goodbye, is merely
silent."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lan as L  # noqa: E402

# The last commit whose observer speaks only protocol 1 (events without a
# check, heartbeats without problems, no goodbye).
PREVIOUS = "ed4f90f"
PREVIOUS_DIR = L.ROOT / "target" / "previous-observer"
EVENTS = 200
MAX_IDLE = 20


def previous_observer() -> Path:
    """Builds the previous release's observer once (cached under target/).
    A debug build: on 2 cores it compiles in about 40 s against about 60 s
    for a release build, and 200 events need no optimiser."""
    binary = PREVIOUS_DIR / "target" / "debug" / "observer"
    if binary.exists():
        return binary
    src = PREVIOUS_DIR / "src"
    if src.exists():
        subprocess.run(["rm", "-rf", str(src)], check=True)
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(L.ROOT), "archive", PREVIOUS], check=True,
                             capture_output=True, timeout=60).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True, timeout=60)
    L.log(f"building the observer of {PREVIOUS} (previous protocol)")
    env = dict(os.environ, CARGO_TARGET_DIR=str(PREVIOUS_DIR / "target"))
    subprocess.run(["cargo", "build", "-q", "--locked", "-p", "observer"], cwd=src,
                   env=env, check=True, timeout=900)
    return binary


def body(lan: L.Lan):
    old_bin = previous_observer()
    sup = L.Supervisor(lan.host("sup"), "sup", max_idle=MAX_IDLE)
    old = L.Observer(lan.host("old"))
    old.argv[0] = str(old_bin)
    new = L.Observer(lan.host("new"))
    for o in (old, new):
        sup.host_file(o.name, L.simple_host_file(o))
    sup.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    old.start()
    new.start()
    if not lan.configured("both observers configured", [old, new], [sup]):
        return

    want = set(old.raise_events("u", EVENTS)) | set(new.raise_events("u", EVENTS))
    took = L.wait_for_seqs([sup], want, 30)
    lan.figure("delivery of 2 x 200 events (s)", None if took is None else round(took, 2))
    L.check_exactly_once(lan, "mixed versions", want, [sup])
    by_host = {}
    for e in sup.events():
        if e.get("kind") == "alert":
            by_host.setdefault(e["host"], []).append(e)
    lan.check("the new observer's events carry their check id",
              all(e.get("check") for e in by_host.get(new.name, [])), "a check on every event",
              [e for e in by_host.get(new.name, []) if not e.get("check")][:2], str(sup.dir))
    lan.check("the old observer's events are written as before (no check id)",
              bool(by_host.get(old.name)) and all("check" not in e for e in by_host[old.name]),
              "no check field", by_host.get(old.name, [])[:2], str(sup.dir))

    rest = MAX_IDLE + 5 - (time.monotonic() - t0)
    if rest > 0:
        L.log(f"waiting {rest:.0f} s to outlast max_idle {MAX_IDLE} s")
        time.sleep(rest)
    inactive = L.system_events(sup.events(), "inactive")
    lan.check("no host reported inactive while both heartbeat", not inactive, "none",
              [(e.get("host"), e.get("message")) for e in inactive], str(sup.dir))

    new.proc.kill(signal.SIGTERM)
    stopped, waited = L.wait_until(
        lambda: [e for e in L.system_events(sup.events(), "stopped") if e.get("host") == new.name], 5)
    lan.check("a clean stop of the new observer is reported at once", bool(stopped),
              "one 'stopped' event within 5 s", sup.events()[-3:], str(sup.dir))
    if stopped:
        lan.figure("SIGTERM to 'stopped' in the stream (s)", round(waited, 2))
    lan.check("the old observer is still running", old.proc.alive(), "running",
              f"exited {old.proc.p.returncode}", str(old.dir))


if __name__ == "__main__":
    L.scenario("s10_rolling_upgrade", body)
