#!/usr/bin/env python3
"""Writes the expected TSV for a sample capture and checks the capture against it.

Inputs: the capture (pcap or pcapng) and the steps file written by make-sample-capture.sh,
one line per client run:
    label  server_ip  server_port  sni  first_flight  t_start  t_end  policy
Every TCP connection (its first SYN) in the capture is mapped to the step whose time window and
server endpoint hold it; the expected row takes the SNI and first flight from the step. With
policy "unused-ok" (browsers), a connection on which the client sent nothing is written as
sni "-", first_flight "none" (a preconnected socket the browser never used).

The capture is also read independently (client bytes reassembled by sequence number, TLS
handshake records joined, SNI parsed; which side spoke first) and every row is checked against
it; any difference, or a connection no step explains, or a step with no connection, is an error.
"""
import argparse
import struct
import sys

from scapy.all import IP, IPv6, TCP
from scapy.utils import rdpcap

HTTP_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"CONNECT ",
                b"PATCH ", b"TRACE ", b"PRI ")


class Conn:
    def __init__(self, t, cip, cport, sip, sport, isn):
        self.t = t
        self.cip, self.cport, self.sip, self.sport = cip, cport, sip, sport
        self.isn = isn
        self.server_isn = None
        self.cseg = []  # (offset, payload, time)
        self.sseg = []
        self.first_c = None
        self.first_s = None

    def client_bytes(self):
        return reassemble(self.cseg)


def reassemble(segs):
    buf = bytearray()
    have = {}
    for off, data, _ in segs:
        for i, b in enumerate(data):
            have.setdefault(off + i, b)
    i = 0
    while i in have:
        buf.append(have[i])
        i += 1
    return bytes(buf)


def sni_from_stream(data):
    """Joins handshake records and parses the ClientHello's server_name. Returns (sni, note)."""
    hs = bytearray()
    pos = 0
    records = 0
    while pos + 5 <= len(data) and data[pos] == 0x16:
        (length,) = struct.unpack("!H", data[pos + 3:pos + 5])
        hs += data[pos + 5:pos + 5 + length]
        pos += 5 + length
        records += 1
        if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
            break
    if len(hs) < 4 or hs[0] != 1:
        return None, "no ClientHello"
    hlen = int.from_bytes(hs[1:4], "big")
    if len(hs) < 4 + hlen:
        return None, "ClientHello incomplete in capture"
    body = bytes(hs[4:4 + hlen])
    p = 2 + 32
    p += 1 + body[p]
    (n,) = struct.unpack("!H", body[p:p + 2])
    p += 2 + n
    p += 1 + body[p]
    sni = "-"
    if p + 2 <= len(body):
        (extlen,) = struct.unpack("!H", body[p:p + 2])
        p += 2
        end = p + extlen
        while p + 4 <= end:
            etype, elen = struct.unpack("!HH", body[p:p + 4])
            ext = body[p + 4:p + 4 + elen]
            p += 4 + elen
            if etype == 0 and len(ext) >= 5 and ext[2] == 0:
                (nlen,) = struct.unpack("!H", ext[3:5])
                sni = ext[5:5 + nlen].decode("ascii", "replace")
    return sni, "hello %d bytes in %d record(s)" % (4 + hlen, records)


def observe(conn):
    data = conn.client_bytes()
    if conn.first_c is None and conn.first_s is None:
        return "-", "none", ""
    if conn.first_c is None or (conn.first_s is not None and conn.first_s < conn.first_c):
        return "-", "server_first", ""
    if len(data) >= 3 and data[0] == 0x16 and data[1] == 0x03:
        sni, note = sni_from_stream(data)
        return (sni or "?"), "tls", note
    if data.startswith(HTTP_METHODS):
        # Plain HTTP on a TLS port is non_tls to Sluice (dataplane/core/flow_inspector.cc).
        kind = "non_tls" if conn.sport in TLS_PORTS else "http"
        return "-", kind, data.split(b"\r\n", 1)[0].decode("latin-1")
    return "-", "non_tls", data[:16].hex()


TLS_PORTS = {443, 465, 563, 636, 853, 989, 990, 992, 993, 994, 995, 8443}


def hello_segments(conn):
    """How many client segments carried bytes of the first TLS record(s) up to the hello's end."""
    data = conn.client_bytes()
    end = 0
    pos = 0
    hs = 0
    need = 1 << 30
    while pos + 5 <= len(data) and data[pos] == 0x16:
        (length,) = struct.unpack("!H", data[pos + 3:pos + 5])
        if hs == 0 and len(data) >= pos + 9:
            need = 4 + int.from_bytes(data[pos + 6:pos + 9], "big")
        hs += length
        pos += 5 + length
        end = pos
        if hs >= need:
            break
    offs = {off for off, payload, _ in conn.cseg if off < end and payload}
    return len(offs)


def load_conns(path):
    conns = {}
    order = []
    for pkt in rdpcap(path):
        if TCP not in pkt:
            continue
        if IP in pkt:
            src, dst = pkt[IP].src, pkt[IP].dst
        elif IPv6 in pkt:
            src, dst = pkt[IPv6].src, pkt[IPv6].dst
        else:
            continue
        tcp = pkt[TCP]
        t = float(pkt.time)
        flags = int(tcp.flags)
        syn, ack = bool(flags & 0x02), bool(flags & 0x10)
        key = (src, tcp.sport, dst, tcp.dport)
        rkey = (dst, tcp.dport, src, tcp.sport)
        if syn and not ack:
            if key not in conns:
                conns[key] = Conn(t, src, tcp.sport, dst, tcp.dport, tcp.seq)
                order.append(conns[key])
            continue
        payload = bytes(tcp.payload)
        if key in conns:
            c = conns[key]
            if payload:
                c.cseg.append(((tcp.seq - c.isn - 1) % (1 << 32), payload, t))
                c.first_c = t if c.first_c is None else c.first_c
        elif rkey in conns:
            c = conns[rkey]
            if syn:
                c.server_isn = tcp.seq
            elif payload and c.server_isn is not None:
                c.sseg.append(((tcp.seq - c.server_isn - 1) % (1 << 32), payload, t))
                c.first_s = t if c.first_s is None else c.first_s
    return order


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capture", required=True)
    ap.add_argument("--steps", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--slack", type=float, default=0.05, help="seconds added to each window")
    args = ap.parse_args()

    steps = []
    with open(args.steps) as f:
        for line in f:
            if not line.strip():
                continue
            label, sip, sport, sni, flight, t0, t1, policy = line.rstrip("\n").split("\t")
            steps.append(dict(label=label, sip=sip, sport=int(sport), sni=sni, flight=flight,
                              t0=float(t0), t1=float(t1), policy=policy, conns=0))

    errors = []
    rows = []
    for c in load_conns(args.capture):
        match = [s for s in steps
                 if s["sip"] == c.sip and s["sport"] == c.sport
                 and s["t0"] - args.slack <= c.t <= s["t1"] + args.slack]
        osni, oflight, note = observe(c)
        if len(match) != 1:
            errors.append("connection %s:%d -> %s:%d at %.6f matches %d steps"
                          % (c.cip, c.cport, c.sip, c.sport, c.t, len(match)))
            continue
        s = match[0]
        s["conns"] += 1
        sni, flight = s["sni"], s["flight"]
        if s["policy"] == "unused-ok" and oflight == "none":
            sni, flight = "-", "none"
        segs = hello_segments(c) if oflight == "tls" else 0
        rows.append((c, sni, flight, s["label"]))
        ok = (sni, flight) == (osni, oflight)
        print("%-16s %-22s %5d -> %-10s %3d  %-24s %-12s %s%s" % (
            s["label"], c.cip, c.cport, c.sip, c.sport, sni, flight,
            note + ("; %d segment(s)" % segs if segs else ""),
            "" if ok else "   <-- capture shows sni=%s first_flight=%s" % (osni, oflight)))
        if not ok:
            errors.append("%s: expected sni=%s first_flight=%s, capture shows sni=%s "
                          "first_flight=%s" % (s["label"], sni, flight, osni, oflight))
    for s in steps:
        if s["conns"] == 0:
            errors.append("%s: no connection found in the capture" % s["label"])

    with open(args.out, "w") as f:
        f.write("client_ip\tclient_port\tserver_ip\tserver_port\ttransport\tsni\tfirst_flight\n")
        for c, sni, flight, _ in rows:
            f.write("%s\t%d\t%s\t%d\ttcp\t%s\t%s\n" % (c.cip, c.cport, c.sip, c.sport, sni, flight))
    for e in errors:
        print("ERROR: " + e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
