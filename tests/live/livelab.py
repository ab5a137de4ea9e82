"""What the live tests of `sluice run` share: the namespace lab, a sluice process in the
appliance namespace, per-test configurations derived from deploy/config/sluice-test-namespaces.yaml,
the audit file, DPDK telemetry, and real clients run in the client namespace.

Nothing here mocks the network: the lab is scripts/lab/netns-lab.sh (client `slc`, appliance
`sla`, server `sls` with nginx), sluice is the real binary bridging two af_packet ports, and the
clients are curl, openssl s_client, Python's ssl module, headless Chromium and h2load.

Environment (set by run_live.py from its arguments): SLUICE_BIN (the sluice binary),
SLUICE_SRC (the source tree). SLUICE_LIVE_KEEP=1 keeps each test's directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

SRC = Path(os.environ.get("SLUICE_SRC", Path(__file__).resolve().parents[2]))
SLUICE = os.environ.get("SLUICE_BIN", str(SRC / "build" / "dataplane" / "app" / "sluice"))
LAB = SRC / "scripts" / "lab" / "netns-lab.sh"
BASE_CONFIG = SRC / "deploy" / "config" / "sluice-test-namespaces.yaml"
BASE_LISTS = SRC / "deploy" / "config" / "lists"
CLIENTS = Path(__file__).resolve().parent / "lab_clients.py"
STATE = Path(os.environ.get("SLUICE_LAB_DIR", "/run/sluice-lab"))
CA = STATE / "ca" / "ca.crt"
ACCESS_LOG = STATE / "logs" / "access.log"

CLI_NS, APP_NS, SRV_NS = "slc", "sla", "sls"
SERVER_IP, SERVER_IP2 = "10.0.0.1", "10.0.0.2"
STAFF_IP, GUEST_IP = "10.0.1.10", "10.0.2.10"
SERVER_IP6, STAFF_IP6 = "fd00:5c::1", "fd00:5c::1:10"  # IPv6 on the same segment (netns-lab.sh)
RUNNING_LINE = "sluice: running"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
# curl exit codes for a connection the peer reset: 35 during the TLS handshake, 56 receiving.
CURL_RESET_CODES = (35, 56)
# The machine is shared (2 CPUs): every wait is bounded, generously.
CLIENT_TIMEOUT_S = 60


# ---------------------------------------------------------------------------- the lab

def lab(*args: str, timeout: float = 900) -> None:
    """Runs netns-lab.sh with ARGS; raises with its output if it fails. `up` may install
    packages on a fresh machine, hence the long timeout."""
    r = subprocess.run(["bash", str(LAB), *args], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"netns-lab.sh {' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")


def lab_up_for_module(*args: str) -> None:
    """setUpModule helper: builds the lab (cleaning any previous run); on failure leaves
    nothing behind, since unittest does not call tearDownModule when setUpModule fails."""
    try:
        lab("up", *args)
    except BaseException:
        lab_down_quietly()
        raise


def lab_down_quietly() -> None:
    try:
        lab("down", timeout=120)
    except Exception as e:  # teardown must not hide the test's own failure
        print(f"warning: lab down: {e}", file=sys.stderr)


def in_ns(ns: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def run_client(argv: list[str], timeout: float = CLIENT_TIMEOUT_S, ns: str = CLI_NS,
               input: bytes | None = None) -> subprocess.CompletedProcess:
    """Runs a client in NS (the client namespace by default), bounded in time. A client that
    hangs is a failure of the path it tests, reported as a CompletedProcess with returncode
    -9 and a note on stderr, never a hung test."""
    try:
        return subprocess.run(in_ns(ns, argv), capture_output=True, timeout=timeout,
                              input=input if input is not None else b"")
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(argv, -9, e.stdout or b"",
                                           (e.stderr or b"") + f"\n[timed out after {timeout}s]".encode())


def curl(url: str, *extra: str, source: str | None = None, timeout: float = 20) -> subprocess.CompletedProcess:
    """curl in the client namespace trusting the test CA; stdout is the body and, after a
    final line "\\n@@ LOCALPORT HTTPCODE", what -w reports (printed on failures too)."""
    argv = ["curl", "-sS", "--cacert", str(CA), "--max-time", str(int(timeout)),
            "-w", "\n@@ %{local_port} %{http_code}"]
    if source:
        argv += ["--interface", source]
    return run_client(argv + list(extra) + [url], timeout=timeout + 10)


def curl_port(r: subprocess.CompletedProcess) -> int | None:
    m = re.search(rb"\n@@ (\d+) (\d+)$", r.stdout)
    return int(m.group(1)) if m and m.group(1) != b"0" else None


def describe(r: subprocess.CompletedProcess) -> str:
    out = r.stdout[-600:].decode(errors="replace")
    err = r.stderr[-1200:].decode(errors="replace")
    return f"exit {r.returncode}\n--- stdout (tail)\n{out}\n--- stderr (tail)\n{err}"


def access_log_size() -> int:
    try:
        return ACCESS_LOG.stat().st_size
    except FileNotFoundError:
        return 0


def access_log_since(offset: int) -> str:
    with open(ACCESS_LOG, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def server_established_from(client_ip: str, client_port: int) -> list[str]:
    """Sockets in the server namespace still ESTABLISHED with that client endpoint."""
    r = subprocess.run(in_ns(SRV_NS, ["ss", "-Htn", "state", "established", "dst",
                                      f"{client_ip}:{client_port}"]),
                       capture_output=True, text=True, timeout=20)
    return [line for line in r.stdout.splitlines() if line.strip()]


def sluice_has_run_command() -> bool:
    """Whether `sluice --help` lists a `run` subcommand (`sluice run --help` alone proves
    nothing: CLI11 answers --help before it rejects an unknown subcommand)."""
    try:
        r = subprocess.run([SLUICE, "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    subcommands = r.stdout.partition("Subcommands:")[2]
    return re.search(r"(?m)^\s+run\b", subcommands) is not None


# ---------------------------------------------------------------------------- configuration

def derive_config(workdir: Path, *, file_prefix: str, flows_capacity: int | None = None,
                  first_flight_buffers: int | None = None, closing_timeout: str | None = None,
                  monitor: bool = False, config_edit=None) -> Path:
    """Writes WORKDIR/sluice.yaml from the shipped test-namespaces example, with the lists
    copied to WORKDIR/lists (so a test may edit them), the audit file at WORKDIR/audit.jsonl,
    the bypass state at WORKDIR/bypass.json and its own DPDK file prefix. Edits are textual and each must apply exactly once, so a
    change to the example that breaks a derivation fails loudly here."""
    text = BASE_CONFIG.read_text()

    def sub(pattern: str, repl: str) -> None:
        nonlocal text
        text, n = re.subn(pattern, repl, text, count=1, flags=re.M)
        if n != 1:
            raise AssertionError(f"{BASE_CONFIG}: no line matches {pattern!r}: the live tests "
                                 "derive their configurations from it")

    sub(r"^(\s*file_prefix:\s*)\S+", rf"\g<1>{file_prefix}")
    sub(r"^(\s*path:\s*)/\S+", rf"\g<1>{workdir / 'audit.jsonl'}")
    sub(r"^(\s*state_file:\s*)/\S+", rf"\g<1>{workdir / 'bypass.json'}")
    if flows_capacity is not None:
        sub(r"^(\s*capacity:\s*)\d+", rf"\g<1>{flows_capacity}")
    if first_flight_buffers is not None:
        sub(r"^(\s*buffers:\s*)\d+", rf"\g<1>{first_flight_buffers}")
    if closing_timeout is not None:
        sub(r"^(\s*closing:\s*)\S+", rf"\g<1>{closing_timeout}")
    if monitor:
        # Mirror and inject ports instead of the inline pair (REFERENCE.md, `monitor`): the
        # lines from `ports:` to `lcores:` are replaced.
        start, end = text.find("\nports:\n"), text.find("\nlcores:\n")
        if start < 0 or end < start:
            raise AssertionError(f"{BASE_CONFIG}: no `ports:` ... `lcores:` section to replace")
        text = (text[:start] + "\nports:\n"
                "  - name: mirror\n"
                "    device: \"net_af_packet0,iface=sl-mon,qpairs=2\"\n"
                "  - name: inject\n"
                "    device: \"net_af_packet1,iface=sl-inj,qpairs=2\"\n\n"
                "mode: monitor\n"
                "monitor:\n"
                "  mirror: mirror\n"
                "  inject: inject\n" + text[end:])
    if config_edit is not None:
        text = config_edit(text)  # a test's own change (a callable: text -> text)
    shutil.copytree(BASE_LISTS, workdir / "lists")
    path = workdir / "sluice.yaml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------- sluice

class Sluice:
    """`sluice run --config CONFIG` in the appliance namespace. start() returns once sluice
    printed "sluice: running" on stderr; stop() sends SIGTERM and returns the exit code."""

    def __init__(self, config: Path, workdir: Path, file_prefix: str):
        self.config = config
        self.workdir = workdir
        self.file_prefix = file_prefix
        self.stderr_path = workdir / "sluice.stderr"
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> None:
        err = open(self.stderr_path, "wb")
        # `ip netns exec` execs the command: the process we signal is sluice itself.
        self.proc = subprocess.Popen(in_ns(APP_NS, [SLUICE, "run", "--config", str(self.config)]),
                                     stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        err.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if RUNNING_LINE in self.stderr():
                return
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                raise AssertionError(f"sluice run exited with {self.proc.returncode} before "
                                     f"'{RUNNING_LINE}':\n{self.stderr()[-4000:]}")
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"sluice run did not print '{RUNNING_LINE}' within "
                             f"{START_TIMEOUT_S}s:\n{self.stderr()[-4000:]}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Sends SIG and waits; kills it (and fails) if it does not exit in time."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"sluice did not exit within {STOP_TIMEOUT_S}s of "
                                     f"signal {sig}:\n{self.stderr()[-4000:]}")
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(f"/var/run/dpdk/{self.file_prefix}", ignore_errors=True)

    # ------------------------------------------------------------------ telemetry
    def telemetry(self, command: str = "/sluice/stats") -> dict:
        """One DPDK telemetry command over /var/run/dpdk/PREFIX/dpdk_telemetry.v2."""
        path = f"/var/run/dpdk/{self.file_prefix}/dpdk_telemetry.v2"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
                s.settimeout(10)
                s.connect(path)
                hello = json.loads(s.recv(65536).decode())
                s.send(command.encode())
                size = int(hello.get("max_output_len", 16384)) + 1024
                return json.loads(s.recv(size).decode())
        except (OSError, ValueError) as e:
            raise AssertionError(f"telemetry {command} over {path}: {type(e).__name__}: {e}")


def counter_total(tree, name: str) -> int | None:
    """Sum of every numeric value under key NAME anywhere in a telemetry answer (per worker or
    total, whatever its shape); None when the key never appears."""
    found = []

    def walk(n):
        if isinstance(n, dict):
            for k, v in n.items():
                if k == name and isinstance(v, (int, float)):
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)

    walk(tree)
    return int(sum(found)) if found else None


# ---------------------------------------------------------------------------- audit

def read_audit(path: Path) -> list[dict]:
    """Every record of the audit file (and its rotated copies, oldest first)."""
    files = sorted(path.parent.glob(path.name + ".*"), key=lambda p: -int(p.suffix[1:])
                   if p.suffix[1:].isdigit() else 0)
    records = []
    for f in [*files, path]:
        if not f.exists():
            continue
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise AssertionError(f"{f}:{n}: not a JSON line ({e}): {line[:300]}")
    return records


def flow_key(r: dict) -> tuple:
    return (r.get("client_ip"), r.get("client_port"), r.get("server_ip"), r.get("server_port"),
            r.get("flow_start"))


class Audit:
    """The records of one run, with verdict and close records paired by flow."""

    def __init__(self, path: Path):
        self.records = read_audit(path)
        self.verdicts = [r for r in self.records if r.get("event") == "verdict"]
        self.closes = [r for r in self.records if r.get("event") == "close"]
        self.close_by_key = {flow_key(r): r for r in self.closes}

    def verdicts_for(self, **match) -> list[dict]:
        return [r for r in self.verdicts if all(r.get(k) == v for k, v in match.items())]

    def close_for(self, verdict: dict) -> dict | None:
        return self.close_by_key.get(flow_key(verdict))

    def by_client_port(self, port: int, event: str = "verdict") -> list[dict]:
        return [r for r in self.records if r.get("event") == event and r.get("client_port") == port]

    def summary(self, limit: int = 12) -> str:
        lines = [json.dumps(r, separators=(",", ":")) for r in self.records[-limit:]]
        return f"{len(self.records)} records ({len(self.verdicts)} verdict, " \
               f"{len(self.closes)} close); last {len(lines)}:\n" + "\n".join(lines)


# ---------------------------------------------------------------------------- test case

class LiveTestCase(unittest.TestCase):
    """A test with its own directory, configuration and sluice. Subclasses call
    self.start_sluice(**derive_config options) and self.stop_sluice()."""

    maxDiff = None
    _counter = 0

    def setUp(self) -> None:
        LiveTestCase._counter += 1
        self.workdir = Path(tempfile.mkdtemp(prefix=f"sluice-live-{self._testMethodName}-"))
        self.file_prefix = f"sluice-live-{os.getpid()}-{LiveTestCase._counter}"
        self.sluice: Sluice | None = None
        self.addCleanup(self._cleanup)

    def _cleanup(self) -> None:
        if self.sluice is not None:
            if self.sluice.alive():
                print(f"\n[{self.id()}] sluice still running at cleanup: killed", file=sys.stderr)
            self.sluice.cleanup()
        result = getattr(getattr(self, "_outcome", None), "result", None)
        failed = result is not None and any(t is self for t, _ in result.failures + result.errors)
        if os.environ.get("SLUICE_LIVE_KEEP") == "1" or failed:
            print(f"\n[{self.id()}] kept {self.workdir}", file=sys.stderr)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def audit_path(self) -> Path:
        return self.workdir / "audit.jsonl"

    @property
    def lists(self) -> Path:
        return self.workdir / "lists"

    def start_sluice(self, **config_options) -> Sluice:
        config = derive_config(self.workdir, file_prefix=self.file_prefix, **config_options)
        self.sluice = Sluice(config, self.workdir, self.file_prefix)
        self.sluice.start()
        return self.sluice

    def stop_sluice(self) -> Audit:
        """SIGTERM; exit 0 is required. Returns the audit records."""
        assert self.sluice is not None
        rc = self.sluice.stop(signal.SIGTERM)
        self.assertEqual(rc, 0, f"sluice exit code after SIGTERM:\n{self.sluice.stderr()[-4000:]}")
        return Audit(self.audit_path)

    def counter(self, name: str) -> int:
        """One of the running sluice's counters, summed over workers and ports (telemetry)."""
        assert self.sluice is not None
        return counter_total(self.sluice.telemetry(), name) or 0

    def wait_counter(self, name: str, at_least: int, timeout: float = 10) -> int:
        """The counter once it reaches AT_LEAST, or its value after TIMEOUT. Workers publish
        their counters every 10 ms (later on a loaded machine), so a count read the instant a
        client finishes may not include that client yet."""
        deadline = time.monotonic() + timeout
        value = self.counter(name)
        while value < at_least and time.monotonic() < deadline:
            time.sleep(0.05)
            value = self.counter(name)
        return value

    def assert_alive(self) -> None:
        assert self.sluice is not None
        self.assertTrue(self.sluice.alive(),
                        f"sluice exited ({self.sluice.proc.returncode}):\n{self.sluice.stderr()[-4000:]}")

    def assert_passed(self, r: subprocess.CompletedProcess, what: str) -> None:
        self.assertEqual(r.returncode, 0, f"{what} should pass through sluice: {describe(r)}"
                         f"\n--- sluice stderr (tail)\n{self.sluice.stderr()[-2000:] if self.sluice else ''}")

    def assert_big_download(self, url: str, what: str, source: str | None = None) -> subprocess.CompletedProcess:
        """curl downloads the lab's 50 MB file from URL through sluice; its SHA-256 must match."""
        want = (STATE / "www" / "big.bin.sha256").read_text().split()[0]
        out = self.workdir / "big.bin"
        r = curl(url, "-o", str(out), source=source, timeout=120)
        self.assert_passed(r, what)
        h = hashlib.sha256()
        with open(out, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        out.unlink()
        self.assertEqual(h.hexdigest(), want, f"{what}: the 50 MB file changed on its way through sluice")
        return r

    def assert_reset(self, r: subprocess.CompletedProcess, what: str) -> None:
        err = r.stderr.decode(errors="replace")
        self.assertTrue(r.returncode in CURL_RESET_CODES or "reset by peer" in err.lower(),
                        f"{what} should be reset by sluice (curl exit 35/56, 'Connection reset "
                        f"by peer'): {describe(r)}")

    def assert_verdict(self, record: dict, verdict: str, rule: str | None = None,
                       list_suffix: str | None = None) -> None:
        self.assertEqual(record.get("verdict"), verdict, record)
        if rule is not None:
            self.assertEqual(record.get("rule"), rule, record)
        if list_suffix is not None:
            self.assertTrue(str(record.get("list") or "").endswith(list_suffix),
                            f"list should end with {list_suffix}: {record}")


# ---------------------------------------------------------------------------- clients

def python_get(url: str, source: str | None = None) -> subprocess.CompletedProcess:
    """Python's ssl module (lab_clients.py get): stdout is one JSON line."""
    return run_client([sys.executable, str(CLIENTS), "get", url, str(CA), *([source] if source else [])])


def openssl_get(address: str, servername: str | None, path: str = "/hello",
                host: str | None = None) -> subprocess.CompletedProcess:
    """openssl s_client to ADDRESS:443 with SNI SERVERNAME (None: -noservername), verifying
    against the test CA, sending one HTTP/1.1 request."""
    argv = ["openssl", "s_client", "-connect", f"{address}:443", "-CAfile", str(CA),
            "-verify_return_error", "-quiet"]
    argv += ["-servername", servername] if servername else ["-noservername"]
    req = f"GET {path} HTTP/1.1\r\nHost: {host or servername or address}\r\nConnection: close\r\n\r\n"
    return run_client(argv, input=req.encode())


def chromium_dom(url: str, profile_dir: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    """Headless Chromium's DOM of URL; every lab name maps to 10.0.0.1."""
    host = urlsplit_host(url)
    argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile_dir}", "--ignore-certificate-errors",
            f"--host-resolver-rules=MAP {host} {SERVER_IP}", "--dump-dom", url]
    return run_client(argv, timeout=timeout)


def urlsplit_host(url: str) -> str:
    return re.sub(r"^\w+://", "", url).split("/")[0].split(":")[0]


def h2load(url: str, connections: int, rate: int = 0, rate_period: str = "1s",
           timeout: float = 300) -> tuple[subprocess.CompletedProcess, dict]:
    """h2load over HTTP/1.1, one request per connection (-n = -c): with RATE, RATE new
    connections every RATE_PERIOD. Returns the run and its request counts (total, started,
    done, succeeded, failed, errored, timeout)."""
    argv = ["h2load", "--h1", "-c", str(connections), "-n", str(connections), "-t", "1",
            "-N", "15s", "-T", "30s"]
    if rate:
        argv += ["-r", str(rate), "--rate-period", rate_period]
    r = run_client(argv + [url], timeout=timeout)
    m = re.search(rb"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  rb"(\d+) failed, (\d+) errored, (\d+) timeout", r.stdout)
    keys = ("total", "started", "done", "succeeded", "failed", "errored", "timeout")
    counts = dict(zip(keys, map(int, m.groups()))) if m else {}
    return r, counts


class Holder:
    """lab_clients.py hold-tls / hold-tcp in the client namespace: connections kept open until
    close(). ports: the client ports of the connections it opened."""

    def __init__(self, *args: str, timeout: float = 120):
        self.proc = subprocess.Popen(in_ns(CLI_NS, [sys.executable, str(CLIENTS), *args]),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        import select
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise AssertionError(f"lab_clients.py {' '.join(args)} did not report its "
                                 f"connections: {self.proc.stderr.read()[-2000:]}")
        info = json.loads(line)
        self.ports: list[int] = info["local_ports"]
        self.failed: int = info.get("failed", 0)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                self.proc.kill()
                self.proc.wait()
