"""Clients the live tests run inside the client namespace (`ip netns exec slc python3 THIS ...`).
Standard library only.

  get URL CAFILE [SOURCE]
      one HTTPS GET with Python's ssl module, verifying the server against CAFILE; prints a
      JSON line {"local_port", "status", "body"}; exit 1 with the error on stderr.
  hold-tls N HOST CAFILE [SOURCE]
      opens N TLS connections to HOST:443 (SNI HOST), makes one keep-alive request on each,
      prints {"local_ports": [...]} and keeps them open until stdin closes.
  hold-tcp N ADDRESS PORT
      opens N TCP connections that send nothing (a flow whose first flight never comes),
      prints {"local_ports": [...], "failed": F} and keeps them open until stdin closes.
"""

import json
import resource
import socket
import ssl
import sys
from urllib.parse import urlsplit


def tls_connect(host: str, cafile: str, source: str | None, timeout: float = 20):
    ctx = ssl.create_default_context(cafile=cafile)
    raw = socket.create_connection((host, 443), timeout=timeout,
                                   source_address=(source, 0) if source else None)
    return ctx.wrap_socket(raw, server_hostname=host)


def read_response(s) -> tuple[int, bytes]:
    """Reads one HTTP/1.1 response with a Content-Length (what nginx sends here)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed in the response head: {buf[:200]!r}")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed in the body")
        body += chunk
    return status, body


def request(s, host: str, path: str, close: bool) -> tuple[int, bytes]:
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sluice-live-python\r\n"
              f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n".encode())
    return read_response(s)


def cmd_get(url: str, cafile: str, source: str | None = None) -> int:
    u = urlsplit(url)
    with tls_connect(u.hostname, cafile, source) as s:
        port = s.getsockname()[1]
        status, body = request(s, u.hostname, u.path or "/", close=True)
    print(json.dumps({"local_port": port, "status": status,
                      "body": body.decode(errors="replace")}))
    return 0


def raise_fd_limit(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, n + 64), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def hold(conns, ports, failed=0) -> int:
    print(json.dumps({"local_ports": ports, "failed": failed}), flush=True)
    sys.stdin.read()  # until the test closes our stdin
    for c in conns:
        c.close()
    return 0


def cmd_hold_tls(n: str, host: str, cafile: str, source: str | None = None) -> int:
    raise_fd_limit(int(n))
    conns, ports = [], []
    for _ in range(int(n)):
        s = tls_connect(host, cafile, source)
        status, _ = request(s, host, "/hello", close=False)
        if status != 200:
            raise RuntimeError(f"status {status}")
        conns.append(s)
        ports.append(s.getsockname()[1])
    return hold(conns, ports)


def cmd_hold_tcp(n: str, address: str, port: str) -> int:
    raise_fd_limit(int(n))
    conns, ports, failed = [], [], 0
    for _ in range(int(n)):
        try:
            s = socket.create_connection((address, int(port)), timeout=5)
        except OSError:
            failed += 1
            continue
        conns.append(s)
        ports.append(s.getsockname()[1])
    return hold(conns, ports, failed)


def main() -> int:
    commands = {"get": cmd_get, "hold-tls": cmd_hold_tls, "hold-tcp": cmd_hold_tcp}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        return commands[sys.argv[1]](*sys.argv[2:])
    except (OSError, ssl.SSLError, ConnectionError, RuntimeError) as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
