"""Live: policy reload (SIGHUP) under steady load. h2load makes hundreds of new TLS connections
a second through `sluice run` while the test rewrites a list file and sends SIGHUP several times
(and moves the audit file away once, as logrotate would): no connection fails, every connection
has its audit records, and afterwards the new list applies. A broken policy is refused and the
running one stays."""

import os
import signal
import threading
import time
import unittest

import livelab as L

CONNECTIONS = int(os.environ.get("SLUICE_LIVE_LOAD_CONNECTIONS", "2400"))
RATE_PER_100MS = int(os.environ.get("SLUICE_LIVE_LOAD_RATE", "30"))  # 300 connections/s
RELOADS = 6


def setUpModule():
    L.lab_up_for_module()


def tearDownModule():
    L.lab_down_quietly()


class Reload(L.LiveTestCase):
    def write_list(self, name: str, lines: list[str]) -> None:
        """Replaces a list file at once (write and rename), as a careful admin tool would."""
        tmp = self.lists / f".{name}.new"
        tmp.write_text("".join(f"{line}\n" for line in lines))
        os.replace(tmp, self.lists / name)

    def wait_blocked(self, url: str, seconds: float = 15) -> "L.subprocess.CompletedProcess":
        """Polls until a connection to URL is reset (a reload takes effect asynchronously)."""
        deadline = time.monotonic() + seconds
        while True:
            r = L.curl(url)
            if r.returncode != 0 or time.monotonic() > deadline:
                return r
            time.sleep(0.5)

    def test_reload_under_load_loses_no_connection(self):
        self.start_sluice()
        r = L.curl("https://reload.test/hello")
        self.assert_passed(r, "reload.test before it is listed")

        result = {}
        load = threading.Thread(target=lambda: result.update(
            zip(("run", "counts"), L.h2load("https://load.test/hello", CONNECTIONS,
                                            rate=RATE_PER_100MS, rate_period="100ms"))))
        load.start()
        moved = self.workdir / "audit.jsonl.moved"
        time.sleep(1)
        for i in range(RELOADS):
            with_reload = i % 2 == 0 or i == RELOADS - 1
            self.write_list("blocklist.txt", [".blocked.test"] + (["reload.test"] if with_reload else []))
            if i == 2:
                self.assertTrue(self.audit_path.exists(), "no audit file while flows ran")
                os.replace(self.audit_path, moved)  # logrotate: SIGHUP reopens the path
            self.sluice.send(signal.SIGHUP)
            time.sleep(0.8)
            self.assert_alive()
        load.join(timeout=600)
        self.assertFalse(load.is_alive(), "h2load did not finish")
        run, counts = result["run"], result["counts"]
        self.assertEqual(counts.get("succeeded"), CONNECTIONS,
                         f"connections that failed during the reloads: {counts}\n{L.describe(run)}"
                         f"\n--- sluice stderr (tail)\n{self.sluice.stderr()[-2000:]}")

        r = self.wait_blocked("https://reload.test/hello")
        self.assert_reset(r, "reload.test after it was added to the block list and SIGHUP")
        reload_port = L.curl_port(r)
        self.assert_reset(L.curl("https://blocked.test/hello"), "blocked.test after the reloads")
        self.assert_passed(L.curl("https://allowed.test/hello"), "allowed.test after the reloads")

        audit = self.stop_sluice()
        self.assertTrue(moved.exists() and self.audit_path.exists(),
                        "after the audit file was moved away, SIGHUP should reopen the path")
        load_verdicts = audit.verdicts_for(sni="load.test")
        self.assertEqual(len(load_verdicts), CONNECTIONS,
                         f"one verdict record per h2load connection\n{audit.summary()}")
        unclosed = [v for v in load_verdicts if audit.close_for(v) is None]
        self.assertEqual(unclosed, [], "every connection needs its close record")
        for v in load_verdicts:
            self.assert_verdict(v, "pass")
        last = audit.by_client_port(reload_port)
        self.assertEqual(len(last), 1, audit.summary())
        self.assertEqual(last[0]["sni"], "reload.test")
        self.assert_verdict(last[0], "block", "test-blocklist", "blocklist.txt")

    def test_broken_policy_is_refused_and_the_running_one_stays(self):
        self.start_sluice()
        # A list that cannot be read.
        os.replace(self.lists / "blocklist.txt", self.workdir / "blocklist.away")
        self.sluice.send(signal.SIGHUP)
        time.sleep(2)
        self.assert_alive()
        self.assert_reset(L.curl("https://blocked.test/hello"), "blocked.test with the old policy")
        self.assert_passed(L.curl("https://allowed.test/hello"), "allowed.test with the old policy")
        os.replace(self.workdir / "blocklist.away", self.lists / "blocklist.txt")
        # A list that does not parse.
        self.write_list("blocked-ips.txt", ["10.0.0.300/33"])
        self.sluice.send(signal.SIGHUP)
        time.sleep(2)
        self.assert_alive()
        r = L.openssl_get(L.SERVER_IP2, None)
        self.assertNotEqual(r.returncode, 0, f"no-SNI to {L.SERVER_IP2}: old policy should still block: "
                                             f"{L.describe(r)}")
        err = self.sluice.stderr()
        self.assertIn("blocklist.txt", err, "the refused reload should say which file failed")
        self.assertIn("blocked-ips.txt", err, "the refused reload should say which file failed")
        self.stop_sluice()


if __name__ == "__main__":
    unittest.main()
