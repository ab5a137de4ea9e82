#!/usr/bin/env python3
"""`sluice replay --config`: the policy of a `sluice run` configuration judges every flow.

Usage: replay_policy_test.py SLUICE CONFIG CAPTURE

Replays samples/school-morning.pcapng with tests/data/config/replay-policy.yaml and checks each
record's verdict, rule and list, the summary's intercept fallback count, and that a refused
configuration or policy ends with exit code 2 and a one-line reason.
"""
import json
import re
import os
import subprocess
import sys
import tempfile

# client_port -> (verdict, rule, list). Every other flow passes under a default.
EXPECTED = {
    # Chrome's hellos carry an encrypted_client_hello extension (GREASE, with the real name in the
    # SNI): rules come before the ech default, so the entertainment rule blocks them.
    "56358": ("block", "block_entertainment", "entertainment.domains"),  # www.youtube.com
    "56364": ("block", "block_entertainment", "entertainment.domains"),
    "56402": ("block", "block_entertainment", "entertainment.domains"),  # www.roblox.com
    "56466": ("block", "block_short_video", "short-video.hosts"),  # www.tiktok.com
    # discord.com: intercept, carried out as the intercept_fallback (block); the rule stays.
    "56476": ("block", "staff_chat", "chat.domains"),
    "55486": ("pass", "audit_mail_server", "mail-server.cidrs"),  # server-speaks-first, by address
    "56418": ("pass", "default_no_sni", None),
    "58260": ("pass", "default_no_sni", None),
    "56480": ("pass", "default_non_tls", None),
    "56494": ("pass", "default_non_tls", None),
}


def run(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def main():
    sluice, config, capture = sys.argv[1:4]
    failures = []
    proc = run([sluice, "replay", "--config", config, capture])
    if proc.returncode != 0:
        print(f"FAIL sluice replay --config exited {proc.returncode}: {proc.stderr}")
        return 1
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    if len(records) != 19:
        failures.append(f"expected 19 records, got {len(records)}")
    for r in records:
        port = str(r["client_port"])
        want = EXPECTED.get(port, ("pass", "default", None))
        got = (r["verdict"], r["rule"], r.get("list", "<missing>"))
        if got != want:
            failures.append(f"flow {port} ({r['sni'] or r.get('http_host')}): {got}, expected {want}")
    if "intercept fallbacks: 1 (intercept carried out as block)" not in proc.stderr:
        failures.append("summary lacks the intercept fallback count:\n" + proc.stderr)
    blocked = sum(1 for verdict, _, _ in EXPECTED.values() if verdict == "block")
    if not re.search(rf"^\s+block\s+{blocked}$", proc.stderr, re.MULTILINE):
        failures.append(f"summary does not count {blocked} blocked flows:\n" + proc.stderr)

    # Without --config: every flow passes, rule no_policy, list null.
    plain = run([sluice, "replay", "--no-summary", capture])
    for line in plain.stdout.splitlines():
        r = json.loads(line)
        if (r["verdict"], r["rule"], r.get("list", "<missing>")) != ("pass", "no_policy", None):
            failures.append(f"without a policy: {line}")
            break

    # Refusals: exit 2, one line naming the problem, nothing on stdout.
    with tempfile.TemporaryDirectory() as tmp:
        with open(config) as f:
            base = f.read().split("policy:")[0]
        with open(os.path.join(tmp, "bad.patterns"), "w") as f:
            f.write("ok\\.example\n(unclosed\n")
        bad_policy = os.path.join(tmp, "bad-policy.yaml")
        with open(bad_policy, "w") as f:
            f.write(base + "policy:\n  rules:\n    - name: pat\n      kind: patterns\n"
                    "      files: [bad.patterns]\n      action: block\n")
        bad_config = os.path.join(tmp, "bad-config.yaml")
        with open(bad_config, "w") as f:
            f.write(base + "policy:\n  rules:\n    - name: x\n      kind: nonsense\n"
                    "      files: [bad.patterns]\n      action: block\n")
        for name, path, needle in [
            ("missing config", os.path.join(tmp, "absent.yaml"), "absent.yaml"),
            ("invalid config", bad_config, "bad-config.yaml:"),
            ("policy that does not compile", bad_policy, "bad.patterns"),
        ]:
            p = run([sluice, "replay", "--config", path, capture])
            lines = p.stderr.strip().splitlines()
            if p.returncode != 2 or p.stdout or len(lines) != 1 or needle not in p.stderr:
                failures.append(f"{name}: exit {p.returncode}, stderr {p.stderr!r}")

    for f in failures:
        print("FAIL " + f)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
