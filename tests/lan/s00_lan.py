#!/usr/bin/env python3
"""s00: the test LAN itself, no 436 binaries. Hosts reach each other across
the bridge by unicast and by the subnet broadcast, nothing routes outside
198.18.0.0/24, and nftables loss drops about the configured fraction
(measured with a UDP echo)."""

import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lan as L  # noqa: E402

LOSS = 30
N = 2000


def echo_server(sock, stop, got):
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            data, addr = sock.recvfrom(2048)
        except socket.timeout:
            continue
        got.append(data)
        try:
            sock.sendto(data, addr)
        except OSError:
            pass  # nft drops on output show up as EPERM


def body(lan: L.Lan):
    a, b, c = lan.host("a"), lan.host("b"), lan.host("c")

    # No route off the subnet.
    routes = a.exec("ip", "route").stdout.strip()
    lan.check("only the 198.18.0.0/24 route", routes.startswith("198.18.0.0/24") and "default" not in routes,
              "198.18.0.0/24 only", routes)

    # Unicast and broadcast across the bridge.
    rb, rc = b.socket(), c.socket()
    for s in (rb, rc):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", 7000))
        s.settimeout(2)
    tx = a.socket()
    tx.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    tx.sendto(b"bcast", (L.BROADCAST, 7000))
    got = []
    for s in (rb, rc):
        try:
            got.append(s.recvfrom(100)[0])
        except socket.timeout:
            got.append(None)
    lan.check("broadcast reaches b and c", got == [b"bcast", b"bcast"], "[bcast, bcast]", got)
    tx.sendto(b"uni", (b.ip, 7000))
    try:
        u = rb.recvfrom(100)[0]
    except socket.timeout:
        u = None
    lan.check("unicast a -> b", u == b"uni", "uni", u)
    try:
        tx.sendto(b"x", ("192.0.2.1", 7000))
        off = "sent"
    except OSError as e:
        off = f"refused ({e.strerror})"
    lan.check("nothing leaves the subnet", off != "sent", "Network is unreachable", off)
    for s in (rb, rc, tx):
        s.close()

    # Loss: LOSS % in and out on a; a echoes b's datagrams.
    a.loss(LOSS)
    srv = a.socket()
    srv.bind(("0.0.0.0", 7001))
    stop, seen = threading.Event(), []
    t = threading.Thread(target=echo_server, args=(srv, stop, seen), daemon=True)
    t.start()
    cli = b.socket()
    cli.settimeout(1.0)
    back = set()

    def reader():
        while True:
            try:
                back.add(cli.recvfrom(100)[0])
            except socket.timeout:
                return

    rt = threading.Thread(target=reader, daemon=True)
    rt.start()
    for i in range(N):
        try:
            cli.sendto(f"{i}".encode(), (a.ip, 7001))
        except OSError:
            pass
        if i % 50 == 49:
            time.sleep(0.005)
    rt.join(10)
    stop.set()
    t.join(2)
    one_way = len(seen) / N
    round_trip = len(back) / N
    lan.figure("one-way delivery", f"{one_way:.3f} (expected {1 - LOSS / 100:.2f})")
    lan.figure("round-trip delivery", f"{round_trip:.3f} (expected {(1 - LOSS / 100) ** 2:.2f})")
    lan.check("one-way loss near the setting", abs(one_way - (1 - LOSS / 100)) < 0.05,
              f"{1 - LOSS / 100:.2f} +- 0.05", f"{one_way:.3f}")
    lan.check("round-trip loss near the setting", abs(round_trip - (1 - LOSS / 100) ** 2) < 0.06,
              f"{(1 - LOSS / 100) ** 2:.2f} +- 0.06", f"{round_trip:.3f}")
    a.unblock("loss")
    srv.close()
    cli.close()


if __name__ == "__main__":
    L.scenario("s00_lan", body, needs_binaries=False)
