#!/usr/bin/env python3
"""`sluice replay` on input that is not a readable capture: non-zero exit, one-line reason.

Usage: replay_errors_test.py SLUICE
"""
import os
import subprocess
import sys
import tempfile


def run(sluice, *args):
    return subprocess.run([sluice, "replay", *args], capture_output=True, text=True, timeout=60)


def main():
    sluice = sys.argv[1]
    failures = []
    passed = 0
    with tempfile.TemporaryDirectory() as tmp:
        text_file = os.path.join(tmp, "notes.txt")
        with open(text_file, "w") as f:
            f.write("this is not a capture\n" * 10)
        truncated = os.path.join(tmp, "empty.pcap")
        open(truncated, "wb").close()
        cases = [
            ("missing file", os.path.join(tmp, "nope.pcap"), "cannot read capture"),
            ("text file", text_file, "is not a pcap or pcapng capture"),
            ("empty file", truncated, "is not a pcap or pcapng capture"),
            ("directory", tmp, "capture"),
        ]
        for name, path, needle in cases:
            p = run(sluice, path)
            lines = [l for l in p.stderr.splitlines() if l.strip()]
            problems = []
            if p.returncode == 0:
                problems.append("exit code 0")
            if p.stdout:
                problems.append(f"records printed: {p.stdout[:80]!r}")
            if len(lines) != 1:
                problems.append(f"{len(lines)} lines on stderr: {p.stderr!r}")
            elif needle not in lines[0]:
                problems.append(f"reason {lines[0]!r} lacks {needle!r}")
            if problems:
                failures.append(f"{name}: " + "; ".join(problems))
            else:
                passed += 1
                print(f"ok   {name}: exit {p.returncode}: {lines[0]}")
        p = run(sluice, "--checksum", "sometimes", text_file)
        if p.returncode == 0:
            failures.append("bad option value accepted")
        else:
            passed += 1
            print("ok   bad option value refused")
    for f in failures:
        print("FAIL " + f)
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
