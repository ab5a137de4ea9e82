"""Live: TCP Fast Open through inline sluice. Python clients in the client namespace put a real
ClientHello in the SYN (MSG_FASTOPEN, with the cookie from an earlier connection); a TFO server
in the server namespace records what its application received on each connection.
- passed: the server gets the whole hello, byte for byte, although sluice sent the SYN on
  without it (the client resent it after the handshake), and the counter says so;
- blocked: the client is reset and the server's application never receives a byte — the hello
  that rode in the SYN did not reach it."""

import json
import subprocess
import sys
import unittest
from pathlib import Path

import livelab as L

PORT = 9443
SERVER = Path(__file__).resolve().parent / "tfo_server.py"


def sysctl(ns: str, name: str, value: str | None = None) -> str:
    argv = ["sysctl", "-n", name] if value is None else ["sysctl", "-q", "-w", f"{name}={value}"]
    r = subprocess.run(L.in_ns(ns, argv), capture_output=True, text=True, check=True)
    return r.stdout.strip()


def setUpModule():
    L.lab_up_for_module()


def tearDownModule():
    L.lab_down_quietly()


class FastOpen(L.LiveTestCase):
    def setUp(self):
        super().setUp()
        for ns, value in ((L.CLI_NS, "1"), (L.SRV_NS, "3")):  # client / client + server
            old = sysctl(ns, "net.ipv4.tcp_fastopen")
            self.addCleanup(sysctl, ns, "net.ipv4.tcp_fastopen", old)
            sysctl(ns, "net.ipv4.tcp_fastopen", value)
        self.server = subprocess.Popen(L.in_ns(L.SRV_NS, [sys.executable, str(SERVER), str(PORT)]),
                                       stdout=subprocess.PIPE, text=True)
        self.addCleanup(self.server.wait, 10)
        self.addCleanup(self.server.kill)
        self.assertEqual(json.loads(self.server.stdout.readline()), {"listening": PORT})
        self.start_sluice()

    def hello(self, sni: str) -> dict:
        r = L.run_client([sys.executable, str(L.CLIENTS), "tfo-hello", L.SERVER_IP, str(PORT), sni])
        self.assertEqual(r.returncode, 0, L.describe(r))
        return json.loads(r.stdout)

    def served(self, port: int) -> dict:
        """The server's record of the connection from `port` (records come in closing order)."""
        for _ in range(20):
            record = json.loads(self.server.stdout.readline())
            if record["peer_port"] == port:
                return record
        self.fail(f"the server recorded no connection from port {port}")

    def test_syn_data_waits_for_the_verdict(self):
        # The first connection asks for a cookie; its hello follows the handshake.
        first = self.hello("allowed.test")
        self.assertEqual(self.served(first["local_port"])["sha256"], first["sha256"])
        before = self.counter("syn_data_stripped")

        passed = self.hello("www.allowed.test")
        record = self.served(passed["local_port"])
        self.assertEqual((record["bytes"], record["sha256"]), (passed["sent"], passed["sha256"]),
                         "the passed hello reached the server whole")
        self.assertGreater(self.wait_counter("syn_data_stripped", before + 1), before,
                           "the client put no data in its SYN (no TFO cookie cached?)")
        before = self.counter("syn_data_stripped")

        blocked = self.hello("blocked.test")
        self.assertEqual(blocked["ended"], "reset", blocked)
        record = self.served(blocked["local_port"])
        self.assertEqual(record["bytes"], 0,
                         f"the blocked hello reached the server's application: {record}")
        self.assertGreater(self.wait_counter("syn_data_stripped", before + 1), before,
                           "the blocked hello did not ride in the SYN")
        self.assert_alive()

        audit = self.stop_sluice()
        for client, verdict in ((passed, "pass"), (blocked, "block")):
            v = [r for r in audit.by_client_port(client["local_port"])
                 if r["server_port"] == PORT]
            self.assertEqual(len(v), 1, audit.summary())
            self.assert_verdict(v[0], verdict)


if __name__ == "__main__":
    unittest.main()
