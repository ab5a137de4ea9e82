"""Live: `sluice run` carries out the policy of deploy/config/sluice-test-namespaces.yaml.
- blocked names: the client is reset, nginx never sees the name, the server's socket is reset
  too, the audit names the rule and the list; subdomains are blocked, look-alikes are not;
- flows without SNI follow the address rules;
- the guest rule applies to the guest subnet only."""

import time
import unittest

import livelab as L


def setUpModule():
    L.lab_up_for_module()


def tearDownModule():
    L.lab_down_quietly()


class Policy(L.LiveTestCase):
    def setUp(self):
        super().setUp()
        self.start_sluice()

    def wait_server_released(self, client_ip: str, port: int) -> list[str]:
        """The server's socket for that client endpoint, if sluice did not reset it: waits up
        to 3 s for it to go."""
        left = L.server_established_from(client_ip, port)
        for _ in range(30):
            if not left:
                break
            time.sleep(0.1)
            left = L.server_established_from(client_ip, port)
        return left

    def test_blocked_names_are_reset_and_never_reach_the_server(self):
        log_start = L.access_log_size()
        blocked_ports = {}
        for name in ("blocked.test", "www.blocked.test", "deep.sub.blocked.test"):
            r = L.curl(f"https://{name}/hello")
            self.assert_reset(r, f"curl https://{name}/hello")
            port = L.curl_port(r)
            self.assertIsNotNone(port, f"curl reported no local port: {L.describe(r)}")
            blocked_ports[port] = name
            self.assertEqual(self.wait_server_released(L.STAFF_IP, port), [],
                             f"the server's side of the blocked connection to {name} was not reset")
        # Look-alikes that are not on a label boundary pass.
        passed_ports = {}
        for name in ("badblocked.test", "allowed.test"):
            r = L.curl(f"https://{name}/hello")
            self.assert_passed(r, f"curl https://{name}/hello")
            self.assertIn(f"sni={name}".encode(), r.stdout)
            passed_ports[L.curl_port(r)] = name
        self.assert_alive()
        audit = self.stop_sluice()

        log = L.access_log_since(log_start)
        for name in blocked_ports.values():
            self.assertNotIn(f'sni="{name}"', log, "a blocked name reached nginx")
            self.assertNotIn(f'host="{name}"', log, "a blocked name reached nginx")
        for port, name in blocked_ports.items():
            verdicts = audit.by_client_port(port)
            self.assertEqual(len(verdicts), 1, f"{name}:\n{audit.summary()}")
            self.assertEqual(verdicts[0]["sni"], name)
            self.assert_verdict(verdicts[0], "block", "test-blocklist", "blocklist.txt")
            self.assertIsNotNone(audit.close_for(verdicts[0]), f"no close record: {verdicts[0]}")
        for port, name in passed_ports.items():
            verdicts = audit.by_client_port(port)
            self.assertEqual(len(verdicts), 1, f"{name}:\n{audit.summary()}")
            self.assertEqual(verdicts[0]["sni"], name)
            self.assert_verdict(verdicts[0], "pass")

    def test_flows_without_sni_follow_the_address_rules(self):
        r = L.openssl_get(L.SERVER_IP2, None)
        self.assertNotEqual(r.returncode, 0, f"no-SNI to {L.SERVER_IP2} should be blocked: {L.describe(r)}")
        self.assertNotIn(b"sluice-lab hello", r.stdout)
        r = L.openssl_get(L.SERVER_IP, None)
        self.assert_passed(r, f"openssl -noservername to {L.SERVER_IP}")
        self.assertIn(b"sluice-lab hello", r.stdout)
        audit = self.stop_sluice()
        # Stray segments of an earlier test's connections (a late FIN or ACK) make midstream
        # flows of their own in this sluice; only connections it saw start are this test's.
        fresh = [v for v in audit.verdicts if "midstream" not in v.get("anomalies", [])]
        to2 = [v for v in fresh if v.get("server_ip") == L.SERVER_IP2 and v.get("server_port") == 443]
        to1 = [v for v in fresh if v.get("server_ip") == L.SERVER_IP and v.get("server_port") == 443]
        self.assertEqual(len(to2), 1, audit.summary())
        self.assertIsNone(to2[0]["sni"], to2[0])
        self.assert_verdict(to2[0], "block", "no-sni-ips", "blocked-ips.txt")
        self.assertEqual(len(to1), 1, audit.summary())
        self.assertIsNone(to1[0]["sni"], to1[0])
        self.assert_verdict(to1[0], "pass", "default_no_sni")

    def test_guest_rule_applies_to_guests_only(self):
        log_start = L.access_log_size()
        r = L.curl("https://guest-blocked.test/hello", source=L.GUEST_IP)
        self.assert_reset(r, "guest curl https://guest-blocked.test/hello")
        guest_port = L.curl_port(r)
        r = L.curl("https://guest-blocked.test/hello", source=L.STAFF_IP)
        self.assert_passed(r, "staff curl https://guest-blocked.test/hello")
        staff_port = L.curl_port(r)
        r = L.curl("https://www.guest-blocked.test/hello", source=L.GUEST_IP)
        self.assert_reset(r, "guest curl https://www.guest-blocked.test/hello")
        audit = self.stop_sluice()
        log = L.access_log_since(log_start)
        self.assertNotIn(f"client={L.GUEST_IP}", log, "a guest's blocked request reached nginx")
        self.assertIn(f'client={L.STAFF_IP}:{staff_port} ', log)
        g = audit.by_client_port(guest_port)
        s = audit.by_client_port(staff_port)
        self.assertEqual(len(g), 1, audit.summary())
        self.assertEqual(len(s), 1, audit.summary())
        self.assertEqual(g[0]["client_ip"], L.GUEST_IP)
        self.assert_verdict(g[0], "block", "guest-only", "guest-blocks.txt")
        self.assertEqual(s[0]["client_ip"], L.STAFF_IP)
        self.assert_verdict(s[0], "pass")


if __name__ == "__main__":
    unittest.main()
