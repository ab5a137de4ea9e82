#!/usr/bin/env python3
"""Replays captures of real clients through `sluice replay` and checks every expected row.

Usage: replay_expected_test.py [--absent] SLUICE EXPECTED_TSV [CAPTURE_DIR] [-- SLUICE_ARGS...]

EXPECTED_TSV is either the shared corpus format (columns: capture, client_ip, client_port,
server_ip, server_port, sni, first_flight) or a single-capture format (no `capture` column; the
capture is the .pcapng or .pcap beside the TSV with the same stem). Every row must match exactly one
audit record on client and server endpoints, SNI and first_flight; every record must be valid
JSON with the fields the audit format promises. With --absent, no row may be named: used to show
that packets sluice must not trust (e.g. unfinished checksums under --checksum on) build nothing.
"""
import collections
import json
import os
import subprocess
import sys

REQUIRED_FIELDS = {
    "ts", "client_ip", "client_port", "server_ip", "server_port", "transport", "first_flight",
    "sni", "alpn", "tls_versions", "ech", "ja4", "anomalies", "verdict", "rule", "list", "packets_to_server",
    "packets_to_client", "bytes_to_server", "bytes_to_client", "duration_ms",
}

# Rows of the shared corpus whose capture does not contain what the row says, with the reason
# and what the bytes do show. Each is checked against the bytes, so a changed capture fails.
CORPUS_ERRATA = {
    ("nontls-serverfirst-443.pcap", "48816"): (
        "none",
        "the capture holds no payload in either direction (the server's banner never made it "
        "onto the wire: its FIN carries seq 1), so by the bytes it is a connection without a "
        "first flight, not server-speaks-first; samples/school-morning.pcapng has a real one",
    ),
}


def replay(sluice, capture, extra_args=()):
    proc = subprocess.run([sluice, "replay", "--no-summary", *extra_args, capture], capture_output=True,
                          text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"sluice replay {capture} exited {proc.returncode}: {proc.stderr}")
    records = []
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        missing = REQUIRED_FIELDS - record.keys()
        if missing:
            raise AssertionError(f"{capture}: record lacks {sorted(missing)}: {line}")
        records.append(record)
    return records


def load_rows(tsv_path, capture_dir):
    rows = []
    with open(tsv_path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            if not line.strip():
                continue
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            if "capture" in row:
                row["capture_path"] = os.path.join(capture_dir, row["capture"])
            else:
                stem = tsv_path[: -len(".expected.tsv")]
                ext = ".pcapng" if os.path.exists(stem + ".pcapng") else ".pcap"
                row["capture"] = os.path.basename(stem) + ext
                row["capture_path"] = stem + ext
            rows.append(row)
    return rows


def main():
    args = sys.argv[1:]
    extra_args = []
    if "--" in args:
        extra_args = args[args.index("--") + 1:]
        args = args[:args.index("--")]
    absent = "--absent" in args
    args = [a for a in args if a != "--absent"]
    sluice, tsv = args[0], args[1]
    capture_dir = args[2] if len(args) > 2 else os.path.dirname(tsv)
    rows = load_rows(tsv, capture_dir)
    by_capture = collections.defaultdict(list)
    for row in rows:
        by_capture[row["capture_path"]].append(row)

    passed = failed = 0
    for capture, expected in sorted(by_capture.items()):
        records = replay(sluice, capture, extra_args)
        if absent:
            named = [r for r in records if r["sni"] is not None]
            for row in expected:
                name = f"{row['capture']} {row['client_ip']}:{row['client_port']}"
                hits = [r for r in named if r["sni"] == row["sni"]]
                if hits:
                    failed += 1
                    print(f"FAIL {name}: named {row['sni']} with {extra_args}")
                else:
                    passed += 1
                    print(f"ok   {name}: not named with {extra_args}")
            continue
        for row in expected:
            name = f"{row['capture']} {row['client_ip']}:{row['client_port']}"
            want_kind = row["first_flight"]
            erratum = CORPUS_ERRATA.get((row["capture"], row["client_port"]))
            if erratum:
                want_kind = erratum[0]
                print(f"note: {name}: expecting {want_kind}, not {row['first_flight']}: {erratum[1]}")
            want_sni = None if row["sni"] == "-" else row["sni"]
            matches = [r for r in records
                       if r["client_ip"] == row["client_ip"]
                       and str(r["client_port"]) == row["client_port"]
                       and r["server_ip"] == row["server_ip"]
                       and str(r["server_port"]) == row["server_port"]]
            problems = []
            if len(matches) != 1:
                problems.append(f"{len(matches)} records for this connection")
            else:
                r = matches[0]
                if r["sni"] != want_sni:
                    problems.append(f"sni {r['sni']!r}, expected {want_sni!r}")
                if r["first_flight"] != want_kind:
                    problems.append(f"first_flight {r['first_flight']!r}, expected {want_kind!r}")
                if "transport" in row and r["transport"] != row["transport"]:
                    problems.append(f"transport {r['transport']!r}, expected {row['transport']!r}")
                # Optional column: anomalies the record must carry (comma-separated, "-": none).
                wanted = [a for a in row.get("anomalies", "-").split(",") if a and a != "-"]
                missing = [a for a in wanted if a not in r["anomalies"]]
                if missing:
                    problems.append(f"anomalies {r['anomalies']} lack {missing}")
            if problems:
                failed += 1
                print(f"FAIL {name}: " + "; ".join(problems))
            else:
                passed += 1
                print(f"ok   {name}: {want_kind} {want_sni or '-'}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
