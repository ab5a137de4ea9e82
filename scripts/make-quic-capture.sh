#!/usr/bin/env bash
# Remakes tests/data/captures/quic-chromium.pcap and quic-chromium.expected.tsv: headless
# Chromium forced to QUIC (--origin-to-force-quic-on) toward two names, captured on the client's
# side of a veth pair (offloads off: real checksums). Something must listen on UDP 443 or the
# ICMP port-unreachable ends Chromium's attempt after one packet: a Python socket in the server
# namespace receives the datagrams and never answers, so Chromium sends its first flight (the
# ClientHello in one or more Initials, post-quantum key share included) and retransmits it.
# The capture keeps the client's datagrams to UDP 443 only, at most MAX_PER_FLOW per flow (the
# first flight and a retransmission or two), so it stays small.
#
# The self-check decrypts every kept Initial independently (python3-cryptography: HKDF, AES-ECB
# header protection, AES-GCM), reassembles the CRYPTO frames and checks the SNI of each flow is
# the name Chromium was asked for.
#
#   sudo scripts/make-quic-capture.sh            # writes into tests/data/captures/
#   sudo OUT_DIR=/tmp/x scripts/make-quic-capture.sh
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_DIR=${OUT_DIR:-$REPO/tests/data/captures}
NAME=${NAME:-quic-chromium}
MAX_PER_FLOW=${MAX_PER_FLOW:-4}

CLI_NS=sluice-quic-client
SRV_NS=sluice-quic-server
CLI_IF=squic-cli
SRV_IF=squic-srv
CLI4=10.79.0.2
SRV4=10.79.0.1
PY=/usr/bin/python3 # Debian's python3: python3-scapy and python3-cryptography are for it
export PYTHONDONTWRITEBYTECODE=1
NAMES=(quic-a.example www.quic-b.example)

LOG_TAG=make-quic-capture
# shellcheck source=SCRIPTDIR/lib/netns.sh
source "$REPO/scripts/lib/netns.sh"

[[ $EUID -eq 0 ]] || die "run as root: sudo $0"

install_missing chromium=chromium tcpdump=tcpdump ip=iproute2 ethtool=ethtool timeout=coreutils \
  "$PY=python3"
"$PY" -c 'import scapy' 2>/dev/null || apt_install python3-scapy
"$PY" -c 'import cryptography' 2>/dev/null || apt_install python3-cryptography

WORK=$(mktemp -d /tmp/make-quic-capture.XXXXXX)
trap 'cleanup "$CLI_NS" "$SRV_NS"' EXIT

setup_veth_pair "$CLI_NS" "$CLI_IF" "$SRV_NS" "$SRV_IF" off
add_addresses "$SRV_NS" "$SRV_IF" "$SRV4/24"
add_addresses "$CLI_NS" "$CLI_IF" "$CLI4/24"

# A silent UDP listener: receives, never answers.
ip netns exec "$SRV_NS" "$PY" -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('$SRV4', 443))
while True:
    s.recvfrom(65535)
" &
PIDS+=($!)

start_capture "$CLI_NS" "$CLI_IF"
mkdir -p "$WORK/logs"
for name in "${NAMES[@]}"; do
  log "chromium -> https://$name/ over QUIC"
  # Chromium gives up on the silent server only after its handshake timeout; 4 s is plenty for
  # the first flight and a few retransmissions. Its exit status is not the point.
  timeout 4 ip netns exec "$CLI_NS" chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$WORK/profile-$name" --ignore-certificate-errors \
    --enable-quic --origin-to-force-quic-on="$name:443" \
    --host-resolver-rules="MAP $name $SRV4" --dump-dom "https://$name/" \
    >"$WORK/logs/$name.out" 2>"$WORK/logs/$name.err" </dev/null || true
  sleep 0.3
done
stop_capture

"$PY" - "$WORK/raw.pcap" "$OUT_DIR/$NAME.pcap" "$OUT_DIR/$NAME.expected.tsv" "$MAX_PER_FLOW" \
  "$CLI4" "$SRV4" "${NAMES[@]}" <<'PYEOF'
import struct, sys
from scapy.all import IP, UDP, rdpcap, wrpcap
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hmac import HMAC

raw, out_pcap, out_tsv, max_per_flow, cli, srv = sys.argv[1:7]
names = sys.argv[7:]
SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")

def hmac(key, data):
    h = HMAC(key, hashes.SHA256()); h.update(data); return h.finalize()

def expand_label(secret, label, length):
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + b"\x00\x01"
    return hmac(secret, info)[:length]

def varint(b, i):
    n = 1 << (b[i] >> 6); v = b[i] & 0x3f
    for k in range(1, n): v = (v << 8) | b[i + k]
    return v, i + n

def read_initials(dgram, keys):
    """Yields (dcid, crypto frames) of each v1 Initial in a datagram."""
    i = 0
    while i < len(dgram) and dgram[i] & 0x80:
        start = i
        ver = struct.unpack("!I", dgram[i + 1:i + 5])[0]
        dl = dgram[i + 5]; dcid = dgram[i + 6:i + 6 + dl]; j = i + 6 + dl
        sl = dgram[j]; j += 1 + sl
        ptype = (dgram[start] >> 4) & 3
        if ver != 1: raise SystemExit(f"unexpected QUIC version {ver:#x}")
        if ptype == 0:
            tl, j = varint(dgram, j); j += tl
        length, j = varint(dgram, j)
        end = j + length
        if ptype == 0:
            if keys[0] is None:
                secret = expand_label(hmac(SALT_V1, dcid), b"client in", 32)
                keys[0] = tuple(expand_label(secret, l, n) for l, n in
                                ((b"quic key", 16), (b"quic iv", 12), (b"quic hp", 16)))
            key, iv, hp = keys[0]
            enc = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
            mask = enc.update(dgram[j + 4:j + 20]) + enc.finalize()
            first = dgram[start] ^ (mask[0] & 0x0f)
            pnl = (first & 3) + 1
            pn_bytes = bytes(dgram[j + k] ^ mask[1 + k] for k in range(pnl))
            header = bytes([first]) + dgram[start + 1:j] + pn_bytes
            pn = int.from_bytes(pn_bytes, "big")
            nonce = (int.from_bytes(iv, "big") ^ pn).to_bytes(12, "big")
            plain = AESGCM(key).decrypt(nonce, dgram[j + pnl:end], header)
            frames, k = [], 0
            while k < len(plain):
                t, k = varint(plain, k)
                if t in (0, 1): continue
                if t == 6:
                    off, k = varint(plain, k); ln, k = varint(plain, k)
                    frames.append((off, plain[k:k + ln])); k += ln
                elif t in (2, 3):
                    for _ in range(4): _, k = varint(plain, k)
                    # Client first flights carry no ACK ranges beyond the first.
                else:
                    raise SystemExit(f"frame type {t:#x} in a client Initial")
            yield frames
        i = end

def sni_of(stream):
    body = stream[4:]
    i = 2 + 32; i += 1 + body[i]; i += 2 + struct.unpack("!H", body[i:i + 2])[0]; i += 1 + body[i]
    end = i + 2 + struct.unpack("!H", body[i:i + 2])[0]; i += 2
    while i + 4 <= end:
        t, n = struct.unpack("!HH", body[i:i + 4])
        if t == 0:
            ln = struct.unpack("!H", body[i + 7:i + 9])[0]
            return body[i + 9:i + 9 + ln].decode()
        i += 4 + n
    return None

pkts = [p for p in rdpcap(raw) if IP in p and UDP in p and p[IP].src == cli and p[IP].dst == srv
        and p[UDP].dport == 443]
flows, kept = {}, []
for p in pkts:
    port = p[UDP].sport
    if port not in flows:
        flows[port] = []
    if len(flows[port]) < int(max_per_flow):
        flows[port].append(p); kept.append(p)
if len(flows) != len(names):
    raise SystemExit(f"expected {len(names)} QUIC flows, saw client ports {sorted(flows)}")
rows = []
for (port, ps), name in zip(flows.items(), names):
    keys, crypto = [None], {}
    for p in ps:
        for frames in read_initials(bytes(p[UDP].payload), keys):
            for off, data in frames:
                for k, b in enumerate(data): crypto.setdefault(off + k, b)
    stream = bytes(crypto[k] for k in range(len(crypto)) if k in crypto)
    length = 4 + int.from_bytes(stream[1:4], "big")
    if len(stream) < length: raise SystemExit(f"port {port}: ClientHello incomplete in the kept datagrams")
    seen = sni_of(stream)
    if seen != name: raise SystemExit(f"port {port}: SNI {seen!r}, expected {name!r}")
    print(f"client port {port}: {len(ps)} datagrams, ClientHello {length} bytes, SNI {seen}")
    rows.append(f"{cli}\t{port}\t{srv}\t443\tudp\t{name}\tquic")
wrpcap(out_pcap, kept)
with open(out_tsv, "w") as f:
    f.write("client_ip\tclient_port\tserver_ip\tserver_port\ttransport\tsni\tfirst_flight\n")
    f.write("\n".join(rows) + "\n")
print(f"wrote {out_pcap} ({len(kept)} datagrams) and {out_tsv}")
PYEOF
