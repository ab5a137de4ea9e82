#!/usr/bin/env python3
"""Sluice's counters through Debian's own `dpdk-telemetry.py` (package dpdk-dev), as a network
manager would read them: the real `sluice run` replays the sample capture (net_pcap in, net_null
out), and the script, given the file prefix and commands on stdin, must list the /sluice/*
commands and answer each with Sluice's figures: every packet of the capture received, every flow
created, policy generation 1, port counters by port name.

Usage: telemetry_script_test.py SLUICE CAPTURE EXPECTED_PACKETS
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sluice_conf import write_config  # noqa: E402

SCRIPT = shutil.which("dpdk-telemetry.py") or "/usr/bin/dpdk-telemetry.py"


def telemetry(prefix, commands):
    """Runs dpdk-telemetry.py with `commands` on stdin; one JSON reply per command."""
    out = subprocess.run([sys.executable, SCRIPT, "-f", prefix], input="\n".join(commands) + "\n",
                         capture_output=True, text=True, timeout=30)
    replies = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    if out.returncode != 0 or len(replies) != len(commands):
        raise RuntimeError("dpdk-telemetry.py exit %d, %d replies for %d commands:\n%s\n%s" %
                           (out.returncode, len(replies), len(commands), out.stdout, out.stderr))
    return replies


def main():
    sluice, capture, expected_packets = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if not os.path.exists(SCRIPT):
        print("FAIL: %s not found (Debian package dpdk-dev)" % SCRIPT)
        sys.exit(1)
    d = tempfile.mkdtemp(prefix="sluice-telemetry-")
    prefix = "telemetry-%d" % os.getpid()
    config = write_config(d, prefix, capture=capture)
    proc = subprocess.Popen([sluice, "run", "--config", config], stderr=subprocess.PIPE, text=True)
    failures = []
    try:
        stats = {}
        deadline = time.time() + 60
        while time.time() < deadline:
            sock = "/var/run/dpdk/%s/dpdk_telemetry.v2" % prefix
            if os.path.exists(sock):
                try:
                    stats = telemetry(prefix, ["/sluice/stats"])[0].get("/sluice/stats") or {}
                except RuntimeError:
                    stats = {}  # the socket is there before the commands answer
                if isinstance(stats, dict) and stats.get("rx_packets") == expected_packets:
                    break
            if proc.poll() is not None:
                break
            time.sleep(0.3)
        listing, st, policy, ports, worker = telemetry(
            prefix, ["/", "/sluice/stats", "/sluice/policy", "/sluice/ports", "/sluice/workers,0"])
        for cmd in ("/sluice/stats", "/sluice/workers", "/sluice/policy", "/sluice/ports"):
            if cmd not in listing["/"]:
                failures.append("%s not listed by '/': %s" % (cmd, listing["/"]))
        st = st["/sluice/stats"]
        if st.get("rx_packets") != expected_packets:
            failures.append("rx_packets %s, expected %d" % (st.get("rx_packets"), expected_packets))
        if not st.get("flows_created"):
            failures.append("no flows_created in %s" % st)
        if st.get("workers") != 1 or not isinstance(st.get("malformed_by_reason"), dict):
            failures.append("stats shape: %s" % st)
        policy = policy["/sluice/policy"]
        if policy.get("policy_generation") != 1 or not policy.get("summary"):
            failures.append("policy: %s" % policy)
        ports = ports["/sluice/ports"]
        if ports.get("inside", {}).get("rx_packets") != expected_packets or "outside" not in ports:
            failures.append("ports: %s" % ports)
        worker = worker["/sluice/workers"].get("0")
        if not isinstance(worker, dict) or not worker.get("updates"):
            failures.append("worker 0: %s" % worker)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = -1
        err = proc.stderr.read()
        shutil.rmtree(d, ignore_errors=True)
    if rc != 0:
        failures.append("sluice exit %d" % rc)
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures) + "\n--- sluice stderr ---\n" + err)
        print("0 passed, 1 failed")
        sys.exit(1)
    print("dpdk-telemetry.py read %d packets, %d flows, policy generation 1 from sluice"
          % (expected_packets, st["flows_created"]))
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
