#!/usr/bin/env bash
# The appliance's own network namespace, where sluice-intercept adopts the connections sluice
# hands over (docs/design.md, "Interception handoff"). Run as root after `sluice run` has
# started (its net_tap port creates the TAP in sluice's namespace). Run it in the host's own
# namespaces (not under `ip netns exec`: a namespace created there is not visible outside it);
# when sluice itself runs in a named network namespace, say which with --from-netns.
#
#   sluice-appliance-netns.sh up --address A.B.C.D/LEN [options]   (idempotent: run it again
#                                                                  after every sluice restart)
#   sluice-appliance-netns.sh down                                 remove the namespace
#   sluice-appliance-netns.sh status                               what is there now
#
# Options (with their defaults; they must match sluice's `intercept:` section):
#   --netns NAME             sluice-appliance
#   --tap IFACE              sluice0                 (the iface= of the net_tap port)
#   --from-netns NAME        none                    sluice's network namespace, if not this one
#   --address A.B.C.D/LEN    required                (intercept.address, with its prefix)
#   --gateway A.B.C.D        none                    default route for the interceptor's own
#                                                    connections (through the outside port)
#   --client-route PREFIX    none, repeatable        client networks: answers to adopted
#                                                    connections go back into the TAP for them
#   --handoff-source A.B.C.D 169.254.77.1            (intercept.handoff.source)
#   --address6 ADDR/LEN      none                    (intercept.address6, with its prefix): IPv6
#                                                    flows are handed over too
#   --gateway6 ADDR          none                    IPv6 default route for the interceptor's own
#                                                    connections
#   --client-route6 PREFIX   none, repeatable        IPv6 client networks (as --client-route)
#   --tproxy PORT            none                    sluice-intercept's listen.transparent port:
#                                                    new TCP connections routed to the appliance
#                                                    (below) are handed to it by nftables TPROXY
#   --tproxy-ports LIST      443                     their destination ports, comma-separated
#   --tproxy-from PREFIX     required with --tproxy, repeatable: the client networks a router
#                                                    sends here (IPv4 or IPv6); no one else gets in
#
# What `up` sets in the namespace:
#   - the TAP moved in (from the namespace this runs in), up, with the address, offloads off;
#   - a route and a permanent neighbour for the dataplane's end of the handoff channel, and
#     routes for the client networks through it (sluice rewrites the Ethernet header anyway);
#     run again, `up` leaves exactly the client routes and gateways it names: those of an
#     earlier run it does not name are removed;
#   - nftables table `inet sluice_appliance`: TCP that has a transparent socket (an adopted
#     connection) gets mark 1; TCP from the TAP to any address but the appliance's own and
#     without such a socket is dropped, so a client segment that arrives before adoption
#     finishes is retransmitted by the client instead of being answered with a reset;
#   - with --tproxy: a SYN from a --tproxy-from network to one of --tproxy-ports, arriving on the
#     TAP for an address not the appliance's own, is handed by TPROXY to sluice-intercept's
#     transparent listener (mark 1).
#     That is how connections a router sends to the appliance address (policy-based routing,
#     e.g. a site without an inline box) are intercepted; their replies leave by the default
#     route (--gateway), so their clients must not be inside a --client-route prefix (those are
#     answered through the dataplane, which knows only the flows it handed over). Flows the
#     dataplane hands over never send a SYN here, so the two never meet;
#   - policy routing: `ip rule fwmark 1 lookup 100`, `ip route local 0.0.0.0/0 dev lo table 100`
#     (marked packets are delivered locally, to the adopted or TPROXY socket);
#   - rp_filter 0 (client addresses arrive on the TAP);
#   - without --address6, IPv6 off; with it, IPv6 on with that address only (no link-local
#     address, no router advertisements), the client networks routed through a permanent
#     neighbour for the dataplane's end (fe80::4d:1), and the same mark, rule and local route
#     for IPv6 (the handoff channel itself stays IPv4).
set -euo pipefail

NETNS=sluice-appliance TAP=sluice0 FROM_NETNS="" ADDRESS="" GATEWAY="" HANDOFF_SOURCE=169.254.77.1
ADDRESS6="" GATEWAY6="" TPROXY_PORT="" TPROXY_PORTS=443
TPROXY_FROM=()
CLIENT_ROUTES=() CLIENT_ROUTES6=()
DATAPLANE_MAC=02:00:00:4d:00:01  # InterceptPath::source_mac: sluice's end of the channel
DATAPLANE_IP6=fe80::4d:1         # the next hop toward IPv6 clients (sluice rewrites the frame)
MARK=1 TABLE=100

log() { printf '[sluice-appliance-netns] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
usage() {
  sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
in_ns() { ip netns exec "$NETNS" "$@"; }

parse_options() {
  while [[ $# -gt 0 ]]; do
    case $1 in
      --netns) NETNS=$2; shift 2 ;;
      --tap) TAP=$2; shift 2 ;;
      --from-netns) FROM_NETNS=$2; shift 2 ;;
      --address) ADDRESS=$2; shift 2 ;;
      --gateway) GATEWAY=$2; shift 2 ;;
      --client-route) CLIENT_ROUTES+=("$2"); shift 2 ;;
      --handoff-source) HANDOFF_SOURCE=$2; shift 2 ;;
      --address6) ADDRESS6=$2; shift 2 ;;
      --gateway6) GATEWAY6=$2; shift 2 ;;
      --client-route6) CLIENT_ROUTES6+=("$2"); shift 2 ;;
      --tproxy) TPROXY_PORT=$2; shift 2 ;;
      --tproxy-ports) TPROXY_PORTS=$2; shift 2 ;;
      --tproxy-from) TPROXY_FROM+=("$2"); shift 2 ;;
      *) usage ;;
    esac
  done
}

ensure_namespace() {
  if [[ ! -e /run/netns/$NETNS ]]; then
    ip netns add "$NETNS"
    log "namespace $NETNS created"
  fi
  ip -n "$NETNS" link set lo up
  in_ns sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  if [[ -z $ADDRESS6 ]]; then
    # The handoff channel and the appliance address are IPv4; no IPv6 chatter into the TAP.
    in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  else
    # IPv6 with static addresses only: no router advertisements taken, none solicited.
    in_ns sysctl -qw net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.default.autoconf=0 \
      net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.all.autoconf=0
    in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
  fi
}

move_tap() {
  if ip -n "$NETNS" link show "$TAP" >/dev/null 2>&1; then
    return 0 # already there (a second `up` for the same sluice run)
  fi
  local from=()
  [[ -n $FROM_NETNS ]] && from=(-n "$FROM_NETNS")
  ip "${from[@]}" link show "$TAP" >/dev/null 2>&1 ||
    die "no interface $TAP in ${FROM_NETNS:-this namespace} or in $NETNS: start sluice first (its net_tap port creates it); --from-netns names sluice's namespace"
  ip "${from[@]}" link set "$TAP" netns "$NETNS"
  log "$TAP moved into $NETNS"
}

configure_tap() {
  in_ns sysctl -qw "net.ipv4.conf.$TAP.rp_filter=0"
  if [[ -z $ADDRESS6 ]]; then
    in_ns sysctl -qw "net.ipv6.conf.$TAP.disable_ipv6=1" 2>/dev/null || true
  else
    # No link-local address (nothing to announce or defend); the one address, without DAD.
    ip -n "$NETNS" link set "$TAP" addrgenmode none
    in_ns sysctl -qw "net.ipv6.conf.$TAP.accept_ra=0" "net.ipv6.conf.$TAP.autoconf=0" \
      "net.ipv6.conf.$TAP.disable_ipv6=0"
  fi
  in_ns ethtool -K "$TAP" tx off tso off gso off gro off >/dev/null 2>&1 || true
  ip -n "$NETNS" link set "$TAP" up
  ip -n "$NETNS" addr replace "$ADDRESS" dev "$TAP"
  ip -n "$NETNS" route replace "$HANDOFF_SOURCE/32" dev "$TAP"
  ip -n "$NETNS" neigh replace "$HANDOFF_SOURCE" lladdr "$DATAPLANE_MAC" dev "$TAP" nud permanent
  local prefix
  for prefix in "${CLIENT_ROUTES[@]}"; do
    ip -n "$NETNS" route replace "$prefix" via "$HANDOFF_SOURCE" dev "$TAP" onlink
  done
  prune_routes -4 "$HANDOFF_SOURCE" "${CLIENT_ROUTES[@]}"
  if [[ -n $GATEWAY ]]; then
    ip -n "$NETNS" route replace default via "$GATEWAY" dev "$TAP"
  else
    ip -n "$NETNS" route del default dev "$TAP" 2>/dev/null || true
  fi
  if [[ -z $ADDRESS6 ]]; then
    ip -n "$NETNS" -6 route flush dev "$TAP" 2>/dev/null || true
    return 0
  fi
  ip -n "$NETNS" -6 addr replace "$ADDRESS6" dev "$TAP" nodad
  ip -n "$NETNS" -6 neigh replace "$DATAPLANE_IP6" lladdr "$DATAPLANE_MAC" dev "$TAP" nud permanent
  for prefix in "${CLIENT_ROUTES6[@]}"; do
    ip -n "$NETNS" -6 route replace "$prefix" via "$DATAPLANE_IP6" dev "$TAP"
  done
  prune_routes -6 "$DATAPLANE_IP6" "${CLIENT_ROUTES6[@]}"
  if [[ -n $GATEWAY6 ]]; then
    ip -n "$NETNS" -6 route replace default via "$GATEWAY6" dev "$TAP"
  else
    ip -n "$NETNS" -6 route del default dev "$TAP" 2>/dev/null || true
  fi
}

# prune_routes FAMILY NEXT_HOP PREFIX...: removes the routes through NEXT_HOP (client networks
# of an earlier `up`) that this `up` does not name, so that a client network taken off the
# command line stops being answered through the dataplane. The prefixes are compared as the
# kernel prints them (a host route without its /32 or /128).
prune_routes() {
  local family=$1 via=$2 route p keep
  shift 2
  while read -r route _; do
    [[ -n $route && $route != default ]] || continue
    keep=0
    for p in "$@"; do
      [[ $route == "$p" || $route == "${p%/32}" || $route == "${p%/128}" ]] && keep=1
    done
    if [[ $keep -eq 0 ]]; then
      ip -n "$NETNS" "$family" route del "$route" via "$via" dev "$TAP"
      log "client route $route removed (not named by this up)"
    fi
  done < <(ip -n "$NETNS" "$family" route show via "$via" dev "$TAP")
}

configure_nftables() {
  local own=${ADDRESS%%/*} v6_rule="" tproxy_rules=""
  if [[ -n $ADDRESS6 ]]; then
    v6_rule="    iifname \"$TAP\" meta nfproto ipv6 meta l4proto tcp ip6 daddr != ${ADDRESS6%%/*} counter drop comment \"not adopted yet (IPv6): the client retransmits\""
  fi
  if [[ -n $TPROXY_PORT ]]; then
    local syn="tcp flags & (fin | syn | rst | ack) == syn" ports="{ ${TPROXY_PORTS//,/, } }"
    local from4=() from6=() p set4 set6
    for p in "${TPROXY_FROM[@]}"; do
      if [[ $p == *:* ]]; then from6+=("$p"); else from4+=("$p"); fi
    done
    if [[ ${#from4[@]} -gt 0 ]]; then
      set4="{ $(IFS=,; echo "${from4[*]}") }"
      tproxy_rules="    iifname \"$TAP\" meta nfproto ipv4 $syn ip saddr $set4 tcp dport $ports ip daddr != $own tproxy ip to :$TPROXY_PORT meta mark set $MARK counter accept comment \"routed to the appliance: sluice-intercept's TPROXY listener\""
    fi
    if [[ -n $ADDRESS6 && ${#from6[@]} -gt 0 ]]; then
      set6="{ $(IFS=,; echo "${from6[*]}") }"
      tproxy_rules+=$'\n'"    iifname \"$TAP\" meta nfproto ipv6 $syn ip6 saddr $set6 tcp dport $ports ip6 daddr != ${ADDRESS6%%/*} tproxy ip6 to :$TPROXY_PORT meta mark set $MARK counter accept comment \"routed to the appliance (IPv6): sluice-intercept's TPROXY listener\""
    fi
  fi
  # Declaring the table first makes the delete succeed on a first run: the whole file is one
  # transaction, so the table is replaced atomically.
  in_ns nft -f - <<NFT
table inet sluice_appliance
delete table inet sluice_appliance
table inet sluice_appliance {
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    meta l4proto tcp socket transparent 1 meta mark set $MARK counter accept comment "adopted connections"
$tproxy_rules
    iifname "$TAP" meta nfproto ipv4 meta l4proto tcp ip daddr != $own counter drop comment "not adopted yet: the client retransmits"
$v6_rule
  }
}
NFT
  if ! in_ns ip rule show fwmark "$MARK" lookup "$TABLE" | grep -q .; then
    in_ns ip rule add fwmark "$MARK" lookup "$TABLE"
  fi
  in_ns ip route replace local 0.0.0.0/0 dev lo table "$TABLE"
  [[ -n $ADDRESS6 ]] || return 0
  if ! in_ns ip -6 rule show fwmark "$MARK" lookup "$TABLE" | grep -q .; then
    in_ns ip -6 rule add fwmark "$MARK" lookup "$TABLE"
  fi
  in_ns ip -6 route replace local ::/0 dev lo table "$TABLE"
}

appliance_up() {
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  [[ -n $ADDRESS && $ADDRESS == */* ]] || die "--address A.B.C.D/LEN is required (intercept.address and its prefix)"
  [[ -z $ADDRESS6 || $ADDRESS6 == *:*/* ]] || die "--address6 takes ADDR/LEN (intercept.address6 and its prefix), e.g. fd00:5c::250/64"
  [[ -n $ADDRESS6 || (${#CLIENT_ROUTES6[@]} -eq 0 && -z $GATEWAY6) ]] ||
    die "--client-route6 and --gateway6 need --address6"
  [[ -z $TPROXY_PORT || $TPROXY_PORT =~ ^[0-9]+$ ]] || die "--tproxy takes a port (listen.transparent's), e.g. 15001"
  [[ $TPROXY_PORTS =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--tproxy-ports takes ports separated by commas, e.g. 443,8443"
  [[ -z $TPROXY_PORT || ${#TPROXY_FROM[@]} -gt 0 ]] ||
    die "--tproxy needs --tproxy-from PREFIX: the client networks a router sends to the appliance (anyone else could use it as a relay)"
  command -v nft >/dev/null || die "nft not found: apt-get install nftables"
  ensure_namespace
  move_tap
  configure_tap
  configure_nftables
  log "up: $TAP in $NETNS with $ADDRESS${ADDRESS6:+ and $ADDRESS6}; handoffs from $HANDOFF_SOURCE${TPROXY_PORT:+; TPROXY to :$TPROXY_PORT for ports $TPROXY_PORTS}"
}

appliance_down() {
  [[ -e /run/netns/$NETNS ]] || return 0
  local pid _
  for pid in $(ip netns pids "$NETNS" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    [[ -z $(ip netns pids "$NETNS" 2>/dev/null) ]] && break
    sleep 0.2
  done
  ip netns del "$NETNS"
  log "down: $NETNS removed"
}

appliance_status() {
  if [[ ! -e /run/netns/$NETNS ]]; then
    echo "$NETNS: absent"
    return 1
  fi
  echo "== $NETNS"
  ip -n "$NETNS" -br addr show
  ip -n "$NETNS" route show
  in_ns ip rule show fwmark "$MARK"
  in_ns ip -6 route show 2>/dev/null || true
  in_ns ip -6 rule show fwmark "$MARK" 2>/dev/null || true
  in_ns nft list table inet sluice_appliance 2>/dev/null || echo "(no nftables table)"
}

command=${1:-}
[[ -n $command ]] || usage
shift
parse_options "$@"
case $command in
  up) appliance_up ;;
  down) appliance_down ;;
  status) appliance_status ;;
  *) usage ;;
esac
