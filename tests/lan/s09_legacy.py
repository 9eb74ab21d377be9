#!/usr/bin/env python3
"""s09 legacy wording: a host file written in the exact style of the Python
system (no space after the colon, runs of spaces and tabs, keys out of order,
trailing blanks, `threshold=3.0`, `#comment`, `include:NAME` — as in
hosts_436/legacy1) produces the events SPEC §4 says, and the same events as
the same checks in today's spelling on a second observer fed the same input.

Both observers get identical input: the same lines in their own files, the
same process table, the same command output."""

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lan as L  # noqa: E402

BLOCK = 2  # seconds= of the window alerts, short to keep the scenario fast


def day_digit(offset_days: int = 0) -> str:
    """SPEC §4 day digit (0 = Sunday) of today + offset, local time."""
    wd = time.localtime(time.time() + offset_days * 86400).tm_wday  # Monday = 0
    return str((wd + 1) % 7)


def files(o: L.Observer) -> dict:
    d = {k: o.dir / f"{k}.log" for k in ("error", "access", "quiet", "window")}
    for p in d.values():
        p.touch()
    return d


def legacy_text(f: dict, marker: str) -> str:
    # Spelling copied from hosts_436/legacy1: keep the odd spacing as is.
    return (
        "#legacy host -- written for the Python agent (aa436.py) and left unchanged.\n"
        "include:common\n"
        "\n"
        f"file:{f['error']}\n"
        "match:\\[error\\]\n"
        "match:  \\[crit\\]\n"
        "alert_all:tags=web,apache\n"
        "\n"
        f"file:  {f['access']}\n"
        "match:\" 5\\d\\d \n"
        f"alert_n:   seconds={BLOCK}   tags=web,apache,5xx\tthreshold=3.0  message=More than 3 server errors in a block\n"
        "\n"
        f"file:{f['access']}\n"
        "match:HTTP/1\n"
        "active:0123456;00:00-23:59\n"
        f"alert_count:seconds={BLOCK}  tags=web,apache,requests   \n"
        "\n"
        f"file:{f['quiet']}\n"
        "match:NEVER\n"
        f"alert_inactive:seconds={BLOCK}\ttags=quiet   message=nothing in {BLOCK} s\n"
        "\n"
        f"process:{marker}\n"
        "alert_running:max=1 min=1   tags=web,apache,process message=marker processes\n"
        "\n"
        "run:command=echo /dev/lan0 100 97 3 97% /var extract=^(\\S+)\\s+\\d+\\s+\\d+\\s+\\d+\\s+(\\d+)%\\s+(\\S+)$\n"
        "alert_if:upper_limit=2,95 match=3,/var   tags=disk message=/var over 95% full\n"
        "alert_metric:metric=2   match=3,/var tags=disk,metric\n"
        "\n"
        f"file:{f['window']}\nmatch:WIN\nactive:{day_digit()};00:00-23:59\nalert_all:tags=win,today\n"
        f"file:{f['window']}\nmatch:WIN\nactive:{day_digit(1)}{day_digit(2)};00:00-23:59\nalert_all:tags=win,other\n"
    )


def modern_text(f: dict, marker: str) -> str:
    return (
        "# modern host: the same checks as the legacy one, in today's spelling.\n"
        "include: common\n\n"
        f"file: {f['error']}\nmatch: \\[error\\]\nmatch: \\[crit\\]\nalert_all: tags=web,apache\n\n"
        f"file: {f['access']}\nmatch: \" 5\\d\\d \n"
        f"alert_n: tags=web,apache,5xx threshold=3 seconds={BLOCK} message=More than 3 server errors in a block\n\n"
        f"file: {f['access']}\nmatch: HTTP/1\nactive: 0123456;00:00-23:59\n"
        f"alert_count: tags=web,apache,requests seconds={BLOCK}\n\n"
        f"file: {f['quiet']}\nmatch: NEVER\nalert_inactive: tags=quiet seconds={BLOCK} message=nothing in {BLOCK} s\n\n"
        f"process: {marker}\nalert_running: tags=web,apache,process min=1 max=1 message=marker processes\n\n"
        "run: command=echo /dev/lan0 100 97 3 97% /var extract=^(\\S+)\\s+\\d+\\s+\\d+\\s+\\d+\\s+(\\d+)%\\s+(\\S+)$\n"
        "alert_if: tags=disk match=3,/var upper_limit=2,95 message=/var over 95% full\n"
        "alert_metric: tags=disk,metric match=3,/var metric=2\n\n"
        f"file: {f['window']}\nmatch: WIN\nactive: {day_digit()};00:00-23:59\nalert_all: tags=win,today\n"
        f"file: {f['window']}\nmatch: WIN\nactive: {day_digit(1)}{day_digit(2)};00:00-23:59\nalert_all: tags=win,other\n"
    )


def shape(e: dict) -> tuple:
    src = Path(e["source"]).name if e.get("source") else None
    return (e.get("tags"), e.get("kind"), src, e.get("message"), e.get("value"))


def body(lan: L.Lan):
    sup = L.Supervisor(lan.host("sup"), "sup")
    leg = L.Observer(lan.host("legacy"))
    mod = L.Observer(lan.host("modern"))
    auth = lan.work / "auth.log"
    auth.touch()
    sup.include_file("common", f"#shared checks, legacy spelling\nfile:{auth}\nmatch:Failed password\n"
                               "alert_all:tags=security,ssh   message=ssh login failure\n")
    sleep_s = 90000 + (lan.work.stat().st_ino % 9000)
    marker = f"^sleep {sleep_s}$"
    fl, fm = files(leg), files(mod)
    sup.host_file("legacy", legacy_text(fl, marker))
    sup.host_file("modern", modern_text(fm, marker))
    check = subprocess.run([str(L.SUPERVISOR_BIN), "--check", str(sup.conf)], capture_output=True, text=True,
                           timeout=30)
    lan.check("supervisor --check accepts the legacy spelling", check.returncode == 0, "exit 0",
              f"exit {check.returncode}: {(check.stdout + check.stderr).strip()[:500]}")
    # Two marker processes (outside min=1 max=1), in a namespace of ours so
    # teardown ends them whatever happens.
    for i in range(2):
        L.Proc(leg.host, ["sleep", str(sleep_s)], leg.dir, leg.dir / f"sleep{i}.txt", f"marker {i}").start()
    run(lan, sup, leg, mod, fl, fm, auth)


def run(lan, sup, leg, mod, fl, fm, auth):
    sup.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    leg.start()
    mod.start()
    # Configured when the command's metric (first run at apply) arrives.
    ok, el = L.wait_until(lambda: {e.get("host") for e in sup.events() if e.get("tags") == "disk,metric"}
                          >= {"legacy", "modern"}, 15, 0.1)
    lan.figure("start to first command metric (s)", round(el, 2))
    if not lan.check("both observers configured (command metric seen)", bool(ok), "both", "not both",
                     str(lan.work)):
        return
    time.sleep(0.5)
    for f in (fl, fm):
        with open(f["error"], "ab") as h:
            h.write(b"[error] client 10.0.0.1 denied\n[notice] not an event\n[crit] disk failing\n"
                    b"[error] bad \xff\xfe bytes\n")
        with open(f["window"], "a") as h:
            h.write("WIN inside today's window only\n")
        with open(f["access"], "a") as h:
            h.write("".join(f'10.0.0.{i} "GET /x HTTP/1.1" 500 12 \n' for i in range(5)))
            h.write('10.0.0.9 "GET / HTTP/1.1" 200 99 \n10.0.0.9 "GET /y HTTP/1.1" 200 99 \n')
    with open(auth, "a") as h:
        h.write("sshd[1]: Failed password for root from 10.0.0.7\n")

    # A stateful alert opens a problem; its JSON line carries the value seen.
    want_running = ("web,apache,process", "alert", None, "marker processes [2]", 2.0)
    L.log("waiting for the process check (every 20 s, two checks outside the range)")
    L.wait_until(lambda: all(any(shape(e) == want_running for e in sup.events() if e.get("host") == h)
                             for h in ("legacy", "modern")), 50, 0.5)
    time.sleep(2 * BLOCK + 1)  # window blocks close
    lan.figure("scenario time after start (s)", round(time.monotonic() - t0, 1))

    per = {}
    for h in ("legacy", "modern"):
        evs = [e for e in sup.events() if e.get("host") == h and e.get("kind") != "system"]
        counts = [e for e in evs if e.get("tags") == "web,apache,requests"]
        quiet = [e for e in evs if e.get("tags") == "quiet"]
        rest = sorted((shape(e) for e in evs if e not in counts and e not in quiet
                       and e.get("tags") != "disk,metric" and e.get("tags") != "disk"),
                      key=repr)
        per[h] = {
            "alerts": rest,
            "count sum": sum(e.get("value") or 0 for e in counts),
            "count kinds": {e.get("kind") for e in counts},
            "inactive": len(quiet) > 0,
            "disk": sorted({shape(e) for e in evs if e.get("tags") in ("disk", "disk,metric")}, key=repr),
        }
    expected_alerts = sorted([
        ("security,ssh", "alert", "auth.log", "ssh login failure", None),
        ("web,apache", "alert", "error.log", "[error] client 10.0.0.1 denied", None),
        ("web,apache", "alert", "error.log", "[crit] disk failing", None),
        ("web,apache", "alert", "error.log", "[error] bad \ufffd\ufffd bytes", None),
        ("win,today", "alert", "window.log", "WIN inside today's window only", None),
        ("web,apache,5xx", "alert", "access.log", "More than 3 server errors in a block", None),
        want_running,
    ], key=repr)
    # alert_if: the message, then the observer may add the value (`... [97]`).
    expected_disk = sorted([
        ("disk", "alert", None, "/var over 95% full", 97.0),
        ("disk,metric", "metric", None, None, 97.0),
    ], key=repr)
    for h, got in per.items():
        lan.figure(f"{h}: events", got)
        lan.check(f"{h}: alert_all, alert_n, alert_running, include give SPEC §4's events",
                  got["alerts"] == expected_alerts, expected_alerts, got["alerts"], str(sup.stream))
        lan.check(f"{h}: alert_count counts the 7 HTTP/1 lines in metric events",
                  got["count sum"] == 7 and got["count kinds"] == {"metric"}, "sum 7, kind metric",
                  (got["count sum"], got["count kinds"]))
        lan.check(f"{h}: alert_inactive raises events", got["inactive"], "at least one", got["inactive"])
        disk = [(t, k, s, (None if k == "metric" else m.split(" [")[0]), v) for t, k, s, m, v in got["disk"]]
        lan.check(f"{h}: run + alert_if + alert_metric", sorted(set(disk), key=repr) == expected_disk,
                  expected_disk, got["disk"])
    lan.check("legacy and modern spelling give the same events", per["legacy"] == per["modern"],
              per["modern"], per["legacy"])


if __name__ == "__main__":
    L.scenario("s09_legacy", body)
