"""Shared helpers for the evasive sample clients.

A real ClientHello is made by Python's ssl module (OpenSSL) through an SSLObject on memory BIOs,
so the caller decides how the bytes reach the wire; the handshake is then finished through the
same SSLObject, fed with whatever the server sends back.
"""
import socket
import ssl


def add_connection_args(ap):
    """The options every sample client takes: where to connect and which name to send."""
    ap.add_argument("--connect", required=True, help="server address")
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--sni", required=True)
    ap.add_argument("--cafile", help="CA to verify the server with (default: no verification)")


def make_tls(sni, cafile=None, alpn=("http/1.1",)):
    """Returns (sslobj, incoming, outgoing) for a client handshake to `sni`."""
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    incoming = ssl.MemoryBIO()
    outgoing = ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_side=False, server_hostname=sni)
    return obj, incoming, outgoing


def client_hello(obj, outgoing):
    """Runs the handshake until it needs the server; returns the bytes OpenSSL wants sent."""
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = outgoing.read()
    if not data or data[0] != 0x16:
        raise RuntimeError("the ssl module did not produce a TLS handshake record")
    return data


def connect(host, port, timeout=5.0, nodelay=True):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    if nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.connect((host, port))
    return sock


def finish_handshake(sock, obj, incoming, outgoing, received=b""):
    """Feeds server bytes into the SSLObject until the handshake is done.

    `received` holds server bytes the caller already read. Returns (ok, detail)."""
    if received:
        incoming.write(received)
    while True:
        try:
            obj.do_handshake()
            out = outgoing.read()
            if out:
                sock.sendall(out)
            return True, "%s %s" % (obj.version(), obj.cipher()[0])
        except ssl.SSLWantReadError:
            out = outgoing.read()
            if out:
                sock.sendall(out)
        except ssl.SSLError as e:
            return False, "ssl error: %s" % e.reason
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return False, "timeout waiting for the server"
        if not chunk:
            return False, "server closed the connection"
        incoming.write(chunk)


def http_get(sock, obj, incoming, outgoing, host, path="/"):
    """Sends a GET over the finished TLS session; returns the status line (or an error)."""
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sluice-sample\r\n"
           "Connection: close\r\n\r\n" % (path, host)).encode()
    obj.write(req)
    sock.sendall(outgoing.read())
    body = b""
    while True:
        try:
            data = obj.read(65536)
            if not data:
                break
            body += data
            continue
        except ssl.SSLWantReadError:
            pass
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
        out = outgoing.read()
        if out:
            sock.sendall(out)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            incoming.write_eof()
            continue
        incoming.write(chunk)
    try:
        obj.unwrap()
    except ssl.SSLError:
        pass
    out = outgoing.read()
    if out:
        try:
            sock.sendall(out)
        except OSError:
            pass
    line = body.split(b"\r\n", 1)[0].decode("latin-1")
    return line or "no response"
