#!/usr/bin/env python3
"""s13 two supervisors, one notification: both supervisors have the same
`notify:` file sending to one real webhook receiver on a third host. A problem
opened on an observer reaches the receiver once (from the supervisor the
observer chose), though both supervisors know it. The chosen supervisor is
killed (kill -9): the observers move to the other one, which sends the
clearing of the problem it took over (once, and no second opening) and the
next problem (once)."""

import json
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lan as L  # noqa: E402

HOOK_PORT = 8080

# A webhook receiver: appends every POST body as one line to a file.
RECEIVER = r"""
import http.server, sys
out = open(sys.argv[2], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8", "replace").replace("\n", " ")
        out.write(body + "\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
"""


def host_file(level: Path) -> str:
    # A stateful check the scenario drives by writing one file: open above
    # 90, clear at or below; run every 2 s.
    return (f"run: command=cat {level} extract=^(\\S+) (\\d+)$\n"
            "alert_if: tags=disk match=1,level upper_limit=2,90 every=2 message=Level high\n")


def received(path: Path) -> list[dict]:
    """Every item of every notification received: host, check, state."""
    items = []
    if not path.exists():
        return items
    for line in path.read_text().splitlines():
        try:
            n = json.loads(line)
        except ValueError:
            continue
        for it in n.get("items", []):
            items.append({"host": it.get("host"), "check": it.get("check"), "state": it.get("state"),
                          "event": n.get("event")})
    return items


def count(items: list[dict], host: str, state: str) -> int:
    return sum(1 for i in items if i["host"] == host and i["state"] == state)


def body(lan: L.Lan):
    recv = lan.host("hook")
    hook_out = recv.dir / "received.jsonl"
    notify = (f"channel: ops webhook http://{recv.ip}:{HOOK_PORT}/hook\n"
              "route: channel=ops wait=0 resolved=yes\n")
    a = L.Supervisor(lan.host("supA"), "A", extra="notify: notify.conf\n")
    b = L.Supervisor(lan.host("supB"), "B", extra="notify: notify.conf\n")
    obs = [L.Observer(lan.host(f"obs{i}")) for i in (1, 2)]
    levels = {}
    for o in obs:
        levels[o.name] = o.dir / "level"
        levels[o.name].write_text("level 10\n")
    for s in (a, b):
        (s.dir / "notify.conf").write_text(notify)
        for o in obs:
            s.host_file(o.name, L.simple_host_file(o, extra=host_file(levels[o.name])))
    L.Proc(recv, ["python3", "-c", RECEIVER, str(HOOK_PORT), str(hook_out)], recv.dir,
           recv.dir / "receiver.txt", "webhook receiver").start()
    a.start()
    time.sleep(0.5)
    for o in obs:
        o.start()
    if not lan.configured("observers configured by A", obs, [a], "time to configure on A (s)"):
        return
    b.start()
    time.sleep(3)  # observers hear B's beacons and heartbeat it too

    o1, o2 = obs
    t0 = time.monotonic()
    levels[o1.name].write_text("level 95\n")
    ok, _ = L.wait_until(lambda: count(received(hook_out), o1.name, "open") >= 1, 30, 0.2)
    lan.figure("problem opened on the observer -> webhook received (s, includes the 2 s check interval)",
               round(time.monotonic() - t0, 2) if ok else None)
    # Past a heartbeat (15 s): B has learned the problem too by now.
    time.sleep(17)
    items = received(hook_out)
    lan.check("the opening reached the receiver once (not once per supervisor)",
              count(items, o1.name, "open") == 1, 1, count(items, o1.name, "open"), str(hook_out))

    a.proc.kill(signal.SIGKILL)
    t_kill = time.monotonic()
    time.sleep(8)  # observers fail over to B (3 beacons of 1 s, then a choice)
    levels[o1.name].write_text("level 10\n")
    ok, _ = L.wait_until(lambda: count(received(hook_out), o1.name, "cleared") >= 1, 40, 0.2)
    lan.figure("kill -9 of the chosen supervisor -> clearing received from the other (s)",
               round(time.monotonic() - t_kill, 2) if ok else None)
    levels[o2.name].write_text("level 97\n")
    ok2, _ = L.wait_until(lambda: count(received(hook_out), o2.name, "open") >= 1, 30, 0.2)
    time.sleep(5)
    items = received(hook_out)
    lan.figure("notifications received (host, state)", [(i["host"], i["state"]) for i in items])
    lan.check("the clearing came once, from the supervisor left", count(items, o1.name, "cleared") == 1,
              1, count(items, o1.name, "cleared"), str(b.dir))
    lan.check("no second opening of the problem taken over", count(items, o1.name, "open") == 1,
              1, count(items, o1.name, "open"), str(b.dir))
    lan.check("a new problem after the hand-over reached the receiver once", count(items, o2.name, "open") == 1,
              1, count(items, o2.name, "open"), str(b.dir))
    lan.check("supervisor B logged taking the hosts over", "this supervisor notifies for it now" in b.log_text(),
              "hand-over logged", L.tail(b.log_text()), str(b.dir))


if __name__ == "__main__":
    L.scenario("s13_two_supervisors_notify", body)
