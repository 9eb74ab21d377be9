#!/usr/bin/env python3
"""s04 supervisor killed: kill -9 the supervisor two observers use while they
raise events. They move to the other supervisor and no event is lost: every
event is in the union of the two streams, none twice in one stream; an event
in both streams can only be one the killed supervisor wrote but had not yet
acknowledged (counted and reported). Reports the time to resume delivery."""

import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lan as L  # noqa: E402

RATE = 100  # events per second per observer
MAX_CROSS = 512  # more than any sane in-flight window


def body(lan: L.Lan):
    a = L.Supervisor(lan.host("supA"), "A")
    b = L.Supervisor(lan.host("supB"), "B")
    obs = [L.Observer(lan.host(f"obs{i}")) for i in (1, 2)]
    for s in (a, b):
        for o in obs:
            s.host_file(o.name, L.simple_host_file(o))
    a.start()
    time.sleep(0.5)
    for o in obs:
        o.start()
    if not lan.configured("observers configured by A", obs, [a], "time to configure on A (s)"):
        return
    b.start()
    time.sleep(3)  # observers hear B's beacons

    stamp = L.Stamper([a, b]).start()
    w = L.Writer(obs, "k", RATE).start()
    time.sleep(3)
    t_kill = time.monotonic()
    a.proc.kill(signal.SIGKILL)
    time.sleep(10)
    want = w.stop()
    took = L.wait_for_seqs([a, b], want, 40)
    stamp.stop()

    # Resume: the first event written after the kill that reached B.
    after = {s: t for s, t in w.written.items() if t > t_kill}
    arrivals = [t for (i, s), t in stamp.first.items() if i == 1 and s in after]
    resume = round(min(arrivals) - t_kill, 2) if arrivals else None
    lan.figure("time to resume delivery after kill -9 (s)", resume)
    lan.check("delivery resumes on B within 15 s", resume is not None and resume <= 15, "<= 15 s", resume)

    res = L.check_exactly_once(lan, "failover", want, [a, b], one_stream=False)
    a_seqs = set(L.seqs(a.events()))
    cross = a_seqs & set(L.seqs(b.events())) & want
    lan.figure("events written", len(want))
    lan.figure("events in both streams (written by A, not acknowledged before the kill)", len(cross))
    # Every event in both streams must have been among A's last writes.
    a_order = [s for s in L.seqs(a.events()) if s in want]
    late = set(a_order[-MAX_CROSS:]) if a_order else set()
    lan.check("events in both streams are only A's last, unacknowledged writes",
              cross <= late and len(cross) <= MAX_CROSS, f"<= {MAX_CROSS}, all at the end of A's stream",
              f"{len(cross)}, {len(cross - late)} earlier in A's stream: {L.sample(cross - late)}")
    lan.figure("delivery complete after kill (s)", None if took is None else round(time.monotonic() - t_kill, 1))

    # Phase 2: B keeps beaconing but its acknowledgements are dropped; A is
    # back. After 10 s without acks the observers must move to A.
    a.start()
    time.sleep(3)
    a_before, b_before = len(a.events()), len(b.events())
    b.host.block(rule_out=f"ip daddr != {L.BROADCAST}")  # beacons still go out
    t_block = time.monotonic()
    stamp = L.Stamper([a, b]).start()
    w = L.Writer(obs, "s", RATE).start()

    def resumed_on_a():
        return any(i == 0 and t > t_block and s_ in w.written for (i, s_), t in list(stamp.first.items()))

    ok, _ = L.wait_until(resumed_on_a, 30, 0.1)
    time.sleep(3)
    want2 = w.stop()
    b.host.unblock()
    took2 = L.wait_for_seqs([a, b], want2, 40)
    stamp.stop()
    arrivals = [t for (i, s_), t in stamp.first.items() if i == 0 and s_ in want2]
    resume2 = round(min(arrivals) - t_block, 2) if arrivals else None
    lan.figure("no acks from B (still beaconing): time to resume on A (s)", resume2)
    lan.check("observers leave a supervisor that stops acknowledging (10 s + margin)",
              resume2 is not None and resume2 <= 16, "<= 16 s", resume2, str(lan.work))
    res2 = L.check_exactly_once(lan, "ack silence", want2, [a, b], one_stream=False)
    cross2 = set(L.seqs(a.events()[a_before:])) & set(L.seqs(b.events()[b_before:])) & want2
    lan.figure("ack silence: events in both streams (written by B, acks dropped)", len(cross2))


if __name__ == "__main__":
    L.scenario("s04_supervisor_killed", body)
