"""Live: sluicectl against `sluice run` in the namespace lab, over the API's unix socket: every
command in table and --json form, the bypass table end to end (a blocked name passes once
bypassed, the entry survives a restart, removing it blocks again), the open-flows sample and
its filters, top names, the live `top` view, and exit codes that mean something."""

import json
import os
import subprocess
import unittest
from pathlib import Path

import livelab as L

SLUICECTL = os.environ.get("SLUICECTL_BIN",
                           str(Path(L.SLUICE).resolve().parents[2] / "ctl" / "sluicectl"))


def setUpModule():
    L.lab_up_for_module()


def tearDownModule():
    L.lab_down_quietly()


class Sluicectl(L.LiveTestCase):
    def setUp(self):
        super().setUp()
        self.start_sluice()

    def ctl(self, *args: str, json_out: bool = False, expect: int | None = 0,
            socket: str | None = None):
        argv = [SLUICECTL, "--socket", socket or str(self.workdir / "api.sock"),
                *(["--json"] if json_out else []), *args]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if expect is not None:
            self.assertEqual(r.returncode, expect,
                             f"{' '.join(args)}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        return json.loads(r.stdout) if json_out and r.returncode == 0 else r

    def test_status_stats_metrics_policy(self):
        r = self.ctl("status")
        self.assertIn("inline mode", r.stdout)
        self.assertIn("inside", r.stdout)
        s = self.ctl("status", json_out=True)
        self.assertEqual(len(s["workers"]), 2)
        self.assertIn("verdict", self.ctl("stats").stdout.lower())
        self.assertIn("totals", self.ctl("stats", json_out=True))
        self.assertIn("sluice_up 1", self.ctl("metrics").stdout)
        self.assertIn("blocklist.txt", self.ctl("policy", "show").stdout)
        r = self.ctl("policy", "reload")
        self.assertIn("published as generation", r.stdout)

    def test_exit_codes(self):
        r = self.ctl("status", expect=3, socket="/nonexistent/api.sock")
        self.assertIn("cannot reach sluice", r.stderr)
        r = self.ctl("bypass", "add", "exa mple.com", expect=1)
        self.assertIn("not a host name", r.stderr)
        self.ctl("bypass", "remove", "999", expect=1)
        self.ctl("flows", "--verdict", "maybe", expect=2)
        self.ctl("nonsense", expect=2)
        self.ctl("names", "--window", "3h", expect=1)

    def test_bypass_passes_a_blocked_name_and_survives_a_restart(self):
        self.assert_reset(L.curl("https://blocked.test/hello"), "blocked before the bypass")
        r = self.ctl("bypass", "add", ".blocked.test", "--reason", "exam board app", "--ttl", "1h",
                     json_out=True)
        entry_id = r["id"]
        self.assertEqual(r["name"], ".blocked.test")
        passed = L.curl("https://www.blocked.test/hello")
        self.assert_passed(passed, "a bypassed name")
        listed = self.ctl("bypass", "list").stdout
        self.assertIn("exam board app", listed)
        r = self.ctl("bypass", "add", "blocked.test", "--ja4", "t13d", expect=1)
        self.assertIn("ja4: 't13d' is not a JA4 fingerprint", r.stderr)
        app = "t13d1311h1_e8f1e7e78f70_1f22a2ca17c4"
        one_app = self.ctl("bypass", "add", "pinned.blocked.test", "--ja4", app, json_out=True)
        self.assertEqual(one_app["ja4"], app)
        self.assertIn(app, self.ctl("bypass", "list").stdout)
        self.assertIn("learning: 3 certificate rejections", self.ctl("bypass", "list").stdout)
        self.ctl("bypass", "remove", str(one_app["id"]))

        # A restart (same configuration and state file) keeps it, and it still decides.
        self.stop_sluice()
        self.sluice.start()
        entries = self.ctl("bypass", "list", json_out=True)["entries"]
        self.assertEqual([e["id"] for e in entries], [entry_id])
        self.assert_passed(L.curl("https://blocked.test/hello"), "bypassed after a restart")

        self.ctl("bypass", "remove", str(entry_id))
        self.assert_reset(L.curl("https://blocked.test/hello"), "blocked again once removed")
        audit = self.stop_sluice()
        rules = [r.get("rule") for r in audit.verdicts_for(sni="www.blocked.test")]
        self.assertIn("bypass", rules, audit.summary())

    def test_policy_upload_with_progress_then_reload(self):
        new_list = self.workdir / "new-blocklist.txt"
        new_list.write_text("# uploaded by sluicectl\n.blocked.test\n.allowed.test\n")
        r = self.ctl("policy", "upload", "blocklist.txt", str(new_list), "--reload")
        self.assertIn("entries", r.stdout)
        self.assertIn("published as generation 2", r.stdout)
        self.assert_reset(L.curl("https://allowed.test/hello"), "a name the uploaded list blocks")
        bad = self.workdir / "bad.txt"
        bad.write_text("good.example\nexa mple.com\n")
        r = self.ctl("policy", "upload", "blocklist.txt", str(bad), expect=1)
        self.assertIn(":2", r.stderr)  # the line that is wrong
        self.assert_reset(L.curl("https://allowed.test/hello"), "the refused upload changed nothing")

    def test_flows_names_and_top(self):
        staff = L.Holder("hold-tls", "5", "allowed.test", str(L.CA))
        self.addCleanup(staff.close)
        guest = L.Holder("hold-tls", "2", "www.allowed.test", str(L.CA), L.GUEST_IP)
        self.addCleanup(guest.close)
        flows = self.ctl("flows", "--sni", ".allowed.test", json_out=True)
        ports = {(f["client_ip"], f["client_port"]) for f in flows["flows"]}
        for p in staff.ports:
            self.assertIn((L.STAFF_IP, p), ports, flows)
        for p in guest.ports:
            self.assertIn((L.GUEST_IP, p), ports, flows)
        only_guest = self.ctl("flows", "--client", "10.0.2.0/24", json_out=True)["flows"]
        self.assertTrue(only_guest)
        self.assertTrue(all(f["client_ip"] == L.GUEST_IP for f in only_guest), only_guest)
        self.assertEqual(self.ctl("flows", "--verdict", "block", "--sni", "allowed.test",
                                  json_out=True)["flows"], [])
        table = self.ctl("flows", "--limit", "3").stdout
        self.assertIn("3 shown of", table)

        names = self.ctl("names", "--window", "5m", json_out=True)
        counted = {n["name"]: n["flows"] for n in names["names"]}
        self.assertGreaterEqual(counted.get("allowed.test", 0), 5, names)
        self.assertGreaterEqual(counted.get("www.allowed.test", 0), 2, names)

        r = self.ctl("top", "--iterations", "2", "--interval", "1")
        self.assertIn("flows/s", r.stdout)
        self.assertIn("allowed.test", r.stdout)


if __name__ == "__main__":
    unittest.main()
