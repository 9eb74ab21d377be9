#!/usr/bin/env python3
"""s02 central edit: editing one host file resets only that host and its new
monitor raises events within 2 s of the save; editing an include resets
every host that includes it and no other. Lines written all along (200/s per
host) are delivered exactly once: an edit loses nothing of the monitors it
keeps."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lan as L  # noqa: E402

LIMIT = 2.0


def first_arrival(lan, sup, target: Path, word: str, hosts: list[str], t_save: float, timeout: float = 6):
    """Writes `<word> seq=<word>-<k>` to target every 50 ms; returns
    host -> seconds from the save to the first such event of that host in
    the stream (None if none within timeout)."""
    got: dict = {h: None for h in hosts}
    k = 0
    end = t_save + timeout
    while time.monotonic() < end and any(v is None for v in got.values()):
        with open(target, "a") as f:
            f.write(f"{word} seq={word}-{k}\n")
        k += 1
        time.sleep(0.05)
        for e in sup.events():
            h = e.get("host")
            if h in got and got[h] is None and f"seq={word}-" in (e.get("message") or ""):
                got[h] = round(time.monotonic() - t_save, 2)
    return got


def body(lan: L.Lan):
    sup = L.Supervisor(lan.host("sup"), "sup")
    obs = {n: L.Observer(lan.host(n)) for n in ("a", "b", "c", "d")}
    includes = {"a": "shared", "b": "shared", "c": "other", "d": None}
    sup.include_file("shared", "# shared by a and b\n")
    sup.include_file("other", "# used by c\ninclude: deep\n")
    sup.include_file("deep", "# included by `other` only\n")

    def host_text(o, inc, extra=""):
        head = f"include: {inc}\n" if inc else ""
        return head + L.simple_host_file(o) + extra

    for n, o in obs.items():
        sup.host_file(n, host_text(o, includes[n]))
    sup.start()
    time.sleep(0.3)
    for o in obs.values():
        o.start()
    if not lan.configured("all observers configured", list(obs.values()), [sup]):
        return
    time.sleep(1.5)
    # Lines flow through the edits: the monitors an edit keeps lose none.
    flow = L.Writer(list(obs.values()), "flow", 200).start()

    # 1. Edit d's host file: a new monitor on new.log.
    before = L.resets_logged(sup)
    app_before = {n: len(L.applied(o)) for n, o in obs.items()}
    new_log = obs["d"].dir / "new.log"
    new_log.touch()
    t_save = time.monotonic()
    sup.host_file("d", host_text(obs["d"], None, f"\nfile: {new_log}\nmatch: NEWMON\nalert_all: tags=new\n"))
    got = first_arrival(lan, sup, new_log, "NEWMON", ["d"], t_save)
    lan.figure("host edit: save to first event of the new monitor (s)", got["d"])
    lan.check(f"host edit: new monitor raises events within {LIMIT} s", got["d"] is not None and got["d"] <= LIMIT,
              f"<= {LIMIT} s", got["d"], str(lan.work))
    time.sleep(2)
    r1 = L.diff_counts(L.resets_logged(sup), before)
    lan.figure("host edit: resets", r1)
    lan.check("host edit resets only d (supervisor log)", r1 == {"d": 1}, "{'d': 1}", r1, str(sup.dir))
    a1 = {n: len(L.applied(o)) - app_before[n] for n, o in obs.items()}
    lan.figure("host edit: configurations applied by observers", a1)
    lan.check("host edit: only d applies a new configuration (observer logs)",
              a1["d"] >= 1 and not any(v for n, v in a1.items() if n != "d"), "d >= 1, others 0", a1)
    app_before = {n: len(L.applied(o)) for n, o in obs.items()}

    # 2. Edit the include `shared`: a and b reset and get its new monitor.
    before = L.resets_logged(sup)
    shared_log = lan.work / "shared.log"
    shared_log.touch()
    t_save = time.monotonic()
    # Edited in place this time (truncate and write), the host file above by rename.
    sup.include_file("shared", f"# shared by a and b\nfile: {shared_log}\nmatch: SHAREDMON\nalert_all: tags=shared\n",
                     in_place=True)
    got = first_arrival(lan, sup, shared_log, "SHAREDMON", ["a", "b"], t_save)
    lan.figure("include edit: save to first event per host (s)", got)
    lan.check(f"include edit: a and b raise the new monitor's events within {LIMIT} s",
              all(v is not None and v <= LIMIT for v in got.values()), f"<= {LIMIT} s", got, str(lan.work))
    time.sleep(2)
    r2 = L.diff_counts(L.resets_logged(sup), before)
    lan.figure("include edit: resets", r2)
    lan.check("include edit resets a and b only (supervisor log)", r2 == {"a": 1, "b": 1}, "{'a': 1, 'b': 1}", r2,
              str(sup.dir))
    a2 = {n: len(L.applied(o)) - app_before[n] for n, o in obs.items()}
    lan.figure("include edit: configurations applied by observers", a2)
    lan.check("include edit: only a and b apply a new configuration (observer logs)",
              a2["a"] >= 1 and a2["b"] >= 1 and a2["c"] == 0 and a2["d"] == 0, "a, b >= 1; c, d 0", a2)
    stray = {e.get("host") for e in sup.events() if "SHAREDMON" in (e.get("message") or "")} - {"a", "b"}
    lan.check("hosts without the include do not follow its file", not stray, "none", stray)

    # 3. Edit an include that only another include includes: c only.
    before = L.resets_logged(sup)
    app_before = {n: len(L.applied(o)) for n, o in obs.items()}
    deep_log = lan.work / "deep.log"
    deep_log.touch()
    t_save = time.monotonic()
    sup.include_file("deep", f"# included by `other` only\nfile: {deep_log}\nmatch: DEEPMON\nalert_all: tags=deep\n")
    got = first_arrival(lan, sup, deep_log, "DEEPMON", ["c"], t_save)
    lan.figure("nested include edit: save to first event (s)", got["c"])
    lan.check(f"nested include edit: c raises the new monitor's events within {LIMIT} s",
              got["c"] is not None and got["c"] <= LIMIT, f"<= {LIMIT} s", got["c"], str(lan.work))
    time.sleep(2)
    r3 = L.diff_counts(L.resets_logged(sup), before)
    a3 = {n: len(L.applied(o)) - app_before[n] for n, o in obs.items()}
    lan.figure("nested include edit: resets / applied", f"{r3} / {a3}")
    lan.check("nested include edit resets c only", r3 == {"c": 1} and a3 == {"a": 0, "b": 0, "c": 1, "d": 0},
              "{'c': 1}", f"{r3} / {a3}", str(sup.dir))

    # 4. Everybody still delivers.
    flowed = flow.stop()
    L.wait_for_seqs([sup], flowed, 10)
    L.check_exactly_once(lan, f"{len(flowed)} lines written at 200/s per host through the edits", flowed, [sup])
    want = set()
    for o in obs.values():
        want |= set(o.raise_events("after", 20))
    L.wait_for_seqs([sup], want, 10)
    L.check_exactly_once(lan, "after the edits", want, [sup])


if __name__ == "__main__":
    L.scenario("s02_central_edit", body)
