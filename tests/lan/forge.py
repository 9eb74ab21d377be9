"""An intruder's toolkit for s07: 436 datagrams built by hand (stdlib only).

Encodes the `wire` crate's messages the way it does (bincode 2, standard
config: little-endian varints, no field names; see wire/src/message.rs and
wire/src/codec.rs):

    open:   b"A436" VERSION MODE=0 body
    sealed: b"A436" VERSION MODE=1 nonce(24) ciphertext(8-byte send time + body) tag(16)

An intruder has no key. `sealed_wrong_key` builds a sealed-mode datagram
whose ciphertext and tag come from a key the LAN does not use (a keyed
SHAKE-256 stream stands in for XChaCha20-Poly1305, which the standard
library lacks): to a receiver with the real key it is indistinguishable from
one sealed with a wrong key, since both fail authentication. Datagrams really
sealed with a wrong key come from the scenario's rogue supervisor, which runs
the real binary with a key of its own.
"""

import hashlib
import hmac
import os
import struct
import time

MAGIC = b"A436"
VERSION = 1


def varint(n: int) -> bytes:
    if n < 251:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfb" + struct.pack("<H", n)
    if n <= 0xFFFFFFFF:
        return b"\xfc" + struct.pack("<I", n)
    return b"\xfd" + struct.pack("<Q", n)


def zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def string(s) -> bytes:
    b = s.encode() if isinstance(s, str) else bytes(s)
    return varint(len(b)) + b


def option(v, enc) -> bytes:
    return b"\x00" if v is None else b"\x01" + enc(v)


def beacon(supervisor: str, run_id: int) -> bytes:
    return varint(0) + string(supervisor) + varint(run_id)


def config_chunk(host: str, version: int, index: int, total: int, data: bytes) -> bytes:
    return varint(2) + string(host) + varint(version) + varint(index) + varint(total) + string(data)


def reset(host: str) -> bytes:
    return varint(5) + string(host)


def heartbeat(host: str, version=None) -> bytes:
    return varint(6) + string(host) + option(version, varint) + varint(0) + varint(1)


def events(host: str, items: list[tuple[int, str]], tags: str = "forged") -> bytes:
    body = varint(7) + string(host) + varint(0) + varint(len(items))
    now_ms = int(time.time() * 1000)
    for ident, message in items:
        body += (varint(ident) + varint(zigzag(now_ms)) + string(tags) + b"\x00" + varint(0)
                 + string(message) + b"\x00")
    return body


def ack(host: str, ids: list[int]) -> bytes:
    return varint(8) + string(host) + varint(len(ids)) + b"".join(varint(i) for i in ids)


def config_version(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def unsealed(body: bytes) -> bytes:
    return MAGIC + bytes([VERSION, 0]) + body


def sealed_wrong_key(body: bytes, key: bytes = b"not the LAN key") -> bytes:
    header = MAGIC + bytes([VERSION, 1])
    nonce = os.urandom(24)
    plain = struct.pack("<Q", int(time.time() * 1000)) + body
    stream = hashlib.shake_256(key + nonce).digest(len(plain))
    ct = bytes(a ^ b for a, b in zip(plain, stream))
    tag = hmac.new(key, header + nonce + ct, hashlib.sha256).digest()[:16]
    return header + nonce + ct + tag
