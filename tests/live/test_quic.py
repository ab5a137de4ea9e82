"""Live: QUIC through `sluice run`, with headless Chromium in the client namespace toward
www.allowed.test. The lab's nginx has no HTTP/3, so a Python UDP socket on 10.0.0.1:443 in the
server namespace receives the datagrams and never answers: Chromium sends its first flight (the
ClientHello in Initials) and retransmits it.
- pass (Chromium forced to QUIC: --enable-quic --origin-to-force-quic-on): the Initials reach the
  server byte for byte as the client sent them (a capture in the client namespace against what the
  socket received), and the audit names the server from the decrypted Initials: transport udp,
  first_flight quic, quic_version v1, a 'q' JA4;
- block (policy.quic.default: block, i.e. no HTTP/3), Chromium forced to QUIC: nothing reaches the
  server's socket and the audit says block with rule default_quic;
- block, Chromium left to itself: the fallback a browser makes. A first visit over TCP learns
  from the lab's Alt-Svc header that the site offers HTTP/3; on the next visit Chromium tries QUIC
  (blocked: nothing reaches the server) and races TCP beside it; the page arrives over TCP, and
  the audit shows both from that visit with the same SNI: udp quic block, then tcp pass.
  Chromium stores Alt-Svc only from a certificate it trusts without --ignore-certificate-errors,
  so it is told the lab server's key (--ignore-certificate-errors-spki-list)."""

import base64
import datetime
import hashlib
import json
import struct
import subprocess
import sys
import time
import unittest
from pathlib import Path

import livelab as L

NAME = "www.allowed.test"

LISTENER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 443))
print("listening", flush=True)
with open(sys.argv[2], "w") as out:
    while True:
        data, peer = s.recvfrom(65535)
        out.write(f"{peer[0]} {peer[1]} {data.hex()}\n")
        out.flush()
"""


def setUpModule():
    L.lab_up_for_module()


def tearDownModule():
    L.lab_down_quietly()


def udp_payloads_to_443(pcap: Path) -> list[tuple[int, bytes]]:
    """(client port, UDP payload) of every IPv4 datagram to port 443 in a classic pcap of
    Ethernet frames (tcpdump -w)."""
    data = pcap.read_bytes()
    if len(data) < 24:
        return []
    endian = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    out, pos = [], 24
    while pos + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[pos:pos + 16])
        frame = data[pos + 16:pos + 16 + caplen]
        pos += 16 + caplen
        if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
            continue
        ihl = (frame[14] & 0x0f) * 4
        udp = frame[14 + ihl:]
        sport, dport, length = struct.unpack("!HHH", udp[:6])
        if dport == 443:
            out.append((sport, udp[8:length]))
    return out


class Quic(L.LiveTestCase):
    def start_listener(self) -> Path:
        received = self.workdir / "received.txt"
        proc = subprocess.Popen(L.in_ns(L.SRV_NS, [sys.executable, "-c", LISTENER, L.SERVER_IP,
                                                    str(received)]),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: (proc.kill(), proc.wait(timeout=10)))
        self.assertEqual(proc.stdout.readline().strip(), b"listening", "the UDP 443 listener did not start")
        return received

    def start_capture(self) -> tuple[subprocess.Popen, Path]:
        pcap = self.workdir / "client.pcap"
        proc = subprocess.Popen(L.in_ns(L.CLI_NS, ["tcpdump", "-i", "sl-c", "-U", "-s", "0", "-w",
                                                    str(pcap), "udp", "dst", "port", "443"]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait(timeout=10)))
        line = proc.stderr.readline()
        self.assertIn(b"listening on", line, "tcpdump did not start")
        return proc, pcap

    def chromium_quic(self, name: str) -> subprocess.CompletedProcess:
        """Chromium forced to QUIC toward NAME; it gives up on the silent server by itself."""
        argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={self.workdir / 'chromium-quic'}", "--ignore-certificate-errors",
                "--enable-quic", f"--origin-to-force-quic-on={name}:443",
                f"--host-resolver-rules=MAP {name} {L.SERVER_IP}", "--dump-dom", f"https://{name}/"]
        return L.run_client(argv, timeout=30)

    @staticmethod
    def received(path: Path) -> list[tuple[int, bytes]]:
        if not path.exists():
            return []
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        return [(int(port), bytes.fromhex(hexdata)) for _, port, hexdata in rows]

    def quic_verdicts(self, audit: L.Audit) -> list[dict]:
        return [r for r in audit.verdicts_for(sni=NAME) if r.get("transport") == "udp"]

    def test_pass_delivers_the_initials_byte_for_byte(self):
        self.start_sluice()
        received_path = self.start_listener()
        tcpdump, pcap = self.start_capture()
        self.chromium_quic(NAME)
        time.sleep(1)
        tcpdump.terminate()
        tcpdump.wait(timeout=10)
        self.assert_alive()
        audit = self.stop_sluice()

        sent = udp_payloads_to_443(pcap)
        got = self.received(received_path)
        self.assertGreaterEqual(len(sent), 2, "Chromium sent no QUIC first flight")
        got_set = set(got)
        missing = [(port, len(d)) for port, d in sent if (port, d) not in got_set]
        self.assertEqual(missing, [], f"datagrams the server did not receive unchanged "
                         f"(sent {len(sent)}, received {len(got)})")
        first_port, first = sent[0]
        self.assertEqual(first[0] & 0xf0, 0xc0, "the first datagram is a QUIC v1 Initial")

        verdicts = self.quic_verdicts(audit)
        self.assertGreaterEqual(len(verdicts), 1, audit.summary())
        v = [r for r in verdicts if r["client_port"] == first_port]
        self.assertEqual(len(v), 1, audit.summary())
        v = v[0]
        self.assertEqual(v["first_flight"], "quic", v)
        self.assertEqual(v["quic_version"], "v1", v)
        self.assertEqual(v["server_port"], 443, v)
        self.assertIn("h3", v["alpn"], v)
        self.assertTrue((v.get("ja4") or "").startswith("q13"), v)
        self.assert_verdict(v, "pass")

    def start_sluice_blocking_quic(self) -> None:
        config = L.derive_config(self.workdir, file_prefix=self.file_prefix)
        text = config.read_text()
        self.assertIn("\npolicy:\n", text)
        config.write_text(text.replace("\npolicy:\n", "\npolicy:\n  quic:\n    default: block\n", 1))
        self.sluice = L.Sluice(config, self.workdir, self.file_prefix)
        self.sluice.start()

    def test_block_stops_quic(self):
        self.start_sluice_blocking_quic()
        received_path = self.start_listener()

        self.chromium_quic(NAME)
        time.sleep(1)
        self.assertEqual(self.received(received_path), [], "a blocked QUIC datagram reached the server")
        self.assert_alive()
        audit = self.stop_sluice()

        quic = self.quic_verdicts(audit)
        self.assertGreaterEqual(len(quic), 1, audit.summary())
        for v in quic:
            self.assertEqual(v["first_flight"], "quic", v)
            self.assert_verdict(v, "block", "default_quic")
            close = audit.close_for(v)
            self.assertIsNotNone(close, f"no close record for {v}")
            self.assertGreaterEqual(close["packets_to_server"], 1, close)

    def test_block_makes_chromium_fall_back_to_tcp_by_itself(self):
        self.start_sluice_blocking_quic()
        received_path = self.start_listener()
        profile = self.workdir / "chromium-alt-svc"

        # First visit: TCP (nothing known yet); the page's Alt-Svc header is remembered.
        r = self.chromium_trusting_lab(f"https://{NAME}/alt-svc", profile)
        self.assertIn(b"sluice-lab-alt-svc", r.stdout, L.describe(r))
        state = profile / "Default" / "Network Persistent State"
        self.assertTrue(state.exists() and b"quic" in state.read_bytes(),
                        f"Chromium did not remember the Alt-Svc header: {state}")
        second_visit = datetime.datetime.now(datetime.timezone.utc)

        # Second visit, same profile, no QUIC flags: Chromium tries HTTP/3 and races TCP.
        r = self.chromium_trusting_lab(f"https://{NAME}/", profile)
        self.assertIn(b"sluice-lab-page", r.stdout, L.describe(r))
        time.sleep(1)
        self.assertEqual(self.received(received_path), [], "a blocked QUIC datagram reached the server")
        self.assert_alive()
        audit = self.stop_sluice()

        def of_second_visit(records: list[dict]) -> list[dict]:
            return [v for v in records if datetime.datetime.fromisoformat(
                v["ts"].replace("Z", "+00:00")) >= second_visit]

        quic = of_second_visit(self.quic_verdicts(audit))
        self.assertGreaterEqual(len(quic), 1, f"Chromium did not try QUIC on its second visit:\n"
                                f"{audit.summary()}")
        for v in quic:
            self.assertEqual(v["first_flight"], "quic", v)
            self.assert_verdict(v, "block", "default_quic")
        tcp = of_second_visit([v for v in audit.verdicts_for(sni=NAME) if v.get("transport") == "tcp"])
        self.assertGreaterEqual(len(tcp), 1, f"no TCP fallback in the audit:\n{audit.summary()}")
        for v in tcp:
            self.assert_verdict(v, "pass")

    def chromium_trusting_lab(self, url: str, profile: Path) -> subprocess.CompletedProcess:
        """Headless Chromium, QUIC left at its defaults, accepting the lab server's certificate by
        its key only: unlike --ignore-certificate-errors, Chromium then honours Alt-Svc."""
        der = subprocess.run(["openssl", "x509", "-in", str(L.STATE / "ca" / "server.crt"),
                              "-noout", "-pubkey"], capture_output=True, check=True).stdout
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=der,
                             capture_output=True, check=True).stdout
        spki = base64.b64encode(hashlib.sha256(der).digest()).decode()
        argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", f"--ignore-certificate-errors-spki-list={spki}",
                f"--host-resolver-rules=MAP {NAME} {L.SERVER_IP}", "--dump-dom", url]
        return L.run_client(argv, timeout=60)

if __name__ == "__main__":
    unittest.main()
