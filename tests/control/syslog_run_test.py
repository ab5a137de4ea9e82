#!/usr/bin/env python3
"""`sluice run` with a file sink and a syslog sink to a real rsyslogd (Debian's rsyslog).

The sample capture goes through the live appliance (net_pcap in, net_null out). rsyslogd is
killed (SIGKILL) after the first records arrive and restarted on the same port; at SIGTERM sluice
writes the close records. rsyslog must have parsed, for every record of the audit file, one RFC
5424 message at least (duplicates allowed) whose sequenceId is the record's position in the file
and whose MSG is that very line; sluice's exit report must say nothing was dropped or left
undelivered.

Usage: syslog_run_test.py SLUICE CAPTURE
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# One configuration of the real process over vdevs, shared with the deployment tests.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "deploy"))
from sluice_conf import write_config  # noqa: E402

RSYSLOG_CONF = """global(workDirectory="{dir}")
module(load="imtcp")
module(load="mmpstrucdata")
template(name="parsed" type="string"
         string="%hostname%\\t%app-name%\\t%msgid%\\t%$!rfc5424-sd!meta!sequenceid%\\t%msg%\\n")
ruleset(name="in") {{
  action(type="mmpstrucdata")
  action(type="omfile" file="{dir}/received.log" template="parsed")
}}
input(type="imtcp" address="127.0.0.1" port="{port}" listenPortFileName="{dir}/port" ruleset="in")
"""

SYSLOG_SINK = """    - type: syslog
      address: "127.0.0.1:{port}"
      hostname: run-test
      backoff_min: 20ms
      backoff_max: 200ms
"""


def listening(port):
    local = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        return any(l.split()[1] == local and l.split()[3] == "0A" for l in f.readlines()[1:])


def start_rsyslog(binary, d, port):
    with open(os.path.join(d, "rsyslog.conf"), "w") as f:
        f.write(RSYSLOG_CONF.format(dir=d, port=port))
    proc = subprocess.Popen([binary, "-n", "-f", os.path.join(d, "rsyslog.conf"), "-i",
                             os.path.join(d, "rsyslogd.pid")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        if port == 0 and os.path.exists(os.path.join(d, "port")):
            text = open(os.path.join(d, "port")).read().strip()
            if text:
                return proc, int(text)
        if port != 0 and listening(port):
            return proc, port
        time.sleep(0.02)
    proc.kill()
    raise SystemExit("rsyslogd did not start listening")


def received(d):
    path = os.path.join(d, "received.log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [l.rstrip("\n").split("\t") for l in f if l.strip()]


def wait_for(cond, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def main():
    sluice, capture = sys.argv[1], os.path.abspath(sys.argv[2])
    rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    if not os.access(rsyslogd, os.X_OK):
        print("rsyslogd not found: install Debian's rsyslog (scripts/install-deps.sh)")
        return 1
    failures = []
    with tempfile.TemporaryDirectory(prefix="sluice-syslog-run-") as d:
        rsyslog, port = start_rsyslog(rsyslogd, d, 0)
        conf = write_config(d, "syslog-run-%d" % os.getpid(), capture=capture, telemetry=False,
                            blocklist=False, extra_sinks=SYSLOG_SINK.format(port=port))
        run = subprocess.Popen([sluice, "run", "--config", conf], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        try:
            if not wait_for(lambda: len(received(d)) > 0, 60):
                failures.append("no record reached rsyslog")
            rsyslog.kill()  # SIGKILL, mid-run
            rsyslog.wait()
            rsyslog, _ = start_rsyslog(rsyslogd, d, port)
            time.sleep(1.0)  # sluice notices, backs off, reconnects and resends
            run.send_signal(signal.SIGTERM)
            out, err = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
            # Let rsyslog write what it received, then stop it.
            time.sleep(0.5)
            rsyslog.terminate()
            rsyslog.wait(timeout=10)
        if run.returncode != 0:
            failures.append(f"sluice run exited {run.returncode}: {err[-2000:]}")
        with open(os.path.join(d, "audit.jsonl")) as f:
            lines = [l.rstrip("\n") for l in f]
        got = received(d)
        by_id = {}
        for fields in got:
            if len(fields) != 5:
                failures.append(f"unparsed line: {fields!r}"[:200])
                continue
            host, app, msgid, seq, msg = fields
            if (host, app) != ("run-test", "sluice") or msgid not in ("verdict", "close"):
                failures.append(f"header fields: {fields[:4]!r}")
            by_id.setdefault(int(seq), set()).add(msg)
        if not lines:
            failures.append("the audit file is empty")
        for i, line in enumerate(lines, start=1):
            if i not in by_id:
                failures.append(f"sequenceId {i} never reached rsyslog: {line[:120]}")
            elif by_id[i] != {line}:
                failures.append(f"sequenceId {i}: rsyslog's MSG differs from the audit line")
        if set(by_id) - set(range(1, len(lines) + 1)):
            failures.append(f"ids beyond the audit file: {sorted(set(by_id))[-5:]}")
        report = re.search(r"audit syslog 127\.0\.0\.1:\d+: (\d+) records queued, (\d+) "
                           r"acknowledged \((\d+) sent again after (\d+) lost connections\), "
                           r"(\d+) dropped \(buffer full\), (\d+) not delivered at exit", err)
        if not report:
            failures.append(f"no syslog report on stderr: {err[-1500:]}")
        else:
            queued, _, resent, lost, dropped, undelivered = map(int, report.groups())
            if queued != len(lines) or dropped != 0 or undelivered != 0 or lost < 1:
                failures.append(f"exit report: {report.group(0)}")
            print(f"{len(lines)} records; rsyslog wrote {len(got)} messages "
                  f"({len(got) - len(by_id)} duplicates); {resent} sent again after {lost} "
                  "lost connection(s)")
        if "connection lost" not in err:
            failures.append("the lost connection was not logged")
    for f in failures[:30]:
        print("FAIL:", f)
    print(f"{1 if not failures else 0} passed, {1 if failures else 0} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
