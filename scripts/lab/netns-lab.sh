#!/usr/bin/env bash
# The namespace lab for live tests of `sluice run` (tests/live/). As root on Debian 12:
#
#   netns-lab.sh up [--kernel-bridge | --monitor]   (re)build the lab; cleans a crashed run first
#   netns-lab.sh down                               remove everything `up` made
#   netns-lab.sh status                             what is there now
#   netns-lab.sh check                              curl through the lab (needs a bridge: the
#                                                   kernel's, or sluice running in `sla`)
#
# Three namespaces, one L2 segment 10.0.0.0/16 and fd00:5c::/64:
#
#   slc (client)               sla (appliance)                          sls (server)
#   sl-c 10.0.1.10 (staff) <-> sl-in  ==sluice, inline==  sl-out <-> sl-s 10.0.0.1, 10.0.0.2
#        10.0.2.10 (guest)     (no addresses)                                fd00:5c::1
#        fd00:5c::1:10 (staff)                                               nginx :443 :80 :8443
#
# Layouts:
#   (default)        sl-in and sl-out are left unbridged: sluice bridges them with two
#                    net_af_packet ports (deploy/config/sluice-test-namespaces.yaml).
#   --kernel-bridge  a Linux bridge sl-br joins sl-in and sl-out: proves addresses, CA and
#                    nginx without sluice (`check`).
#   --monitor        the kernel bridge carries the traffic; tc mirred copies everything that
#                    enters sl-in and sl-out to the veth sl-mir, whose peer sl-mon is sluice's
#                    mirror port; sluice's inject port sl-inj is a veth whose peer sl-injb is a
#                    bridge port with MAC learning off (resets sent with a forged source MAC must
#                    not teach the bridge that the client or server lives there).
#
# The client's names (scripts/lab/test-names.txt) resolve to 10.0.0.1 through
# /etc/netns/slc/hosts, which `ip netns exec slc` mounts over /etc/hosts; IPv6 is reached by
# address (curl --resolve NAME:443:[fd00:5c::1]), so clients stay on IPv4 unless told. IPv6 is
# on only on sl-c and sl-s, with static addresses and no link-local ones (no DAD, router or
# MLD chatter beyond what the addresses need). Offloads are off on every veth end, so forwarded
# frames carry finished checksums and no segment exceeds the MTU.
#
# State (CA, certificates, nginx configuration and logs, the served files) lives in
# $SLUICE_LAB_DIR (default /run/sluice-lab):
#   ca/ca.crt                the test CA clients trust
#   www/index.html           a page with the marker "sluice-lab-page"
#   www/big.bin(.sha256)     50 MB of random bytes and their SHA-256
#   logs/access.log          nginx access log: client, server, sni="...", host="...", request
#   layout                   inline | kernel-bridge | monitor
# `down` removes it, the namespaces (ending every process inside them), and /etc/netns/{slc,sls,sla}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2034 # read by netns.sh's log()
LOG_TAG=netns-lab
# shellcheck source=scripts/lib/netns.sh
source "$here/../lib/netns.sh"

CLI_NS=slc SRV_NS=sls APP_NS=sla
STATE=${SLUICE_LAB_DIR:-/run/sluice-lab}
SERVER_IPS=(10.0.0.1 10.0.0.2)
STAFF_IP=10.0.1.10 GUEST_IP=10.0.2.10
SERVER_IP6=fd00:5c::1 STAFF_IP6=fd00:5c::1:10
BIG_MB=50

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

lab_down() {
  # The appliance namespace a handoff test built (deploy/appliance/sluice-appliance-netns.sh).
  "$here/../../deploy/appliance/sluice-appliance-netns.sh" down 2>/dev/null || true
  teardown_namespaces "$CLI_NS" "$SRV_NS" "$APP_NS"
  rm -rf "/etc/netns/$CLI_NS" "/etc/netns/$SRV_NS" "/etc/netns/$APP_NS"
  rmdir /etc/netns 2>/dev/null || true # only if nothing else uses it
  # Only a directory this script made (it holds the layout marker) is removed.
  if [[ -f $STATE/layout || -f $STATE/.sluice-lab ]]; then rm -rf "$STATE"; fi
}

offloads_off() { # NS DEV
  ip netns exec "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 ||
    ip netns exec "$1" ethtool -K "$2" tx off tso off gso off >/dev/null
}

link_up() { # NS DEV: no IPv6 link-local address (no DAD/RS chatter), offloads off, up
  ip -n "$1" link set "$2" addrgenmode none
  offloads_off "$1" "$2"
  ip -n "$1" link set "$2" up
}

make_files() {
  mkdir -p "$STATE"/{ca,www,logs,tmp}
  : >"$STATE/.sluice-lab"
  "$here/make-test-ca.sh" "$STATE/ca" "$here/test-names.txt"
  cat >"$STATE/www/index.html" <<'EOF'
<!DOCTYPE html>
<html><head><title>sluice lab</title></head>
<body><p id="marker">sluice-lab-page</p></body></html>
EOF
  head -c $((BIG_MB * 1000 * 1000)) /dev/urandom >"$STATE/www/big.bin"
  (cd "$STATE/www" && sha256sum big.bin >big.bin.sha256)
  sed "s#@STATE@#$STATE#g" "$here/nginx.conf.in" >"$STATE/nginx.conf"
  chmod -R a+rX "$STATE"
}

make_namespaces() {
  local ns
  for ns in "$CLI_NS" "$SRV_NS" "$APP_NS"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
  ip link add sl-c netns "$CLI_NS" mtu 1500 type veth peer name sl-in netns "$APP_NS" mtu 1500
  ip link add sl-s netns "$SRV_NS" mtu 1500 type veth peer name sl-out netns "$APP_NS" mtu 1500
  link_up "$CLI_NS" sl-c
  link_up "$SRV_NS" sl-s
  link_up "$APP_NS" sl-in
  link_up "$APP_NS" sl-out
  add_addresses "$CLI_NS" sl-c "$STAFF_IP/16" "$GUEST_IP/16"
  local ip
  for ip in "${SERVER_IPS[@]}"; do add_addresses "$SRV_NS" sl-s "$ip/16"; done
  ip netns exec "$CLI_NS" sysctl -qw net.ipv6.conf.sl-c.disable_ipv6=0
  ip netns exec "$SRV_NS" sysctl -qw net.ipv6.conf.sl-s.disable_ipv6=0
  add_addresses "$CLI_NS" sl-c "$STAFF_IP6/64"
  add_addresses "$SRV_NS" sl-s "$SERVER_IP6/64"

  mkdir -p "/etc/netns/$CLI_NS"
  {
    echo "127.0.0.1 localhost"
    while read -r name _; do
      [[ -z $name || $name == \#* ]] && continue
      echo "10.0.0.1 $name"
    done <"$here/test-names.txt"
  } >"/etc/netns/$CLI_NS/hosts"
}

make_bridge() {
  ip -n "$APP_NS" link add sl-br type bridge stp_state 0 forward_delay 0
  ip -n "$APP_NS" link set sl-br addrgenmode none
  ip -n "$APP_NS" link set sl-in master sl-br
  ip -n "$APP_NS" link set sl-out master sl-br
  ip -n "$APP_NS" link set sl-br up
}

make_monitor() {
  make_bridge
  ip link add sl-mir netns "$APP_NS" mtu 1500 type veth peer name sl-mon netns "$APP_NS" mtu 1500
  ip link add sl-inj netns "$APP_NS" mtu 1500 type veth peer name sl-injb netns "$APP_NS" mtu 1500
  local dev
  for dev in sl-mir sl-mon sl-inj sl-injb; do link_up "$APP_NS" "$dev"; done
  ip -n "$APP_NS" link set sl-injb master sl-br
  ip netns exec "$APP_NS" bridge link set dev sl-injb learning off
  for dev in sl-in sl-out; do
    ip netns exec "$APP_NS" tc qdisc add dev "$dev" clsact
    # u32 matching everything: the matchall and flower classifiers are not in every kernel.
    ip netns exec "$APP_NS" tc filter add dev "$dev" ingress protocol all u32 match u32 0 0 \
      action mirred egress mirror dev sl-mir
  done
}

start_nginx() {
  ip netns exec "$SRV_NS" nginx -t -c "$STATE/nginx.conf" >/dev/null 2>"$STATE/logs/nginx-t.log" ||
    die "nginx configuration: $(cat "$STATE/logs/nginx-t.log")"
  ip netns exec "$SRV_NS" nginx -c "$STATE/nginx.conf"
  local _
  for _ in $(seq 50); do
    if ip netns exec "$SRV_NS" ss -Htln 'sport = :443' | grep -q . &&
      ip netns exec "$SRV_NS" ss -Htln 'sport = :80' | grep -q .; then
      return 0
    fi
    sleep 0.1
  done
  die "nginx did not start listening: $(cat "$STATE/logs/error.log" 2>/dev/null)"
}

lab_up() {
  local layout=inline
  case ${1:-} in
    "") ;;
    --kernel-bridge) layout=kernel-bridge ;;
    --monitor) layout=monitor ;;
    *) usage ;;
  esac
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  install_missing ip=iproute2 ethtool=ethtool tc=iproute2 bridge=iproute2 nginx=nginx \
    openssl=openssl curl=curl sha256sum=coreutils ss=iproute2 \
    h2load=nghttp2-client chromium=chromium certutil=libnss3-tools /usr/bin/python3=python3
  lab_down # leftovers of a crashed run
  trap 'rc=$?; if [[ $rc -ne 0 ]]; then log "up failed: removing the half-built lab"; lab_down; fi; exit $rc' EXIT
  make_files
  make_namespaces
  case $layout in
    kernel-bridge) make_bridge ;;
    monitor) make_monitor ;;
  esac
  start_nginx
  echo "$layout" >"$STATE/layout"
  trap - EXIT
  log "up ($layout): client $STAFF_IP/$GUEST_IP in $CLI_NS, nginx on ${SERVER_IPS[*]} in $SRV_NS, state in $STATE"
}

lab_status() {
  local ns up=0
  if [[ -f $STATE/layout ]]; then
    echo "layout: $(cat "$STATE/layout")   state: $STATE"
  else
    echo "layout: none (no state in $STATE)"
  fi
  for ns in "$CLI_NS" "$APP_NS" "$SRV_NS"; do
    if [[ -e /run/netns/$ns ]]; then
      up=$((up + 1))
      echo "== $ns"
      ip -n "$ns" -br addr show | grep -v '^lo ' || true
      local pids
      pids=$(ip netns pids "$ns" | tr '\n' ' ')
      [[ -n $pids ]] && echo "   processes: $pids"
    else
      echo "== $ns: absent"
    fi
  done
  [[ $up -eq 3 ]]
}

# check: the lab works end to end, whatever bridges sl-in and sl-out: both client addresses
# reach nginx by name with the test CA, and the 50 MB file arrives intact.
lab_check() {
  [[ -f $STATE/ca/ca.crt ]] || die "the lab is not up"
  local src name body want got
  for src in "$STAFF_IP" "$GUEST_IP"; do
    for name in allowed.test www.allowed.test; do
      body=$(ip netns exec "$CLI_NS" curl -sS --max-time 10 --cacert "$STATE/ca/ca.crt" \
        --interface "$src" "https://$name/hello") || die "curl from $src to $name failed"
      [[ $body == *"sni=$name"* ]] || die "unexpected answer from $name: $body"
    done
  done
  body=$(ip netns exec "$CLI_NS" curl -sS --max-time 10 http://10.0.0.2/hello) ||
    die "plain HTTP to 10.0.0.2 failed"
  body=$(ip netns exec "$CLI_NS" curl -sS --max-time 10 --cacert "$STATE/ca/ca.crt" \
    --resolve "allowed.test:443:[$SERVER_IP6]" https://allowed.test/hello) ||
    die "TLS over IPv6 to [$SERVER_IP6] failed"
  [[ $body == *"sni=allowed.test"* ]] || die "unexpected answer over IPv6: $body"
  want=$(cut -d' ' -f1 "$STATE/www/big.bin.sha256")
  got=$(ip netns exec "$CLI_NS" curl -sS --max-time 60 --cacert "$STATE/ca/ca.crt" \
    https://allowed.test/big.bin | sha256sum | cut -d' ' -f1)
  [[ $got == "$want" ]] || die "big.bin: sha256 $got, want $want"
  log "check passed: TLS by name from $STAFF_IP and $GUEST_IP and over IPv6, plain HTTP, ${BIG_MB} MB intact"
}

case ${1:-} in
  up) shift; lab_up "$@" ;;
  down) lab_down; log "down" ;;
  status) lab_status ;;
  check) lab_check ;;
  *) usage ;;
esac
