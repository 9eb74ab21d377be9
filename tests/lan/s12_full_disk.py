#!/usr/bin/env python3
"""s12 full stream disk: the supervisor's stream folder is a 256 KiB tmpfs
that fills up in the middle of a flood of 6,000 events from one observer.
While it is full the supervisor acknowledges nothing more, says so in its
log (`cannot write the event stream`) and leaves no partial line; then the
tmpfs is grown (`mount -o remount,size=64m`, space returns without touching
the stream) and every event is in the stream exactly once, with no torn
line, and the log says the stream is writable again."""

import shutil
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lan as L  # noqa: E402

SMALL = "256k"
LARGE = "64m"
ROUNDS, PER_ROUND = 30, 200  # 6,000 events, 200 every 100 ms


def unfinished(stream: Path) -> list[str]:
    """Stream files whose last line has no newline."""
    out = []
    for f in sorted(stream.iterdir()):
        if f.is_file():
            data = f.read_bytes()
            if data and not data.endswith(b"\n"):
                out.append(f"{f.name}: ...{data[-80:]!r}")
    return out


def body(lan: L.Lan):
    sup = L.Supervisor(lan.host("sup"), "sup")
    L.sh("mount", "-t", "tmpfs", "-o", f"size={SMALL}", "tmpfs", str(sup.stream))
    try:
        run(lan, sup)
    finally:
        sup.proc.kill(signal.SIGTERM)
        if lan.failures:
            shutil.copytree(sup.stream, sup.dir / "stream-kept", dirs_exist_ok=True)
        L.sh("umount", "-l", str(sup.stream), check=False)


def run(lan: L.Lan, sup: L.Supervisor):
    o = L.Observer(lan.host("obs"))
    sup.host_file(o.name, L.simple_host_file(o))
    sup.start()
    time.sleep(0.3)
    o.start()
    if not lan.configured("observer configured", [o], [sup]):
        return

    want: set = set()
    full_at = None
    t0 = time.monotonic()
    for r in range(ROUNDS):
        want |= set(o.raise_events("flood", PER_ROUND, start=r * PER_ROUND))
        time.sleep(0.1)
        if full_at is None and "cannot write the event stream" in sup.log_text():
            full_at = round(time.monotonic() - t0, 2)
    v, _ = L.wait_until(lambda: "cannot write the event stream" in sup.log_text(), 20, 0.25)
    lan.figure("flood start to first failed write (s)", full_at)
    if not lan.check("the supervisor logs that it cannot write the stream", v,
                     "`cannot write the event stream` in its log", L.tail(sup.log_text()), str(lan.work)):
        return
    time.sleep(3)  # full for a while: observers re-send, nothing may be written twice
    in_stream = L.seqs(sup.events(), o.name)
    lan.figure("events in the stream while full", f"{len(set(in_stream) & want)} of {len(want)}")
    lan.check("the disk filled before the flood was written", len(set(in_stream) & want) < len(want),
              "some events not yet written", f"all {len(want)} written (the tmpfs never filled?)")
    torn = unfinished(sup.stream)
    lan.check("while full: no partial line in the stream", not torn, "every file ends with a newline",
              torn, str(lan.work))
    doubled = {s for s, n in L.count(in_stream).items() if n > 1}
    lan.check("while full: no event twice", not doubled, "none", L.sample(doubled), str(lan.work))

    L.sh("mount", "-o", f"remount,size={LARGE}", str(sup.stream))
    t_free = time.monotonic()
    took = L.wait_for_seqs([sup], want, 60, o.name)
    lan.figure("space back to all events written (s)",
               None if took is None else round(time.monotonic() - t_free, 2))
    time.sleep(2)  # let any re-sent duplicate land
    res = L.check_exactly_once(lan, "after space returned", want, [sup])
    lan.figure("lost / doubled", f"{res['missing']} / {res['twice']}")
    torn = unfinished(sup.stream)
    lan.check("after: no partial line in the stream", not torn, "every file ends with a newline",
              torn, str(lan.work))
    v, _ = L.wait_until(lambda: "event stream writable again" in sup.log_text(), 10, 0.25)
    lan.check("the supervisor logs that the stream is writable again", v,
              "`event stream writable again` in its log", L.tail(sup.log_text()), str(lan.work))


if __name__ == "__main__":
    L.scenario("s12_full_disk", body)
