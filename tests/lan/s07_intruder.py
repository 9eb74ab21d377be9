#!/usr/bin/env python3
"""s07 intruder: on a keyed LAN, a host without the key sends forged resets,
configurations and beacons (unsealed, and sealed with a wrong key), and
replays captured sealed datagrams. No observer changes configuration,
follows a forged beacon or runs anything; the supervisor's drop counters
show the attempts.

Attackers: `intr` (no key) runs a rogue supervisor in open mode and a raw
Python socket on 0.0.0.0:P that captures the real supervisor's broadcasts
(beacons, resets) and sends crafted datagrams; `rogue` runs a rogue
supervisor sealing with a key of its own. Both rogues serve the observers a
configuration with `run: command=touch <pwned file>`."""

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import forge as F  # noqa: E402
import lan as L  # noqa: E402

P = L.PORT


def pwn_config(o: L.Observer, pwned: Path) -> str:
    return (f"# rogue configuration for {o.name}\n"
            f"run: command=touch {pwned} extract=^(x)(\\d+)$\n"
            "alert_metric: tags=pwned match=1,x metric=2\n"
            f"file: {o.app}\nmatch: ERROR\nalert_all: tags=ROGUE\n")


def ephemeral_ports(host: L.Host) -> list[int]:
    out = host.exec("ss", "-uanp", check=False).stdout
    ports = []
    for line in out.splitlines():
        if "observer" not in line:
            continue
        m = re.search(r"\s(\S+):(\d+)\s", line)
        if m and int(m.group(2)) != P:
            ports.append(int(m.group(2)))
    return ports


def body(lan: L.Lan):
    key = lan.gen_key("lan.key")
    rogue_key = lan.gen_key("rogue.key")
    sup = L.Supervisor(lan.host("sup"), "sup", key=key)
    obs = [L.Observer(lan.host(f"obs{i}"), key=key) for i in (1, 2)]
    late = L.Observer(lan.host("late"), key=key)
    intr = lan.host("intr")
    rogue_open = L.Supervisor(intr, "rogue-open")
    rogue_sealed = L.Supervisor(lan.host("rogue"), "rogue-sealed", key=rogue_key)
    pwned = {}
    sup.host_file(late.name, L.simple_host_file(late))
    for o in obs:
        sup.host_file(o.name, L.simple_host_file(o))
        for r in (rogue_open, rogue_sealed):
            pwned[(r.name, o.name)] = Path(f"/tmp/{lan.prefix}-{r.name}-{o.name}-pwned")
            r.host_file(o.name, pwn_config(o, pwned[(r.name, o.name)]))
    forged_pwn = Path(f"/tmp/{lan.prefix}-forged-pwned")
    all_pwned = list(pwned.values()) + [forged_pwn]

    # Capture the real supervisor's broadcasts from the intruder's host.
    captured: list[bytes] = []
    cap = intr.socket()
    cap.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    cap.bind(("0.0.0.0", P))
    cap.settimeout(0.2)
    stop = threading.Event()

    def capture():
        while not stop.is_set():
            try:
                data, src = cap.recvfrom(2048)
            except socket.timeout:
                continue
            if src[0] == sup.host.ip and data[:4] == F.MAGIC and data[5] == 1:
                captured.append(data)

    threading.Thread(target=capture, daemon=True).start()

    # Rogues first: they are the first supervisors the observers could hear.
    rogue_open.start()
    rogue_sealed.start()
    time.sleep(2)
    sup.start()
    time.sleep(0.5)
    for o in obs:
        o.start()
    if not lan.configured("observers configured by the keyed supervisor", obs, [sup],
                          "time to configure on the keyed LAN (s)"):
        return

    # A genuine reset for obs1, so there is a sealed reset to replay.
    sup.host_file("obs1", L.simple_host_file(obs[0]) + "# edited\nfile: /nonexistent/x.log\nmatch: X\nalert_all: tags=x\n")
    ok, _ = L.wait_until(lambda: any(len(d) > 0 for d in captured) and L.resets_logged(sup).get("obs1"), 5)
    time.sleep(3)  # obs1 fetches its new configuration
    L.probe_configured(obs, [sup], timeout=10)
    n_captured = len(captured)
    lan.figure("sealed broadcasts captured by the intruder", n_captured)
    lan.check("intruder captured sealed beacons and a reset", n_captured >= 2, ">= 2", n_captured)
    resets_before = L.resets_logged(sup)
    obs_log_before = {o.name: len(o.log_text()) for o in obs}

    # The attack.
    tx = intr.socket()
    tx.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sent = {"to observers": 0, "unsealed to sup": 0, "wrong-key to sup": 0, "replays to sup": 0, "garbage to sup": 0}
    eph = {o.name: ephemeral_ports(o.host) for o in obs}
    lan.figure("observers' ephemeral ports (from ss)", eph)
    forged_text = {o.name: pwn_config(o, forged_pwn) for o in obs}

    def to_observers(datagram: bytes):
        targets = [(L.BROADCAST, P)] + [(o.host.ip, P) for o in obs]
        targets += [(o.host.ip, p) for o in obs for p in eph[o.name]]
        for t in targets:
            try:
                tx.sendto(datagram, t)
                sent["to observers"] += 1
            except OSError:
                pass

    sup_addr = (sup.host.ip, P + 1)
    forged_seq = 0
    t_attack = time.monotonic()
    normal = set()
    for round_ in range(5):
        for o in obs:
            text = forged_text[o.name]
            chunk = F.config_chunk(o.name, F.config_version(text), 0, 1, text.encode())
            for body_ in (F.beacon("evil", 4242 + round_), F.reset(o.name), chunk):
                to_observers(F.unsealed(body_))
                to_observers(F.sealed_wrong_key(body_))
            for d in captured[:n_captured]:
                to_observers(d)
            # At the supervisor: forged events and heartbeats, garbage, replays.
            for _ in range(2):
                forged_seq += 1
                ev = F.events(o.name, [(10_000_000 + forged_seq, f"ERROR seq=forged-{forged_seq}")])
                tx.sendto(F.unsealed(ev), sup_addr)
                tx.sendto(F.unsealed(F.heartbeat(o.name)), sup_addr)
                sent["unsealed to sup"] += 2
                tx.sendto(F.sealed_wrong_key(ev), sup_addr)
                tx.sendto(F.sealed_wrong_key(F.heartbeat(o.name)), sup_addr)
                sent["wrong-key to sup"] += 2
        for d in captured[:n_captured]:
            tx.sendto(d, sup_addr)
            sent["replays to sup"] += 1
        # Garbage: random bytes, oversized, truncated seals, hostile lengths.
        hostile = F.unsealed(F.varint(7) + F.string(obs[0].name) + F.varint(0) + b"\xfd" + (1 << 36).to_bytes(8, "little"))
        junk = [os.urandom(40), os.urandom(1500), os.urandom(9000), captured[0][:30] if captured else b"A436",
                F.MAGIC + bytes([1, 1]) + os.urandom(10), hostile,
                F.unsealed(F.varint(0) + b"\xfd" + (1 << 40).to_bytes(8, "little") + b"abc")]
        for j in junk:
            # (rogue-open, in open mode, decodes the hostile lengths for real)
            for t in ([sup_addr, (intr.ip, P + 1)] + [(o.host.ip, P) for o in obs] + [(o.host.ip, p) for o in obs for p in eph[o.name]]):
                try:
                    tx.sendto(j, t)
                    if t == sup_addr:
                        sent["garbage to sup"] += 1
                except OSError:
                    pass
        # Rogue supervisors reset the observers (a changed host file).
        for r in (rogue_open, rogue_sealed):
            for o in obs:
                r.host_file(o.name, pwn_config(o, pwned[(r.name, o.name)]) + f"# round {round_}\n")
        for o in obs:
            normal |= set(o.raise_events(f"r{round_}", 20))
        time.sleep(1.5)
    lan.figure("datagrams sent by the intruder", sent)
    # A second sender of bad datagrams (SPEC §8: each sender logged, at most once a minute).
    rogue_tx = rogue_sealed.host.socket()
    rogue_tx.sendto(F.unsealed(F.heartbeat("obs1")), sup_addr)
    rogue_tx.close()

    # Sanity: the forged encoding is valid, so the rogue in open mode takes it.
    probe_ev = F.unsealed(F.events("obs1", [(1, "ERROR seq=encoding-check")]))
    tx.sendto(probe_ev, (intr.ip, P + 1))
    enc_ok, _ = L.wait_until(lambda: "encoding-check" in L.seqs(rogue_open.events()), 3)
    lan.check("forged datagrams are well-formed (an open-mode supervisor accepts one)", bool(enc_ok),
              "accepted by rogue-open", "refused: the forgeries may be malformed", str(rogue_open.dir))

    took = L.wait_for_seqs([sup], normal, 15)

    # A newly started observer has not seen the beacons captured before it
    # started: the intruder replays them from its own address.
    old = list(captured)
    replaying = threading.Event()

    def replay_old():
        # Evenly spaced, a little faster than the real beacons, so the late
        # observer's "supervisor" at the intruder's address never looks silent.
        for d in old:
            if replaying.is_set():
                return
            try:
                tx.sendto(d, (late.host.ip, P))
            except OSError:
                pass
            time.sleep(0.9)

    # Start it just after a real beacon: the next is a beacon interval away.
    n0 = len(captured)
    L.wait_until(lambda: len(captured) > n0, 3, 0.01)
    late.start()
    time.sleep(0.1)
    rt = threading.Thread(target=replay_old, daemon=True)
    rt.start()
    cfg_late = L.probe_configured([late], [sup], timeout=25)
    replaying.set()
    rt.join(3)
    chosen = re.findall(r"working with supervisor \S+ at ([0-9.]+)", late.log_text())
    lan.figure("late observer: old captured beacons replayed", len(old))
    lan.figure("late observer: time to configure under beacon replay (s)", cfg_late[late.name])
    lan.figure("late observer: supervisors chosen (log)", chosen)
    lan.check("late observer does not follow a replayed beacon from the intruder's address",
              intr.ip not in chosen, f"only {sup.host.ip}", chosen, str(late.dir))
    lan.check("late observer configured within 10 s despite replayed beacons",
              cfg_late[late.name] is not None and cfg_late[late.name] <= 10, "<= 10 s", cfg_late[late.name],
              str(late.dir))
    stop.set()

    for f in all_pwned:
        lan.check(f"nothing ran: {f.name} absent", not f.exists(), "absent", "PRESENT")
    L.check_exactly_once(lan, "events during the attack", normal, [sup])
    forged_in = [s for s in L.seqs(sup.events()) if s.startswith("forged-")]
    lan.check("no forged event in the stream", not forged_in, "none", L.sample(forged_in))
    for r in (rogue_open, rogue_sealed):
        theirs = [e for e in r.events() if e.get("host") in {o.name for o in obs}
                  and "encoding-check" not in (e.get("message") or "")]
        lan.check(f"no observer followed {r.name}", not theirs, "no events", len(theirs), str(r.dir))
        asked = [ln for ln in r.log_text().splitlines() if "asked for" in ln and "configuration" in ln]
        lan.check(f"no observer asked {r.name} for configuration", not asked, "none", asked[:3])
    resets_after = L.diff_counts(L.resets_logged(sup), resets_before)
    lan.check("no genuine reset during the attack", not resets_after, "none", resets_after)
    changed = {}
    for o in obs:
        new = o.log_text()[obs_log_before[o.name]:]
        lines = [ln for ln in new.splitlines()
                 if re.search(r"configuration \S+ applied|working with supervisor|moving|no configuration for", ln)]
        changed[o.name] = lines
    lan.figure("observer log lines about configuration/supervisors during the attack",
               {k: v[:4] for k, v in changed.items()})
    lan.check("no observer changed configuration or supervisor during the attack",
              not any(changed.values()), "no such log lines", {k: len(v) for k, v in changed.items()},
              str(lan.work))
    drops = [ln for ln in "\n".join(o.log_text() for o in obs).splitlines() if "drop" in ln.lower()]
    lan.figure("observer drop log lines", len(drops))

    for o in obs + [late]:
        lan.check(f"observer {o.name} survived the attack", o.proc.alive(), "running",
                  f"exited {o.proc.p.returncode}", str(o.dir))
    lan.check("an open-mode supervisor survived the garbage", rogue_open.proc.alive(), "running",
              f"exited {rogue_open.proc.p.returncode}", str(rogue_open.dir))
    lan.check("supervisor survived the attack", sup.proc.alive(), "running", f"exited {sup.proc.p.returncode}",
              str(sup.dir))
    sup.proc.stop()
    text = sup.log_text()
    m = None
    for m in re.finditer(r"counters at exit: datagrams received (\d+), dropped (\d+)(?: \(([^)]*)\))?", text):
        pass
    if not lan.check("supervisor logged its counters at exit", m is not None, "a `counters at exit:` line",
                     L.tail(text), str(sup.dir)):
        return
    reasons = dict((k.strip(), int(v)) for k, v in
                   (r.rsplit(" ", 1) for r in (m.group(3) or "").split(", ") if r))
    lan.figure("supervisor drop counters", {"dropped": int(m.group(2)), **reasons})
    lan.check("drop counter: unsealed", reasons.get("unsealed", 0) >= sent["unsealed to sup"],
              f">= {sent['unsealed to sup']}", reasons.get("unsealed", 0))
    lan.check("drop counter: wrong key", reasons.get("bad-seal", 0) >= sent["wrong-key to sup"],
              f">= {sent['wrong-key to sup']}", reasons.get("bad-seal", 0))
    replayed = reasons.get("replay", 0) + reasons.get("unexpected", 0)
    lan.check("drop counter: replays (replay or unexpected)", replayed >= sent["replays to sup"],
              f">= {sent['replays to sup']}", replayed)
    logged = [ln for ln in text.splitlines() if "dropped a datagram from" in ln]
    lan.figure("supervisor 'dropped a datagram' log lines", len(logged))
    lan.check("supervisor logged the intruder's address", any(intr.ip in ln for ln in logged),
              f"a line naming {intr.ip}", logged[:2])
    lan.check("supervisor logged the second bad sender too (each sender, at most once a minute)",
              any(rogue_sealed.host.ip in ln for ln in logged), f"a line naming {rogue_sealed.host.ip}",
              [ln[-160:] for ln in logged[:3]], str(sup.dir))


if __name__ == "__main__":
    L.scenario("s07_intruder", body)
