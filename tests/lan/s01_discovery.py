#!/usr/bin/env python3
"""s01 discovery: 2 supervisors and 5 observers on one LAN. Every observer is
configured within 10 s; each event lands in exactly one stream; no host is
reported inactive by either supervisor (heartbeats reach both)."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lan as L  # noqa: E402

N_OBS = 5
EVENTS = 200
MAX_IDLE = 25  # > the 15 s heartbeat; the scenario outlasts it


def body(lan: L.Lan):
    sups = [L.Supervisor(lan.host(f"sup{i}"), f"sup{i}", max_idle=MAX_IDLE) for i in (1, 2)]
    obs = [L.Observer(lan.host(f"obs{i}")) for i in range(1, N_OBS + 1)]
    for s in sups:
        for o in obs:
            s.host_file(o.name, L.simple_host_file(o))
    for s in sups:
        s.start()
    time.sleep(0.5)
    t_start = time.monotonic()
    for o in obs:
        o.start()

    cfg = L.probe_configured(obs, sups, timeout=15)
    worst = max((v for v in cfg.values() if v is not None), default=None)
    lan.figure("time to configure (s, per observer)", cfg)
    lan.check("every observer configured within 10 s", all(v is not None and v <= 10 for v in cfg.values()),
              "<= 10 s each", cfg, str(lan.work))

    want = set()
    for o in obs:
        want |= set(o.raise_events("d", EVENTS))
    took = L.wait_for_seqs(sups, want, 30)
    lan.figure("delivery of 5 x 200 events (s)", None if took is None else round(took, 2))
    L.check_exactly_once(lan, "discovery", want, sups)
    per_sup = {s.name: sorted({e["host"] for e in s.events() if e.get("kind") != "system"}) for s in sups}
    lan.figure("observers per supervisor", per_sup)

    # Outlast max_idle so a host that heartbeats only its own supervisor
    # would be reported inactive by the other.
    rest = MAX_IDLE + 8 - (time.monotonic() - t_start)
    if rest > 0:
        L.log(f"waiting {rest:.0f} s to outlast max_idle {MAX_IDLE} s")
        time.sleep(rest)
    for s in sups:
        inactive = L.system_events(s.events(), "inactive")
        lan.check(f"{s.name} reports no host inactive", not inactive, "no 'Host is inactive'",
                  [(e.get("host"), e.get("message")) for e in inactive], str(s.dir))
    for o in obs:
        lan.check(f"observer {o.name} still running", o.proc.alive(), "running",
                  f"exited {o.proc.p.returncode}", str(o.dir))


if __name__ == "__main__":
    L.scenario("s01_discovery", body)
