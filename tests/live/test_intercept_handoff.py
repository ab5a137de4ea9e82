"""Interception handoff end to end (docs/design.md, "Interception handoff"): sluice bridges the
lab with its `intercept:` section on; its net_tap port is moved into the appliance namespace by
deploy/appliance/sluice-appliance-netns.sh (the script the appliance's systemd unit runs), where
handoff_tls_server (tests/interceptor/handoff/: the real HandoffReceiver and adopt(), OpenSSL with
the lab CA's certificate) stands in for sluice-intercept. Real curl, openssl s_client and h2load
connect to intercepted.test (policy: intercept) and must finish TLS with the adopting process,
with no reset on the client's wire and nothing of theirs in nginx's log; the audit says
intercept / handed_off. The appliance's own connection to nginx leaves through the TAP and the
outside port uninspected. Without the interceptor's heartbeat the fallback applies.

SLUICE_LIVE_HANDOFF_CONNECTIONS sizes the concurrency test (default 1000).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import unittest
from pathlib import Path

import livelab
from livelab import (APP_NS, CA, CLI_NS, SERVER_IP, SERVER_IP6, SRC, STAFF_IP6, STATE, LiveTestCase,
                     access_log_since, access_log_size, curl, curl_port, describe, h2load, in_ns,
                     openssl_get)

APPLIANCE_NS = "sluice-appliance"
APPLIANCE_ADDRESS = "10.0.0.250"
APPLIANCE_ADDRESS6 = "fd00:5c::250"  # intercept.address6: IPv6 flows are handed over too
TPROXY_PORT = 15001            # sluice-intercept's listen.transparent in the appliance namespace
REMOTE_SITE = "10.9.0.0/24"    # a site without an inline box, routed to the appliance
NETNS_SCRIPT = SRC / "deploy" / "appliance" / "sluice-appliance-netns.sh"
SERVER_BIN = os.environ.get("SLUICE_HANDOFF_SERVER_BIN",
                            str(SRC / "build" / "tests" / "handoff_tls_server"))
NAME = "intercepted.test"
CONNECTIONS = int(os.environ.get("SLUICE_LIVE_HANDOFF_CONNECTIONS", "1000"))


def setUpModule():
    livelab.lab_up_for_module()


def tearDownModule():
    livelab.lab_down_quietly()  # also removes the appliance namespace


def appliance_netns(*args: str) -> None:
    """The deploy script; sluice (and so the TAP it creates) runs in the lab's namespace."""
    r = subprocess.run(["bash", str(NETNS_SCRIPT), *args, "--from-netns", APP_NS], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"sluice-appliance-netns.sh {' '.join(args)}: {r.returncode}\n"
                             f"{r.stdout}{r.stderr}")


class RstWatch:
    """tcpdump on the client's own interface (TCP, kept with the test's files on failure):
    resets() lists every TCP reset the client received."""

    def __init__(self, workdir: Path):
        self.path = workdir / "client.pcap"
        self.log = workdir / "tcpdump.log"
        self.proc = subprocess.Popen(
            in_ns(CLI_NS, ["tcpdump", "-i", "sl-c", "-U", "-n", "-Z", "root", "-s", "128",
                           "-w", str(self.path), "tcp"]),
            stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "listening on" not in self.log.read_text(errors="replace"):
            time.sleep(0.1)

    def resets(self) -> list[str]:
        time.sleep(1)
        self.proc.terminate()
        self.proc.wait(timeout=10)
        # tcp[] indexes IPv4 only; over IPv6 the flags byte is at 40 + 13 (no extension headers).
        r = subprocess.run(["tcpdump", "-n", "-r", str(self.path),
                            f"(tcp[tcpflags] & tcp-rst != 0 and dst host {livelab.STAFF_IP}) or "
                            f"(ip6 and ip6[6] == 6 and ip6[53] & 4 != 0 and dst host {STAFF_IP6})"],
                           capture_output=True, text=True)
        return [line for line in r.stdout.splitlines() if line.strip()]


class InterceptLab(LiveTestCase):
    """sluice with its `intercept:` section and the appliance namespace; start_interceptor()
    starts the stand-in (test_intercept_e2e.py starts sluice-intercept instead). No tests."""

    def start_with_interception(self, config_edit=None) -> None:
        """CONFIG_EDIT (text -> text), when given, changes the configuration further."""
        self.start_sluice(config_edit=lambda text: (config_edit or (lambda t: t))(self.enable_intercept(text)))
        appliance_netns("up", "--address", f"{APPLIANCE_ADDRESS}/16",
                        "--client-route", "10.0.1.0/24", "--client-route", "10.0.2.0/24",
                        "--address6", f"{APPLIANCE_ADDRESS6}/64", "--client-route6", "fd00:5c::1:0/112",
                        # A remote site's connections, routed here by the server namespace
                        # (test_intercept_e2e.py's TPROXY test), answer through the gateway.
                        "--gateway", SERVER_IP, "--tproxy", str(TPROXY_PORT),
                        "--tproxy-from", REMOTE_SITE)
        self.interceptor = None

    @staticmethod
    def enable_intercept(text: str) -> str:
        for pattern, repl in ((r'^  # - name: tap\n  #   device: (.*)\n', r'  - name: tap\n    device: \1\n'),
                              # A longer liveness than the 2 s default: on this 2-CPU box a
                              # thousand handshakes in the stand-in can delay its heartbeats.
                              (r'^# intercept:\n#   port: tap\n#   address: (\S+)\n#   address6: (\S+)\n',
                               r'intercept:\n  port: tap\n  address: \1\n  address6: \2\n'
                               r'  handoff: {liveness: 10s}\n')):
            text, n = re.subn(pattern, repl, text, count=1, flags=re.M)
            if n != 1:
                raise AssertionError(f"sluice-test-namespaces.yaml: no match for {pattern!r}")
        return text

    def start_interceptor(self) -> None:
        out = open(self.workdir / "interceptor.out", "wb")
        self.interceptor = subprocess.Popen(
            in_ns(APPLIANCE_NS, [SERVER_BIN, str(STATE / "ca" / "server.crt"),
                                 str(STATE / "ca" / "server.key"), APPLIANCE_ADDRESS,
                                 "169.254.77.1", "7301"]),
            stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_interceptor)
        self.wait_for_heartbeat()

    def wait_for_heartbeat(self) -> None:
        """Ready once sluice has counted a heartbeat (and the liveness window is open)."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if (livelab.counter_total(self.sluice.telemetry(), "heartbeats_received") or 0) > 0:
                return
            if self.interceptor.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no interceptor heartbeat reached sluice:\n{self.interceptor_output()}"
                             f"\n--- sluice\n{self.sluice.stderr()[-3000:]}")

    def stop_interceptor(self) -> str:
        if self.interceptor is not None and self.interceptor.poll() is None:
            self.interceptor.terminate()
            self.interceptor.wait(timeout=30)
        return self.interceptor_output()

    def interceptor_output(self) -> str:
        try:
            return (self.workdir / "interceptor.out").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stats(self) -> dict:
        return self.sluice.telemetry()



class InterceptHandoff(InterceptLab):

    def test_clients_finish_tls_with_the_adopting_process(self):
        self.start_with_interception()
        self.start_interceptor()
        watch = RstWatch(self.workdir)
        log_from = access_log_size()

        r = curl(f"https://{NAME}/hello")
        self.assertEqual(r.returncode, 0, f"curl to {NAME} through the handoff: {describe(r)}\n"
                         f"--- interceptor\n{self.interceptor_output()}")
        self.assertIn(b"adopted flow=", r.stdout)
        self.assertIn(f"sni={NAME}".encode(), r.stdout)
        curl_client_port = curl_port(r)

        o = openssl_get(NAME, NAME)
        self.assertEqual(o.returncode, 0, f"openssl s_client: {describe(o)}")
        self.assertIn(b"adopted flow=", o.stdout)

        # A passed name still reaches nginx, and the appliance's own connection (the way
        # sluice-intercept reaches servers) leaves through the TAP and the outside port.
        p = curl("https://allowed.test/hello")
        self.assertEqual(p.returncode, 0, describe(p))
        self.assertIn(b"sluice-lab hello", p.stdout)
        own = livelab.run_client(["curl", "-sS", "--max-time", "20", "--cacert", str(CA),
                                  "--resolve", f"{NAME}:443:{SERVER_IP}", f"https://{NAME}/hello"],
                                 ns=APPLIANCE_NS)
        self.assertEqual(own.returncode, 0, f"the appliance's own connection to nginx: {describe(own)}")
        self.assertIn(f"sluice-lab hello host={NAME} sni={NAME}".encode(), own.stdout)

        resets = watch.resets()
        self.assertEqual(resets, [], "the client saw resets")
        log = access_log_since(log_from)
        client_lines = [l for l in log.splitlines() if NAME in l and APPLIANCE_ADDRESS not in l]
        self.assertEqual(client_lines, [], f"nginx saw an intercepted client's connection:\n{log}")
        self.assertIn(f"client={APPLIANCE_ADDRESS}", log, "the appliance's own request is missing")

        for name, at_least in (("handoffs_sent", 2), ("handoff_server_resets", 2),
                               ("handoff_to_interceptor", 2), ("handoff_to_client", 2),
                               ("heartbeats_received", 1), ("appliance_out", 1), ("appliance_in", 1)):
            self.assertGreaterEqual(self.wait_counter(name, at_least), at_least,
                                    f"{name} in {self.stats()}")
        out = self.stop_interceptor()
        self.assertIn("adopt_failed=0", out, out)
        self.assertIn("tls_failed=0", out, out)

        audit = self.stop_sluice()
        mine = audit.by_client_port(curl_client_port)
        self.assertEqual(len(mine), 1, audit.summary())
        self.assert_verdict(mine[0], "intercept", rule="intercept-list")
        self.assertEqual(mine[0].get("handoff"), "handed_off", mine[0])
        close = audit.close_for(mine[0])
        self.assertIsNotNone(close, audit.summary())
        self.assertEqual(close.get("handoff"), "handed_off", close)
        self.assertEqual(audit.verdicts_for(client_ip=APPLIANCE_ADDRESS), [],
                         "the appliance's own connection must not be inspected")

    def test_ipv6_clients_finish_tls_with_the_adopting_process(self):
        self.start_with_interception()
        self.start_interceptor()
        watch = RstWatch(self.workdir)
        log_from = access_log_size()
        r = curl(f"https://{NAME}/hello", "--resolve", f"{NAME}:443:[{SERVER_IP6}]")
        self.assertEqual(r.returncode, 0, f"curl over IPv6 through the handoff: {describe(r)}\n"
                         f"--- interceptor\n{self.interceptor_output()}\n--- sluice\n{self.sluice.stderr()[-2000:]}")
        self.assertIn(b"adopted flow=", r.stdout)
        client_port = curl_port(r)
        # The appliance's own IPv6 connection leaves through the TAP and the outside port
        # (its neighbour discovery too), uninspected.
        own = livelab.run_client(["curl", "-sS", "--max-time", "20", "--cacert", str(CA),
                                  "--resolve", f"{NAME}:443:[{SERVER_IP6}]", f"https://{NAME}/hello"],
                                 ns=APPLIANCE_NS)
        self.assertEqual(own.returncode, 0, f"the appliance's own IPv6 connection to nginx: {describe(own)}")
        self.assertIn(f"sluice-lab hello host={NAME} sni={NAME}".encode(), own.stdout)

        self.assertEqual(watch.resets(), [], "the client saw resets")
        log = access_log_since(log_from)
        self.assertNotIn(f"client={STAFF_IP6}", log, "nginx saw the intercepted client's connection")
        self.assertIn(f"client={APPLIANCE_ADDRESS6}", log, "the appliance's own request is missing")
        out = self.stop_interceptor()
        self.assertIn("adopt_failed=0", out, out)
        self.assertIn("tls_failed=0", out, out)
        audit = self.stop_sluice()
        mine = audit.by_client_port(client_port)
        self.assertEqual(len(mine), 1, audit.summary())
        self.assert_verdict(mine[0], "intercept", rule="intercept-list")
        self.assertEqual(mine[0].get("handoff"), "handed_off", mine[0])
        self.assertEqual(mine[0].get("client_ip"), STAFF_IP6, mine[0])
        self.assertEqual(audit.verdicts_for(client_ip=APPLIANCE_ADDRESS6), [],
                         "the appliance's own connection must not be inspected")

    def test_chromium_hello_in_two_segments(self):
        # Chromium's post-quantum key share makes a ~1.8 KB hello: two TCP segments held, and a
        # handoff datagram in two IP fragments.
        self.start_with_interception()
        self.start_interceptor()
        watch = RstWatch(self.workdir)
        log_from = access_log_size()
        r = livelab.chromium_dom(f"https://{NAME}/hello", self.workdir / "chromium-profile")
        self.assertEqual(r.returncode, 0, describe(r))
        self.assertIn(b"adopted flow=", r.stdout, describe(r))
        self.assertEqual(watch.resets(), [])
        self.assertNotIn(NAME, access_log_since(log_from))
        self.wait_counter("handoffs_sent", 1)
        self.assertGreater(self.counter("handoff_fragments"), self.counter("handoffs_sent"),
                           "some handoff took more than one fragment")
        audit = self.stop_sluice()
        handed = [v for v in audit.verdicts if v.get("handoff") == "handed_off"]
        self.assertTrue(handed, audit.summary())
        self.assertTrue(all("TLSv1.3" in v.get("tls_versions", []) for v in handed), handed)

    def test_without_the_interceptor_the_fallback_applies(self):
        self.start_with_interception()  # no interceptor: no heartbeat
        log_from = access_log_size()
        r = curl(f"https://{NAME}/hello")
        self.assertEqual(r.returncode, 0, describe(r))
        self.assertIn(f"sluice-lab hello host={NAME}".encode(), r.stdout,
                      "intercept_fallback is pass: nginx answers")
        self.assertIn(f'sni="{NAME}"', access_log_since(log_from))
        self.assertEqual(self.wait_counter("handoff_interceptor_absent", 1), 1)
        audit = self.stop_sluice()
        v = audit.by_client_port(curl_port(r))
        self.assertEqual(len(v), 1, audit.summary())
        self.assertEqual(v[0].get("verdict"), "pass", v[0])
        self.assertEqual(v[0].get("handoff"), "fallback_interceptor_absent", v[0])

    def test_many_concurrent_handoffs_without_a_reset(self):
        self.start_with_interception()
        self.start_interceptor()
        watch = RstWatch(self.workdir)
        log_from = access_log_size()
        r, counts = h2load(f"https://{NAME}/hello", CONNECTIONS, timeout=600)
        resets = watch.resets()
        self.assertEqual(counts.get("succeeded"), CONNECTIONS,
                         f"h2load over {CONNECTIONS} intercepted connections: {counts}\n{describe(r)}"
                         f"\n--- interceptor (tail)\n{self.interceptor_output()[-2000:]}")
        self.assertEqual(resets, [], f"{len(resets)} resets reached the client")
        self.assertNotIn(NAME, access_log_since(log_from))
        self.assertGreaterEqual(self.wait_counter("handoffs_sent", CONNECTIONS), CONNECTIONS)
        out = self.stop_interceptor()
        self.assertIn("adopt_failed=0", out, out[-2000:])
        # How many client segments came before their adoption and were dropped (retransmitted).
        nft = subprocess.run(in_ns(APPLIANCE_NS, ["nft", "list", "table", "inet", "sluice_appliance"]),
                             capture_output=True, text=True).stdout
        early = re.search(r"counter packets (\d+) .*not adopted yet", nft)
        audit = self.stop_sluice()
        handed = [v for v in audit.verdicts if v.get("handoff") == "handed_off"]
        self.assertEqual(len(handed), CONNECTIONS, audit.summary())
        print(f"\n{CONNECTIONS} concurrent intercepted connections handed off, "
              f"h2load: {counts}; client segments dropped before adoption: "
              f"{early.group(1) if early else '?'}", flush=True)


if __name__ == "__main__":
    unittest.main()
