#!/usr/bin/env python3
"""s11 resume after kill -9: an observer follows a log that grows at 1,000
lines/s (`alert_all`) and is killed with SIGKILL and restarted twice while
the writer keeps writing. Phase A: killed, down 2 s, restarted. Phase B:
killed, the log rotated by rename while it is down (app.log -> app.log.1;
the writer opens a new app.log with its next line), restarted. Every line
written is in the stream exactly once: the lines written while it was down
are read from its saved read positions, the rotated file is finished
before the new one, and nothing is read twice."""

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lan as L  # noqa: E402

RATE = 1000
DOWN = 2.0


def body(lan: L.Lan):
    sup = L.Supervisor(lan.host("sup"), "sup")
    o = L.Observer(lan.host("obs"))
    # Probes go through a file of their own, so app.log holds only counted lines.
    probe = Path(f"{o.app}.probe")
    probe.touch()
    sup.host_file(o.name, f"file: {o.app}\nmatch: ^ERROR seq=\\S+-flow-\nalert_all: tags=app\n"
                  f"file: {probe}\nmatch: ERROR\nalert_all: tags=probe\n")
    sup.start()
    time.sleep(0.3)
    o.start()
    saved = o.app
    o.app = probe
    try:
        if not lan.configured("observer configured", [o], [sup]):
            return
    finally:
        o.app = saved

    w = L.Writer([o], "flow", RATE).start()
    for phase in ("A", "B"):
        time.sleep(3)
        before = len(w.written)
        o.proc.kill(signal.SIGKILL)
        t_kill = time.monotonic()
        if phase == "B":
            time.sleep(DOWN / 2)
            os.rename(o.app, o.app.with_name(o.app.name + ".1"))
            lan.figure("B: rotated while down", f"{o.app.name} -> {o.app.name}.1")
        time.sleep(max(0.0, DOWN - (time.monotonic() - t_kill)))
        lan.figure(f"{phase}: lines written while down", len(w.written) - before)
        t_restart = time.monotonic()
        o.start()
        # Caught up: every line written up to the restart is in the stream.
        upto = set(w.written)
        took = L.wait_for_seqs([sup], upto, 30, o.name)
        lan.figure(f"{phase}: restart to caught up (s)",
                   None if took is None else round(time.monotonic() - t_restart, 2))
    time.sleep(3)
    want = w.stop()
    lan.figure("lines written / rate", f"{len(want)} / {len(want) / (time.monotonic() - min(w.written.values())):.0f} per s")
    L.wait_for_seqs([sup], want, 30, o.name)
    time.sleep(2)  # let any line read twice land
    res = L.check_exactly_once(lan, "all lines", want, [sup])
    lan.figure("lost / doubled", f"{res['missing']} / {res['twice']}")
    skipped = L.system_events(sup.events(), "were skipped")
    lan.check("nothing skipped (far below the 64 MiB bound)", not skipped, "no skip event",
              f"{len(skipped)}: {[e.get('message') for e in skipped[:2]]}", str(lan.work))
    positions = o.spool / f"observer-{o.name}.positions"
    lan.check("read positions kept beside the spool", positions.is_file(), str(positions), "missing")


if __name__ == "__main__":
    L.scenario("s11_resume", body)
