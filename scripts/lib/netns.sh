# shellcheck shell=bash
# What the capture scripts (scripts/make-sample-capture.sh, scripts/make-offload-capture.sh)
# share: installing what is missing, two network namespaces joined by a veth pair, tcpdump on
# one end, timed client runs, and the exit trap that leaves nothing behind. Each script keeps
# what makes its capture what it is: its names and addresses, its servers, its clients and its
# self-checks. Kept in one place so the two cannot drift apart (a teardown fixed in one and not
# the other would leave namespaces behind).
#
# Sourced, never run. It only defines functions and the state they share with the script:
#   LOG_TAG      set by the script BEFORE sourcing: the [prefix] of its log lines.
#   WORK         the script's temp dir (it sets it in main); cleanup removes it.
#   PIDS         background processes the script started (PIDS+=($!)); cleanup kills them.
#   RAW, TCPDUMP_PID                set by start_capture.
#   STEP_T0, STEP_T1                set by run_client.
# Namespace and interface names are arguments, not globals: each script passes its own, so
# its teardown deletes only its namespaces (and those a crashed run of it left), never the
# other script's.

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  echo "${BASH_SOURCE[0]} is a library: source it from a capture script" >&2
  exit 1
fi

log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# ---------------------------------------------------------------- dependencies
# apt_install PACKAGE...: apt-get install, quietly. The package lists may be stale or missing
# on a fresh machine, so on failure it runs apt-get update once per script run and tries again.
APT_UPDATED=0
apt_install() {
  log "installing: $*"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null; then
    [[ $APT_UPDATED -eq 0 ]] || return 1
    APT_UPDATED=1
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null
  fi
}

# install_missing COMMAND=PACKAGE...: installs, in one apt-get call, the package of each
# COMMAND that is not there. COMMAND may be an absolute path (command -v tests that it is
# executable), for a program that must be one particular binary (Debian's /usr/bin/python3).
# Several commands can come from one package (ip and ss from iproute2): apt-get gets it once.
install_missing() {
  local need=() pair
  for pair in "$@"; do
    command -v "${pair%%=*}" >/dev/null 2>&1 || need+=("${pair#*=}")
  done
  if [[ ${#need[@]} -gt 0 ]]; then
    mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
    apt_install "${need[@]}"
  fi
}

# ---------------------------------------------------------------- cleanup
WORK=""
PIDS=()

# teardown_namespaces NS...: deletes each namespace that exists, after ending every process
# still inside it (deleting the name alone would leave them running, and the namespace with them).
teardown_namespaces() {
  local ns pid _
  for ns in "$@"; do
    [[ -e /run/netns/$ns ]] || continue
    # Only processes inside our own namespaces (started by this script or a crashed run of it).
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && break
      sleep 0.2
    done
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
}

# cleanup NS...: the EXIT trap, as trap 'cleanup "$CLI_NS" "$SRV_NS"' EXIT (single quotes: the
# names are read when it runs). Kills PIDS, deletes the namespaces, removes WORK and exits with
# the status the script was exiting with, so a failure stays a failure. Best effort (set +e):
# one step failing must not stop the rest of the cleanup.
cleanup() {
  local rc=$? # first: the status the script is exiting with
  set +e
  trap - EXIT INT TERM
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  teardown_namespaces "$@"
  [[ -n $WORK && -d $WORK ]] && rm -rf "$WORK"
  exit "$rc"
}

# ---------------------------------------------------------------- network
# setup_veth_pair CLI_NS CLI_IF SRV_NS SRV_IF OFFLOADS: two fresh namespaces joined by one veth
# pair (MTU 1500, as on an Ethernet LAN), CLI_IF in CLI_NS and SRV_IF in SRV_NS, both up, with
# no addresses and no routes: with no default route nothing can leave the two namespaces.
# OFFLOADS is what the capture is meant to show:
#   off  TX checksum, TSO, GSO and GRO off on both ends: real checksums on the wire, and
#        segments as they would be on a real NIC (none larger than the MTU).
#   on   left as the kernel sets them on a veth (TX checksum offload, TSO, GSO on): a capture
#        on the sending end shows the unfinished checksums and oversized segments that a real
#        sending host's capture shows, because there too the NIC would finish them later.
setup_veth_pair() {
  local cli_ns=$1 cli_if=$2 srv_ns=$3 srv_if=$4 offloads=$5
  [[ $offloads == on || $offloads == off ]] || die "setup_veth_pair: offloads must be on or off, not '$offloads'"
  teardown_namespaces "$cli_ns" "$srv_ns" # leftovers of an interrupted run
  ip netns add "$srv_ns"
  ip netns add "$cli_ns"
  ip link add "$cli_if" netns "$cli_ns" mtu 1500 type veth peer name "$srv_if" netns "$srv_ns" mtu 1500
  local ns dev
  for ns in "$cli_ns" "$srv_ns"; do
    dev=$cli_if
    [[ $ns == "$srv_ns" ]] && dev=$srv_if
    ip -n "$ns" link set lo up
    # No link-local address (so no DAD/MLD/router-solicitation chatter in the capture).
    ip -n "$ns" link set "$dev" addrgenmode none
    if [[ $offloads == off ]]; then
      ip netns exec "$ns" ethtool -K "$dev" tx off tso off gso off gro off >/dev/null
    fi
    ip -n "$ns" link set "$dev" up
  done
}

# add_addresses NS DEV ADDRESS/PREFIX...: in that order. IPv6 ones without duplicate address
# detection (nodad), so they are usable at once and no DAD probes land in the capture.
add_addresses() {
  local ns=$1 dev=$2 addr
  shift 2
  for addr in "$@"; do
    if [[ $addr == *:* ]]; then
      ip -n "$ns" addr add "$addr" dev "$dev" nodad
    else
      ip -n "$ns" addr add "$addr" dev "$dev"
    fi
  done
}

# ---------------------------------------------------------------- capture
# start_capture NS DEV: tcpdump on DEV inside NS into RAW=$WORK/raw.pcap, in the background
# (TCPDUMP_PID, also in PIDS); returns once tcpdump is listening, so no packet is missed.
# RAW is classic pcap with microsecond stamps (libpcap cannot write pcapng). -Z root: tcpdump
# would otherwise drop to its own user before opening RAW, and that user cannot write into
# WORK. -U: each packet is written out as it is captured, not when a buffer fills.
start_capture() {
  local ns=$1 dev=$2
  RAW=$WORK/raw.pcap
  ip netns exec "$ns" tcpdump -i "$dev" -Z root -U -s 0 --time-stamp-precision=micro \
    -w "$RAW" 2>"$WORK/tcpdump.log" &
  TCPDUMP_PID=$!
  PIDS+=("$TCPDUMP_PID")
  local _
  for _ in $(seq 50); do
    grep -q "listening on" "$WORK/tcpdump.log" 2>/dev/null && return 0
    sleep 0.1
  done
  die "tcpdump did not start: $(cat "$WORK/tcpdump.log")"
}

# stop_capture: stops tcpdump cleanly (SIGINT: it finishes the file); its packet counts are in
# $WORK/tcpdump.log.
stop_capture() {
  sleep 1 # let the last FINs and ACKs through
  kill -INT "$TCPDUMP_PID"
  wait "$TCPDUMP_PID" || true
}

# ---------------------------------------------------------------- clients
# run_client LABEL COMMAND...: runs one client (COMMAND may be a shell function), stdin empty,
# output in $WORK/logs/LABEL.out and .err. Sets STEP_T0 and STEP_T1 to the wall-clock times
# around it (date +%s.%N: the clock tcpdump stamps packets with), by which the self-checks find
# that client's connection in the capture. Dies, showing the output, if the client fails; then
# waits 0.3 s so that two clients' time windows never overlap.
# shellcheck disable=SC2034 # STEP_T0 and STEP_T1 are read by the sourcing script's step()
run_client() {
  local label=$1 rc=0
  shift
  STEP_T0=$(date +%s.%N)
  "$@" >"$WORK/logs/$label.out" 2>"$WORK/logs/$label.err" </dev/null || rc=$?
  STEP_T1=$(date +%s.%N)
  if [[ $rc -ne 0 ]]; then
    cat "$WORK/logs/$label.out" "$WORK/logs/$label.err" >&2
    die "client $label exited with $rc"
  fi
  sleep 0.3 # keep the steps' time windows apart
}
