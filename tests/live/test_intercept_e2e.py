"""Interception end to end with the real parts: sluice bridges the lab with its `intercept:`
section on, and sluice-intercept itself (not a stand-in) runs in the appliance namespace, taking
the flows sluice hands over (`handoff.listen`), reaching nginx through the TAP and the outside
port, and reporting certificate rejections to sluice's API (`learning.api`).

- curl trusting only the school CA downloads the lab's 50 MB file from intercepted.test: it gets
  it byte for byte (so the certificate it accepted was issued by the school CA), sees no reset,
  nginx sees only the appliance's address, and both audits record it (sluice: intercept /
  handed_off; sluice-intercept: the HTTP request).
- openssl s_client trusting only the lab CA stands for an app that pins: it refuses the forged
  certificate three times, sluice-intercept reports each refusal, sluice learns a bypass for
  (intercepted.test, its JA4), and its next connection passes untouched (it verifies nginx's
  real certificate) while curl, another JA4, is still intercepted.
- The same through the explicit proxy (CONNECT to the server's IP address, the SNI judged from
  the peeked hello), whose flows the dataplane never judges: sluice-intercept follows the bypass
  table sluice learned (`learning.bypass_refresh`) and splices the pinning app's next CONNECT,
  while curl through the proxy is still bumped.
- QUIC cannot be intercepted: with `policy.quic.fallback_for_intercept`, headless Chromium
  trusting the school CA (its NSS database) learns from the site's Alt-Svc header on a first
  visit that it offers HTTP/3; on the next visit its QUIC attempt is blocked by that rule and it
  comes back over TCP, where the flow is handed to sluice-intercept and bumped: the page arrives,
  sluice's audit holds both flows of that visit with the same SNI, and the interceptor's audit
  holds the request.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import time
import unittest
from pathlib import Path

import livelab
from livelab import STATE, access_log_since, access_log_size, describe, in_ns, openssl_get
from test_intercept_handoff import (APPLIANCE_ADDRESS, APPLIANCE_ADDRESS6, APPLIANCE_NS, NAME,
                                    REMOTE_SITE, TPROXY_PORT, InterceptLab, RstWatch)

PROXY = "127.0.0.1:3128"  # the explicit proxy, in the appliance namespace
INTERCEPT_BIN = os.environ.get(
    "SLUICE_INTERCEPT_BIN",
    str(Path(livelab.SLUICE).resolve().parents[2] / "interceptor" / "sluice-intercept"))


def setUpModule():
    livelab.lab_up_for_module()


def tearDownModule():
    livelab.lab_down_quietly()


class SluiceInterceptBehindTheDataplane(InterceptLab):

    def start_interceptor(self, explicit: bool = False, tproxy: bool = False) -> None:
        """The real sluice-intercept with a school CA of its own making; EXPLICIT: also the
        explicit proxy on PROXY in the appliance namespace, reading the bypass table often;
        TPROXY: also the transparent listener the namespace's TPROXY rules feed."""
        self.school = self.workdir / "school-ca"
        made = subprocess.run([INTERCEPT_BIN, "ca", "init", "--dir", str(self.school)],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(made.returncode, 0, made.stderr)
        self.intercept_audit = self.workdir / "intercept-audit.jsonl"
        self.intercept_stats = self.workdir / "intercept-stats.json"
        config = self.workdir / "intercept.yaml"
        listen = "".join([f"  explicit: {PROXY}\n" if explicit else "",
                          f"  transparent: 0.0.0.0:{TPROXY_PORT}\n" if tproxy else ""])
        listen = f"listen:\n{listen}" if listen else ""
        refresh = "  bypass_refresh: 300ms\n" if explicit else ""
        config.write_text(f"""threads: 2
{listen}handoff:
  listen: {APPLIANCE_ADDRESS}:7301
  dataplane: 169.254.77.1
ca_dir: {self.school}
policy_config: {self.sluice.config}
upstream:
  extra_ca_files: [{STATE / "ca" / "ca.crt"}]
audit:
  file: {self.intercept_audit}
learning:
  api: unix:{self.workdir / "api.sock"}
{refresh}stats:
  file: {self.intercept_stats}
  interval: 1s
""")
        out = open(self.workdir / "interceptor.out", "wb")
        self.interceptor = subprocess.Popen(
            in_ns(APPLIANCE_NS, [INTERCEPT_BIN, "run", "--config", str(config)]),
            stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_interceptor)
        self.wait_for_heartbeat()

    def school_curl(self, path: str, *extra: str) -> subprocess.CompletedProcess:
        """curl in the client namespace trusting ONLY the school CA."""
        return livelab.run_client(["curl", "-sS", "--max-time", "120", "--cacert",
                                   str(self.school / "ca.crt"), "-w", "\n@@ %{local_port} %{http_code}",
                                   *extra, f"https://{NAME}{path}"], timeout=130)

    def intercept_records(self) -> list[dict]:
        if not self.intercept_audit.exists():
            return []
        return [json.loads(line) for line in self.intercept_audit.read_text().splitlines() if line.strip()]

    def pinned_via_proxy(self) -> subprocess.CompletedProcess:
        """openssl s_client trusting only the lab CA, through the explicit proxy: CONNECT to the
        server's IP address, SNI intercepted.test, one request."""
        argv = ["openssl", "s_client", "-proxy", PROXY, "-connect", f"{livelab.SERVER_IP}:443",
                "-servername", NAME, "-CAfile", str(STATE / "ca" / "ca.crt"),
                "-verify_return_error", "-quiet"]
        req = f"GET /hello HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n"
        return livelab.run_client(argv, ns=APPLIANCE_NS, input=req.encode())

    def wait_learned(self) -> dict:
        deadline = time.monotonic() + 20
        learned = []
        while not learned and time.monotonic() < deadline:
            learned = [e for e in self.api("GET", "/v1/bypass")["entries"] if e["source"] == "learned"]
            time.sleep(0.3)
        self.assertEqual(len(learned), 1, f"nothing learned:\n{self.interceptor_output()[-3000:]}")
        self.assertEqual(learned[0]["name"], NAME)
        self.assertGreaterEqual(learned[0]["evidence"]["failures"], 3, learned[0])
        return learned[0]

    def interceptor_stat(self, name: str) -> int:
        try:
            return int(json.loads(self.intercept_stats.read_text()).get(name, 0))
        except (FileNotFoundError, ValueError):
            return 0

    def api(self, method: str, path: str) -> dict:
        r = subprocess.run(["curl", "-sS", "--unix-socket", str(self.workdir / "api.sock"), "-X", method,
                            f"http://sluice{path}"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_curl_trusting_the_school_ca_gets_the_content_byte_for_byte(self):
        self.start_with_interception()
        self.start_interceptor()
        watch = RstWatch(self.workdir)
        log_from = access_log_size()
        out = self.workdir / "big.bin"
        r = self.school_curl("/big.bin", "-o", str(out))
        self.assertEqual(r.returncode, 0, f"{describe(r)}\n--- sluice-intercept\n{self.interceptor_output()[-3000:]}")
        h = hashlib.sha256()
        with open(out, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        out.unlink()
        want = (STATE / "www" / "big.bin.sha256").read_text().split()[0]
        self.assertEqual(h.hexdigest(), want, "the 50 MB file changed on its way through the interceptor")
        port = livelab.curl_port(r)

        self.assertEqual(watch.resets(), [], "the client saw resets")
        log = access_log_since(log_from)
        self.assertIn("big.bin", log)
        strangers = [l for l in log.splitlines() if NAME in l and APPLIANCE_ADDRESS not in l]
        self.assertEqual(strangers, [], f"nginx saw the client itself:\n{log}")

        self.stop_interceptor()
        http = [x for x in self.intercept_records() if x.get("type") == "http"]
        self.assertTrue(any(x.get("host") == NAME and x.get("path") == "/big.bin" and x.get("status") == 200
                            for x in http), http)
        audit = self.stop_sluice()
        mine = audit.by_client_port(port)
        self.assertEqual(len(mine), 1, audit.summary())
        self.assert_verdict(mine[0], "intercept")
        self.assertEqual(mine[0].get("handoff"), "handed_off", mine[0])

    def test_ipv6_client_bumped_upstream_ipv6(self):
        self.start_with_interception()
        self.start_interceptor()
        watch = RstWatch(self.workdir)
        log_from = access_log_size()
        r = self.school_curl("/hello", "--resolve", f"{NAME}:443:[{livelab.SERVER_IP6}]")
        self.assertEqual(r.returncode, 0, f"{describe(r)}\n--- sluice-intercept\n{self.interceptor_output()[-3000:]}")
        self.assertIn(f"sluice-lab hello host={NAME} sni={NAME}".encode(), r.stdout)
        port = livelab.curl_port(r)
        self.assertEqual(watch.resets(), [], "the client saw resets")
        log = access_log_since(log_from)
        self.assertIn(f"client={APPLIANCE_ADDRESS6}", log, "sluice-intercept's IPv6 request is missing")
        self.assertNotIn(f"client={livelab.STAFF_IP6}", log, "nginx saw the client itself")
        self.stop_interceptor()
        http = [x for x in self.intercept_records() if x.get("type") == "http"]
        self.assertTrue(any(x.get("host") == NAME and x.get("path") == "/hello" and x.get("status") == 200
                            for x in http), http)
        audit = self.stop_sluice()
        mine = audit.by_client_port(port)
        self.assertEqual(len(mine), 1, audit.summary())
        self.assertEqual(mine[0].get("client_ip"), livelab.STAFF_IP6, mine[0])
        self.assert_verdict(mine[0], "intercept")
        self.assertEqual(mine[0].get("handoff"), "handed_off", mine[0])
        self.assertEqual(audit.verdicts_for(client_ip=APPLIANCE_ADDRESS6), [],
                         "sluice-intercept's own connection must not be inspected")

    def remote_site(self) -> tuple[str, str]:
        """A site without an inline box (REMOTE_SITE, namespace slr) and a web server elsewhere
        (namespace slw, 10.8.0.1, the lab's certificate), both behind the server namespace,
        which routes the site's connections to the appliance's address, as a router sends a
        site's port 443 to an appliance by policy routing. Returns (client, server) addresses;
        cleanups undo it all."""
        client, server = "10.9.0.2", "10.8.0.1"
        srv = livelab.SRV_NS

        def sh(*argv):
            subprocess.run(list(argv), check=True, capture_output=True, timeout=30)

        for ns, dev, peer, addr, gw in (("slr", "slr0", "sl-r", client, "10.9.0.1"),
                                        ("slw", "slw0", "sl-w", server, "10.8.0.254")):
            sh("ip", "netns", "add", ns)
            self.addCleanup(lambda ns=ns: subprocess.run(["ip", "netns", "del", ns], capture_output=True))
            sh("ip", "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", peer, "netns", srv)
            for n, d, a in ((ns, dev, addr), (srv, peer, gw)):
                sh("ip", "-n", n, "link", "set", d, "addrgenmode", "none")
                sh("ip", "netns", "exec", n, "ethtool", "-K", d, "tx", "off")
                sh("ip", "-n", n, "addr", "add", f"{a}/24", "dev", d)
                sh("ip", "-n", n, "link", "set", d, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "route", "add", "default", "via", gw)
        sh("ip", "netns", "exec", srv, "sysctl", "-qw", "net.ipv4.ip_forward=1",
           "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.sl-s.rp_filter=0")
        # What comes from the site goes to the appliance; everything else as before.
        sh("ip", "-n", srv, "route", "add", "default", "via", APPLIANCE_ADDRESS, "dev", "sl-s", "table", "77")
        sh("ip", "-n", srv, "rule", "add", "pref", "10", "iif", "sl-r", "lookup", "77")

        def undo():
            subprocess.run(["ip", "-n", srv, "rule", "del", "pref", "10"], capture_output=True)
            subprocess.run(["ip", "-n", srv, "route", "flush", "table", "77"], capture_output=True)
            subprocess.run(["ip", "netns", "exec", srv, "sysctl", "-qw", "net.ipv4.ip_forward=0"],
                           capture_output=True)
        self.addCleanup(undo)
        web = subprocess.Popen(in_ns("slw", ["openssl", "s_server", "-quiet", "-www", "-accept", "443",
                                             "-cert", str(STATE / "ca" / "server.crt"),
                                             "-key", str(STATE / "ca" / "server.key")]),
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (web.kill(), web.wait()))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not subprocess.run(
                in_ns("slw", ["ss", "-Htln", "sport = :443"]), capture_output=True, text=True).stdout.strip():
            time.sleep(0.1)
        return client, server

    def test_remote_site_bumped_via_tproxy(self):
        self.start_with_interception()
        self.start_interceptor(tproxy=True)
        client, server = self.remote_site()
        r = livelab.run_client(["curl", "-sS", "--max-time", "30", "--cacert", str(self.school / "ca.crt"),
                                "-w", "\n@@ %{http_code}", "--resolve", f"{NAME}:443:{server}",
                                f"https://{NAME}/"], ns="slr", timeout=40)
        self.assertEqual(r.returncode, 0, f"curl from the remote site: {describe(r)}\n--- sluice-intercept\n"
                                          f"{self.interceptor_output()[-3000:]}\n--- counters\n{self.stats()}")
        self.assertTrue(r.stdout.endswith(b"@@ 200"), "a page, through a certificate of the school CA")
        self.stop_interceptor()
        records = [x for x in self.intercept_records() if x.get("client") == client]
        self.assertTrue(any(x.get("type") == "http" and x.get("mode") == "tproxy" and x.get("server") == server
                            for x in records), records)
        self.assertGreater(self.counter("appliance_out"), 0)
        audit = self.stop_sluice()
        self.assertEqual(audit.verdicts_for(client_ip=client), [],
                         "the appliance's routed traffic is its own: sluice does not judge it")

    def test_proxy_falls_back_to_a_names_next_address(self):
        # In the appliance namespace (`ip netns exec` mounts /etc/netns/NS/hosts over
        # /etc/hosts) the name has a dead IPv6 address first, as a site whose IPv6 is broken
        # does: nobody answers neighbour discovery for it, so the kernel reports it
        # unreachable, and the interceptor must go on to the IPv4 address.
        hosts = Path("/etc/netns") / APPLIANCE_NS / "hosts"
        hosts.parent.mkdir(parents=True, exist_ok=True)
        hosts.write_text(f"127.0.0.1 localhost\nfd00:5c::99 {NAME}\n{livelab.SERVER_IP} {NAME}\n")
        self.addCleanup(lambda: (hosts.unlink(missing_ok=True), hosts.parent.rmdir()))
        self.start_with_interception()
        self.start_interceptor(explicit=True)
        c = livelab.run_client(["curl", "-sS", "--max-time", "60", "-x", f"http://{PROXY}",
                                "--cacert", str(self.school / "ca.crt"), f"https://{NAME}/hello"],
                               ns=APPLIANCE_NS, timeout=70)
        self.assertEqual(c.returncode, 0, f"CONNECT {NAME}: {describe(c)}\n--- sluice-intercept\n"
                                          f"{self.interceptor_output()[-3000:]}")
        self.assertIn(f"sluice-lab hello host={NAME} sni={NAME}".encode(), c.stdout)
        deadline = time.monotonic() + 10  # the stats file is rewritten every second
        while self.interceptor_stat("connect_fallbacks") < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.interceptor_stat("connect_fallbacks"), 1)
        self.assertEqual(self.interceptor_stat("connect_failures"), 0)
        self.stop_interceptor()
        records = [x for x in self.intercept_records() if x.get("connect_host") == NAME]
        self.assertTrue(records, self.intercept_records())
        self.assertTrue(all(x.get("server") == livelab.SERVER_IP for x in records), records)
        self.assertTrue(all("connect to fd00:5c::99:443: " in x.get("earlier_attempts", "") for x in records),
                        records)
        self.stop_sluice()

    def test_a_pinning_client_is_learned_and_passed_while_curl_stays_intercepted(self):
        self.start_with_interception()
        self.start_interceptor()
        for attempt in range(3):
            o = openssl_get(NAME, NAME)
            self.assertNotEqual(o.returncode, 0, f"attempt {attempt + 1}: the forged certificate was "
                                                 f"accepted by a client that trusts only the lab CA")
        entry = self.wait_learned()

        o = openssl_get(NAME, NAME)
        self.assertEqual(o.returncode, 0, f"the learned app must now pass untouched: {describe(o)}")
        self.assertIn(f"sluice-lab hello host={NAME} sni={NAME}".encode(), o.stdout)
        c = self.school_curl("/hello")
        self.assertEqual(c.returncode, 0, f"curl (another JA4) must still be intercepted: {describe(c)}")

        self.stop_interceptor()
        stats = json.loads(self.intercept_stats.read_text())
        self.assertGreaterEqual(stats.get("client_rejected_certificate", 0), 3, stats)
        self.assertGreaterEqual(stats.get("failure_reports_sent", 0), 3, stats)
        audit = self.stop_sluice()
        verdicts = audit.verdicts_for(sni=NAME)
        passed = [v for v in verdicts if v.get("rule") == "bypass"]
        self.assertEqual(len(passed), 1, audit.summary())
        self.assertEqual(passed[0]["ja4"], entry["ja4"])
        self.assertEqual(passed[0]["verdict"], "pass")
        curl_flows = [v for v in verdicts if v.get("ja4") != entry["ja4"]]
        self.assertTrue(curl_flows and all(v.get("handoff") == "handed_off" for v in curl_flows),
                        audit.summary())

    def test_the_explicit_proxy_follows_the_learned_bypass(self):
        self.start_with_interception()
        self.start_interceptor(explicit=True)
        for attempt in range(3):
            o = self.pinned_via_proxy()
            self.assertNotEqual(o.returncode, 0, f"attempt {attempt + 1}: the forged certificate was "
                                                 f"accepted by a client that trusts only the lab CA")
        entry = self.wait_learned()
        # The stats file (rewritten every second) lags; five reads of the table (300 ms apart)
        # after the entry was seen means one was read after it existed.
        seen = self.interceptor_stat("bypass_refreshes")
        deadline = time.monotonic() + 20
        while self.interceptor_stat("bypass_refreshes") < seen + 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertGreaterEqual(self.interceptor_stat("bypass_refreshes"), seen + 5,
                                f"the bypass table is not being read:\n{self.interceptor_output()[-3000:]}")

        o = self.pinned_via_proxy()
        self.assertEqual(o.returncode, 0, f"the learned app must now pass the proxy untouched: {describe(o)}")
        self.assertIn(f"sluice-lab hello host={NAME} sni={NAME}".encode(), o.stdout)
        c = livelab.run_client(["curl", "-sS", "--max-time", "60", "-x", f"http://{PROXY}",
                                "--cacert", str(self.school / "ca.crt"), "--connect-to",
                                f"{NAME}:443:{livelab.SERVER_IP}:443", f"https://{NAME}/hello"],
                               ns=APPLIANCE_NS, timeout=70)
        self.assertEqual(c.returncode, 0, f"curl (another JA4) through the proxy must still be bumped: "
                                          f"{describe(c)}")

        self.stop_interceptor()
        self.assertGreaterEqual(self.interceptor_stat("bypass_hits"), 1)
        conns = [x for x in self.intercept_records() if x.get("type") == "connection"]
        spliced = [x for x in conns if x.get("rule") == "bypass"]
        self.assertEqual(len(spliced), 1, conns)
        self.assertEqual(spliced[0].get("action"), "splice", spliced[0])
        self.assertEqual(spliced[0].get("list"), f"bypass:{entry['id']}", spliced[0])
        bumped = [x for x in conns if x.get("action") == "bump" and x.get("ja4") != entry["ja4"]]
        self.assertGreaterEqual(len(bumped), 1, conns)
        self.stop_sluice()


    def chromium_trusting_the_school(self, url: str, home: Path) -> subprocess.CompletedProcess:
        """Headless Chromium in the client namespace, QUIC at its defaults, trusting the school
        CA through the NSS database in its HOME (as a managed device would)."""
        nssdb = home / ".pki" / "nssdb"
        if not nssdb.exists():
            nssdb.mkdir(parents=True)
            for argv in (["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"],
                         ["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "school",
                          "-i", str(self.school / "ca.crt")]):
                r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 0, f"{argv}: {r.stderr}")
        argv = ["env", f"HOME={home}", "chromium", "--headless", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={home / 'profile'}",
                f"--host-resolver-rules=MAP {NAME} {livelab.SERVER_IP}", "--dump-dom", url]
        return livelab.run_client(argv, timeout=90)

    def test_chromium_leaves_quic_for_tcp_where_it_is_intercepted(self):
        def fallback_for_intercept(text: str) -> str:
            self.assertIn("\npolicy:\n", text)
            return text.replace("\npolicy:\n", "\npolicy:\n  quic:\n    fallback_for_intercept: true\n", 1)
        self.start_with_interception(config_edit=fallback_for_intercept)
        self.start_interceptor()
        home = self.workdir / "chromium-home"

        r = self.chromium_trusting_the_school(f"https://{NAME}/alt-svc", home)
        self.assertIn(b"sluice-lab-alt-svc", r.stdout,
                      f"{describe(r)}\n--- sluice-intercept\n{self.interceptor_output()[-3000:]}")
        state = home / "profile" / "Default" / "Network Persistent State"
        self.assertTrue(state.exists() and b"quic" in state.read_bytes(),
                        f"Chromium did not remember the Alt-Svc header (through the interceptor): {state}")
        second_visit = datetime.datetime.now(datetime.timezone.utc)
        r = self.chromium_trusting_the_school(f"https://{NAME}/", home)
        self.assertIn(b"sluice-lab-page", r.stdout, describe(r))

        self.stop_interceptor()
        http = [x for x in self.intercept_records() if x.get("type") == "http"]
        self.assertTrue(any(x.get("host") == NAME and x.get("path") == "/" and x.get("status") == 200
                            for x in http), http)
        audit = self.stop_sluice()

        def of_second_visit(records: list[dict]) -> list[dict]:
            return [v for v in records if datetime.datetime.fromisoformat(
                v["ts"].replace("Z", "+00:00")) >= second_visit]

        verdicts = of_second_visit(audit.verdicts_for(sni=NAME))
        quic = [v for v in verdicts if v.get("transport") == "udp"]
        self.assertGreaterEqual(len(quic), 1, f"Chromium did not try QUIC on its second visit:\n"
                                f"{audit.summary()}")
        for v in quic:
            self.assert_verdict(v, "block", "quic_fallback_for_intercept")
        tcp = [v for v in verdicts if v.get("transport") == "tcp"]
        self.assertGreaterEqual(len(tcp), 1, audit.summary())
        for v in tcp:
            self.assert_verdict(v, "intercept")
            self.assertEqual(v.get("handoff"), "handed_off", v)


if __name__ == "__main__":
    unittest.main()
