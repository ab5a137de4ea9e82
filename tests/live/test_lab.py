"""The lab itself, without sluice: with a kernel bridge in the appliance namespace every client
the live tests use reaches nginx, by name, trusting the test CA. This proves the addresses, the
CA, the name resolution and nginx, so a failure in the other live tests is sluice's. Also: `down`
leaves nothing behind, and `up` recovers from a crashed run."""

import json
import subprocess
import unittest
from pathlib import Path

import livelab as L


def setUpModule():
    L.lab_up_for_module("--kernel-bridge")


def tearDownModule():
    L.lab_down_quietly()


class KernelBridgeLab(unittest.TestCase):
    def test_check_script(self):
        L.lab("check")

    def test_curl_both_client_addresses_by_name(self):
        for source in (L.STAFF_IP, L.GUEST_IP):
            for name in ("allowed.test", "blocked.test", "guest-blocked.test", "badblocked.test"):
                before = L.access_log_size()
                r = L.curl(f"https://{name}/hello", source=source)
                self.assertEqual(r.returncode, 0, L.describe(r))
                self.assertIn(f"sni={name}".encode(), r.stdout)
                log = L.access_log_since(before)
                self.assertIn(f'client={source}:{L.curl_port(r)}', log)
                self.assertIn(f'sni="{name}" host="{name}"', log)

    def test_second_server_address_without_sni(self):
        for address in (L.SERVER_IP, L.SERVER_IP2):
            r = L.openssl_get(address, None)
            self.assertEqual(r.returncode, 0, L.describe(r))
            self.assertIn(b"sluice-lab hello", r.stdout)

    def test_openssl_python_chromium(self):
        r = L.openssl_get(L.SERVER_IP, "www.allowed.test")
        self.assertEqual(r.returncode, 0, L.describe(r))
        self.assertIn(b"sni=www.allowed.test", r.stdout)
        r = L.python_get("https://allowed.test/hello", source=L.GUEST_IP)
        self.assertEqual(r.returncode, 0, L.describe(r))
        self.assertIn("sni=allowed.test", json.loads(r.stdout)["body"])
        profile = Path(subprocess.check_output(["mktemp", "-d"], text=True).strip())
        try:
            r = L.chromium_dom("https://www.allowed.test/", profile)
            self.assertIn(b"sluice-lab-page", r.stdout, L.describe(r))
        finally:
            subprocess.run(["rm", "-rf", str(profile)])

    def test_h2load_one_request_per_connection(self):
        r, counts = L.h2load("https://load.test/hello", 200, rate=50, rate_period="100ms")
        self.assertEqual(counts.get("succeeded"), 200, L.describe(r))


class LabLifecycle(unittest.TestCase):
    def test_up_cleans_a_crashed_run_and_down_leaves_nothing(self):
        # A crashed run: the lab is up, with an extra process inside a namespace.
        stray = subprocess.Popen(L.in_ns(L.APP_NS, ["sleep", "600"]))
        try:
            L.lab("up", "--kernel-bridge")
            self.assertIsNotNone(stray.wait(timeout=10), "up must end processes left in the lab")
            L.lab("check")
            L.lab("down")
            names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
            for ns in (L.CLI_NS, L.APP_NS, L.SRV_NS):
                self.assertNotRegex(names, rf"(?m)^{ns}\b")
                self.assertFalse(Path(f"/etc/netns/{ns}").exists())
            self.assertFalse(L.STATE.exists())
            links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
            self.assertNotIn("sl-", links)
        finally:
            if stray.poll() is None:
                stray.kill()
            L.lab("up", "--kernel-bridge")  # for the other tests of this module


if __name__ == "__main__":
    unittest.main()
