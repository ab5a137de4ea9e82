#!/usr/bin/env python3
"""deploy/appliance/sluice-appliance-netns.sh against the kernel, in namespaces of its own. A
"router" namespace holds both ends of a veth pair; one end stands for sluice's TAP and the
script moves it into the appliance namespace it builds (--from-netns), as it does with the
real TAP. Then, for IPv4 and IPv6:

- a connection the router makes to a far address on port 443, routed via the appliance
  address, is handed by the TPROXY rule to a transparent listener (what sluice-intercept's
  listen.transparent is), which sees the far address as its own, and data flows both ways;
- the same to port 80 (not in --tproxy-ports), or from a source outside --tproxy-from, is not
  taken: the "not adopted yet" rule drops it; --tproxy without --tproxy-from is refused;
- `up` a second time changes nothing, `status` shows the table, `down` removes the namespace.

Usage: appliance_netns_test.py SOURCE_DIR   (root; nft, iproute2)
"""
import os
import subprocess
import sys
import textwrap
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from outcome import check, finish  # noqa: E402

ROUTER, APPLIANCE, TAP = "sl-nstest-r", "sl-nstest-a", "sl-nstest0"
TPROXY_PORT = 15001
FAR4, FAR6 = "198.18.0.1", "2001:db8:77::1"

def sh(*args, check_rc=True, timeout=60):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.returncode}\n{r.stdout}{r.stderr}")
    return r


# Accepts on 0.0.0.0 and [::] with IP(V6)_TRANSPARENT and answers each connection with the
# local address it was accepted on, after echoing what the client sent.
LISTENER = textwrap.dedent(f"""
    import socket, threading
    def serve(family, opt_level, opt, host):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(opt_level, opt, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, {TPROXY_PORT}))
        s.listen(8)
        while True:
            c, _ = s.accept()
            data = c.recv(100)
            local = c.getsockname()
            c.sendall(data + f" {{local[0]}} {{local[1]}}".encode())
            c.close()
    threading.Thread(target=serve, args=(socket.AF_INET, socket.SOL_IP, 19, "0.0.0.0"), daemon=True).start()
    threading.Thread(target=serve, args=(socket.AF_INET6, socket.IPPROTO_IPV6, 75, "::"), daemon=True).start()
    print("listening", flush=True)
    threading.Event().wait()
""")

CLIENT = textwrap.dedent("""
    import socket, sys
    host, port = sys.argv[1], int(sys.argv[2])
    try:
        s = socket.create_connection((host, port), timeout=3)
        s.sendall(b"hello")
        print(s.recv(200).decode())
    except OSError as e:
        print(f"error {type(e).__name__}")
""")


def client(host, port):
    r = sh("ip", "netns", "exec", ROUTER, sys.executable, "-c", CLIENT, host, str(port))
    return r.stdout.strip()


def cleanup(script):
    sh("bash", script, "down", "--netns", APPLIANCE, check_rc=False)
    sh("ip", "netns", "del", ROUTER, check_rc=False)


def main():
    src = sys.argv[1]
    script = os.path.join(src, "deploy/appliance/sluice-appliance-netns.sh")
    cleanup(script)
    listener = None
    try:
        sh("ip", "netns", "add", ROUTER)
        sh("ip", "-n", ROUTER, "link", "add", TAP, "type", "veth", "peer", "name", "rtr0")
        sh("ip", "netns", "exec", ROUTER, "sysctl", "-qw", "net.ipv6.conf.all.accept_ra=0")
        for dev in ("lo", "rtr0"):
            sh("ip", "-n", ROUTER, "link", "set", dev, "up")
        sh("ip", "-n", ROUTER, "link", "set", "rtr0", "addrgenmode", "none")
        sh("ip", "-n", ROUTER, "addr", "add", "10.99.0.1/24", "dev", "rtr0")
        sh("ip", "-n", ROUTER, "addr", "add", "fd99::1/64", "dev", "rtr0", "nodad")
        sh("ip", "-n", ROUTER, "route", "add", "198.18.0.0/24", "via", "10.99.0.2")
        sh("ip", "-n", ROUTER, "-6", "route", "add", "2001:db8:77::/64", "via", "fd99::2")

        up = ["bash", script, "up", "--netns", APPLIANCE, "--tap", TAP, "--from-netns", ROUTER,
              "--address", "10.99.0.2/24", "--gateway", "10.99.0.1",
              "--address6", "fd99::2/64", "--gateway6", "fd99::1", "--tproxy", str(TPROXY_PORT),
              "--tproxy-from", "10.99.0.0/24", "--tproxy-from", "fd99::/64"]
        routes = ["--client-route", "10.20.0.0/16", "--client-route", "10.21.0.5/32",
                  "--client-route6", "fd20::/64"]
        r = sh(*up, *routes, check_rc=False)
        check(r.returncode == 0, f"up: {r.stdout}{r.stderr}")
        r = sh(*up, *routes, check_rc=False)
        check(r.returncode == 0, f"up a second time: {r.stdout}{r.stderr}")
        shown = sh("ip", "-n", APPLIANCE, "route", "show").stdout + sh("ip", "-n", APPLIANCE, "-6", "route", "show").stdout
        for prefix in ("10.20.0.0/16 via 169.254.77.1", "10.21.0.5 via 169.254.77.1", "fd20::/64 via fe80::4d:1"):
            check(prefix in shown, f"client route {prefix} missing:\n{shown}")
        rules = sh("ip", "netns", "exec", APPLIANCE, "nft", "list", "table", "inet",
                   "sluice_appliance").stdout
        check(rules.count("tproxy") == 2, f"one TPROXY rule per family after two `up`s:\n{rules}")

        listener = subprocess.Popen(["ip", "netns", "exec", APPLIANCE, sys.executable, "-c", LISTENER],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        check(listener.stdout.readline().strip() == "listening", "the transparent listener did not start")

        got = client(FAR4, 443)
        check(got == f"hello {FAR4} 443", f"IPv4 to {FAR4}:443 through TPROXY: {got!r}")
        got = client(FAR6, 443)
        check(got == f"hello {FAR6} 443", f"IPv6 to [{FAR6}]:443 through TPROXY: {got!r}")
        got = client(FAR4, 80)
        check(got.startswith("error"), f"port 80 is not in --tproxy-ports, yet: {got!r}")
        # A source outside --tproxy-from is not taken: the router's second address.
        sh("ip", "-n", ROUTER, "addr", "add", "10.98.0.1/32", "dev", "lo")
        r = sh("ip", "netns", "exec", ROUTER, sys.executable, "-c",
               CLIENT.replace("create_connection((host, port), timeout=3)",
                              "create_connection((host, port), timeout=3, source_address=('10.98.0.1', 0))"),
               FAR4, "443")
        check(r.stdout.strip().startswith("error"), f"a source outside --tproxy-from got in: {r.stdout!r}")
        r = sh("bash", script, "up", "--netns", APPLIANCE, "--tap", TAP, "--from-netns", ROUTER,
               "--address", "10.99.0.2/24", "--tproxy", str(TPROXY_PORT), check_rc=False)
        check(r.returncode != 0 and "--tproxy needs --tproxy-from" in r.stderr,
              f"--tproxy without --tproxy-from: {r.returncode} {r.stderr}")

        status = sh("bash", script, "status", "--netns", APPLIANCE, check_rc=False)
        check("tproxy ip to :15001" in status.stdout, f"status:\n{status.stdout}{status.stderr}")
        counters = sh("ip", "netns", "exec", APPLIANCE, "nft", "list", "table", "inet",
                      "sluice_appliance").stdout
        check("not adopted yet" in counters, counters)

        # An `up` that no longer names a client network takes its route away.
        r = sh(*up, "--client-route", "10.20.0.0/16", check_rc=False)
        check(r.returncode == 0 and "client route 10.21.0.5 removed" in r.stderr, f"up with fewer routes: {r.stderr}")
        shown = sh("ip", "-n", APPLIANCE, "route", "show").stdout + sh("ip", "-n", APPLIANCE, "-6", "route", "show").stdout
        check("10.20.0.0/16 via" in shown and "10.21.0.5" not in shown and "fd20::" not in shown,
              f"routes after an up with fewer client networks:\n{shown}")
        check("default via 10.99.0.1" in shown and "default via fd99::1" in shown, f"gateways kept:\n{shown}")
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        sh("bash", script, "down", "--netns", APPLIANCE, check_rc=False)
        time.sleep(0.2)
        check(not os.path.exists(f"/run/netns/{APPLIANCE}"), "down left the namespace")
        cleanup(script)
    finish()


if __name__ == "__main__":
    main()
