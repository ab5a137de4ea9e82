"""Live: monitor mode. The client and the server talk over a kernel bridge in the appliance
namespace; tc mirred copies every frame to the veth sluice reads (`mode: monitor`, mirror port
sl-mon) and sluice sends its resets into the bridge through the inject port (sl-inj). A blocked
name's connection is reset; a passed one completes byte for byte."""

import unittest

import livelab as L


def setUpModule():
    L.lab_up_for_module("--monitor")


def tearDownModule():
    L.lab_down_quietly()


class Monitor(L.LiveTestCase):
    def test_blocked_is_reset_passed_completes(self):
        self.start_sluice(monitor=True)
        # A download long enough that it cannot finish before the reset arrives: a mirror's
        # reader may lag the wire (on this loaded 2-CPU VM, by more than the half second a 50 MB
        # transfer over veth takes), so the blocked downloads go at 10 MB/s (5 s).
        r = L.curl("https://blocked.test/big.bin", "-o", "/dev/null", "--limit-rate", "10M", timeout=60)
        self.assert_reset(r, "curl https://blocked.test/big.bin in monitor mode")
        blocked_port = L.curl_port(r)
        r = L.curl("https://guest-blocked.test/big.bin", "-o", "/dev/null", "--limit-rate", "10M",
                   source=L.GUEST_IP, timeout=60)
        self.assert_reset(r, "guest curl https://guest-blocked.test/big.bin in monitor mode")

        r = self.assert_big_download("https://allowed.test/big.bin",
                                     "curl https://allowed.test/big.bin in monitor mode")
        passed_port = L.curl_port(r)
        r = L.curl("https://guest-blocked.test/hello", source=L.STAFF_IP)
        self.assert_passed(r, "staff curl https://guest-blocked.test/hello in monitor mode")

        self.assert_alive()
        audit = self.stop_sluice()
        b = audit.by_client_port(blocked_port)
        self.assertEqual(len(b), 1, audit.summary())
        self.assertEqual(b[0]["sni"], "blocked.test")
        self.assert_verdict(b[0], "block", "test-blocklist", "blocklist.txt")
        p = audit.by_client_port(passed_port)
        self.assertEqual(len(p), 1, audit.summary())
        self.assertEqual(p[0]["sni"], "allowed.test")
        self.assert_verdict(p[0], "pass")
        close = audit.close_for(p[0])
        self.assertIsNotNone(close, audit.summary())
        # The monitor followed the transfer. A mirror is lossy by nature: when the reader falls
        # behind (a loaded 2-core VM), the af_packet ring drops frames, so not every byte of the
        # 50 MB is seen (the port's rx_missed counts what was lost).
        self.assertGreater(close["bytes_to_client"], 25_000_000, close)


if __name__ == "__main__":
    unittest.main()
