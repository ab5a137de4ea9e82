#!/usr/bin/env python3
"""Evasive client (a): a real ClientHello written in 1-7 byte pieces.

Python's ssl module makes the hello (SSLObject on memory BIOs); the script writes it to a
TCP_NODELAY socket a few bytes at a time with short sleeps, so on the wire the hello is many tiny
TCP segments (as fragmenting DPI-evasion tools do), then finishes the handshake normally and sends
one HTTP/1.1 GET.

    split_hello.py --connect 10.77.0.1 --port 443 --sni www.tiktok.com [--cafile ca.pem]
"""
import argparse
import random
import sys
import time

import hello_common as hc


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    hc.add_connection_args(ap)
    ap.add_argument("--min", type=int, default=1, help="smallest piece, bytes")
    ap.add_argument("--max", type=int, default=7, help="largest piece, bytes")
    ap.add_argument("--delay-ms", type=float, default=4.0, help="pause between pieces")
    ap.add_argument("--seed", type=int, default=1, help="seed for the piece sizes")
    args = ap.parse_args()

    obj, incoming, outgoing = hc.make_tls(args.sni, args.cafile)
    hello = hc.client_hello(obj, outgoing)
    rng = random.Random(args.seed)
    sock = hc.connect(args.connect, args.port, nodelay=True)
    pieces = 0
    pos = 0
    while pos < len(hello):
        n = rng.randint(args.min, args.max)
        sock.sendall(hello[pos:pos + n])
        pos += n
        pieces += 1
        time.sleep(args.delay_ms / 1000.0)
    ok, detail = hc.finish_handshake(sock, obj, incoming, outgoing)
    status = hc.http_get(sock, obj, incoming, outgoing, args.sni) if ok else "-"
    sock.close()
    print("split-hello: sni=%s hello=%d bytes (one %d-byte record) in %d writes of %d-%d bytes; "
          "handshake=%s (%s); http=%s" % (args.sni, len(hello) - 5, len(hello), pieces,
                                          args.min, args.max,
                       "ok" if ok else "failed", detail, status))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
