#!/usr/bin/env python3
"""s05 supervisor restarted, no other supervisor: events raised while it was
down arrive after it returns; nothing lost or doubled.

Phase A stops it gracefully (SIGTERM) for 8 s while 800 events are raised.
Phase B kills it with -9 while events flow at 200/s and restarts it 3 s later:
nothing may be lost; an event in the stream twice can only be one written
just before the kill and not yet acknowledged (its de-duplication memory is
gone with the process); those are counted and reported."""

import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lan as L  # noqa: E402

DOWN = 8  # seconds without a supervisor


def body(lan: L.Lan):
    sup = L.Supervisor(lan.host("sup"), "sup")
    obs = [L.Observer(lan.host(f"obs{i}")) for i in (1, 2)]
    for o in obs:
        sup.host_file(o.name, L.simple_host_file(o))
    sup.start()
    time.sleep(0.3)
    for o in obs:
        o.start()
    if not lan.configured("observers configured", obs, [sup]):
        return
    want = set()
    for o in obs:
        want |= set(o.raise_events("before", 100))
    L.wait_for_seqs([sup], want, 10)

    sup.proc.stop()  # SIGTERM: graceful
    down = set()
    for k in range(DOWN):
        for o in obs:
            down |= set(o.raise_events("down", 50, start=k * 50))
        time.sleep(1)
    early = down & set(L.seqs(sup.events()))
    lan.check("nothing written while the supervisor is down", not early, "none", len(early))
    t_back = time.monotonic()
    sup.start()
    took = L.wait_for_seqs([sup], down, 40)
    lan.figure("events raised while down", len(down))
    lan.figure("restart to all of them delivered (s)", None if took is None else round(time.monotonic() - t_back, 2))
    after = set()
    for o in obs:
        after |= set(o.raise_events("after", 50))
    L.wait_for_seqs([sup], after, 15)
    res = L.check_exactly_once(lan, "restart", want | down | after, [sup])
    lan.figure("A (SIGTERM): lost / doubled", f"{res['missing']} / {res['twice']}")

    # B: kill -9 under load.
    w = L.Writer(obs, "b", 100).start()
    time.sleep(2)
    n_before = len(sup.events())
    sup.proc.kill(signal.SIGKILL)
    t_kill = time.monotonic()
    time.sleep(3)
    sup.start()
    time.sleep(2)
    flowing = w.stop()
    took = L.wait_for_seqs([sup], flowing, 30)
    lan.figure("B (kill -9): writer stopped (2 s after the restart) to all delivered (s)",
               None if took is None else round(took, 2))
    time.sleep(1)
    ev = sup.events()
    c = L.count(s for s in L.seqs(ev) if s in flowing)
    missing = flowing - set(c)
    doubled = {s for s, n in c.items() if n > 1}
    last_before_kill = set(s for s in L.seqs(ev[:n_before + 400]) if s in flowing)
    lan.figure("B (kill -9): events / lost / doubled", f"{len(flowing)} / {len(missing)} / {len(doubled)}")
    lan.check("B: nothing lost across kill -9 and restart", not missing, "none", L.sample(missing))
    lan.check("B: events written twice are only ones written just before the kill",
              doubled <= last_before_kill, "doubles only among the last writes before the kill",
              L.sample(doubled - last_before_kill))


if __name__ == "__main__":
    L.scenario("s05_supervisor_restarted", body)
