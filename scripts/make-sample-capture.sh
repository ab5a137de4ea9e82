#!/usr/bin/env bash
# Remakes samples/school-morning.pcapng and samples/school-morning.expected.tsv: one capture of
# real clients (curl, openssl s_client, gnutls-cli, wget, Python, headless Chromium, Node.js, two
# evasive Python clients, plain HTTP, non-TLS, server-first and empty connections), each to a
# different name, taken on a veth link (MTU 1500) between two network namespaces.
#
#   sudo scripts/make-sample-capture.sh            # writes into samples/
#   sudo OUT_DIR=/tmp/x scripts/make-sample-capture.sh
#
# Everything is local: the client namespace has no default route and no resolver, names are
# mapped to the server namespace's addresses by each client's own options (curl --resolve,
# -servername, --sni-hostname, Chromium --host-resolver-rules) or by a hosts file bind-mounted
# only inside the client's mount namespace (wget, Python urllib). Nothing outside the two
# namespaces is changed: the test CA, nginx config, logs and raw capture live in a temp dir,
# and the namespaces, their processes and the temp dir are removed on exit. The namespace, package
# and capture plumbing it shares with make-offload-capture.sh is in scripts/lib/netns.sh.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLIENTS=$REPO/scripts/sample-clients
OUT_DIR=${OUT_DIR:-$REPO/samples}
NAME=${NAME:-school-morning}

CLI_NS=sluice-cap-client
SRV_NS=sluice-cap-server
CLI_IF=scap-cli
SRV_IF=scap-srv
CLI4=10.77.0.2
SRV4=10.77.0.1
SF4=10.77.0.3 # second server address: the server-first (SSH-like banner) service
CLI6=fd77::2
SRV6=fd77::1
PY=/usr/bin/python3 # Debian's python3: python3-scapy is installed for it
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in scripts/sample-clients

LOG_TAG=make-sample-capture
# shellcheck source=SCRIPTDIR/lib/netns.sh
source "$REPO/scripts/lib/netns.sh"

[[ $EUID -eq 0 ]] || die "run as root: sudo $0"

# ---------------------------------------------------------------- dependencies
install_deps() {
  install_missing \
    nginx=nginx-light openssl=openssl curl=curl gnutls-cli=gnutls-bin wget=wget \
    chromium=chromium tcpdump=tcpdump ip=iproute2 ethtool=ethtool socat=socat \
    editcap=wireshark-common unshare=util-linux timeout=coreutils "$PY=python3"
  if ! "$PY" -c 'import scapy' 2>/dev/null; then apt_install python3-scapy; fi
  # Node.js is optional: its flow is skipped when it cannot be installed.
  if ! command -v node >/dev/null 2>&1; then apt_install nodejs || log "nodejs not available: its flow is skipped"; fi
}

# ---------------------------------------------------------------- network
setup_network() {
  # Offloads off: real checksums on the wire, and segments as they would be on a real NIC.
  setup_veth_pair "$CLI_NS" "$CLI_IF" "$SRV_NS" "$SRV_IF" off
  add_addresses "$SRV_NS" "$SRV_IF" "$SRV4/24" "$SF4/24" "$SRV6/64"
  add_addresses "$CLI_NS" "$CLI_IF" "$CLI4/24" "$CLI6/64"
}

# ---------------------------------------------------------------- test CA and certificate
NAMES=(
  www.youtube.com www.bbc.co.uk teams.microsoft.com classroom.google.com courier.push.apple.com
  www.roblox.com api.dropboxapi.com en.wikipedia.org web.whatsapp.com zoom.us www.tiktok.com
  discord.com www.example.org www.reddit.com
)

make_pki() {
  local d=$WORK/pki san="" n
  mkdir -p "$d"
  for n in "${NAMES[@]}"; do san+="DNS:$n,"; done
  san+="IP:$SRV4,IP:$SRV6"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Sluice sample throwaway CA" \
    -keyout "$d/ca.key" -out "$d/ca.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=sluice-sample-server" \
    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
    "$san" >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
  cat "$d/server.pem" "$d/ca.pem" >"$d/chain.pem"
  CA=$d/ca.pem
}

# ---------------------------------------------------------------- servers
start_servers() {
  local d=$WORK/nginx
  mkdir -p "$d/tmp"
  cat >"$d/nginx.conf" <<EOF
# Throwaway nginx for the sample capture: not the system config.
daemon off;
user root;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log info;
events { worker_connections 64; }
http {
  access_log $d/access.log;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  default_type text/html;
  keepalive_timeout 5;
  server {
    listen $SRV4:80;
    listen [$SRV6]:80;
    listen $SRV4:443 ssl http2;
    listen [$SRV6]:443 ssl http2;
    server_name _;
    ssl_certificate $WORK/pki/chain.pem;
    ssl_certificate_key $WORK/pki/server.key;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    # SECLEVEL=0 lets OpenSSL 3 still speak TLS 1.0/1.1 (SHA-1 signatures) for the old client.
    ssl_ciphers DEFAULT:@SECLEVEL=0;
    location = /favicon.ico { return 204; }
    location / { return 200 "<!doctype html><title>sluice sample</title><p>hello \$host</p>\n"; }
  }
}
EOF
  ip netns exec "$SRV_NS" nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf" &
  PIDS+=($!)

  # Server-first service: an SSH-like banner as soon as a client connects, then close.
  cat >"$WORK/banner.sh" <<'EOF'
#!/bin/sh
printf 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n'
sleep 1
EOF
  chmod +x "$WORK/banner.sh"
  ip netns exec "$SRV_NS" socat "TCP4-LISTEN:443,bind=$SF4,reuseaddr,fork" "EXEC:$WORK/banner.sh" &
  PIDS+=($!)

  local _
  for _ in $(seq 50); do
    if ip netns exec "$SRV_NS" ss -Hltn "sport = :443" | grep -q "$SRV4:443" &&
      ip netns exec "$SRV_NS" ss -Hltn "sport = :443" | grep -q "$SF4:443"; then
      return 0
    fi
    sleep 0.1
  done
  cat "$d/error.log" >&2 || true
  die "servers did not start"
}

# ---------------------------------------------------------------- clients
CLIENT_TIMEOUT=60
in_client() { timeout "$CLIENT_TIMEOUT" ip netns exec "$CLI_NS" "$@"; }

# Runs a command in the client namespace with its own /etc/hosts (names -> server namespace) and
# a resolv.conf pointing at loopback, bind-mounted in a private mount namespace only.
in_client_hosts() {
  # shellcheck disable=SC2016 # expanded by the inner sh
  in_client unshare --mount --propagation private sh -c '
    mount --bind "$1" /etc/hosts || exit 97
    mount --bind "$2" /etc/resolv.conf 2>/dev/null || true
    shift 2
    exec "$@"' sh "$WORK/hosts" "$WORK/resolv.conf" "$@"
}

# with_request HOST COMMAND...: COMMAND reads an HTTP/1.1 GET for HOST on stdin.
with_request() {
  local host=$1
  shift
  printf 'GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: sluice-sample\r\nConnection: close\r\n\r\n' "$host" | "$@"
}

# with_bytes STRING COMMAND...: COMMAND reads STRING (backslash escapes expanded) on stdin.
with_bytes() {
  local bytes=$1
  shift
  printf '%b' "$bytes" | "$@"
}

STEPS=""
SUMMARY=()
# step LABEL SERVER_IP SERVER_PORT SNI FIRST_FLIGHT POLICY -- COMMAND...
# Runs one client and records its time window and what it was meant to send.
step() {
  local label=$1 sip=$2 sport=$3 sni=$4 flight=$5 policy=$6
  shift 7
  log "flow: $label -> $sip:$sport ($sni, $flight)"
  run_client "$label" "$@"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$sip" "$sport" "$sni" "$flight" "$STEP_T0" \
    "$STEP_T1" "$policy" >>"$STEPS"
  SUMMARY+=("$label")
}

run_clients() {
  mkdir -p "$WORK/logs" "$WORK/home"
  STEPS=$WORK/steps.tsv
  : >"$STEPS"
  printf '%s %s\n127.0.0.1 localhost\n' "$SRV4" "${NAMES[*]}" >"$WORK/hosts"
  printf 'nameserver 127.0.0.1\n' >"$WORK/resolv.conf"

  # Headless Chromium: X25519MLKEM768 key share, ~1.9 KB hello over two segments. Every other
  # name fails to resolve, so it cannot reach anything else.
  step chromium "$SRV4" 443 www.youtube.com tls unused-ok -- \
    in_client env HOME="$WORK/home" chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-default-apps --disable-extensions --no-default-browser-check \
    --user-data-dir="$WORK/chromium" --ignore-certificate-errors \
    --host-resolver-rules="MAP www.youtube.com $SRV4, MAP * ~NOTFOUND" \
    --dump-dom https://www.youtube.com/

  step curl-tls13-h2 "$SRV4" 443 www.bbc.co.uk tls exact -- \
    in_client curl -sS -o /dev/null --cacert "$CA" --tlsv1.3 --http2 \
    --resolve "www.bbc.co.uk:443:$SRV4" https://www.bbc.co.uk/

  step curl-tls12-h1 "$SRV4" 443 teams.microsoft.com tls exact -- \
    in_client curl -sS -o /dev/null --cacert "$CA" --tlsv1.2 --tls-max 1.2 --http1.1 \
    --resolve "teams.microsoft.com:443:$SRV4" https://teams.microsoft.com/

  step curl-ipv6 "$SRV6" 443 classroom.google.com tls exact -- \
    in_client curl -sS -o /dev/null -6 --cacert "$CA" \
    --resolve "classroom.google.com:443:[$SRV6]" https://classroom.google.com/

  step openssl-tls13 "$SRV4" 443 courier.push.apple.com tls exact -- \
    with_request courier.push.apple.com \
    in_client openssl s_client -quiet -connect "$SRV4:443" -servername courier.push.apple.com \
    -CAfile "$CA" -verify_return_error

  step openssl-tls10 "$SRV4" 443 www.roblox.com tls exact -- \
    with_request www.roblox.com \
    in_client openssl s_client -quiet -tls1 -cipher 'DEFAULT:@SECLEVEL=0' -connect "$SRV4:443" \
    -servername www.roblox.com -CAfile "$CA" -verify_return_error

  step openssl-nosni "$SRV4" 443 - tls exact -- \
    with_request "$SRV4" \
    in_client openssl s_client -quiet -noservername -connect "$SRV4:443" -CAfile "$CA"

  step gnutls-cli "$SRV4" 443 api.dropboxapi.com tls exact -- \
    with_request api.dropboxapi.com \
    in_client gnutls-cli --x509cafile "$CA" --sni-hostname api.dropboxapi.com \
    --verify-hostname api.dropboxapi.com -p 443 "$SRV4"

  step wget "$SRV4" 443 en.wikipedia.org tls exact -- \
    in_client_hosts wget -q -O /dev/null --tries=1 --ca-certificate="$CA" https://en.wikipedia.org/

  step python-urllib "$SRV4" 443 web.whatsapp.com tls exact -- \
    in_client_hosts "$PY" -c '
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[1])
with urllib.request.urlopen("https://web.whatsapp.com/", context=ctx, timeout=10) as r:
    print("python-urllib", r.status, len(r.read()))' "$CA"

  if command -v node >/dev/null 2>&1; then
    step node-https "$SRV4" 443 zoom.us tls exact -- \
      in_client node -e '
const https = require("https"), fs = require("fs");
https.get({host: process.argv[1], port: 443, path: "/", servername: "zoom.us", agent: false,
           headers: {Host: "zoom.us"}, ca: fs.readFileSync(process.argv[2])}, (res) => {
  res.resume();
  res.on("end", () => console.log("node-https", res.statusCode));
}).on("error", (e) => { console.error(e.message); process.exit(1); });' "$SRV4" "$CA"
  fi

  step split-hello "$SRV4" 443 www.tiktok.com tls exact -- \
    in_client "$PY" "$CLIENTS/split_hello.py" --connect "$SRV4" --sni www.tiktok.com --cafile "$CA"

  step record-split "$SRV4" 443 discord.com tls exact -- \
    in_client "$PY" "$CLIENTS/record_split.py" --connect "$SRV4" --sni discord.com --cafile "$CA" \
    --record-size 50

  step http-80 "$SRV4" 80 - http exact -- \
    in_client curl -sS -o /dev/null --resolve "www.example.org:80:$SRV4" http://www.example.org/

  # Plain HTTP to the TLS port: nginx answers 400. Sluice reports plain HTTP on a TLS port as
  # non_tls (keeping the Host header), as the shared corpus does.
  step http-on-443 "$SRV4" 443 - non_tls exact -- \
    in_client curl -sS -o /dev/null --resolve "www.reddit.com:443:$SRV4" http://www.reddit.com:443/

  # Neither TLS nor HTTP on 443: an SSH client banner; nginx fails the handshake and closes.
  step ssh-banner-on-443 "$SRV4" 443 - non_tls exact -- \
    with_bytes 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n' \
    in_client socat -t 2 - "TCP4:$SRV4:443"

  # The server speaks first (banner) and closes; the client only reads.
  step server-first "$SF4" 443 - server_first exact -- \
    in_client socat -u "TCP4:$SF4:443" STDOUT

  # Connect and close without a byte either way.
  step no-payload "$SRV4" 443 - none exact -- \
    in_client "$PY" -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], 443), timeout=5)
time.sleep(0.2)
s.close()' "$SRV4"
}

# ---------------------------------------------------------------- main
main() {
  install_deps
  trap 'cleanup "$CLI_NS" "$SRV_NS"' EXIT
  trap 'exit 130' INT TERM
  WORK=$(mktemp -d /tmp/sluice-sample-capture.XXXXXX)
  chmod 755 "$WORK"
  setup_network
  make_pki
  start_servers
  # classic pcap: converted to pcapng by editcap below
  start_capture "$SRV_NS" "$SRV_IF"
  run_clients
  stop_capture

  mkdir -p "$OUT_DIR"
  editcap -F pcapng "$RAW" "$WORK/$NAME.pcapng"
  "$PY" "$CLIENTS/expected_from_capture.py" --capture "$WORK/$NAME.pcapng" --steps "$STEPS" \
    --out "$WORK/$NAME.expected.tsv" >"$WORK/check.txt" ||
    {
      cat "$WORK/check.txt" >&2
      die "the capture does not match what the clients did"
    }
  cat "$WORK/check.txt" >&2
  for f in "$WORK/logs"/split-hello.out "$WORK/logs"/record-split.out; do cat "$f" >&2; done
  install -m 0644 "$WORK/$NAME.pcapng" "$OUT_DIR/$NAME.pcapng"
  install -m 0644 "$WORK/$NAME.expected.tsv" "$OUT_DIR/$NAME.expected.tsv"
  local conns packets bytes
  conns=$(($(wc -l <"$OUT_DIR/$NAME.expected.tsv") - 1))
  packets=$("$PY" -c 'import sys; from scapy.utils import rdpcap; print(len(rdpcap(sys.argv[1])))' "$OUT_DIR/$NAME.pcapng")
  bytes=$(stat -c %s "$OUT_DIR/$NAME.pcapng")
  echo "sample capture: $OUT_DIR/$NAME.pcapng ($packets packets, $bytes bytes), $conns connections from ${#SUMMARY[@]} clients, expected rows in $OUT_DIR/$NAME.expected.tsv"
}

main "$@"
