#!/usr/bin/env python3
"""Evasive client (b): a real ClientHello re-framed into many small TLS records.

Python's ssl module makes the hello (SSLObject on memory BIOs); the script cuts the handshake
message into pieces of --record-size bytes and wraps each in its own TLS record header (the
ClientHello spans several records, as ByeDPI's "tlsrec" split does), sends them in one write,
and reports whether the server answered with a ServerHello. Records only carry the handshake
message, so the transcript is unchanged and the handshake is then finished normally.

    record_split.py --connect 10.77.0.1 --port 443 --sni discord.com [--cafile ca.pem]
"""
import argparse
import socket
import struct
import sys

import hello_common as hc


def reframe(record, size):
    """Splits one TLS handshake record into records of `size` payload bytes."""
    ctype, version = record[0], record[1:3]
    (length,) = struct.unpack("!H", record[3:5])
    if len(record) != 5 + length:
        raise RuntimeError("expected exactly one record from the ssl module")
    body = record[5:]
    out = []
    for pos in range(0, len(body), size):
        piece = body[pos:pos + size]
        out.append(bytes([ctype]) + version + struct.pack("!H", len(piece)) + piece)
    return out


def describe_reply(data):
    if len(data) < 6:
        return "no reply"
    if data[0] == 0x16 and data[5] == 0x02:
        return "ServerHello"
    if data[0] == 0x15:
        return "alert level=%d description=%d" % (data[5], data[6] if len(data) > 6 else -1)
    return "unexpected bytes %s" % data[:8].hex()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    hc.add_connection_args(ap)
    ap.add_argument("--record-size", type=int, default=50, help="handshake bytes per record")
    args = ap.parse_args()

    obj, incoming, outgoing = hc.make_tls(args.sni, args.cafile)
    hello = hc.client_hello(obj, outgoing)
    records = reframe(hello, args.record_size)
    sock = hc.connect(args.connect, args.port, nodelay=True)
    sock.sendall(b"".join(records))
    reply = b""
    try:
        while len(reply) < 6:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    except socket.timeout:
        pass
    answer = describe_reply(reply)
    ok, detail = (False, answer)
    status = "-"
    if answer == "ServerHello":
        ok, detail = hc.finish_handshake(sock, obj, incoming, outgoing, reply)
        if ok:
            status = hc.http_get(sock, obj, incoming, outgoing, args.sni)
    sock.close()
    print("record-split: sni=%s hello=%d bytes as %d records of <=%d bytes; server answered %s; "
          "handshake=%s (%s); http=%s" % (args.sni, len(hello) - 5, len(records),
                                          args.record_size, answer,
                                          "ok" if ok else "failed", detail, status))
    return 0 if answer == "ServerHello" else 1


if __name__ == "__main__":
    sys.exit(main())
