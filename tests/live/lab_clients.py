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
  tfo-hello ADDRESS PORT SNI
      sends a real ClientHello for SNI (Python's ssl, never completed) in a TCP Fast Open SYN
      (MSG_FASTOPEN: the data rides in the SYN once a cookie for ADDRESS is cached), then
      reads until the peer closes or resets; prints {"local_port", "sent", "sha256", "ended"} where
      ended is "closed", "reset" or "timeout".
"""

import hashlib
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


def client_hello(sni: str) -> bytes:
    """The first flight Python's ssl module would send to SNI."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def cmd_tfo_hello(address: str, port: str, sni: str) -> int:
    hello = client_hello(sni)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("0.0.0.0", 0))  # the port is known even if the connection dies in sendto
    local_port = s.getsockname()[1]
    ended = "closed"
    try:
        # connect + send in one: with a cached cookie the SYN carries the hello; without one
        # the SYN asks for a cookie and the hello follows the handshake. Blocking, so that
        # sendto waits for the handshake instead of failing with EINPROGRESS.
        sent = s.sendto(hello, socket.MSG_FASTOPEN, (address, int(port)))
        if sent < len(hello):
            s.sendall(hello[sent:])
        s.settimeout(10)
        while s.recv(65536):
            pass
    except (ConnectionResetError, ConnectionRefusedError):  # reset after / during the handshake
        ended = "reset"
    except socket.timeout:
        ended = "timeout"
    s.close()
    print(json.dumps({"local_port": local_port, "sent": len(hello),
                      "sha256": hashlib.sha256(hello).hexdigest(), "ended": ended}))
    return 0


def main() -> int:
    commands = {"get": cmd_get, "hold-tls": cmd_hold_tls, "hold-tcp": cmd_hold_tcp,
                "tfo-hello": cmd_tfo_hello}
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
