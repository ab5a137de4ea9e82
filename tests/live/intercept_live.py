"""Live tests of sluice-intercept with real parts on loopback (and, for TPROXY, a network
namespace with nftables):
  intercept_live.py SLUICE_INTERCEPT_BINARY [ADOPT_PROBE_BINARY] [unittest args...]

Real clients (curl, Python's ssl), real upstream servers (openssl s_server; gnutls-serv for the
RC4-only and 3DES-only ones), a real CA made by
`sluice-intercept ca init`, a tiny HTTP receiver standing in for the control plane's
POST /v1/bypass/failures. Run under `flock /tmp/sluice-live.lock` (ctest: RESOURCE_LOCK).
Exit 77 (skip) when not root (the TPROXY test needs namespaces; the rest needs the lock's
discipline anyway).
"""

import datetime
import fcntl
import hashlib
import http.server
import json
import os
import queue
import shutil
import socket
import ssl
import struct
import subprocess
import termios
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BIN = None
ADOPT_PROBE = None
NEVER_NAME = "adminwebservice.microsoftonline.com"  # an exact entry of never-intercept.list
BASE_PORT = 24400


def free_port_pair(offset):
    return BASE_PORT + offset


# label -> the only bulk cipher (GnuTLS priority name) that upstream accepts.
WEAK_CIPHER_UPSTREAMS = {"rc4_only": "ARCFOUR-128", "3des_only": "3DES-CBC"}


def weak_priority(cipher):
    """A GnuTLS priority string allowing TLS 1.2 with CIPHER and nothing else."""
    return f"NONE:+VERS-TLS1.2:+{cipher}:+SHA1:+ECDHE-ECDSA:+SIGN-ALL:+COMP-NULL:+GROUP-ALL"


def make_key():
    return ec.generate_private_key(ec.SECP256R1())


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(subject_cn, sans, key, issuer_cert=None, issuer_key=None, *, ca=False,
              not_before=None, not_after=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(name(subject_cn))
               .issuer_name(issuer_cert.subject if issuer_cert else name(subject_cn))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before or now - datetime.timedelta(days=1))
               .not_valid_after(not_after or now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        entries = []
        for s in sans:
            try:
                import ipaddress
                entries.append(x509.IPAddress(ipaddress.ip_address(s)))
            except ValueError:
                entries.append(x509.DNSName(s))
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def write_pem(path, cert=None, key=None):
    data = b""
    if cert is not None:
        data += cert.public_bytes(serialization.Encoding.PEM)
    if key is not None:
        data += key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    Path(path).write_bytes(data)


class Receiver(http.server.BaseHTTPRequestHandler):
    """Stands in for sluice's POST /v1/bypass/failures."""
    posts = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Receiver.posts.append((self.path, self.headers.get("Authorization"), json.loads(body)))
        self.send_response(201)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


class PlainOrigin(http.server.SimpleHTTPRequestHandler):
    """A plain HTTP/1.1 origin that keeps connections, with answers of its own: a body delimited
    by its close (no Content-Length), one followed by bytes of no request and a connection kept
    open, the Host it was sent, and a 20 KiB response head."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/until-close"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"delimited by the close")
            self.close_connection = True
            return
        if self.path.startswith("/ignores-close"):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            self.wfile.write(b"HTTP/1.1 200 EXTRA\r\nContent-Length: 0\r\n\r\n")
            self.wfile.flush()
            time.sleep(8)  # and keeps the connection open
            return
        if self.path.startswith("/echo-host"):
            host = self.headers.get("Host", "").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(host)))
            self.end_headers()
            self.wfile.write(host)
            return
        if self.path.startswith("/upgrade") and self.headers.get("Upgrade"):
            if self.path.startswith("/upgrade-declined"):  # answers as if Upgrade were not there
                self.send_response(200)
                self.send_header("Content-Length", "8")
                self.end_headers()
                self.wfile.write(b"declined")
                return
            self.send_response(101)
            self.send_header("Upgrade", "echo")
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            self.wfile.flush()
            while True:  # the new protocol: every byte back
                data = self.rfile.read1(4096)
                if not data:
                    break
                self.wfile.write(data)
                self.wfile.flush()
            self.close_connection = True
            return
        if self.path.startswith("/big-head"):
            self.send_response(200)
            self.send_header("X-Big", "b" * 20000)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            return
        super().do_GET()

    def log_message(self, *args):
        pass


PLAIN_ON_TLS_PORT = 8443  # is_tls_port(): plain HTTP there is judged non_tls
RESET_BODY_BYTES = 4_000_000
TCP_CLOSE = 7  # tcp_info.tcpi_state of a socket its peer reset


def serve_then_reset(listener, tls_ctx, body, outcomes):
    """For each connection: read one request head and answer it with BODY (Content-Length),
    then reset the connection (SO_LINGER 0). For GET /reset, only once the peer has acknowledged
    every byte (else the reset itself would discard some); for POST /upload (whose body it never
    reads) at once. Each connection's outcome goes to OUTCOMES: "acked", "unacked", "sent" or
    the error."""
    def session(conn):
        s = conn
        outcome = None
        try:
            conn.settimeout(10)
            if tls_ctx:
                try:
                    s = tls_ctx.wrap_socket(conn, server_side=True)  # conn is detached: s owns it
                except OSError:
                    conn.close()
                    return  # a port probe (wait_port)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    s.close()
                    return  # a port probe (wait_port): nothing to report
                head += chunk
            answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
            if head.startswith(b"POST /upload"):
                s.settimeout(3)
                try:
                    s.sendall(answer)
                except socket.timeout:
                    pass  # the client is busy sending: what was not taken is lost with the reset
                outcome = "sent"
            else:
                s.sendall(answer)
                outcome = "unacked"
                deadline = time.time() + 5
                while time.time() < deadline:  # TIOCOUTQ: bytes not yet acknowledged
                    if struct.unpack("i", fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0] == 0:
                        outcome = "acked"
                        break
                    time.sleep(0.01)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError as e:
            outcome = repr(e)
        finally:
            s.close()
        if outcome is not None:
            outcomes.put(outcome)

    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=session, args=(conn,), daemon=True).start()


class InterceptLive(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = Path(tempfile.mkdtemp(prefix="sluice-intercept-"))
        cls.procs = []
        d = cls.dir
        out = subprocess.run([BIN, "ca", "init", "--dir", str(d / "ca"), "--name", "Test School CA"],
                             check=True, capture_output=True, text=True).stdout
        assert "update-ca-certificates" in out, out
        # The upstream world: a root the interceptor is told to trust, another it is not.
        root_key, other_key = make_key(), make_key()
        root = make_cert("Test Upstream Root", None, root_key, ca=True)
        other = make_cert("Untrusted Root", None, other_key, ca=True)
        write_pem(d / "root.crt", root)
        now = datetime.datetime.now(datetime.timezone.utc)
        cls.ports = {}
        www = d / "www"
        www.mkdir()
        cls.blob = os.urandom(700_000)
        (www / "blob.bin").write_bytes(cls.blob)
        (www / "again.bin").write_bytes(cls.blob)  # the resumption test's, audited apart
        (www / "games").mkdir()
        (www / "games" / "x.html").write_bytes(b"game")
        specs = [
            ("good", "localhost", ["localhost", "127.0.0.1"], root, root_key, {}, []),
            ("expired", "localhost", ["localhost"], root, root_key,
             {"not_before": now - datetime.timedelta(days=60),
              "not_after": now - datetime.timedelta(days=30)}, []),
            ("wronghost", "other.example", ["other.example"], root, root_key, {}, []),
            ("selfsigned", "localhost", ["localhost"], None, None, {}, []),
            ("untrusted", "localhost", ["localhost"], other, other_key, {}, []),
            ("tls10", "localhost", ["localhost"], root, root_key, {},
             ["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"]),
            # A TLS 1.2 CBC/SHA-1 suite with no AEAD. (Debian's OpenSSL 3 has no 3DES or RC4
            # suites at all, not even at SECLEVEL 0: GnuTLS serves those, below.)
            ("cbc_only", "localhost", ["localhost"], root, root_key, {},
             ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA@SECLEVEL=0"]),
            ("never", NEVER_NAME, [NEVER_NAME], root, root_key, {}, []),
        ]
        for i, (label, cn, sans, issuer, issuer_key, dates, extra) in enumerate(specs):
            key = make_key()
            cert = make_cert(cn, sans, key, issuer, issuer_key, **dates)
            write_pem(d / f"{label}.pem", cert, key)
            port = free_port_pair(i + 1)
            cls.ports[label] = port
            cls.start([ "openssl", "s_server", "-quiet", "-WWW", "-accept", str(port),
                        "-cert", str(d / f"{label}.pem")] + extra, cwd=www)
        # RC4-only and 3DES-only servers: GnuTLS still has both suites when asked by name.
        for i, (label, cipher) in enumerate(WEAK_CIPHER_UPSTREAMS.items()):
            key = make_key()
            write_pem(d / f"{label}.pem", make_cert("localhost", ["localhost"], key, root, root_key), key)
            cls.ports[label] = free_port_pair(23 + i)
            cls.start(["gnutls-serv", "--http", "--port", str(cls.ports[label]),
                       "--x509certfile", str(d / f"{label}.pem"), "--x509keyfile", str(d / f"{label}.pem"),
                       "--priority", weak_priority(cipher)], cwd=www)
        # A keep-alive HTTP/1.1 upstream (s_server -WWW answers one request a connection).
        cls.ports["keepalive"] = free_port_pair(19)
        handler = type("KeepAlive", (http.server.SimpleHTTPRequestHandler,),
                       {"protocol_version": "HTTP/1.1", "log_message": lambda *a: None})
        cls.keepalive = http.server.ThreadingHTTPServer(
            ("127.0.0.1", cls.ports["keepalive"]),
            lambda *a: handler(*a, directory=str(www)))
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(str(d / "good.pem"))
        cls.keepalive.socket = tls.wrap_socket(cls.keepalive.socket, server_side=True)
        threading.Thread(target=cls.keepalive.serve_forever, daemon=True).start()
        # Plain HTTP upstream for the absolute-URI proxy.
        cls.ports["plain"] = free_port_pair(20)
        cls.start([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(cls.ports["plain"])],
                  cwd=www)
        # Plain HTTP on a port where TLS belongs (8443).
        cls.plain_on_tls = http.server.ThreadingHTTPServer(
            ("127.0.0.1", PLAIN_ON_TLS_PORT), lambda *a: PlainOrigin(*a, directory=str(www)))
        threading.Thread(target=cls.plain_on_tls.serve_forever, daemon=True).start()
        # Plain HTTP/1.1 upstream that keeps its connections (the one above is HTTP/1.0).
        cls.ports["plain11"] = free_port_pair(25)
        cls.plain11 = http.server.ThreadingHTTPServer(
            ("127.0.0.1", cls.ports["plain11"]), lambda *a: PlainOrigin(*a, directory=str(www)))
        threading.Thread(target=cls.plain11.serve_forever, daemon=True).start()
        # A server that takes connections and never answers a ClientHello.
        cls.ports["mute"] = free_port_pair(26)
        cls.mute = socket.socket()
        cls.mute.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        cls.mute.bind(("127.0.0.1", cls.ports["mute"]))
        cls.mute.listen(16)
        # A TLS server whose answer ends at its TCP close, without close_notify (a truncation
        # would look the same).
        cls.ports["unsigned_eof"] = free_port_pair(27)
        unsigned_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        unsigned_ctx.load_cert_chain(str(d / "good.pem"))
        cls.unsigned = socket.socket()
        cls.unsigned.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        cls.unsigned.bind(("127.0.0.1", cls.ports["unsigned_eof"]))
        cls.unsigned.listen(16)

        def serve_unsigned():
            while True:
                try:
                    conn, _ = cls.unsigned.accept()
                except OSError:
                    return
                try:
                    t = unsigned_ctx.wrap_socket(conn, server_side=True)
                    t.recv(65536)
                    t.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst half")
                    t.close()  # Python sends no close_notify here
                except OSError:
                    conn.close()
        threading.Thread(target=serve_unsigned, daemon=True).start()
        # A server that speaks first (an SMTP-like banner), then echoes one line.
        cls.ports["banner"] = free_port_pair(28)
        cls.banner = socket.socket()
        cls.banner.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        cls.banner.bind(("127.0.0.1", cls.ports["banner"]))
        cls.banner.listen(16)

        def banner_session(conn):
            try:
                conn.sendall(b"220 mail.example ESMTP\r\n")
                conn.sendall(b"250 " + conn.recv(1024))
            except OSError:
                pass
            finally:
                conn.close()

        def serve_banner():  # a thread a connection: a port probe that stays open blocks none
            while True:
                try:
                    conn, _ = cls.banner.accept()
                except OSError:
                    return
                threading.Thread(target=banner_session, args=(conn,), daemon=True).start()
        threading.Thread(target=serve_banner, daemon=True).start()
        # Servers that answer one request and then reset the connection (SO_LINGER 0) once the
        # answer has left their socket, in plain text and in TLS: a proxy must still deliver it.
        reset_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        reset_ctx.load_cert_chain(str(d / "good.pem"))
        cls.reset_body = os.urandom(RESET_BODY_BYTES)
        cls.reset_outcomes = queue.Queue()
        cls.resetters = []
        for label, offset, tls in (("reset_plain", 29, False), ("reset_tls", 30, True)):
            cls.ports[label] = free_port_pair(offset)
            srv = socket.socket()
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(("127.0.0.1", cls.ports[label]))
            srv.listen(16)
            cls.resetters.append(srv)
            threading.Thread(target=serve_then_reset, args=(srv, reset_ctx if tls else None,
                                                            cls.reset_body, cls.reset_outcomes),
                             daemon=True).start()
        # The control plane's learning endpoint.
        cls.receiver = http.server.ThreadingHTTPServer(("127.0.0.1", free_port_pair(21)), Receiver)
        threading.Thread(target=cls.receiver.serve_forever, daemon=True).start()
        (d / "token").write_text("s3cret\n")
        # A `sluice run` configuration whose policy the interceptor shares.
        (d / "blocked.domains").write_text("blocked.example\n")
        (d / "sluice.yaml").write_text(
            "ports:\n  - name: in\n    device: \"0000:3b:00.0\"\n  - name: out\n    device: \"0000:3b:00.1\"\n"
            "pairs:\n  - inside: in\n    outside: out\nlcores:\n  workers: [1]\n"
            "policy:\n  rules:\n    - name: block_blocked\n      kind: domains\n"
            "      files: [blocked.domains]\n      action: block\n  defaults:\n    ech: block\n"
            "    final: intercept\n")
        cls.proxy_port = free_port_pair(22)
        (d / "intercept.yaml").write_text(f"""
threads: 2
listen:
  explicit: 127.0.0.1:{cls.proxy_port}
ca_dir: ca
policy_config: sluice.yaml
upstream:
  extra_ca_files: [root.crt]
  connect_timeout: 2s
  allow_local_destinations: true  # every server here runs on loopback
limits:
  handshake_timeout: 5s
url_rules:
  - name: games
    patterns: ['^localhost/games/']
audit:
  file: audit.jsonl
learning:
  api: http://127.0.0.1:{free_port_pair(21)}
  token_file: token
stats:
  file: stats.json
  interval: 1s
""")
        cls.intercept = cls.start([BIN, "run", "--config", str(d / "intercept.yaml")], cwd=d,
                                  stderr=cls.log(d / "intercept.err"))
        # A second proxy as shipped: servers on the appliance itself are refused. A third with
        # few file descriptors (its hard limit), for running out of them.
        cls.strict_port = free_port_pair(31)
        cls.start_minimal_proxy("strict", cls.strict_port)
        cls.starved_port = free_port_pair(32)
        cls.starved = cls.start_minimal_proxy("starved", cls.starved_port, ["prlimit", "--nofile=40:40"])
        for label, port in list(cls.ports.items()) + [("proxy", cls.proxy_port), ("strict", cls.strict_port),
                                                       ("starved", cls.starved_port)]:
            cls.wait_port(port, label)

    @classmethod
    def log(cls, path):
        """A file for a child's stderr, closed in tearDownClass."""
        f = open(path, "w")
        cls.logs = getattr(cls, "logs", []) + [f]
        return f

    @classmethod
    def start_minimal_proxy(cls, label, port, prefix=()):
        """A sluice-intercept with shipped defaults and no policy on PORT, writing LABEL-audit.jsonl
        and LABEL-stats.json; run under PREFIX (e.g. prlimit)."""
        d = cls.dir
        (d / f"{label}.yaml").write_text(
            f"threads: 1\nlisten:\n  explicit: 127.0.0.1:{port}\nca_dir: ca\n"
            f"audit:\n  file: {label}-audit.jsonl\nstats:\n  file: {label}-stats.json\n  interval: 1s\n")
        return cls.start(list(prefix) + [BIN, "run", "--config", str(d / f"{label}.yaml")], cwd=d,
                         stderr=cls.log(d / f"{label}.err"))

    @classmethod
    def start(cls, argv, cwd, stderr=subprocess.DEVNULL):
        p = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr)
        cls.procs.append(p)
        return p

    @classmethod
    def wait_port(cls, port, label):
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{label} never listened on {port}")

    @classmethod
    def tearDownClass(cls):
        for p in reversed(cls.procs):
            p.terminate()
        for p in cls.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        cls.receiver.shutdown()
        cls.receiver.server_close()
        cls.keepalive.shutdown()
        cls.keepalive.server_close()
        cls.plain11.shutdown()
        cls.plain11.server_close()
        cls.plain_on_tls.shutdown()
        cls.plain_on_tls.server_close()
        cls.banner.close()
        cls.mute.close()
        cls.unsigned.close()
        for srv in cls.resetters:
            srv.close()
        for f in getattr(cls, "logs", []):
            f.close()
        if os.environ.get("KEEP") != "1":
            shutil.rmtree(cls.dir, ignore_errors=True)

    # ---- helpers ----
    def curl(self, url, *extra, ca=True):
        argv = ["curl", "-sS", "-v", "--max-time", "10", "--proxy", f"http://127.0.0.1:{self.proxy_port}",
                "-o", "-"] + (["--cacert", str(self.dir / "ca" / "ca.crt")] if ca else []) + list(extra) + [url]
        return subprocess.run(argv, capture_output=True)

    def audit(self, pred, timeout=5.0, count=1):
        """Audit records matching pred (at least `count`), waiting for the once-a-second flush."""
        deadline = time.time() + timeout
        while True:
            path = self.dir / "audit.jsonl"
            records = [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []
            found = [r for r in records if pred(r)]
            if len(found) >= count or time.time() > deadline:
                return found
            time.sleep(0.2)

    def connect_tunnel(self, target):
        s = socket.create_connection(("127.0.0.1", self.proxy_port), timeout=10)
        s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = s.recv(1)
            if not chunk:
                break
            answer += chunk
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer)
        return s

    # ---- tests ----
    def test_bumped_download_is_byte_exact_issued_by_school_ca_and_audited(self):
        port = self.ports["good"]
        r = self.curl(f"https://localhost:{port}/blob.bin")
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace")[-2000:])
        self.assertEqual(hashlib.sha256(r.stdout).hexdigest(), hashlib.sha256(self.blob).hexdigest())
        log = r.stderr.decode(errors="replace")
        self.assertIn("issuer: O=Sluice interception; CN=Test School CA", log)
        self.assertIn("subject: CN=localhost", log)
        recs = self.audit(lambda x: x.get("type") == "http" and x.get("path") == "/blob.bin"
                          and x.get("server_port") == port)
        self.assertEqual(len(recs), 1, recs)
        rec = recs[0]
        self.assertEqual((rec["method"], rec["status"], rec["verdict"], rec["sni"], rec["mode"]),
                         ("GET", 200, "pass", "localhost", "connect"))
        self.assertGreaterEqual(rec["bytes_down"], len(self.blob))
        self.assertTrue(rec["ja4"].startswith("t13d"), rec["ja4"])
        self.assertEqual(rec["client"], "127.0.0.1")

    def test_several_requests_on_one_bumped_connection_each_audited(self):
        port = self.ports["keepalive"]
        r = self.curl(f"https://localhost:{port}/blob.bin?n=1", f"https://localhost:{port}/blob.bin?n=2",
                      "-I", "--head")
        self.assertEqual(r.returncode, 0, r.stderr[-1500:])
        r = self.curl(f"https://localhost:{port}/blob.bin?n=3", f"https://localhost:{port}/blob.bin?n=4")
        self.assertEqual(r.returncode, 0, r.stderr[-1500:])
        self.assertEqual(r.stdout, self.blob + self.blob)
        self.assertIn("Re-using existing connection", r.stderr.decode())
        recs = self.audit(lambda x: x.get("type") == "http" and x.get("server_port") == port
                          and "?n=" in x["path"], count=4)
        self.assertEqual(sorted(x["path"] for x in recs), [f"/blob.bin?n={i}" for i in range(1, 5)])
        self.assertEqual([x["method"] for x in recs], ["HEAD", "HEAD", "GET", "GET"])
        self.assertTrue(all(x["status"] == 200 for x in recs))
        conns = self.audit(lambda x: x.get("type") == "connection" and x.get("server_port") == port
                           and x.get("requests") == 2, count=2)
        self.assertEqual(len(conns), 2, conns)

    def test_url_rule_answers_403_page_and_audits_block(self):
        port = self.ports["good"]
        r = self.curl(f"https://localhost:{port}/games/x.html", "-w", "%{http_code}")
        body = r.stdout.decode()
        self.assertTrue(body.endswith("403"), body[-200:])
        self.assertIn("This page is blocked by your school", body)
        recs = self.audit(lambda x: x.get("type") == "http" and x.get("path") == "/games/x.html")
        self.assertEqual(recs[0]["verdict"], "block")
        self.assertEqual(recs[0]["rule"], "games")

    def test_bad_upstreams_are_refused_with_the_reason_in_the_audit(self):
        expected = {
            "expired": "certificate has expired",
            "wronghost": "hostname mismatch",
            "selfsigned": "self-signed certificate",
            "untrusted": "unable to get local issuer certificate",
            "tls10": "no TLS 1.2 or 1.3",
            "cbc_only": "no modern AEAD cipher suite",
            "rc4_only": "no modern AEAD cipher suite",
            "3des_only": "no modern AEAD cipher suite",
        }
        # The weak servers are real: a client that offers their cipher completes a handshake.
        for label, cipher in WEAK_CIPHER_UPSTREAMS.items():
            r = subprocess.run(["gnutls-cli", "--insecure", "--port", str(self.ports[label]), "localhost",
                                "--priority", f"NORMAL:+{cipher}"],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
            self.assertIn(f"-({cipher})-", r.stdout, f"{label}: {r.stdout[-500:]}{r.stderr[-500:]}")
        for label, reason in expected.items():
            with self.subTest(label):
                port = self.ports[label]
                # Trusting the school CA: the failure certificate is not trusted, so curl fails.
                r = self.curl(f"https://localhost:{port}/blob.bin")
                self.assertEqual(r.returncode, 60, r.stderr.decode(errors="replace")[-500:])
                # Clicking through (-k) shows the failure page, not the content.
                r = self.curl(f"https://localhost:{port}/blob.bin", "-k", "-w", "%{http_code}")
                body = r.stdout.decode(errors="replace")
                self.assertTrue(body.endswith("502"), body[-300:])
                self.assertIn("could not be checked safely", body)
                self.assertIn(reason, body)
                recs = self.audit(lambda x: x.get("type") == "connection" and x.get("server_port") == port
                                  and x.get("outcome") == "upstream_refused", count=2)
                self.assertGreaterEqual(len(recs), 2, recs)
                self.assertIn(reason, recs[0]["reason"])

    def test_connect_to_ip_with_never_intercept_sni_is_spliced(self):
        port = self.ports["never"]
        s = self.connect_tunnel(f"127.0.0.1:{port}")
        ctx = ssl.create_default_context(cafile=str(self.dir / "root.crt"))
        with ctx.wrap_socket(s, server_hostname=NEVER_NAME) as t:
            issuer = dict(x[0] for x in t.getpeercert()["issuer"])
            self.assertEqual(issuer["commonName"], "Test Upstream Root")  # the real certificate
            t.sendall(f"GET /blob.bin HTTP/1.0\r\nHost: {NEVER_NAME}\r\n\r\n".encode())
            data = b""
            while chunk := t.recv(65536):
                data += chunk
        self.assertTrue(data.endswith(self.blob))
        recs = self.audit(lambda x: x.get("type") == "connection" and x.get("sni") == NEVER_NAME)
        self.assertEqual(recs[0]["action"], "splice")
        self.assertTrue(recs[0]["never_intercept"])
        self.assertEqual(recs[0]["rule"], "builtin_never_intercept")

    def test_connect_to_ip_follows_the_shared_policy_by_sni(self):
        port = self.ports["good"]
        s = self.connect_tunnel(f"127.0.0.1:{port}")
        ctx = ssl.create_default_context(cafile=str(self.dir / "root.crt"))
        ctx.check_hostname = False
        with self.assertRaises((ConnectionError, ssl.SSLError, OSError)):
            with ctx.wrap_socket(s, server_hostname="blocked.example") as t:
                t.recv(1)
        recs = self.audit(lambda x: x.get("type") == "connection" and x.get("sni") == "blocked.example")
        self.assertEqual((recs[0]["action"], recs[0]["rule"]), ("block", "block_blocked"))

    def test_pinning_client_failure_is_reported_for_learning(self):
        port = self.ports["good"]
        before = len(Receiver.posts)
        r = self.curl(f"https://localhost:{port}/blob.bin", ca=False)  # system store: no school CA
        self.assertEqual(r.returncode, 60)
        deadline = time.time() + 5
        while len(Receiver.posts) == before and time.time() < deadline:
            time.sleep(0.1)
        self.assertGreater(len(Receiver.posts), before)
        path, auth, body = Receiver.posts[-1]
        self.assertEqual(path, "/v1/bypass/failures")
        self.assertEqual(auth, "Bearer s3cret")
        self.assertEqual(body["sni"], "localhost")
        self.assertEqual(body["client"], "127.0.0.1")
        self.assertEqual(body["reason"], "alert unknown_ca")
        self.assertTrue(body["ja4"].startswith("t13d"), body)
        recs = self.audit(lambda x: x.get("outcome") == "client_rejected_certificate")
        self.assertTrue(recs)

    def test_client_closing_after_our_certificate_is_reported_for_learning(self):
        # A client that does not trust the certificate and just closes (no alert): TLS through
        # memory BIOs, so the alert OpenSSL writes is never sent.
        port = self.ports["good"]
        before = len(Receiver.posts)
        s = self.connect_tunnel(f"localhost:{port}")
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        ctx = ssl.create_default_context(cafile=str(self.dir / "root.crt"))  # not the school CA
        obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
        refused = False
        for _ in range(20):
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                s.sendall(outgoing.read())
                data = s.recv(65536)
                if not data:
                    break
                incoming.write(data)
            except ssl.SSLCertVerificationError:
                refused = True
                break
        self.assertTrue(refused)
        s.close()  # without sending the alert waiting in `outgoing`
        deadline = time.time() + 5
        while len(Receiver.posts) == before and time.time() < deadline:
            time.sleep(0.1)
        self.assertGreater(len(Receiver.posts), before)
        self.assertEqual(Receiver.posts[-1][2]["reason"], "closed after certificate")

    def test_plain_http_proxy_request_is_forwarded_and_audited(self):
        port = self.ports["plain"]
        r = self.curl(f"http://127.0.0.1:{port}/blob.bin")
        self.assertEqual(r.returncode, 0, r.stderr[-500:])
        self.assertEqual(r.stdout, self.blob)
        recs = self.audit(lambda x: x.get("type") == "http" and x.get("mode") == "proxy"
                          and x.get("path") == "/blob.bin")
        self.assertEqual(recs[0]["status"], 200)
        self.assertGreaterEqual(recs[0]["bytes_down"], len(self.blob))

    def proxy_exchange(self, s, request):
        """Sends REQUEST on socket S; returns (head, body) of the next answer, the body read by
        its Content-Length, or to the close when it has none. Bytes read past the answer are
        kept for the next call on S."""
        s.sendall(request)
        data = self.unread.pop(s.fileno(), b"")
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            self.assertTrue(chunk, f"closed before the answer's head: {data!r}")
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        head = head.decode()
        length = [int(l.split(":", 1)[1]) for l in head.split("\r\n") if l.lower().startswith("content-length:")]
        while (len(body) < length[0]) if length else True:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        if length:
            body, self.unread[s.fileno()] = body[:length[0]], body[length[0]:]
        return head, body

    unread = {}

    def test_plain_proxy_keeps_the_clients_connection_between_requests(self):
        before = self.stats()
        old_origin, origin = self.ports["plain"], self.ports["plain11"]
        # curl reuses its proxy connection only if the first answer allowed it: the HTTP/1.0
        # origin's answer leaves as HTTP/1.1 without `Connection: close` (it has a length).
        # (curl() puts its first argument last.)
        r = self.curl(f"http://localhost:{origin}/blob.bin?ka=3", f"http://127.0.0.1:{old_origin}/blob.bin?ka=1",
                      f"http://127.0.0.1:{origin}/blob.bin?ka=2")
        self.assertEqual(r.returncode, 0, r.stderr[-1500:])
        self.assertEqual(r.stdout, self.blob * 3)
        self.assertEqual(r.stderr.decode().count("Re-using existing connection"), 2, r.stderr[-3000:])
        recs = self.audit(lambda x: x.get("type") == "http" and x.get("mode") == "proxy"
                          and "?ka=" in x.get("path", ""), count=3)
        self.assertEqual([(x["path"], x["status"], x["server_port"]) for x in recs],
                         [("/blob.bin?ka=1", 200, old_origin), ("/blob.bin?ka=2", 200, origin),
                          ("/blob.bin?ka=3", 200, origin)])
        self.assertEqual(self.stats()["proxy_connections_reused"], before["proxy_connections_reused"] + 2)

        # By hand: a framed answer keeps the connection; one delimited by the server's close says
        # so and ends it.
        s = socket.create_connection(("127.0.0.1", self.proxy_port), timeout=10)
        head, body = self.proxy_exchange(
            s, f"GET http://127.0.0.1:{origin}/blob.bin?ka=4 HTTP/1.1\r\nHost: 127.0.0.1:{origin}\r\n\r\n".encode())
        self.assertTrue(head.startswith("HTTP/1.1 200"), head)
        self.assertNotIn("connection:", head.lower())
        self.assertEqual(body, self.blob)
        head, body = self.proxy_exchange(
            s, f"GET http://127.0.0.1:{origin}/until-close HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self.assertTrue(head.startswith("HTTP/1.1 200"), head)
        self.assertIn("\r\nConnection: close", head)
        self.assertEqual(body, b"delimited by the close")
        self.assertEqual(s.recv(1), b"")
        s.close()
        # The client's own `close`, and HTTP/1.0, end it after the answer.
        for request in (f"GET http://127.0.0.1:{origin}/big-head HTTP/1.1\r\nConnection: close\r\n\r\n",
                        f"GET http://127.0.0.1:{origin}/big-head HTTP/1.0\r\n\r\n"):
            s = socket.create_connection(("127.0.0.1", self.proxy_port), timeout=10)
            head, body = self.proxy_exchange(s, request.encode())
            self.assertIn("\r\nConnection: close", head)
            self.assertIn("X-Big: " + "b" * 20000, head)  # a response head over limits.buffer_bytes
            self.assertEqual(body, b"ok")
            self.assertEqual(s.recv(1), b"")
            s.close()
        # Requests pipelined in one write are answered in turn...
        s = socket.create_connection(("127.0.0.1", self.proxy_port), timeout=10)
        one = f"GET http://127.0.0.1:{origin}/big-head HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        for request in (one + one, b""):
            head, body = self.proxy_exchange(s, request)
            self.assertNotIn("connection:", head.lower())
            self.assertEqual(body, b"ok")
        self.assertEqual(self.unread.pop(s.fileno(), b""), b"")
        # ...except behind a request with a body, read in the same buffer: its answer says the
        # connection ends, and the client sends the rest again.
        post = f"POST http://127.0.0.1:{origin}/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc".encode()
        head, body = self.proxy_exchange(s, post + one)
        self.assertTrue(head.startswith("HTTP/1.1 501"), head)  # http.server has no POST
        self.assertIn("\r\nConnection: close", head)
        self.assertEqual(s.recv(65536), b"")
        s.close()

    def test_plain_proxy_ends_a_connection_it_said_it_would_close(self):
        # The server keeps its connection open despite `Connection: close`; the client asked
        # to close: the proxy ends the client's connection once the answer is through, and
        # what the server sends after its answer never reaches the client.
        origin = self.ports["plain11"]
        s = socket.create_connection(("127.0.0.1", self.proxy_port), timeout=10)
        started = time.time()
        head, body = self.proxy_exchange(
            s, f"GET http://127.0.0.1:{origin}/ignores-close HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
        self.assertIn("\r\nConnection: close", head)
        self.assertEqual(body, b"ok")
        self.assertEqual(s.recv(65536), b"")
        self.assertLess(time.time() - started, 5)
        s.close()

    def test_plain_proxy_request_is_judged_by_the_uri_not_its_host_header(self):
        # The proxy connects to the URI's host: that is the name URL rules, the audit and the
        # server see, whatever Host the client wrote.
        origin = self.ports["plain11"]
        s = socket.create_connection(("127.0.0.1", self.proxy_port), timeout=10)
        head, _ = self.proxy_exchange(
            s, f"GET http://localhost:{origin}/games/x.html?host=1 HTTP/1.1\r\nHost: school.example\r\n\r\n".encode())
        self.assertTrue(head.startswith("HTTP/1.1 403"), head)
        s.close()
        recs = self.audit(lambda x: x.get("type") == "http" and x.get("path") == "/games/x.html?host=1")
        self.assertEqual((recs[0]["host"], recs[0]["verdict"], recs[0]["rule"]),
                         (f"localhost:{origin}", "block", "games"))
        s = socket.create_connection(("127.0.0.1", self.proxy_port), timeout=10)
        head, body = self.proxy_exchange(
            s, f"GET http://127.0.0.1:{origin}/echo-host HTTP/1.1\r\nHost: school.example\r\n\r\n".encode())
        self.assertEqual(body, f"127.0.0.1:{origin}".encode())
        s.close()

    def test_a_kept_plain_proxy_connection_can_then_tunnel_and_be_bumped(self):
        origin, good = self.ports["plain11"], self.ports["good"]
        s = socket.create_connection(("127.0.0.1", self.proxy_port), timeout=10)
        _, body = self.proxy_exchange(s, f"GET http://127.0.0.1:{origin}/big-head HTTP/1.1\r\n\r\n".encode())
        self.assertEqual(body, b"ok")
        s.sendall(f"CONNECT localhost:{good} HTTP/1.1\r\n\r\n".encode())
        answer = b""
        while not answer.endswith(b"\r\n\r\n"):  # no body: read the head only
            chunk = s.recv(1)
            self.assertTrue(chunk, answer)
            answer += chunk
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer)
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca" / "ca.crt"))
        t = ctx.wrap_socket(s, server_hostname="localhost")
        self.assertIn("Test School CA", str(t.getpeercert()["issuer"]))
        t.sendall(b"GET /blob.bin HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := t.recv(65536):
            data += chunk
        self.assertTrue(data.endswith(self.blob))
        t.close()

    def test_a_server_that_stalls_its_handshake_gets_the_failure_page(self):
        before = self.stats()
        port = self.ports["mute"]
        r = self.curl(f"https://localhost:{port}/x", "-k", ca=False)
        self.assertIn(b"did not finish its handshake", r.stdout, r.stderr[-1500:])
        recs = self.audit(lambda x: x.get("type") == "connection" and x.get("server_port") == port)
        self.assertEqual(recs[0]["outcome"], "upstream_refused", recs)
        after = self.stats()
        self.assertEqual(after["upstream_refused"], before["upstream_refused"] + 1)
        self.assertEqual(after["handshake_timeouts"], before["handshake_timeouts"] + 1)

    def test_a_bumped_head_over_the_limit_is_counted(self):
        before = self.stats()
        r = self.curl(f"https://localhost:{self.ports['good']}/x", "-H", "X-Big: " + "a" * 40000)
        self.assertNotEqual(r.returncode, 0)
        after = self.stats()
        self.assertEqual(after["head_limit_hits"], before["head_limit_hits"] + 1)
        self.assertEqual(after["malformed_http"], before["malformed_http"])

    def test_a_servers_close_without_close_notify_is_not_turned_into_one(self):
        # The client must be able to tell a truncated answer from a whole one, as it could
        # without us: no close_notify from the server, none from the proxy.
        port = self.ports["unsigned_eof"]
        t = self.connect_tunnel(f"localhost:{port}")
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca" / "ca.crt"))
        c = ctx.wrap_socket(t, server_hostname="localhost", suppress_ragged_eofs=False)
        c.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        with self.assertRaises(ssl.SSLEOFError):
            while True:
                chunk = c.recv(65536)
                self.assertTrue(chunk, "a close_notify: the truncation is hidden")
                data += chunk
        self.assertTrue(data.endswith(b"first half"), data)
        c.close()

    def test_plain_http_in_a_tunnel_is_inspected(self):
        origin = self.ports["plain11"]
        t = self.connect_tunnel(f"localhost:{origin}")
        head, body = self.proxy_exchange(t, b"GET /blob.bin?tunnel=1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertTrue(head.startswith("HTTP/1.1 200"), head)
        self.assertEqual(body, self.blob)
        head, _ = self.proxy_exchange(t, b"GET /games/x.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertTrue(head.startswith("HTTP/1.1 403"), head)
        t.close()
        recs = self.audit(lambda x: x.get("type") == "http" and x.get("path") == "/blob.bin?tunnel=1")
        self.assertEqual((recs[0]["mode"], recs[0]["status"]), ("connect", 200))
        recs = self.audit(lambda x: x.get("type") == "http" and x.get("path") == "/games/x.html"
                          and x.get("server_port") == origin)
        self.assertEqual((recs[0]["verdict"], recs[0]["rule"]), ("block", "games"))

    def handshake_behind_alerts(self, sock, inside):
        """TLS over `sock` with warning alerts and a ChangeCipherSpec written before the
        ClientHello, and an alert between two records of it when `inside`; True if the handshake
        completes with a certificate of the school CA."""
        warning = bytes.fromhex("1503010002016e")
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca" / "ca.crt"))
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
        first = True
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                data = outgoing.read()
                if first and data:
                    first = False
                    body = data[5:5 + int.from_bytes(data[3:5], "big")]
                    record = lambda b: b"\x16\x03\x01" + len(b).to_bytes(2, "big") + b
                    hello = record(body[:40]) + warning + record(body[40:]) if inside else record(body)
                    ccs = bytes.fromhex("140303000101")
                    data = warning + ccs + warning + hello + data[5 + len(body):]
                try:
                    if data:
                        sock.sendall(data)
                    chunk = sock.recv(65536)
                except OSError:  # a reset
                    return False
                if not chunk:
                    return False
                incoming.write(chunk)
            except ssl.SSLError:
                return False
        return "Test School CA" in str(tls.getpeercert()["issuer"])

    def test_records_servers_ignore_before_the_hello_are_read_off_and_the_flow_bumped(self):
        # Go's servers skip warning alerts before a ClientHello, GnuTLS ChangeCipherSpec, so the
        # dataplane reads the hello behind them; the interceptor must too, although OpenSSL itself
        # would refuse them.
        port = self.ports["good"]
        self.assertTrue(self.handshake_behind_alerts(self.connect_tunnel(f"localhost:{port}"), False))
        # Between the hello's records they cannot be read off: not bumped, and not spliced either.
        self.assertFalse(self.handshake_behind_alerts(self.connect_tunnel(f"localhost:{port}"), True))
        recs = self.audit(lambda x: x.get("type") == "connection" and x.get("server_port") == port
                          and "between the ClientHello's records" in str(x.get("reason", "")))
        self.assertEqual(recs[0]["action"], "block", recs)

    def test_a_tunnel_whose_server_speaks_first_is_judged_by_its_host_and_spliced(self):
        # SMTP, IMAP, FTP: the client waits for the server's banner. After
        # limits.server_first_wait (1s) of silence on a port where TLS does not belong, the
        # CONNECT host is judged and the tunnel spliced, instead of waiting for a ClientHello
        # until limits.handshake_timeout.
        before = self.stats()
        t = self.connect_tunnel(f"localhost:{self.ports['banner']}")
        t.settimeout(4)
        self.assertEqual(t.recv(100), b"220 mail.example ESMTP\r\n")
        t.sendall(b"EHLO client\r\n")
        self.assertEqual(t.recv(100), b"250 EHLO client\r\n")
        t.close()
        after = self.stats()
        self.assertEqual(after["server_first_tunnels"], before["server_first_tunnels"] + 1)
        recs = self.audit(lambda x: x.get("type") == "connection"
                          and x.get("server_port") == self.ports["banner"])
        self.assertEqual(recs[0]["action"], "splice", recs)
        # A client that keeps silent, then sends a ClientHello (or an HTTP request), would get
        # past inspection: the tunnel ends instead, and the bytes never reach the server.
        t = self.connect_tunnel(f"localhost:{self.ports['banner']}")
        t.settimeout(4)
        self.assertEqual(t.recv(100), b"220 mail.example ESMTP\r\n")
        t.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        try:
            self.assertEqual(t.recv(100), b"", "the server's echo would mean it got the hello")
        except ConnectionResetError:
            pass
        recs = self.audit(lambda x: x.get("type") == "connection" and x.get("action") == "block"
                          and "after the silence" in x.get("reason", ""))
        self.assertEqual(recs[0]["server_port"], self.ports["banner"], recs)
        # Its host is judged whatever the tunnel carries: a blocked name stays blocked (and is
        # audited as blocked without being looked up).
        t = self.connect_tunnel(f"blocked.example:{self.ports['banner']}")
        t.settimeout(4)
        try:
            self.assertEqual(t.recv(100), b"")
        except ConnectionResetError:
            pass  # a block resets
        recs = self.audit(lambda x: x.get("type") == "connection"
                          and x.get("connect_host") == "blocked.example" and x.get("action") == "block")
        self.assertEqual(recs[0]["rule"], "block_blocked", recs)

    def read_until_reset(self, sock):
        """Reads SOCK to its end: what was read, and how it ended: "reset", "eof" (TLS ended by a
        FIN without close_notify) or "clean"."""
        data = b""
        sock.settimeout(10)
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return data, "reset"
            except ssl.SSLEOFError:
                # OpenSSL 3 says the same for a reset and for a FIN without close_notify: the
                # socket's TCP state tells them apart (CLOSE after a reset, CLOSE_WAIT after a FIN).
                tcp_state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
                return data, "reset" if tcp_state == TCP_CLOSE else "eof"
            if not chunk:
                return data, "clean"
            data += chunk

    def test_a_server_reset_after_its_answer_still_delivers_the_answer_then_resets(self):
        # The server answers, then resets (a 413 before an upload ends, an abort at the end):
        # the client gets every byte the server sent, then a reset, as without a proxy, not a
        # reset in place of the answer, nor a clean close that would hide a truncation.
        before = self.stats()
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % RESET_BODY_BYTES
        want = head + self.reset_body
        for label in ("reset_plain", "reset_tls"):
            t = self.connect_tunnel(f"localhost:{self.ports[label]}")
            c = t
            if label == "reset_tls":  # bumped
                ctx = ssl.create_default_context(cafile=str(self.dir / "ca" / "ca.crt"))
                c = ctx.wrap_socket(t, server_hostname="localhost", suppress_ragged_eofs=False)
            c.sendall(b"GET /reset HTTP/1.1\r\nHost: localhost\r\n\r\n")
            # The client reads only after the reset: the answer and the reset then both wait
            # in the proxy's sockets and buffers.
            self.assertEqual(self.reset_outcomes.get(timeout=10), "acked",
                             "the path could not hold the whole answer before the server's reset")
            data, end = self.read_until_reset(c)
            self.assertEqual(len(data), len(want), label)
            self.assertEqual(data, want, label)
            self.assertEqual(end, "reset", f"{label}: the server's reset was hidden")
            c.close()
            recs = self.audit(lambda x: x.get("type") == "connection"
                              and x.get("server_port") == self.ports[label])
            self.assertTrue(recs, label)
            self.assertEqual((recs[0]["outcome"], recs[0]["reason"]),
                             ("reset", "the server reset the connection"), recs)
            recs = self.audit(lambda x: x.get("type") == "http"
                              and x.get("server_port") == self.ports[label])
            self.assertTrue(recs, label)
            self.assertEqual((recs[0]["status"], recs[0]["path"]), (200, "/reset"), recs)
        self.assertGreaterEqual(self.stats()["resets_relayed"], before["resets_relayed"] + 2)

    def test_a_server_reset_does_not_stall_a_client_still_uploading(self):
        # The server answers an upload early and resets; the client, still sending its body,
        # reads only when it is done. The proxy must keep taking (and dropping) the upload, or
        # neither side moves until limits.idle_timeout.
        t = self.connect_tunnel(f"localhost:{self.ports['reset_plain']}")
        t.settimeout(10)
        started = time.time()
        body = b"u" * 16_000_000
        t.sendall(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(body))
        try:
            t.sendall(body)
        except (ConnectionResetError, BrokenPipeError):
            pass  # reset once what the server sent had reached us
        data, end = self.read_until_reset(t)
        self.assertLess(time.time() - started, 8, "stalled until a timeout")
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK"), data[:40])
        self.assertEqual(end, "reset")
        self.assertEqual(self.reset_outcomes.get(timeout=10), "sent")
        t.close()
        recs = self.audit(lambda x: x.get("type") == "http" and x.get("path") == "/upload")
        self.assertTrue(recs)
        self.assertEqual(recs[0]["status"], 200, recs)

    def test_a_blocked_name_is_refused_without_being_looked_up(self):
        # No address rule comes before block_blocked, so no address could open blocked.example:
        # the proxy refuses it without asking the resolver (a lookup would tell whoever watches
        # DNS about the name). Through CONNECT, and as a plain proxy request.
        before = self.stats()
        t_port = self.connect_tunnel_refused("blocked.example:443")
        answer, s_port = self.answer_to_the_close(
            self.proxy_port, b"GET http://blocked.example/page HTTP/1.1\r\nHost: blocked.example\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 403"), answer[:100])
        after = self.stats()
        self.assertEqual(after["blocked_unresolved"], before["blocked_unresolved"] + 2)
        self.assertEqual(after["resolve_failures"], before["resolve_failures"])
        ports = {t_port, s_port}
        recs = self.audit(lambda x: x.get("type") == "connection" and x.get("client_port") in ports, count=2)
        self.assertEqual(len(recs), 2, recs)
        for r in recs:
            self.assertEqual((r["connect_host"], r["outcome"], r["rule"]),
                             ("blocked.example", "blocked", "block_blocked"), r)
            self.assertNotIn("server", r, "no address: the name was not looked up")
        self.assertEqual(sorted(r["connect_port"] for r in recs), [80, 443])

    def answer_to_the_close(self, proxy_port, request):
        """Sends REQUEST to the proxy on PROXY_PORT; returns all it answers until it closes,
        and the client's port."""
        s = socket.create_connection(("127.0.0.1", proxy_port), timeout=10)
        port = s.getsockname()[1]
        s.sendall(request)
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
        s.close()
        return answer, port

    def refused_tunnel_record(self, target, data):
        """Sends DATA through a CONNECT to TARGET that the proxy ends (a close or a reset) and
        returns the tunnel's connection record."""
        t = self.connect_tunnel(target)
        port = t.getsockname()[1]
        t.sendall(data)
        t.settimeout(10)
        try:
            self.assertEqual(t.recv(100), b"")
        except ConnectionResetError:
            pass
        t.close()
        recs = self.audit(lambda x: x.get("type") == "connection" and x.get("client_port") == port)
        self.assertTrue(recs, f"no record for the tunnel to {target}")
        return recs[0]

    def connect_tunnel_refused(self, target):
        """A CONNECT whose ClientHello the proxy refuses: the handshake fails (a reset). Returns
        the client's port."""
        t = self.connect_tunnel(target)
        port = t.getsockname()[1]
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca" / "ca.crt"))
        with self.assertRaises(OSError):
            ctx.wrap_socket(t, server_hostname=target.split(":")[0])
        t.close()
        return port

    def test_bytes_sent_behind_an_upgrade_request_wait_for_its_answer(self):
        # Behind an Upgrade request the bytes are the new protocol's if the server switches, the
        # next request's if it declines. Parsed as HTTP before the answer, a frame sent early
        # was refused as malformed (or, looking like part of a head, held for ever).
        origin = self.ports["plain11"]
        frame = b"\x81\x05hello\x00\xff not HTTP"
        t = self.connect_tunnel(f"localhost:{origin}")
        t.sendall(b"GET /upgrade HTTP/1.1\r\nHost: localhost\r\nUpgrade: echo\r\n"
                  b"Connection: Upgrade\r\n\r\n" + frame)
        t.settimeout(10)
        data = b""
        while not data.endswith(frame):
            chunk = t.recv(65536)
            self.assertTrue(chunk, f"closed: {data!r}")
            data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 101"), data)
        t.sendall(b"GET / HTTP/1.1\r\n\r\n")  # HTTP-looking bytes of the new protocol: echoed
        data = b""
        while not data.endswith(b"GET / HTTP/1.1\r\n\r\n"):
            chunk = t.recv(65536)
            self.assertTrue(chunk, f"closed: {data!r}")
            data += chunk
        t.close()
        recs = self.audit(lambda x: x.get("type") == "http" and x.get("path") == "/upgrade")
        self.assertTrue(recs)
        self.assertEqual(recs[0]["status"], 101)
        # Declined: the bytes behind it are the next request, parsed and judged as one.
        t = self.connect_tunnel(f"localhost:{origin}")
        t.settimeout(10)
        head, body = self.proxy_exchange(t, b"GET /upgrade-declined HTTP/1.1\r\nHost: localhost\r\n"
                                            b"Upgrade: echo\r\nConnection: Upgrade\r\n\r\n"
                                            b"GET /games/x.html?declined HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertTrue(head.startswith("HTTP/1.1 200"), head)
        self.assertEqual(body, b"declined")
        head, _ = self.proxy_exchange(t, b"")
        self.assertTrue(head.startswith("HTTP/1.1 403"), head)
        t.close()
        recs = self.audit(lambda x: x.get("type") == "http" and x.get("path") == "/games/x.html?declined")
        self.assertEqual((recs[0]["verdict"], recs[0]["rule"]), ("block", "games"), recs)

    def test_an_ech_hello_meets_the_ech_default(self):
        # The policy's `ech` default (block here) decides an ECH hello no rule takes, as in the
        # dataplane; the interceptor judged it as if the extension were not there.
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca" / "ca.crt"))
        outgoing = ssl.MemoryBIO()
        tls = ctx.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname="localhost")
        with self.assertRaises(ssl.SSLWantReadError):
            tls.do_handshake()
        record = outgoing.read()
        body = bytearray(record[9:5 + int.from_bytes(record[3:5], "big")])
        at = 34 + 1 + body[34]                                    # version, random, session id
        at += 2 + int.from_bytes(body[at:at + 2], "big")          # cipher suites
        at += 1 + body[at]                                        # compression methods
        ech = b"\xfe\x0d" + (4).to_bytes(2, "big") + b"\x00\x00\x01\x00"  # an outer ECH
        extensions = bytes(body[at + 2:]) + ech
        body = bytes(body[:at]) + len(extensions).to_bytes(2, "big") + extensions
        handshake = b"\x01" + len(body).to_bytes(3, "big") + body
        hello = b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake
        rec = self.refused_tunnel_record(f"localhost:{self.ports['good']}", hello)
        self.assertEqual((rec["action"], rec["rule"]), ("block", "default_ech"), rec)

    def test_a_request_naming_a_blocked_host_is_blocked_whatever_the_sni_or_address(self):
        # Plain HTTP through a CONNECT to an address: its Host names the server, as in the
        # dataplane (it was judged as having no name).
        rec = self.refused_tunnel_record(f"127.0.0.1:{self.ports['plain11']}",
                                         b"GET /blob.bin HTTP/1.1\r\nHost: blocked.example\r\n\r\n")
        self.assertEqual((rec["action"], rec["rule"]), ("block", "block_blocked"), rec)
        # Inside a bumped flow whose SNI is allowed, a request naming a blocked host (domain
        # fronting) gets the 403 page.
        # The site is the one the server would pick: an absolute URI's, the name before a port
        # however odd, and two Hosts are refused as ambiguous.
        before = self.stats()
        cases = [
            (b"GET /fronted HTTP/1.1\r\nHost: blocked.example\r\n\r\n", "/fronted", "block_blocked"),
            (b"GET http://blocked.example/abs HTTP/1.1\r\nHost: localhost\r\n\r\n",
             "http://blocked.example/abs", "block_blocked"),
            (b"GET /port HTTP/1.1\r\nHost: Blocked.Example.:x\r\n\r\n", "/port", "block_blocked"),
            (b"GET /two HTTP/1.1\r\nHost: localhost\r\nHost: blocked.example\r\n\r\n", "/two",
             "two_host_headers"),
        ]
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca" / "ca.crt"))
        for request, path, rule in cases:
            c = ctx.wrap_socket(self.connect_tunnel(f"localhost:{self.ports['good']}"),
                                server_hostname="localhost")
            head, _ = self.proxy_exchange(c, request)
            self.assertTrue(head.startswith("HTTP/1.1 403"), (path, head))
            c.close()
            recs = self.audit(lambda x: x.get("type") == "http" and x.get("path") == path)
            self.assertTrue(recs, path)
            self.assertEqual((recs[0]["verdict"], recs[0]["rule"], recs[0]["sni"]),
                             ("block", rule, "localhost"), recs)
        after = self.stats()
        self.assertEqual(after["request_hosts_blocked"], before["request_hosts_blocked"] + len(cases))
        # Plain HTTP where TLS belongs (judged non_tls, which no name decides) still has its
        # requests' sites judged; and an absolute URI of any scheme names its site.
        for target, request in ((f"127.0.0.1:{PLAIN_ON_TLS_PORT}",
                                 b"GET /on-tls-port HTTP/1.1\r\nHost: blocked.example\r\n\r\n"),
                                (f"localhost:{self.ports['plain11']}",
                                 b"GET ws://blocked.example/ws HTTP/1.1\r\nHost: localhost\r\n\r\n")):
            t = self.connect_tunnel(target)
            head, _ = self.proxy_exchange(t, request)
            self.assertTrue(head.startswith("HTTP/1.1 403"), (target, head))
            t.close()
        # The flow's own name is not judged again (a default that let the flow in stands).
        c = ctx.wrap_socket(self.connect_tunnel(f"localhost:{self.ports['keepalive']}"), server_hostname="localhost")
        head, body = self.proxy_exchange(c, b"GET /blob.bin HTTP/1.1\r\nHost: LOCALHOST:443\r\n\r\n")
        self.assertTrue(head.startswith("HTTP/1.1 200"), head)
        self.assertEqual(body, self.blob)
        c.close()

    def test_out_of_descriptors_connections_are_reset_and_the_loop_does_not_spin(self):
        # 40 descriptors: a few dozen idle clients use them up. Those beyond are taken and reset
        # (counted) instead of staying ready on the listener, which kept the loop spinning.
        clients = []
        for _ in range(60):
            try:
                clients.append(socket.create_connection(("127.0.0.1", self.starved_port), timeout=5))
            except OSError:
                pass
        time.sleep(1.5)
        def cpu_seconds():
            fields = Path(f"/proc/{self.starved.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        cpu = cpu_seconds()
        time.sleep(2)
        self.assertLess(cpu_seconds() - cpu, 0.5, "the loop spins while out of descriptors")
        for c in clients:
            c.close()
        time.sleep(2.5)  # the stats file is written again once descriptors are free
        stats = json.loads((self.dir / "starved-stats.json").read_text())
        self.assertGreater(stats["connections_refused_descriptors"], 0, stats)
        self.assertGreater(stats["connections_accepted"], 0, stats)

    def test_a_handshake_record_that_is_no_client_hello_is_told_at_once(self):
        # Its first bytes say it is not a ClientHello (a handshake of another type): spliced as
        # not TLS at once, not held for the rest of the record until limits.handshake_timeout.
        t = self.connect_tunnel(f"localhost:{self.ports['banner']}")
        port = t.getsockname()[1]
        t.sendall(bytes.fromhex("1603010100") + b"\x02" + b"\x00" * 20)
        time.sleep(0.5)
        t.close()  # held, the tunnel would end here as client_closed, never spliced
        recs = self.audit(lambda x: x.get("type") == "connection" and x.get("client_port") == port)
        self.assertTrue(recs)
        self.assertEqual(recs[0]["action"], "splice", recs)

    def test_the_proxy_never_connects_to_itself(self):
        # A CONNECT to the proxy's own port would come back to it, and again, until the
        # descriptors ran out; refused even where local servers are allowed.
        before = self.stats()
        rec = self.refused_tunnel_record(f"127.0.0.1:{self.proxy_port}", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn("is sluice-intercept itself", rec["reason"], rec)
        after = self.stats()
        self.assertEqual(after["local_destinations_refused"], before["local_destinations_refused"] + 1)
        self.assertLessEqual(after["connections_accepted"], before["connections_accepted"] + 2)

    def test_servers_on_the_appliance_itself_are_refused_unless_allowed(self):
        # As shipped (upstream.allow_local_destinations off), the proxy is no way into the
        # appliance: its management API, sshd, anything bound to loopback.
        answer, _ = self.answer_to_the_close(
            self.strict_port, b"GET http://127.0.0.1:%d/blob.bin HTTP/1.1\r\nHost: x\r\n\r\n" % self.ports["plain11"])
        self.assertTrue(answer.startswith(b"HTTP/1.1 403"), answer[:200])
        self.assertIn(b"on the appliance itself", answer)
        # Refused before connecting: a closed port gets the same answer (no port scan).
        closed, _ = self.answer_to_the_close(
            self.strict_port, b"GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(closed.split(b"\r\n")[0], answer.split(b"\r\n")[0])
        self.assertIn(b"on the appliance itself", closed)
        path = self.dir / "strict-audit.jsonl"
        deadline = time.time() + 5
        recs = []
        while not recs and time.time() < deadline:
            time.sleep(0.2)
            recs = [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []
            recs = [r for r in recs if r.get("type") == "http" and r.get("path") == "/blob.bin"]
        self.assertTrue(recs)
        self.assertEqual((recs[0]["status"], recs[0]["verdict"]), (403, "refused"), recs)
        self.assertIn("allow_local_destinations", recs[0]["rule"])

    def test_a_request_head_longer_than_the_relay_buffer_is_forwarded(self):
        # limits.buffer_bytes is 16 KiB, limits.max_head_bytes 32 KiB: a bumped request's head
        # waits whole in the buffer for its judgement.
        r = self.curl(f"https://localhost:{self.ports['keepalive']}/blob.bin?bighead=1", "-H", "X-Big: " + "a" * 20000)
        self.assertEqual(r.returncode, 0, r.stderr[-1500:])
        self.assertEqual(r.stdout, self.blob)

    def stats(self):
        time.sleep(1.2)  # stats.interval is 1s
        return json.loads((self.dir / "stats.json").read_text())

    def test_limits_are_enforced_and_counted(self):
        # A head over limits.max_head_bytes (default 32 KiB): 431 and counted.
        before = self.stats()
        s = socket.create_connection(("127.0.0.1", self.proxy_port), timeout=10)
        s.sendall(b"GET http://localhost/ HTTP/1.1\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
        self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 431"))
        s.close()
        # A tunnel to a TLS port that never sends its ClientHello: closed after
        # limits.handshake_timeout (5s). (Nothing listens on 443 here; nothing is connected.)
        t = self.connect_tunnel("127.0.0.1:443")
        t.settimeout(10)
        started = time.time()
        self.assertEqual(t.recv(1), b"")
        self.assertGreaterEqual(time.time() - started, 3.0)
        after = self.stats()
        self.assertEqual(after["head_limit_hits"], before["head_limit_hits"] + 1)
        self.assertEqual(after["handshake_timeouts"], before["handshake_timeouts"] + 1)

    def test_a_server_is_resumed_and_its_certificate_still_mimicked(self):
        # openssl s_server sends TLS 1.3 session tickets. With two loop threads, three downloads
        # put two on one loop, and the later of those resumes its server side.
        before = self.stats()
        port = self.ports["good"]
        for _ in range(3):
            r = self.curl(f"https://localhost:{port}/again.bin")
            self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace")[-2000:])
            self.assertEqual(hashlib.sha256(r.stdout).hexdigest(), hashlib.sha256(self.blob).hexdigest())
            log = r.stderr.decode(errors="replace")
            self.assertIn("issuer: O=Sluice interception; CN=Test School CA", log)
            self.assertIn("subject: CN=localhost", log)
            self.assertIn("subjectAltName: host \"localhost\" matched cert's \"localhost\"", log)
        after = self.stats()
        self.assertGreater(after["upstream_resumed"], before["upstream_resumed"])
        self.assertEqual(after["upstream_refused"], before["upstream_refused"])

    def test_stats_file_counts(self):
        self.curl(f"https://localhost:{self.ports['good']}/blob.bin")
        time.sleep(1.5)
        stats = json.loads((self.dir / "stats.json").read_text())
        self.assertGreater(stats["bumped"], 0)
        self.assertGreater(stats["http_requests"], 0)


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True)


class TproxyLive(unittest.TestCase):
    """Transparent mode: client and server namespaces routed through the interceptor's, where
    nftables TPROXY hands port 443 to listen.transparent (IP_TRANSPARENT)."""
    NS = ("sit-c", "sit-i", "sit-s")

    @classmethod
    def setUpClass(cls):
        cls.procs = []
        cls.dir = Path(tempfile.mkdtemp(prefix="sluice-tproxy-"))
        os.chmod(cls.dir, 0o755)  # nginx's workers run as www-data
        d = cls.dir
        cls.cleanup_namespaces()
        c, i, s = cls.NS
        for ns in cls.NS:
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", "sit-ci", "netns", c, "type", "veth", "peer", "name", "sit-ic", "netns", i)
        sh("ip", "link", "add", "sit-si", "netns", s, "type", "veth", "peer", "name", "sit-is", "netns", i)
        for ns, dev, addr in ((c, "sit-ci", "10.77.1.2/24"), (i, "sit-ic", "10.77.1.1/24"),
                              (i, "sit-is", "10.77.2.1/24"), (s, "sit-si", "10.77.2.2/24")):
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", c, "route", "add", "default", "via", "10.77.1.1")
        sh("ip", "-n", s, "route", "add", "default", "via", "10.77.2.1")
        sh("ip", "netns", "exec", i, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "-n", i, "rule", "add", "fwmark", "1", "lookup", "100")
        sh("ip", "-n", i, "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100")
        (d / "tproxy.nft").write_text(
            "table ip sluice_tproxy {\n"
            "  chain pre {\n"
            "    type filter hook prerouting priority mangle; policy accept;\n"
            "    iifname \"sit-ic\" tcp dport 443 tproxy to :15001 meta mark set 1 accept\n"
            "    iifname \"sit-ic\" tcp dport 8443 tproxy to :15002 meta mark set 1 accept\n"
            "    iifname \"sit-ic\" tcp dport 9443 tproxy to :15001 meta mark set 1 accept\n"
            "  }\n"
            "}\n")
        sh("ip", "netns", "exec", i, "nft", "-f", str(d / "tproxy.nft"))
        out = sh(BIN, "ca", "init", "--dir", str(d / "ca")).stdout
        assert "ca.crt" in out
        root_key = make_key()
        root = make_cert("Tproxy Root", None, root_key, ca=True)
        write_pem(d / "root.crt", root)
        key = make_key()
        write_pem(d / "server.pem", make_cert("tproxy.test", ["tproxy.test"], key, root, root_key), key)
        www = d / "www"
        www.mkdir()
        cls.blob = os.urandom(400_000)
        (www / "blob.bin").write_bytes(cls.blob)
        cls.small = os.urandom(20_000)
        (www / "small.bin").write_bytes(cls.small)
        for port in ("443", "8443"):
            cls.procs.append(subprocess.Popen(
                ["ip", "netns", "exec", s, "openssl", "s_server", "-quiet", "-WWW", "-accept", port,
                 "-cert", str(d / "server.pem")], cwd=www, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        # nginx for the concurrency test (s_server answers one connection at a time).
        (d / "nginx.conf").write_text(
            f"worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/nginx.err;\n"
            "events { worker_connections 4096; }\n"
            f"http {{ access_log off; server {{ listen 10.77.2.2:9443 ssl backlog=4096; "
            f"ssl_certificate {d}/server.pem; ssl_certificate_key {d}/server.pem; root {www}; }} }}\n")
        cls.procs.append(subprocess.Popen(
            ["ip", "netns", "exec", s, "nginx", "-c", str(d / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if ADOPT_PROBE:
            (d / "adopt.yaml").write_text(
                "threads: 2\nlisten:\n  explicit: 127.0.0.1:15003\nca_dir: ca\n"
                "upstream:\n  extra_ca_files: [root.crt]\naudit:\n  file: adopt-audit.jsonl\n")
            cls.procs.append(subprocess.Popen(
                ["ip", "netns", "exec", i, ADOPT_PROBE, str(d / "adopt.yaml"), "0.0.0.0:15002"], cwd=d,
                stdout=subprocess.DEVNULL, stderr=cls.log(d / "adopt.err")))
        (d / "intercept.yaml").write_text(
            "threads: 2\nlisten:\n  transparent: 0.0.0.0:15001\nca_dir: ca\nlimits:\n  max_connections: 4000\n  handshake_timeout: 60s\n"
            "upstream:\n  extra_ca_files: [root.crt]\n  mark: 7\naudit:\n  file: audit.jsonl\n")
        cls.procs.append(subprocess.Popen(
            ["ip", "netns", "exec", i, BIN, "run", "--config", str(d / "intercept.yaml")], cwd=d,
            stdout=subprocess.DEVNULL, stderr=cls.log(d / "intercept.err")))
        time.sleep(1.0)

    @classmethod
    def log(cls, path):
        """A file for a child's stderr, closed in tearDownClass."""
        f = open(path, "w")
        cls.logs = getattr(cls, "logs", []) + [f]
        return f

    @classmethod
    def cleanup_namespaces(cls):
        for ns in cls.NS:
            sh("ip", "netns", "del", ns, check=False)

    @classmethod
    def tearDownClass(cls):
        for p in cls.procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        cls.cleanup_namespaces()
        for f in getattr(cls, "logs", []):
            f.close()
        if os.environ.get("KEEP") != "1":
            shutil.rmtree(cls.dir, ignore_errors=True)

    def records(self, name, count, timeout=8.0):
        deadline = time.time() + timeout
        recs = []
        while time.time() < deadline:
            path = self.dir / name
            if path.exists():
                recs = [json.loads(l) for l in path.read_text().splitlines()]
                if len([r for r in recs if r["type"] == "http"]) >= count:
                    break
            time.sleep(0.2)
        return recs

    def test_adopted_sockets_are_bumped_like_tproxy_ones(self):
        if not ADOPT_PROBE:
            self.skipTest("no adopt_probe binary given")
        r = subprocess.run(["ip", "netns", "exec", self.NS[0], "curl", "-sS", "-v", "--max-time", "10",
                            "--resolve", "tproxy.test:8443:10.77.2.2", "--cacert",
                            str(self.dir / "ca" / "ca.crt"), "https://tproxy.test:8443/blob.bin", "-o", "-"],
                           capture_output=True)
        err = r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 0, err[-2000:])
        self.assertEqual(r.stdout, self.blob)
        self.assertIn("issuer: O=Sluice interception", err)
        recs = [x for x in self.records("adopt-audit.jsonl", 1) if x["type"] == "http"]
        self.assertEqual((recs[0]["mode"], recs[0]["server"], recs[0]["server_port"], recs[0]["sni"]),
                         ("adopted", "10.77.2.2", 8443, "tproxy.test"))

    def test_1000_concurrent_tproxy_connections_all_complete_without_reset(self):
        script = f"""
import hashlib, socket, ssl, sys, threading
ctx = ssl.create_default_context(cafile={str(self.dir / "ca" / "ca.crt")!r})
want = {hashlib.sha256(self.small).hexdigest()!r}
results = []
socks = []
barrier = threading.Barrier(1000)
def one():
    try:
        s = socket.create_connection(("10.77.2.2", 9443), timeout=60)
        barrier.wait()  # all 1000 open at once before any handshake
        with ctx.wrap_socket(s, server_hostname="tproxy.test") as t:
            t.sendall(b"GET /small.bin HTTP/1.0\\r\\nHost: tproxy.test\\r\\n\\r\\n")
            data = b""
            while chunk := t.recv(65536):
                data += chunk
        body = data.split(b"\\r\\n\\r\\n", 1)[1]
        results.append(hashlib.sha256(body).hexdigest() == want)
    except Exception as e:
        results.append(repr(e))
threads = [threading.Thread(target=one) for _ in range(1000)]
[t.start() for t in threads]
[t.join() for t in threads]
bad = [r for r in results if r is not True]
print(len(results), len(bad), bad[:3])
sys.exit(1 if bad or len(results) != 1000 else 0)
"""
        r = subprocess.run(["ip", "netns", "exec", self.NS[0], sys.executable, "-c", script],
                           capture_output=True, text=True, timeout=240)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr[-2000:])
        # Every one bumped and audited; none hit a limit.
        recs = [x for x in self.records("audit.jsonl", 1000) if x["type"] == "http" and x["path"] == "/small.bin"]
        self.assertEqual(len(recs), 1000)

    def test_tproxy_flow_is_bumped_transparently(self):
        r = subprocess.run(["ip", "netns", "exec", self.NS[0], "curl", "-sS", "-v", "--max-time", "10",
                            "--resolve", "tproxy.test:443:10.77.2.2", "--cacert",
                            str(self.dir / "ca" / "ca.crt"), "https://tproxy.test/blob.bin", "-o", "-"],
                           capture_output=True)
        err = r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 0, err[-2000:] + (self.dir / "intercept.err").read_text())
        self.assertEqual(r.stdout, self.blob)
        self.assertIn("issuer: O=Sluice interception", err)
        deadline = time.time() + 5
        recs = []
        while not recs and time.time() < deadline:
            time.sleep(0.2)
            path = self.dir / "audit.jsonl"
            if path.exists():
                recs = [json.loads(l) for l in path.read_text().splitlines()]
                recs = [x for x in recs if x["type"] == "http" and x["path"] == "/blob.bin"]
        self.assertEqual(len(recs), 1)
        self.assertEqual((recs[0]["mode"], recs[0]["server"], recs[0]["server_port"], recs[0]["client"],
                          recs[0]["sni"], recs[0]["path"]),
                         ("tproxy", "10.77.2.2", 443, "10.77.1.2", "tproxy.test", "/blob.bin"))


def main():
    global BIN
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    BIN = str(Path(sys.argv[1]).resolve())
    global ADOPT_PROBE
    if len(sys.argv) > 2 and not sys.argv[2].startswith("-") and "Live" not in sys.argv[2]:
        ADOPT_PROBE = str(Path(sys.argv.pop(2)).resolve())
    if os.geteuid() != 0:
        print("SKIP: the interceptor live tests run as root (namespaces, shared lock)", file=sys.stderr)
        return 77
    sys.argv = [sys.argv[0]] + sys.argv[2:]
    prog = unittest.main(exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
