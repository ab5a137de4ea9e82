"""A TCP Fast Open server the live TFO test runs in the server namespace
(`ip netns exec sls python3 THIS PORT`). Standard library only.

Accepts connections with TCP_FASTOPEN on, reads each until the client stops sending for a
second (then closes it), the client closes, or a reset, and prints one JSON line per connection:
{"peer_port", "bytes", "sha256", "ended"}. "bytes" is everything the server's TCP stack handed
to the application, so a first flight that sluice blocked must show 0. Prints {"listening": PORT}
first.
"""

import hashlib
import json
import socket
import sys
import threading

IDLE_S = 1.0


def serve_one(conn: socket.socket, peer_port: int) -> None:
    conn.settimeout(IDLE_S)
    data, ended = b"", "closed"
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        ended = "reset"
    except socket.timeout:
        ended = "idle"
    conn.close()
    print(json.dumps({"peer_port": peer_port, "bytes": len(data),
                      "sha256": hashlib.sha256(data).hexdigest(), "ended": ended}), flush=True)


def main() -> int:
    port = int(sys.argv[1])
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 64)
    s.bind(("0.0.0.0", port))
    s.listen(64)
    print(json.dumps({"listening": port}), flush=True)
    while True:
        conn, peer = s.accept()
        threading.Thread(target=serve_one, args=(conn, peer[1]), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
