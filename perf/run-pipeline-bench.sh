#!/usr/bin/env bash
# Pipeline benchmark: the live worker loop's packets/s, new TLS flows/s and policy-swap stall,
# each beside a floor measured in the same run on the same input. Writes perf/PIPELINE-RESULTS.md.
#
#   1. floor:  dpdk-testpmd --forward-mode=5tswap, net_pcap (rx_pcap=CAPTURE, infinite_rx=1) to
#              net_null (no-rx=1), one forwarding core; packets/s from its telemetry
#              (/ethdev/stats,0 ipackets), sampled every 0.25 s in steady state.
#      sluice: `sluice run` on the same two vdevs (inline pair inside=pcap, outside=null), one
#              worker, the 1M-name policy; packets/s from its telemetry (/sluice/stats rx_packets).
#      Alternating, --reps times each.
#   2. pipeline_bench (in memory, the real BridgeWorker on ring ports, frames recycled without
#      copies): established IMIX packets/s and new TLS flows/s with the 1M-name policy, each
#      beside a 5tswap loop on the same rings; then the longest gap between two polls of the
#      worker loop while a 5M-name policy is compiled and published, beside a baseline window.
#
# Usage: perf/run-pipeline-bench.sh [--seconds S] [--reps N] [--flows N] [--data M]
#                                   [--names N] [--swap-names N] [--out FILE] [--keep] [--huge]
# --huge: every process (testpmd, sluice, pipeline_bench) takes its DPDK memory from 2 MB
# hugepages, as on an appliance, instead of --no-huge's 4 KB pages; needs 1024 free hugepages
# and a mounted hugetlbfs (deploy/ says how).
# Environment: BUILD_DIR (default build-pipe; configured Release with SLUICE_PERF=ON).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-"$root/build-pipe"}
seconds=5
reps=3
flows=256
data=124
names=1000000
swap_names=5000000
keep=0
huge=0
results="$root/perf/PIPELINE-RESULTS.md"
command_line="perf/run-pipeline-bench.sh $*"

while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --flows) flows=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --names) names=$2; shift 2 ;;
    --swap-names) swap_names=$2; shift 2 ;;
    --out) results=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --huge) huge=1; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "run-pipeline-bench: unknown argument $1" >&2; exit 2 ;;
  esac
done

testpmd=$(command -v dpdk-testpmd || true)
if [[ -z $testpmd ]]; then
  echo "run-pipeline-bench: dpdk-testpmd not found (Debian: apt-get install dpdk-dev)" >&2
  exit 1
fi

huge_free=$(sed -n 's/^HugePages_Free:[[:space:]]*//p' /proc/meminfo)
if [[ $huge == 1 ]] && { [[ ${huge_free:-0} -lt 1024 ]] || ! grep -q " hugetlbfs " /proc/mounts; }; then
  echo "run-pipeline-bench: --huge needs 1024 free 2 MB hugepages (${huge_free:-0} free) and a mounted" \
    "hugetlbfs: echo 1024 > /proc/sys/vm/nr_hugepages; mount -t hugetlbfs nodev /dev/hugepages" >&2
  exit 1
fi
if [[ $huge == 1 ]]; then
  memory="2 MB hugepages"
  testpmd_memory=(-m 1024 --huge-unlink)  # unlinked: no file left in hugetlbfs after the run
  sluice_huge=true
  sluice_args='"--log-level=*:warning", "--huge-unlink"'
else
  memory="4 KB pages (--no-huge)"
  testpmd_memory=(--no-huge -m 1024)
  sluice_huge=false
  sluice_args='"--log-level=*:warning"'
fi

echo "== building in $build_dir (Release)" >&2
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DSLUICE_PERF=ON >/dev/null
cmake --build "$build_dir" -j2 --target sluice pipeline_capture pipeline_bench >/dev/null
sluice="$build_dir/dataplane/app/sluice"

mkdir -p "$root/perf/out"
work=$(mktemp -d "$root/perf/out/pipe.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  [[ $keep == 1 ]] || rm -rf "$work"
  rm -rf "/var/run/dpdk/pipe-tp-$$" "/var/run/dpdk/pipe-sl-$$"  # the runtime dirs of this run's EALs
}
trap cleanup EXIT
capture="$work/imix.pcap"
echo "== capture and ${names}-name list" >&2
gen_line=$("$build_dir/perf/pipeline_capture" "$capture" --flows "$flows" --data "$data" \
  --list-size "$names" --names-out "$work/names.txt")
echo "$gen_line" >&2

cat >"$work/sluice.yaml" <<EOF
eal:
  huge_pages: $sluice_huge
  memory_mb: 1024
  pci: false
  file_prefix: pipe-sl-$$
  args: [$sluice_args]
ports:
  - name: inside
    device: "net_pcap0,rx_pcap=$capture,infinite_rx=1"
  - name: outside
    device: "net_null0,no-rx=1"
mode: inline
pairs:
  - inside: inside
    outside: outside
lcores:
  management: 0
  workers: [1]
mempool:
  mbufs: 131071   # net_pcap's infinite_rx keeps the whole capture in mbufs
  cache: 256
policy:
  rules:
    - name: bench-1m
      kind: domains
      files: [names.txt]
      action: pass
stats:
  telemetry: true
  print_on_exit: true
  log_interval: 0s
EOF

# Polls a DPDK telemetry socket: waits for it, then for the counter to move, skips 1 s of
# warm-up and returns (last - first) / elapsed over `seconds`. Prints "rate samples".
poll_rate() {  # socket command field seconds
  python3 - "$@" <<'PY'
import json, socket, sys, time
path, cmd, field, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
deadline = time.time() + 120
s = None
while time.time() < deadline:
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(path)
        break
    except OSError:
        s = None
        time.sleep(0.1)
if s is None:
    print("0 0"); sys.exit(0)
s.recv(65536)
def read():
    s.send(cmd.encode())
    reply = json.loads(s.recv(1 << 20).decode())
    value = next(iter(reply.values()), None)
    return int(value.get(field, 0)) if isinstance(value, dict) else 0
while read() == 0 and time.time() < deadline:
    time.sleep(0.05)
time.sleep(1.0)
samples = []
end = time.time() + seconds
while True:
    samples.append((time.time(), read()))
    if samples[-1][0] >= end: break
    time.sleep(0.25)
(t0, v0), (t1, v1) = samples[0], samples[-1]
print(f"{(v1 - v0) / (t1 - t0):.0f} {len(samples)}")
PY
}

rates="$work/rates.tsv"
: >"$rates"
run_testpmd() {
  local prefix="pipe-tp-$$" log="$work/testpmd.log"
  "$testpmd" "${testpmd_memory[@]}" --no-pci --file-prefix "$prefix" -l 0,1 --log-level='*:warning' \
    --vdev "net_pcap0,rx_pcap=$capture,infinite_rx=1" --vdev "net_null0,no-rx=1" -- \
    --forward-mode=5tswap --nb-cores=1 --total-num-mbufs=131072 --stats-period 1 \
    </dev/null >"$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  local r
  r=$(poll_rate "/var/run/dpdk/$prefix/dpdk_telemetry.v2" "/ethdev/stats,0" ipackets "$seconds")
  kill -INT "$pid"
  wait "$pid" || true
  echo -e "testpmd\t$r" >>"$rates"
}
run_sluice() {
  local prefix="pipe-sl-$$" log="$work/sluice.log"
  "$sluice" run --config "$work/sluice.yaml" </dev/null >"$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  local r
  r=$(poll_rate "/var/run/dpdk/$prefix/dpdk_telemetry.v2" "/sluice/stats" rx_packets "$seconds")
  kill -TERM "$pid"
  wait "$pid" || { echo "sluice run failed:" >&2; cat "$log" >&2; exit 1; }
  echo -e "sluice\t$r" >>"$rates"
}

echo "== $reps alternating runs of testpmd (5tswap) and sluice run, ${seconds}s measured each" >&2
for ((r = 1; r <= reps; r++)); do
  run_testpmd
  run_sluice
  echo "   repetition $r/$reps: $(tail -2 "$rates" | tr '\n\t' '  ')" >&2
done
cp "$work/sluice.log" "$work/sluice-last.log"

echo "== pipeline_bench (in memory)" >&2
"$build_dir/perf/pipeline_bench" --seconds "$seconds" --policy-names "$names" --huge "$huge" \
  --swap-names "$swap_names" >"$work/bench.txt" 2>"$work/bench.err" || {
  cat "$work/bench.err" >&2; exit 1; }
cat "$work/bench.txt" >&2

# Diagnostic runs of the new-flow row, to say what limits it: the same with 512 flows (2,560
# frames, which stay in the cache as a NIC writing into it with DDIO would deliver them; the
# names still come from the whole list), the same with a 1,000-name list (the name table in the
# cache), and the same with the frames carrying a NIC's checksum verdict (RX checksum offload,
# which appliance NICs have: the worker then sums no segment itself). Only
# new_judged_per_cpu_s is kept from each, renamed.
echo "== pipeline_bench diagnostics (new flows: 512 flows; 1,000-name list; NIC checksums)" >&2
for diag in "cached_frames --new-flows 512 --policy-names $names" "small_list --policy-names 1000" \
  "nic_checksum --nic-checksum 1 --policy-names $names"; do
  read -r label args <<<"$diag"
  # shellcheck disable=SC2086  # $args is a list of options
  "$build_dir/perf/pipeline_bench" --rows new --seconds "$seconds" --huge "$huge" $args \
    2>>"$work/bench.err" | sed -n "s/^new_judged_per_cpu_s /diag_${label}_new_judged_per_cpu_s /p" \
    >>"$work/bench.txt"
done
grep '^diag_' "$work/bench.txt" >&2 || true

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
dirty=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
tree="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ $dirty -gt 0 ]] && tree="$tree + uncommitted changes in $dirty tracked files (built as they were)"
machine="nproc $(nproc), $cpu_model, $(uname -r), DPDK memory in $memory, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$rates" "$work/bench.txt" "$work/sluice-last.log" "$command_line" "$machine" "$tree" \
  "$gen_line" "$results" "$seconds" "$reps" <<'PY'
import datetime, statistics, sys
rates_path, bench_path, sluice_log, command_line, machine, tree, gen_line, results, seconds, reps = sys.argv[1:]
rates = {}
for line in open(rates_path):
    tool, rate, n = line.split()
    rates.setdefault(tool, []).append(float(rate))
b = {}
for line in open(bench_path):
    k, v = line.split()
    b[k] = float(v)
med = statistics.median
tp, sl = med(rates["testpmd"]), med(rates["sluice"])
exit_counters = [l.strip() for l in open(sluice_log) if l.startswith("  ")]
def m(x): return f"{x / 1e6:.3f} M"
def verdict(ok): return "MET" if ok else "NOT MET"
out = []
out.append(f"Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}  ")
out.append(f"Machine: {machine}  ")
out.append(f"Command: `{command_line.strip()}`  ")
out.append(f"Tree: {tree}  ")
out.append(f"Capture: {gen_line.split(': ', 1)[-1]}  ")
out.append(f"Method: {reps} alternating runs each of testpmd and `sluice run`, {seconds} s measured "
           "after 1 s of traffic, rates from each process's telemetry socket; medians (min-max). "
           "pipeline_bench: one process, the real worker loop pinned to CPU 1, the management "
           f"side on CPU 0, {seconds} s per row.")
out.append("")
out.append("| row | input | packets/s per core (median, min-max) | vs floor | target | |")
out.append("|---|---|---:|---:|---|---|")
out.append(f"| floor: `dpdk-testpmd --forward-mode=5tswap`, net_pcap (infinite_rx) -> net_null | IMIX capture | "
           f"{m(tp)} ({m(min(rates['testpmd']))}-{m(max(rates['testpmd']))}) | 1.00x | | |")
out.append(f"| `sluice run`, same vdevs, 1 worker, 1M-name policy | same | {m(sl)} "
           f"({m(min(rates['sluice']))}-{m(max(rates['sluice']))}) | {sl / tp:.2f}x | >= 0.7x | {verdict(sl / tp >= 0.7)} |")
out.append(f"| in-memory floor: 5tswap loop on the ring ports | IMIX data frames, recycled | {m(b['est_floor_pps'])} | 1.00x | | |")
out.append(f"| in-memory: BridgeWorker, established flows | same | {m(b['est_pps'])} | "
           f"{b['est_pps'] / b['est_floor_pps']:.2f}x | >= 0.7x | {verdict(b['est_pps'] / b['est_floor_pps'] >= 0.7)} |")
if "est_cpu_pps" in b:
    out.append("")
    out.append(f"Per second of the lcore thread's own CPU time (preemption by other work on the machine "
               f"left out, for the floor and sluice alike): in-memory floor {m(b['est_floor_cpu_pps'])}, "
               f"BridgeWorker {m(b['est_cpu_pps'])} ({b['est_cpu_pps'] / b['est_floor_cpu_pps']:.2f}x).")
out.append("")
nf = b["new_judged_per_s"]
out.append("| new TLS flows (5 frames each: SYN, SYN-ACK, ACK, 590 B ClientHello, RST) | frames/s | flows/s (first flights judged) | vs floor | target | |")
out.append("|---|---:|---:|---:|---|---|")
out.append(f"| in-memory floor: 5tswap loop, same frames | {m(b['new_floor_pps'])} | {m(b['new_floor_pps'] / 5)} (frames / 5) | 1.00x | | |")
out.append(f"| BridgeWorker + FlowInspector (inline) + {int(b['policy_names']):,}-name policy | {m(b['new_pps'])} | "
           f"{m(nf)} | {nf / (b['new_floor_pps'] / 5):.2f}x | >= 1M/s | {verdict(nf >= 1e6)} |")
if "new_cpu_pps" in b:
    out.append("")
    out.append(f"Per second of the lcore thread's CPU time: floor {m(b['new_floor_cpu_pps'])} frames, "
               f"BridgeWorker {m(b['new_cpu_pps'])} frames, {m(b['new_judged_per_cpu_s'])} new flows.")
if "diag_cached_frames_new_judged_per_cpu_s" in b and "diag_small_list_new_judged_per_cpu_s" in b:
    out.append("")
    out.append("Diagnostics, each one run of the same row (new flows per CPU-second; not the benchmark's figure): "
               f"512 flows, whose 2,560 frames stay in the cache as a NIC writing with DDIO would deliver them, "
               f"{m(b['diag_cached_frames_new_judged_per_cpu_s'])}; a 1,000-name list (the name table in the cache), "
               f"{m(b['diag_small_list_new_judged_per_cpu_s'])}"
               + (f"; the frames carrying a NIC's checksum verdict (RX checksum offload, so the worker sums no "
                  f"segment), {m(b['diag_nic_checksum_new_judged_per_cpu_s'])}"
                  if "diag_nic_checksum_new_judged_per_cpu_s" in b else "") + ".")
out.append("")
out.append(f"Flows created/s {m(b['new_flows_created_per_s'])}, closed by their RST/s {m(b['new_closed_per_s'])}, "
           f"held ClientHellos released/s {m(b['new_released_per_s'])}; half the names hit the list, half miss. "
           f"Policy compile ({int(b['policy_names']):,} names): {b['policy_compile_s']:.2f} s.")
out.append("")
base, comp, pub = b["stall_baseline_max_gap_us"], b["stall_compile_max_gap_us"], b["stall_publish_max_gap_us"]
lost = b["swap_losses"] + b["new_frames_missing"]
out.append(f"Policy swap under the new-flow load ({int(b['swap_names']):,}-name policy: compiled "
           f"in {b['swap_compile_s']:.2f} s on the management side, publish {b['swap_publish_ms']:.1f} ms):")
out.append("")
out.append("| window | seconds | loop polls (mean interval) | longest gap between two polls (wall, TSC) | same, worker thread CPU time | polls > 50 us after the previous | worker page faults (minor/major) | CPU 1 steal (hypervisor) |")
out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
for w, label in (("baseline", "baseline (same load, no swap)"), ("compile", "5M list built and compiled"),
                 ("publish", "publish + RCU grace period + reclaim (+0.2 s)"), ("after", "after (1 s)"),
                 ("platform_idle", "platform floor: a bare polling loop on the same lcore, idle"),
                 ("platform_compile", "platform floor: the bare loop while the same list compiles")):
    if f"stall_{w}_seconds" not in b:
        continue
    out.append(f"| {label} | {b[f'stall_{w}_seconds']:.2f} | {int(b[f'stall_{w}_polls']):,} ({b[f'stall_{w}_seconds'] * 1e6 / max(b[f'stall_{w}_polls'], 1):.1f} us) | {b[f'stall_{w}_max_gap_us']:.1f} us | "
               f"{b[f'stall_{w}_max_cpu_gap_us']:.1f} us | {int(b[f'stall_{w}_over_50us'])} | "
               f"{int(b.get(f'stall_{w}_worker_minflt', 0))}/{int(b.get(f'stall_{w}_worker_majflt', 0))} | {b[f'stall_{w}_steal_ms']:.0f} ms |")
out.append("")
if "stall_platform_compile_max_gap_us" in b:
    plat = max(b["stall_platform_idle_max_gap_us"], b["stall_platform_compile_max_gap_us"])
    out.append(f"The bare loop, which does nothing but read the clock, waits up to {plat:.1f} us between two "
               "polls on this machine: that is the platform's floor for this figure (preemption by the "
               "guest kernel and the hypervisor), and no swap figure below it can be read as sluice's. "
               "The worker's page faults in each window show whether the swap itself made it wait on memory.")
    out.append("")
swap_stall = max(comp, pub)
out.append(f"Target (stall <= 50 us, no packet dropped): longest gap around the swap {swap_stall:.1f} us "
           f"(baseline {base:.1f} us) -> {verdict(swap_stall <= 50)}; frames dropped or lost during the "
           f"swap: {int(lost)} -> {verdict(lost == 0)}. At the `sluice run` rate ({m(sl)}pps) the "
           f"longest swap-window gap is {swap_stall * 1e-6 * sl:.0f} packets of a 1024-descriptor RX queue.")
out.append("")
out.append(f"Established in memory: flows created/s during the measurement {b['est_flows_created_per_s']:.0f}, "
           f"first flights judged/s {b['est_judged_per_s']:.0f} (handshakes were sent once, before the "
           f"recycled data frames); frames missing at the end {int(b['est_frames_missing'])}, losses {int(b['est_losses'])}.")
out.append("")
out.append("`sluice run` exit counters (last run):")
out.append("")
out.append("```")
out.extend(exit_counters)
out.append("```")
text = "\n".join(out)
print(text)
with open(results, "w") as f:
    f.write("# Sluice pipeline benchmark results\n\n")
    f.write("Produced by perf/run-pipeline-bench.sh (see perf/README.md, \"The pipeline benchmark\"); "
            "every figure is beside a floor measured in the same run on the same input.\n\n")
    f.write(text + "\n")
PY
echo "== written to $results" >&2
