"""Live: flows the policy passes go through `sluice run` byte for byte, for every kind of real
client, and each has a verdict record (the right SNI, verdict pass) and a close record."""

import json
import unittest

import livelab as L


def setUpModule():
    L.lab_up_for_module()  # inline: sluice bridges sl-in and sl-out


def tearDownModule():
    L.lab_down_quietly()


class PassedFlows(L.LiveTestCase):
    def test_real_clients_get_their_pages_and_are_audited(self):
        self.start_sluice()
        ports = {}  # client port -> the SNI it sent

        # curl: the 50 MB file, hash-checked.
        r = self.assert_big_download("https://allowed.test/big.bin", "curl https://allowed.test/big.bin")
        big_port = L.curl_port(r)
        ports[big_port] = "allowed.test"

        # openssl s_client, verifying against the test CA.
        r = L.openssl_get(L.SERVER_IP, "www.allowed.test")
        self.assert_passed(r, "openssl s_client -servername www.allowed.test")
        self.assertIn(b"sluice-lab hello host=www.allowed.test sni=www.allowed.test", r.stdout)

        # Python's ssl module, from the guest address.
        r = L.python_get("https://badallowed.test/hello", source=L.GUEST_IP)
        self.assert_passed(r, "python ssl https://badallowed.test/hello")
        answer = json.loads(r.stdout)
        self.assertEqual(answer["status"], 200)
        self.assertIn("sni=badallowed.test", answer["body"])
        ports[answer["local_port"]] = "badallowed.test"

        # Headless Chromium (its hello is post-quantum sized: two segments).
        profile = self.workdir / "chromium"
        r = L.chromium_dom("https://www.allowed.test/", profile)
        self.assertIn(b"sluice-lab-page", r.stdout, L.describe(r))

        self.assert_alive()
        audit = self.stop_sluice()

        for port, sni in ports.items():
            # A packet that arrives after the RST that closed a flow (the peer's last ACK, which
            # may cross from the other worker's port through a dispatch ring after the RST) is
            # picked up as a flow of its own: midstream, nothing sent, no name. Known noise (the
            # inspector keeps no tombstone after an RST); it is not the connection's record.
            verdicts = [v for v in audit.by_client_port(port)
                        if not ("midstream" in v["anomalies"] and v["first_flight"] == "none")]
            self.assertEqual(len(verdicts), 1, f"verdict records of client port {port}:\n{audit.summary()}")
            v = verdicts[0]
            self.assertEqual(v["sni"], sni, v)
            self.assertEqual(v["first_flight"], "tls", v)
            self.assert_verdict(v, "pass")
            self.assertIsNotNone(audit.close_for(v), f"no close record for {v}\n{audit.summary()}")
        big = audit.close_for(audit.by_client_port(big_port)[0])
        self.assertGreater(big["bytes_to_client"], 50_000_000, big)

        # openssl and Chromium (which may open more than one connection).
        verdicts = audit.verdicts_for(sni="www.allowed.test")
        self.assertGreaterEqual(len(verdicts), 2, f"verdicts for www.allowed.test:\n{audit.summary()}")
        for v in verdicts:
            self.assert_verdict(v, "pass")
            self.assertIsNotNone(audit.close_for(v), f"no close record for {v}")
        self.assertTrue(any((v.get("ja4") or "").startswith("t13d") for v in audit.verdicts_for(sni="www.allowed.test")),
                        audit.summary())


if __name__ == "__main__":
    unittest.main()
