#!/usr/bin/env python3
"""s08 rotation under load: lines are written at 1,000/s with `alert_all`
while the log is rotated every second, on one observer by rename
(app.log -> app.log.N, the writer reopens) and on another by copy-truncate
(copy app.log to app.log.N, truncate app.log). Every line written appears in
the stream once. Copy-truncate loses lines written between the copy and the
truncate in any tailer: those are counted from the files and reported; only
they may be missing."""

import os
import shutil
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lan as L  # noqa: E402

RATE = 1000
SECONDS = 12
RACE_LINES = 50  # 50 ms of writing: a tailer woken by inotify reads well within that


class RotatingWriter:
    def __init__(self, o: L.Observer, mode: str):
        self.o, self.mode = o, mode
        self.path = o.app
        self.written: list[str] = []
        self.rotations = 0
        self.stop = threading.Event()
        self.reopen = threading.Event()
        self.lock = threading.Lock()

    def write_loop(self):
        f = open(self.path, "a", buffering=1)  # O_APPEND, a line per write
        i = 0
        t0 = time.monotonic()
        while not self.stop.is_set():
            if self.reopen.is_set():  # rename rotation: the app reopens its log
                self.reopen.clear()
                f.close()
                f = open(self.path, "a", buffering=1)
            s = f"{self.o.name}-w-{i}"
            f.write(f"ERROR seq={s} padding-to-look-like-a-real-log-line\n")
            self.written.append(s)
            i += 1
            d = t0 + i / RATE - time.monotonic()
            if d > 0:
                time.sleep(d)
        f.close()

    def rotate_loop(self):
        n = 0
        while not self.stop.wait(1.0):
            n += 1
            rotated = self.path.with_name(f"{self.path.name}.{n}")
            if self.mode == "rename":
                os.rename(self.path, rotated)
                self.reopen.set()
            else:
                shutil.copyfile(self.path, rotated)
                os.truncate(self.path, 0)
            self.rotations += 1

    def copy_tails(self, k: int) -> set:
        """Seqs of the last k lines of every copy: written just before the
        copy, they are lost too if the tailer had not read them when the
        truncate came (the copy is not the file it follows)."""
        got = set()
        for f in self.path.parent.glob(self.path.name + ".*"):
            for line in f.read_text(errors="replace").splitlines()[-k:]:
                m = L.SEQ_RE.search(line)
                if m:
                    got.add(m.group(1))
        return got

    def surviving(self) -> set:
        """Seqs present in the log files at the end (copies included)."""
        got = set()
        for f in self.path.parent.glob(self.path.name + "*"):
            for line in f.read_text(errors="replace").splitlines():
                m = L.SEQ_RE.search(line)
                if m:
                    got.add(m.group(1))
        return got


def body(lan: L.Lan):
    sup = L.Supervisor(lan.host("sup"), "sup")
    obs = {m: L.Observer(lan.host(m.replace("-", ""))) for m in ("rename", "copytrunc")}
    # Probes go through a file of their own, so app.log holds only counted lines.
    for o in obs.values():
        Path(f"{o.app}.probe").touch()
        sup.host_file(o.name, f"file: {o.app}\nmatch: ^ERROR seq=\\S+-w-\nalert_all: tags=rot\n"
                      f"file: {o.app}.probe\nmatch: ERROR\nalert_all: tags=probe\n")
    sup.start()
    time.sleep(0.3)
    for o in obs.values():
        o.start()
    cfg = probe_via(lan, list(obs.values()), sup)
    lan.figure("time to configure (s)", cfg)
    if not lan.check("observers configured", all(v is not None for v in cfg.values()), "all", cfg):
        return

    writers = {m: RotatingWriter(o, m) for m, o in obs.items()}
    threads = []
    for w in writers.values():
        threads += [threading.Thread(target=w.write_loop, daemon=True),
                    threading.Thread(target=w.rotate_loop, daemon=True)]
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    for w in writers.values():
        w.stop.set()
    for t in threads:
        t.join(5)

    for mode, w in writers.items():
        want = set(w.written)
        host = w.o.name
        # Lines that copy-truncate may lose are not waited for.
        maybe_lost = (want - w.surviving()) | w.copy_tails(RACE_LINES) if mode != "rename" else set()
        L.wait_until(lambda: want - maybe_lost <= set(L.seqs(sup.events(), host)), 20, 0.25)
        time.sleep(0.5)
        got = L.count(s for s in L.seqs(sup.events(), host) if s in want)
        missing = want - set(got)
        twice = {s for s, n in got.items() if n > 1}
        lost_window = want - w.surviving()
        lan.figure(f"{mode}: lines written / rotations / rate", f"{len(want)} / {w.rotations} / "
                   f"{len(want) / SECONDS:.0f} per s")
        lan.figure(f"{mode}: lines missing from the stream", len(missing))
        lan.check(f"{mode}: no line twice", not twice, "none", f"{len(twice)}: {L.sample(twice)}", str(lan.work))
        if mode == "rename":
            lan.check("rename: every line in the stream", not missing, "none missing",
                      f"{len(missing)}: {L.sample(missing)}", str(lan.work))
        else:
            lan.figure("copy-truncate: lines written between copy and truncate (in no file)", len(lost_window))
            lan.figure("copy-truncate: lines lost in copy-truncate (missing from the stream)", len(missing))
            race = w.copy_tails(RACE_LINES)
            lan.figure("copy-truncate: of those, lines written between copy and truncate",
                       len(missing & lost_window))
            lan.figure("copy-truncate: of those, lines written just before the copy, unread at the truncate",
                       len(missing & race))
            unexplained = missing - lost_window - race
            lan.check("copy-truncate: only lines written around the copy-truncate are missing",
                      not unexplained, f"none other missing (race window: the last {RACE_LINES} lines before "
                      "each copy, or between copy and truncate)", f"{len(unexplained)}: {L.sample(unexplained)}",
                      str(lan.work))


def probe_via(lan, observers, sup):
    """probe_configured through each observer's app.log.probe."""
    saved = {o.name: o.app for o in observers}
    try:
        for o in observers:
            o.app = Path(f"{saved[o.name]}.probe")
        return L.probe_configured(observers, [sup], timeout=15)
    finally:
        for o in observers:
            o.app = saved[o.name]


if __name__ == "__main__":
    L.scenario("s08_rotation", body)
