#!/usr/bin/env python3
"""`sluice run` speaks systemd's notification protocol (deploy/systemd/sluice.service is
Type=notify): this test is the service manager. It binds the $NOTIFY_SOCKET datagram socket that
systemd would, starts the real sluice (vdev ports, no hugepages) and checks, in order:
STATUS= during start-up; READY=1 only once the ports and workers run, with the policy generation;
WATCHDOG=1 when WATCHDOG_USEC is set; SIGHUP -> RELOADING=1 then READY=1 with the next
generation; a broken policy -> READY=1 with the refusal and the old generation; the unit's
ExecReload (`sluicectl policy reload` through the API) -> the same notifications, and its exit
status fails with the refusal's file and line and succeeds once the policy is mended;
SIGUSR1 (logrotate's postrotate) reopens the audit file without a reload, and does not end sluice
when it comes during start-up; SIGTERM -> STOPPING=1 and exit 0.

Usage: sd_notify_test.py SLUICE SLUICECTL
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sluice_conf import write_config  # noqa: E402


def fail(msg, proc=None):
    if proc is not None:
        proc.kill()
        out = proc.stderr.read() if proc.stderr else ""
        msg += "\n--- sluice stderr ---\n" + out
    print("FAIL: " + msg)
    sys.exit(1)


class Manager:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []

    def wait_for(self, pred, what, timeout=60.0, proc=None):
        """Reads datagrams until one satisfies pred; returns it (every one is kept)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.time()))
            try:
                data = self.sock.recv(65536).decode()
            except socket.timeout:
                break
            fields = dict(l.split("=", 1) for l in data.split("\n") if "=" in l)
            self.messages.append(fields)
            if pred(fields):
                return fields
        fail("no %s notification; got %r" % (what, self.messages), proc)


def main():
    sluice, sluicectl = sys.argv[1], sys.argv[2]
    d = tempfile.mkdtemp(prefix="sluice-notify-")
    api = os.path.join(d, "api.sock")
    config = write_config(d, "notify-%d" % os.getpid(), telemetry=False, api_socket=api)
    m = Manager(os.path.join(d, "notify.sock"))
    env = dict(os.environ, NOTIFY_SOCKET=os.path.join(d, "notify.sock"), WATCHDOG_USEC="400000")
    proc = subprocess.Popen([sluice, "run", "--config", config], env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        m.wait_for(lambda f: f.get("STATUS", "").startswith("reading the configuration"),
                   "first STATUS", proc=proc)
        # A nightly logrotate may signal while the policy still compiles: SIGUSR1's default
        # action would end the process, so it must already be caught.
        proc.send_signal(signal.SIGUSR1)
        m.wait_for(lambda f: f.get("STATUS", "").startswith("starting DPDK"), "EAL STATUS",
                   proc=proc)
        ready = m.wait_for(lambda f: "READY" in f, "READY=1", proc=proc)
        if ready["READY"] != "1" or ready.get("STATUS") != (
                "running (1 workers, 2 ports, inline mode); policy generation 1"):
            fail("READY message: %r" % ready, proc)
        # Nothing said READY before the ports were up: the only earlier messages are STATUS.
        before = m.messages[:m.messages.index(ready)]
        if any(set(f) != {"STATUS"} for f in before):
            fail("messages before READY: %r" % before, proc)
        m.wait_for(lambda f: f.get("WATCHDOG") == "1", "WATCHDOG=1", timeout=5, proc=proc)

        proc.send_signal(signal.SIGHUP)
        r = m.wait_for(lambda f: "RELOADING" in f, "RELOADING=1", proc=proc)
        if r.get("STATUS") != "reloading the policy (SIGHUP)":
            fail("RELOADING message: %r" % r, proc)
        # CLOCK_MONOTONIC in microseconds, as systemd's own: within a minute of ours.
        mono_us = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        if not r.get("MONOTONIC_USEC", "").isdigit() or \
                abs(int(r["MONOTONIC_USEC"]) - mono_us) > 60_000_000:
            fail("RELOADING without a MONOTONIC_USEC near now (%d): %r" % (mono_us, r), proc)
        r = m.wait_for(lambda f: "READY" in f, "READY=1 after the reload", proc=proc)
        if not r.get("STATUS", "").endswith("; policy generation 2"):
            fail("READY after reload: %r" % r, proc)

        # A policy that does not compile: the unit stays ready, STATUS says why.
        with open(os.path.join(d, "blocklist.txt"), "w") as f:
            f.write("bad..name\n")
        proc.send_signal(signal.SIGHUP)
        m.wait_for(lambda f: "RELOADING" in f, "RELOADING=1 (bad policy)", proc=proc)
        r = m.wait_for(lambda f: "READY" in f, "READY=1 after a refused reload", proc=proc)
        status = r.get("STATUS", "")
        if "policy reload refused (" not in status or "blocklist.txt" not in status or \
                not status.endswith("generation 2 still running"):
            fail("READY after a refused reload: %r" % r, proc)

        # The unit's ExecReload: sluicectl waits for the outcome and fails with the refusal...
        exec_reload = [sluicectl, "--socket", api, "--timeout", "280", "policy", "reload"]
        c = subprocess.run(exec_reload, capture_output=True, text=True, timeout=120)
        if c.returncode != 1 or "blocklist.txt:1" not in c.stderr + c.stdout:
            fail("sluicectl policy reload of a broken policy: exit %d\n%s%s"
                 % (c.returncode, c.stdout, c.stderr), proc)
        r = m.wait_for(lambda f: "RELOADING" in f, "RELOADING=1 (API)", proc=proc)
        if r.get("STATUS") != "reloading the policy (api)":
            fail("RELOADING message of an API reload: %r" % r, proc)
        r = m.wait_for(lambda f: "READY" in f, "READY=1 after a refused API reload", proc=proc)
        if "policy reload refused (" not in r.get("STATUS", ""):
            fail("READY after a refused API reload: %r" % r, proc)
        # ...and succeeds once the list is mended.
        with open(os.path.join(d, "blocklist.txt"), "w") as f:
            f.write("blocked.example\n")
        c = subprocess.run(exec_reload, capture_output=True, text=True, timeout=120)
        if c.returncode != 0 or "published as generation 3" not in c.stdout:
            fail("sluicectl policy reload: exit %d\n%s%s" % (c.returncode, c.stdout, c.stderr), proc)
        m.wait_for(lambda f: "RELOADING" in f, "RELOADING=1 (API, mended)", proc=proc)
        r = m.wait_for(lambda f: "READY" in f, "READY=1 after the API reload", proc=proc)
        if not r.get("STATUS", "").endswith("; policy generation 3"):
            fail("READY after the API reload: %r" % r, proc)

        # logrotate renamed the file: SIGUSR1 makes sluice open a new one, and reloads nothing.
        audit = os.path.join(d, "audit.jsonl")
        os.rename(audit, audit + ".1")
        proc.send_signal(signal.SIGUSR1)
        deadline = time.time() + 10
        while not os.path.exists(audit) and time.time() < deadline:
            time.sleep(0.05)
        if not os.path.exists(audit):
            fail("SIGUSR1 did not reopen the audit file", proc)
        time.sleep(0.3)
        if any("RELOADING" in f for f in m.messages[-5:]) and \
                sum("RELOADING" in f for f in m.messages) != 4:
            fail("SIGUSR1 started a policy reload: %r" % m.messages, proc)

        proc.send_signal(signal.SIGTERM)
        s = m.wait_for(lambda f: "STOPPING" in f, "STOPPING=1", proc=proc)
        if not s.get("STATUS", "").startswith("stopping"):
            fail("STOPPING message: %r" % s, proc)
        rc = proc.wait(timeout=60)
        err = proc.stderr.read()
        if rc != 0:
            fail("exit code %d\n%s" % (rc, err))
        if sum("RELOADING" in f for f in m.messages) != 4:
            fail("expected exactly four reloads: %r" % m.messages)
    finally:
        if proc.poll() is None:
            proc.kill()
    print("sd_notify: %d notifications, READY/RELOADING/WATCHDOG/STOPPING as expected"
          % len(m.messages))
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
