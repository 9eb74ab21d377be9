#!/usr/bin/env python3
"""s06 observer killed and restarted: kill -9 an observer holding
unacknowledged events, restart it: every event arrives exactly once.
Phase A: its datagrams to the supervisor are dropped (nothing delivered).
Phase B: the supervisor's acknowledgements to it are dropped (events written
but unacknowledged: the re-sent copies must not be written twice)."""

import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lan as L  # noqa: E402

N = 300
SUP_PORT = L.PORT + 1


def body(lan: L.Lan):
    sup = L.Supervisor(lan.host("sup"), "sup")
    o = L.Observer(lan.host("obs"))
    sup.host_file(o.name, L.simple_host_file(o))
    sup.start()
    time.sleep(0.3)
    o.start()
    if not lan.configured("observer configured", [o], [sup]):
        return
    everything = set()

    for phase, out_rule, in_rule in (
        ("A", f"udp dport {SUP_PORT}", None),
        ("B", None, f"udp sport {SUP_PORT}"),
    ):
        o.host.block(rule_out=out_rule, rule_in=in_rule)
        ids = set(o.raise_events(f"p{phase}", N))
        everything |= ids
        if phase == "A":
            time.sleep(2)  # read and spooled, none delivered
            got = ids & set(L.seqs(sup.events()))
            lan.check("A: nothing delivered while blocked", not got, "0", len(got))
        else:
            took = L.wait_for_seqs([sup], ids, 15)
            lan.check("B: supervisor wrote the events (acks dropped)", took is not None, "all written",
                      f"{len(ids - set(L.seqs(sup.events())))} missing")
            time.sleep(1)
        spooled = sum(f.stat().st_size for f in o.spool.rglob("*") if f.is_file())
        lan.figure(f"{phase}: spool bytes at kill", spooled)
        o.proc.kill(signal.SIGKILL)
        o.host.unblock()
        t_restart = time.monotonic()
        o.start()
        took = L.wait_for_seqs([sup], ids, 30)
        lan.figure(f"{phase}: restart to all delivered (s)",
                   None if took is None else round(time.monotonic() - t_restart, 2))
        time.sleep(3 if phase == "B" else 0.5)  # let any re-sent duplicate land
        res = L.check_exactly_once(lan, f"phase {phase}", ids, [sup])
        lan.figure(f"{phase}: lost / doubled", f"{res['missing']} / {res['twice']}")
        # configured again before the next phase
        again = L.probe_configured([o], [sup], timeout=15)
        lan.figure(f"{phase}: restart to configured (s)", again)

    res = L.check_exactly_once(lan, "both phases", everything, [sup])


if __name__ == "__main__":
    L.scenario("s06_observer_killed", body)
