#!/usr/bin/env bash
# Remakes tests/data/captures/offload-on.pcap and offload-on.expected.tsv: four real TLS clients
# (curl TLS 1.3, curl TLS 1.2, openssl s_client, curl over IPv6) to an openssl s_server, captured
# on the CLIENT's side of a veth pair whose offloads are left at the Linux defaults (TX checksum
# offload, TSO, GSO on). The capture is taken on the sending host, so the client's packets carry
# the unfinished checksum Linux leaves for the NIC (the folded pseudo-header sum), not the one a
# receiver would check. `sluice replay` (default --checksum auto) must still name every server.
#
#   sudo scripts/make-offload-capture.sh             # writes into tests/data/captures/
#   sudo OUT_DIR=/tmp/x scripts/make-offload-capture.sh
#
# Everything is local: the two namespaces have no default route, the client reaches the server
# only by address (curl --resolve, s_client -connect IP -servername). The throwaway certificate,
# logs and raw capture live in a temp dir; namespaces, processes and the temp dir are removed on
# exit. The script fails if the client's packets in the capture turn out to carry finished
# checksums (then the capture would not test what it is for). The namespace, package and capture
# plumbing it shares with make-sample-capture.sh is in scripts/lib/netns.sh.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_DIR=${OUT_DIR:-$REPO/tests/data/captures}
NAME=${NAME:-offload-on}

CLI_NS=sluice-off-client
SRV_NS=sluice-off-server
CLI_IF=soff-cli
SRV_IF=soff-srv
CLI4=10.78.0.2
SRV4=10.78.0.1
CLI6=fd78::2
SRV6=fd78::1
PY=/usr/bin/python3 # Debian's python3: python3-scapy is installed for it
export PYTHONDONTWRITEBYTECODE=1

LOG_TAG=make-offload-capture
# shellcheck source=SCRIPTDIR/lib/netns.sh
source "$REPO/scripts/lib/netns.sh"

[[ $EUID -eq 0 ]] || die "run as root: sudo $0"

# ---------------------------------------------------------------- dependencies
install_deps() {
  install_missing openssl=openssl curl=curl tcpdump=tcpdump ip=iproute2 tshark=tshark \
    timeout=coreutils ss=iproute2 "$PY=python3"
  if ! "$PY" -c 'import scapy' 2>/dev/null; then apt_install python3-scapy; fi
}

# ---------------------------------------------------------------- network
setup_network() {
  # Offloads on, left as the kernel set them (no ethtool -K): that is the point.
  setup_veth_pair "$CLI_NS" "$CLI_IF" "$SRV_NS" "$SRV_IF" on
  add_addresses "$SRV_NS" "$SRV_IF" "$SRV4/24" "$SRV6/64"
  add_addresses "$CLI_NS" "$CLI_IF" "$CLI4/24" "$CLI6/64"
  log "client-side offloads: $(ip netns exec "$CLI_NS" sh -c "command -v ethtool >/dev/null &&
    ethtool -k $CLI_IF | grep -E '^(tx-checksumming|tcp-segmentation-offload|generic-segmentation-offload):' |
    tr -s '\n\t ' ' '" || echo 'ethtool not installed: kernel defaults')"
}

# ---------------------------------------------------------------- server
start_servers() {
  local d=$WORK/pki
  mkdir -p "$d"
  # Throwaway self-signed P-256 certificate (small: keeps the capture small).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=offload.example" -addext "subjectAltName=DNS:*.example,IP:$SRV4,IP:$SRV6" \
    -keyout "$d/server.key" -out "$d/server.pem" 2>/dev/null
  # One s_server per address family; -www answers any GET with its status page, then closes.
  ip netns exec "$SRV_NS" openssl s_server -4 -accept "$SRV4:443" -www \
    -cert "$d/server.pem" -key "$d/server.key" >"$WORK/s_server4.log" 2>&1 </dev/null &
  PIDS+=($!)
  ip netns exec "$SRV_NS" openssl s_server -6 -accept "[$SRV6]:443" -www \
    -cert "$d/server.pem" -key "$d/server.key" >"$WORK/s_server6.log" 2>&1 </dev/null &
  PIDS+=($!)
  local _ listening
  for _ in $(seq 50); do
    listening=$(ip netns exec "$SRV_NS" ss -Hltn "sport = :443")
    if grep -qF "$SRV4:443" <<<"$listening" && grep -qF "[$SRV6]:443" <<<"$listening"; then
      return 0
    fi
    sleep 0.1
  done
  cat "$WORK"/s_server*.log >&2 || true
  die "openssl s_server did not start"
}

# ---------------------------------------------------------------- clients
in_client() { timeout 30 ip netns exec "$CLI_NS" "$@"; }

STEPS=""
# step LABEL SERVER_IP SNI -- COMMAND...: runs one client, records its time window and its server.
step() {
  local label=$1 sip=$2 sni=$3
  shift 4
  log "flow: $label -> $sip:443 ($sni)"
  run_client "$label" "$@"
  printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$sip" "$sni" "$STEP_T0" "$STEP_T1" >>"$STEPS"
}

run_clients() {
  mkdir -p "$WORK/logs"
  STEPS=$WORK/steps.tsv
  : >"$STEPS"
  step curl-a "$SRV4" offload-a.example -- \
    in_client curl -sS -k -o /dev/null --resolve "offload-a.example:443:$SRV4" https://offload-a.example/
  step curl-b-tls12 "$SRV4" offload-b.example -- \
    in_client curl -sS -k -o /dev/null --tls-max 1.2 --resolve "offload-b.example:443:$SRV4" \
    https://offload-b.example/
  step s_client-c "$SRV4" offload-c.example -- \
    in_client openssl s_client -connect "$SRV4:443" -servername offload-c.example
  step curl-d-ipv6 "$SRV6" offload-d.example -- \
    in_client curl -sS -k -6 -o /dev/null --resolve "offload-d.example:443:[$SRV6]" \
    https://offload-d.example/
}

# ---------------------------------------------------------------- expected rows and checks
# Reads the capture with scapy: one SYN per step window gives the client port; the SNI in the
# client's first TLS record must be the one the step asked for; every client TCP packet must carry
# an unfinished checksum (not the finished one; normally exactly the folded pseudo-header sum).
check_capture() {
  "$PY" - "$RAW" "$STEPS" "$WORK/expected.tsv" <<'EOF'
import socket, struct, sys
from scapy.all import IP, IPv6, TCP, rdpcap
from scapy.utils import checksum

cap, steps_path, out = sys.argv[1:4]
pkts = rdpcap(cap)
steps = [l.rstrip("\n").split("\t") for l in open(steps_path) if l.strip()]
CLIENTS = {"10.78.0.2", "fd78::2"}

def l3(p):
    return p[IP] if IP in p else p[IPv6]

def pseudo(p):
    ip, seg = l3(p), bytes(p[TCP])
    if IP in p:
        ph = socket.inet_aton(ip.src) + socket.inet_aton(ip.dst) + struct.pack("!BBH", 0, 6, len(seg))
    else:
        ph = (socket.inet_pton(socket.AF_INET6, ip.src) + socket.inet_pton(socket.AF_INET6, ip.dst)
              + struct.pack("!IxxxB", len(seg), 6))
    return ph, seg

def sums(p):
    ph, seg = pseudo(p)
    zeroed = seg[:16] + b"\0\0" + seg[18:]
    finished = checksum(ph + zeroed)                 # what a receiver checks against
    partial = (~checksum(ph)) & 0xFFFF               # folded pseudo-header sum, not complemented
    return p[TCP].chksum, finished, partial

def sni_of(data):
    # TLS record -> ClientHello -> server_name extension.
    if len(data) < 5 or data[0] != 0x16:
        return None
    rec = data[5:5 + struct.unpack("!H", data[3:5])[0]]
    if not rec or rec[0] != 1:
        return None
    i = 4 + 2 + 32
    i += 1 + rec[i]
    i += 2 + struct.unpack("!H", rec[i:i + 2])[0]
    i += 1 + rec[i]
    end = i + 2 + struct.unpack("!H", rec[i:i + 2])[0]
    i += 2
    while i + 4 <= end:
        etype, elen = struct.unpack("!HH", rec[i:i + 4])
        body = rec[i + 4:i + 4 + elen]
        if etype == 0:
            nlen = struct.unpack("!H", body[3:5])[0]
            return body[5:5 + nlen].decode()
        i += 4 + elen
    return None

tcp = [p for p in pkts if TCP in p and (IP in p or IPv6 in p)]
rows, errors = [], []
for label, sip, sni, t0, t1 in steps:
    syns = [p for p in tcp if l3(p).src in CLIENTS and l3(p).dst == sip and p[TCP].dport == 443
            and p[TCP].flags.S and not p[TCP].flags.A and float(t0) <= float(p.time) <= float(t1)]
    ports = sorted({p[TCP].sport for p in syns})
    if len(ports) != 1:
        errors.append(f"{label}: expected one connection, saw client ports {ports}")
        continue
    cip, cport = l3(syns[0]).src, ports[0]
    segs = sorted(((p[TCP].seq, bytes(p[TCP].payload)) for p in tcp
                   if l3(p).src == cip and p[TCP].sport == cport and l3(p).dst == sip
                   and p[TCP].dport == 443 and len(p[TCP].payload)), key=lambda s: s[0])
    data = b"".join(dict(segs).values()) if segs else b""
    seen = sni_of(data)
    if seen != sni:
        errors.append(f"{label}: SNI in the capture is {seen!r}, expected {sni!r}")
    rows.append((cip, cport, sip, 443, "tcp", sni, "tls"))

client = [p for p in tcp if l3(p).src in CLIENTS]
server = [p for p in tcp if l3(p).src not in CLIENTS]
def tally(ps):
    fin = sum(1 for p in ps if sums(p)[0] == sums(p)[1])
    part = sum(1 for p in ps if sums(p)[0] == sums(p)[2] and sums(p)[0] != sums(p)[1])
    return fin, part, len(ps) - fin - part
cf, cp, co = tally(client)
sf, sp, so = tally(server)
print(f"client->server TCP packets: {len(client)}: finished checksum {cf}, "
      f"pseudo-header-only (offload) {cp}, other {co}")
print(f"server->client TCP packets: {len(server)}: finished checksum {sf}, "
      f"pseudo-header-only (offload) {sp}, other {so}")
big = [len(bytes(l3(p))) for p in tcp if len(bytes(l3(p))) > 1500]
if big:
    print(f"packets larger than the 1500-byte MTU (GSO, not yet segmented): {len(big)}, largest {max(big)}")
if not client:
    errors.append("no client TCP packets in the capture")
if cf:
    errors.append(f"{cf} client packet(s) carry a finished checksum: TX checksum offload was not in effect")
if co:
    errors.append(f"{co} client packet(s) carry a checksum that is neither finished nor the pseudo-header sum")
for e in errors:
    print("error:", e)
if errors:
    sys.exit(1)
with open(out, "w") as f:
    f.write("client_ip\tclient_port\tserver_ip\tserver_port\ttransport\tsni\tfirst_flight\n")
    for r in rows:
        f.write("\t".join(map(str, r)) + "\n")
EOF
}

# Second opinion from Wireshark's dissector: with checksum validation on, every client TCP packet
# must be flagged bad (tcp.checksum.status 0 = Bad, 1 = Good).
check_with_tshark() {
  local filter="(ip.src==$CLI4 || ipv6.src==$CLI6) && tcp"
  local total bad good
  total=$(tshark -n -r "$RAW" -Y "$filter" -T fields -e frame.number 2>/dev/null | wc -l)
  bad=$(tshark -n -o tcp.check_checksum:TRUE -r "$RAW" -Y "$filter && tcp.checksum.status == 0" \
    -T fields -e frame.number 2>/dev/null | wc -l)
  good=$(tshark -n -o tcp.check_checksum:TRUE -r "$RAW" -Y "$filter && tcp.checksum.status == 1" \
    -T fields -e frame.number 2>/dev/null | wc -l)
  log "tshark -o tcp.check_checksum:TRUE: client TCP packets $total, incorrect checksum $bad, correct $good"
  [[ $total -gt 0 && $bad -eq $total ]] || die "tshark does not see every client packet's checksum as unfinished"
}

# ---------------------------------------------------------------- main
main() {
  install_deps
  trap 'cleanup "$CLI_NS" "$SRV_NS"' EXIT
  trap 'exit 130' INT TERM
  WORK=$(mktemp -d /tmp/sluice-offload-capture.XXXXXX)
  chmod 755 "$WORK"
  setup_network
  start_servers
  # In the client namespace, on the client's veth: the host that sends the client's packets.
  start_capture "$CLI_NS" "$CLI_IF"
  run_clients
  stop_capture
  cat "$WORK/tcpdump.log" >&2

  check_capture >"$WORK/check.txt" || {
    cat "$WORK/check.txt" >&2
    die "the capture is not what it should be"
  }
  cat "$WORK/check.txt" >&2
  check_with_tshark

  mkdir -p "$OUT_DIR"
  install -m 0644 "$RAW" "$OUT_DIR/$NAME.pcap"
  install -m 0644 "$WORK/expected.tsv" "$OUT_DIR/$NAME.expected.tsv"
  local bytes packets
  bytes=$(stat -c %s "$OUT_DIR/$NAME.pcap")
  packets=$(tshark -n -r "$OUT_DIR/$NAME.pcap" -T fields -e frame.number 2>/dev/null | wc -l)
  [[ $bytes -lt 102400 ]] || die "$OUT_DIR/$NAME.pcap is $bytes bytes: over 100 KB"
  echo "offload capture: $OUT_DIR/$NAME.pcap ($packets packets, $bytes bytes), expected rows in $OUT_DIR/$NAME.expected.tsv"
}

main "$@"
