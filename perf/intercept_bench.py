"""The interception benchmark: full TLS handshakes per second and bumped HTTP/1.1 throughput of
sluice-intercept beside Squid 5 ssl-bump (squid-openssl) and mitmproxy, same machine, same run,
same client (intercept_load) and the same nginx upstream. Each proxy is pinned to one CPU
(`--proxy-cpu`), so handshakes/s is per core; the client and nginx share the other CPU.

  intercept_bench.py SLUICE_INTERCEPT INTERCEPT_LOAD [--seconds S] [--reps N] [--out FILE]

Prints a Markdown table; ratios are sluice-intercept's figure over each peer's, measured in the
same repetition. Needs root (Squid drops to the proxy user) and the Debian packages squid-openssl,
mitmproxy, nginx-light.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "live"))
from intercept_live import make_cert, make_key, write_pem  # noqa: E402  (one certificate maker)

UPSTREAM = 25443          # no session cache, no tickets: every handshake toward it is a full one
UPSTREAM_TICKETS = 25444  # the same content with TLS session tickets, as most servers have
PORTS = {"sluice-intercept": 25128, "squid": 25129, "mitmproxy": 25130}


def wait_port(port, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} never listened on {port}")


def tree_cpu_seconds(pid):
    """User + system CPU seconds of a process and all its descendants (Squid's helpers too)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("intercept")
    ap.add_argument("load")
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--proxy-cpu", default="1")
    ap.add_argument("--client-cpu", default="0")
    ap.add_argument("--out")
    ap.add_argument("--only", help="comma-separated proxies to run (for profiling one); default all")
    args = ap.parse_args()
    # Every proxy is started (the set-up is shared); only these are measured.
    measured = [n for n in PORTS if not args.only or n in args.only.split(",") or n == "sluice-intercept"]
    args.intercept = str(Path(args.intercept).resolve())
    args.load = str(Path(args.load).resolve())
    d = Path(tempfile.mkdtemp(prefix="sluice-intercept-bench-"))
    os.chmod(d, 0o755)
    procs = []
    try:
        subprocess.run([args.intercept, "ca", "init", "--dir", str(d / "ca")], check=True,
                       capture_output=True)
        root_key = make_key()
        root = make_cert("Bench Upstream Root", None, root_key, ca=True)
        write_pem(d / "root.crt", root)
        key = make_key()
        write_pem(d / "server.pem", make_cert("localhost", ["localhost"], key, root, root_key), key)
        www = d / "www"
        www.mkdir()
        (www / "small.html").write_bytes(os.urandom(2048))
        (www / "big.bin").write_bytes(os.urandom(16 << 20))
        # Two upstreams alike but for session tickets (most real servers issue them).
        servers = "".join(f"""  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {d}/server.pem;
    ssl_certificate_key {d}/server.pem;
    ssl_session_cache off;
    ssl_session_tickets {tickets};
    root {www};
  }}
""" for port, tickets in ((UPSTREAM, "off"), (UPSTREAM_TICKETS, "on")))
        (d / "nginx.conf").write_text(f"""
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/nginx.err;
events {{ worker_connections 4096; }}
http {{
  access_log off;
{servers}}}
""")
        cpu_c = ["taskset", "-c", args.client_cpu]
        cpu_p = ["taskset", "-c", args.proxy_cpu]
        procs.append(subprocess.Popen(cpu_c + ["nginx", "-c", str(d / "nginx.conf"), "-g", "daemon off;"]))
        # sluice-intercept: one loop thread (per core).
        (d / "intercept.yaml").write_text(
            f"threads: 1\nlisten:\n  explicit: 127.0.0.1:{PORTS['sluice-intercept']}\nca_dir: ca\n"
            f"upstream:\n  extra_ca_files: [root.crt]\n  allow_local_destinations: true\n"
            f"audit:\n  file: audit.jsonl\n")
        pids = {}
        procs.append(subprocess.Popen(cpu_p + [args.intercept, "run", "--config", str(d / "intercept.yaml")],
                                      cwd=d, stderr=open(d / "intercept.err", "w")))
        pids["sluice-intercept"] = procs[-1].pid
        # Squid ssl-bump with the same CA (key and certificate in one PEM), peek then bump.
        ca_pem = (d / "ca" / "ca.crt").read_bytes() + (d / "ca" / "ca.key").read_bytes()
        (d / "squid-ca.pem").write_bytes(ca_pem)
        (d / "mitm").mkdir()
        (d / "mitm" / "mitmproxy-ca.pem").write_bytes((d / "ca" / "ca.key").read_bytes() +
                                                      (d / "ca" / "ca.crt").read_bytes())
        subprocess.run(["/usr/lib/squid/security_file_certgen", "-c", "-s", str(d / "ssl_db"), "-M", "16MB"],
                       check=True, capture_output=True)
        shutil.chown(d / "ssl_db", "proxy", "proxy")
        for p in (d / "ssl_db").rglob("*"):
            shutil.chown(p, "proxy", "proxy")
        for f in ("squid-ca.pem", "root.crt"):
            os.chmod(d / f, 0o644)
        (d / "squid.conf").write_text(f"""
http_port 127.0.0.1:{PORTS['squid']} ssl-bump tls-cert={d}/squid-ca.pem generate-host-certificates=on dynamic_cert_mem_cache_size=16MB
sslcrtd_program /usr/lib/squid/security_file_certgen -s {d}/ssl_db -M 16MB
sslcrtd_children 5
acl step1 at_step SslBump1
ssl_bump peek step1
ssl_bump bump all
tls_outgoing_options cafile={d}/root.crt
http_access allow all
cache deny all
access_log none
cache_log {d}/squid-cache.log
pid_filename {d}/squid.pid
coredump_dir {d}
cache_effective_user proxy
""")
        procs.append(subprocess.Popen(cpu_p + ["squid", "-N", "-f", str(d / "squid.conf")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        pids["squid"] = procs[-1].pid
        procs.append(subprocess.Popen(cpu_p + ["mitmdump", "-q", "--listen-host", "127.0.0.1", "--listen-port",
                                               str(PORTS["mitmproxy"]), "--set", f"confdir={d / 'mitm'}",
                                               "--set", f"ssl_verify_upstream_trusted_ca={d / 'root.crt'}",
                                               # stream bodies instead of buffering each whole
                                               "--set", "stream_large_bodies=1m"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        pids["mitmproxy"] = procs[-1].pid
        wait_port(UPSTREAM, "nginx")
        for name, port in PORTS.items():
            try:
                wait_port(port, name)
            except RuntimeError:
                for log in ("intercept.err", "squid-cache.log"):
                    if (d / log).exists():
                        print(log, (d / log).read_text()[-1500:], file=sys.stderr)
                raise

        def load(name, path, threads, seconds, upstream=UPSTREAM):
            out = subprocess.run(cpu_c + [args.load, f"127.0.0.1:{PORTS[name]}", f"localhost:{upstream}",
                                          str(d / "ca" / "ca.crt"), path, str(threads), str(seconds)],
                                 check=True, capture_output=True, text=True).stdout
            return json.loads(out)

        rows = {n: {"hs": [], "hs_cpu": [], "hs_cpu_tickets": [], "mbit": [], "errors": 0} for n in measured}
        for name in measured:  # warm-up, and a check that each proxy works at all
            for upstream in (UPSTREAM, UPSTREAM_TICKETS):
                r = load(name, "/small.html", 1, 1, upstream)
                if r["ok"] == 0:
                    raise RuntimeError(f"{name}: no request succeeded through it to {upstream} ({r})")
        for _ in range(args.reps):
            for name in measured:
                cpu_before = tree_cpu_seconds(pids[name])
                r = load(name, "/small.html", args.threads, args.seconds)
                cpu = tree_cpu_seconds(pids[name]) - cpu_before
                rows[name]["hs"].append(r["per_second"])
                # Per second of the proxy's own CPU: not capped by the client sharing a CPU.
                rows[name]["hs_cpu"].append(r["ok"] / cpu if cpu > 0 else 0.0)
                rows[name]["errors"] += r["errors"]
                # The same toward a server that issues session tickets: a proxy may resume there.
                cpu_before = tree_cpu_seconds(pids[name])
                r = load(name, "/small.html", args.threads, args.seconds, UPSTREAM_TICKETS)
                cpu = tree_cpu_seconds(pids[name]) - cpu_before
                rows[name]["hs_cpu_tickets"].append(r["ok"] / cpu if cpu > 0 else 0.0)
                rows[name]["errors"] += r["errors"]
                r = load(name, "/big.bin", 1, args.seconds)
                rows[name]["mbit"].append(r["mbit_per_second"])
                rows[name]["errors"] += r["errors"]
        med = lambda v: sorted(v)[len(v) // 2]
        ours = rows["sluice-intercept"]
        lines = [
            f"# Interception benchmark ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC)",
            "",
            f"`perf/run-intercept-bench.sh`: {args.reps} repetitions of {args.seconds:g} s per row, each proxy "
            f"pinned to CPU {args.proxy_cpu}, client (`intercept_load`, {args.threads} threads) and nginx on CPU "
            f"{args.client_cpu}. Handshakes: one CONNECT, one full TLS 1.3 handshake toward the client and one "
            "toward nginx, one 2 KiB GET per connection. Throughput: one connection, a 16 MiB body. "
            "Handshakes per proxy CPU-second divide the handshakes done by the CPU time the proxy (with its "
            "helper processes) used meanwhile: the per-core figure when the client, not the proxy, is the "
            "limit. The next column is the same toward a second nginx server that issues TLS session "
            "tickets (as most real servers do), where a proxy may resume its server side: the client side "
            "stays a full handshake. Medians; ratio = sluice-intercept / peer.",
            "",
            "| proxy | handshakes/s (wall, 1 core) | ratio | handshakes per proxy CPU-second | ratio | "
            "same, server issues tickets | ratio | bumped HTTP/1.1 Mbit/s | ratio | errors |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        ratio = lambda a, b: f"{a / b:.2f}x" if b > 0 else "n/a (peer at 0)"
        print(json.dumps(rows), file=sys.stderr)
        for name, r in rows.items():
            hs, hc, ht, mb = med(r["hs"]), med(r["hs_cpu"]), med(r["hs_cpu_tickets"]), med(r["mbit"])
            lines.append(f"| {name} | {hs:.0f} | {ratio(med(ours['hs']), hs)} | {hc:.0f} | "
                         f"{ratio(med(ours['hs_cpu']), hc)} | {ht:.0f} | "
                         f"{ratio(med(ours['hs_cpu_tickets']), ht)} | {mb:.0f} | "
                         f"{ratio(med(ours['mbit']), mb)} | {r['errors']} |")
        text = "\n".join(lines) + "\n"
        print(text)
        if args.out:
            Path(args.out).write_text(text)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        if os.environ.get("KEEP") == "1":
            print(f"kept {d}", file=sys.stderr)
        else:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
