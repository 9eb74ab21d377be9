#!/usr/bin/env python3
"""s03 loss: 30 % of datagrams dropped in both directions on two observers'
links while each raises 5,000 events: every event is in the stream exactly
once, and their configuration (> 3 KiB, several chunks) still arrives."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lan as L  # noqa: E402

LOSS = 30
EVENTS = 5000
FILLER = 80  # match: lines that never match, to make the configuration > 3 KiB


def body(lan: L.Lan):
    sup = L.Supervisor(lan.host("sup"), "sup")
    lossy = [L.Observer(lan.host(f"lossy{i}")) for i in (1, 2)]
    clean = L.Observer(lan.host("clean"))
    for o in lossy + [clean]:
        filler = "".join(f"match: ^FILLER-{o.name}-{i:04d}-never-matches-any-line-at-all$\n" for i in range(FILLER))
        text = f"# {o.name}: a large configuration\nfile: {o.app}\n{filler}match: ERROR\nalert_all: tags=app\n"
        sup.host_file(o.name, text)
    size = len((sup.hosts / "lossy1").read_bytes())
    lan.figure("host file size (bytes)", size)
    lan.check("configuration larger than 3 KiB", size > 3 * 1024, "> 3072", size)
    for o in lossy:
        o.host.loss(LOSS)
    sup.start()
    time.sleep(0.3)
    for o in lossy + [clean]:
        o.start()
    if not lan.configured("configuration arrives despite loss", lossy + [clean], [sup],
                          "time to configure under loss (s)", timeout=60):
        return

    want: dict = {o.name: set() for o in lossy + [clean]}
    t0 = time.monotonic()
    for k in range(10):  # 5,000 lines each, in 10 bursts over ~2 s
        for o in lossy + [clean]:
            want[o.name] |= set(o.raise_events("loss", EVENTS // 10, start=k * EVENTS // 10))
        time.sleep(0.2)
    all_want = set().union(*want.values())
    took = L.wait_for_seqs([sup], all_want, 150)
    lan.figure("time to deliver 3 x 5,000 events (s)", None if took is None else round(time.monotonic() - t0, 1))
    res = L.check_exactly_once(lan, "under loss", all_want, [sup])
    lan.figure("events missing / doubled", f"{res['missing']} / {res['twice']}")
    applied = {o.name: len(L.applied(o)) for o in lossy + [clean]}
    lan.figure("configurations applied per observer", applied)
    sup.proc.stop()
    c = L.exit_counters(sup)
    keys = ("configuration requests", "chunks sent", "duplicates", "acks sent", "events written")
    lan.figure("supervisor counters at exit", {k: c.get(k) for k in keys})
    chunks = -(-size // 1024)
    lan.figure("chunks per configuration", chunks)
    lan.check("configuration chunks were re-sent (re-requested under loss)",
              c.get("chunks sent", 0) > 3 * chunks, f"> {3 * chunks} chunks sent", c.get("chunks sent"))


if __name__ == "__main__":
    L.scenario("s03_loss", body)
