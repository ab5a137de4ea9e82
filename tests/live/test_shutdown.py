"""Live: SIGTERM (and SIGINT) while connections are open. sluice exits 0 and writes a close
record (close_reason shutdown) for every flow still open, after its verdict record. A start-up
error (a port on an interface that does not exist) exits 2 with a message."""

import signal
import unittest

import livelab as L

OPEN = 20


def setUpModule():
    L.lab_up_for_module()


def tearDownModule():
    L.lab_down_quietly()


class Shutdown(L.LiveTestCase):
    def check_shutdown(self, sig: int) -> None:
        self.start_sluice()
        staff = L.Holder("hold-tls", str(OPEN), "allowed.test", str(L.CA))
        self.addCleanup(staff.close)
        guest = L.Holder("hold-tls", "3", "www.allowed.test", str(L.CA), L.GUEST_IP)
        self.addCleanup(guest.close)
        self.assertEqual(len(staff.ports), OPEN)
        self.assert_alive()
        rc = self.sluice.stop(sig)
        self.assertEqual(rc, 0, f"exit code after signal {sig}:\n{self.sluice.stderr()[-4000:]}")
        audit = L.Audit(self.audit_path)
        for holder, sni, client in ((staff, "allowed.test", L.STAFF_IP), (guest, "www.allowed.test", L.GUEST_IP)):
            for port in holder.ports:
                v = [r for r in audit.by_client_port(port) if r["client_ip"] == client]
                self.assertEqual(len(v), 1, f"verdict for {client}:{port}\n{audit.summary()}")
                self.assertEqual(v[0]["sni"], sni)
                self.assert_verdict(v[0], "pass")
                c = audit.close_for(v[0])
                self.assertIsNotNone(c, f"no close record for open flow {client}:{port}\n{audit.summary()}")
                self.assertEqual(c["close_reason"], "shutdown", c)
                self.assertGreater(c["packets_to_client"], 0, c)

    def test_sigterm_with_open_connections(self):
        self.check_shutdown(signal.SIGTERM)

    def test_sigint_with_open_connections(self):
        self.check_shutdown(signal.SIGINT)

    def test_start_up_error_exits_2(self):
        config = L.derive_config(self.workdir, file_prefix=self.file_prefix)
        config.write_text(config.read_text().replace("iface=sl-in,", "iface=sl-absent,"))
        r = L.run_client([L.SLUICE, "run", "--config", str(config)], ns=L.APP_NS, timeout=60)
        self.assertEqual(r.returncode, 2, f"a port on a missing interface: {L.describe(r)}")
        self.assertTrue(r.stderr.strip(), "exit 2 needs a message on stderr")


if __name__ == "__main__":
    unittest.main()
