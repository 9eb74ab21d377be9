#!/usr/bin/env python3
"""s05 supervisor restarted, no other supervisor: events raised while it was
down arrive after it returns; nothing lost or doubled."""

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
    cfg = L.probe_configured(obs, [sup], timeout=15)
    lan.figure("time to configure (s)", cfg)
    if not lan.check("observers configured", all(v is not None for v in cfg.values()), "all", cfg):
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
    lan.figure("lost / doubled", f"{res['missing']} / {res['twice']}")


if __name__ == "__main__":
    L.scenario("s05_supervisor_restarted", body)
