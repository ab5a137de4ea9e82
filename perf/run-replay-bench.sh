#!/usr/bin/env bash
# Replay benchmark: `sluice replay` packets/s beside its floor (pcap_floor: the same net_pcap
# receive path that only frees the mbufs) and a peer (ndpiReader), all on the same generated
# capture in the same run, alternating, whole-process times; then the micro-benchmarks. Prints
# Markdown tables and writes them, with the command, date and machine, to perf/RESULTS.md.
#
# Usage: perf/run-replay-bench.sh [--reps N] [--packets N] [--cpu C] [--min-time S] [--no-micro]
#        [--diag] [--keep-capture] [--out FILE]
# --diag adds a diagnostic row: sluice replay --no-records --checksum off (what L4 checksum
# verification costs the whole process).
# Environment: BUILD_DIR (default perf/out/build).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
perf_dir="$root/perf"
out_dir="$perf_dir/out"
build_dir=${BUILD_DIR:-"$out_dir/build"}
reps=5
packets=1200000
tiny_packets=1000
cpu=1
min_time=0.2
micro=1
diag=0
keep=0
results="$perf_dir/RESULTS.md"
command_line="perf/run-replay-bench.sh $*"

while [[ $# -gt 0 ]]; do
  case $1 in
    --reps) reps=$2; shift 2 ;;
    --packets) packets=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --min-time) min_time=$2; shift 2 ;;
    --no-micro) micro=0; shift ;;
    --diag) diag=1; shift ;;
    --keep-capture) keep=1; shift ;;
    --out) results=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run-replay-bench: unknown argument $1" >&2; exit 2 ;;
  esac
done

for tool in ndpiReader taskset python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "run-replay-bench: $tool not found" >&2; exit 1; }
done

# --- Build only what is measured (RelWithDebInfo, as scripts/build.sh): building every target
# would also build tests that others may be editing.
mkdir -p "$out_dir"
echo "== building in $build_dir" >&2
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_PERF=ON >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target sluice pcap_floor micro_bench gen_capture >/dev/null
sluice="$build_dir/dataplane/app/sluice"
floor="$build_dir/perf/pcap_floor"
gen="$build_dir/perf/gen_capture"
bench="$build_dir/perf/micro_bench"

# --- Captures: the measured one, and a tiny one (same generator) that measures start-up.
work=$(mktemp -d "$out_dir/run.XXXXXX")
cleanup() { [[ $keep == 1 ]] || rm -f "$work"/*.pcap; rm -rf "$work"; }
trap cleanup EXIT
capture="$work/bench.pcap"
tiny="$work/tiny.pcap"
echo "== generating $packets packets" >&2
gen_line=$("$gen" "$capture" --packets "$packets" 2>&1)
echo "$gen_line" >&2
"$gen" "$tiny" --packets "$tiny_packets" 2>/dev/null
[[ $keep == 1 ]] && echo "capture kept in $capture" >&2 && trap - EXIT

# --- One timed run: whole-process wall time (bash's EPOCHREALTIME around the process) plus
# user and system CPU time (GNU time). Appends "tool size rep wall user sys packets" to $times.
times="$work/times.tsv"
: >"$times"
run_one() {  # tool size file rep
  local tool=$1 size=$2 file=$3 rep=$4 t0 t1 pkts=""
  local log="$work/$tool.$size.log"
  local -a cmd
  case $tool in
    floor) cmd=("$floor" "$file") ;;
    sluice) cmd=("$sluice" replay --no-records "$file") ;;
    sluice_records) cmd=("$sluice" replay "$file") ;;
    sluice_nocsum) cmd=("$sluice" replay --no-records --checksum off "$file") ;;
    ndpi) cmd=(ndpiReader -i "$file" -q) ;;
  esac
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%U %S' -o "$work/cpu" taskset -c "$cpu" "${cmd[@]}" >"$work/stdout" 2>"$log"
  t1=$EPOCHREALTIME
  case $tool in
    floor) pkts=$(sed -n 's/^pcap_floor: \([0-9]*\) packets.*/\1/p' "$work/stdout") ;;
    sluice|sluice_records|sluice_nocsum) pkts=$(sed -n 's/^sluice: \([0-9]*\) packets.*/\1/p' "$log") ;;
    ndpi) pkts=- ;;  # -q prints nothing; counted once below without -q
  esac
  if [[ $tool == sluice_records ]]; then
    local records
    records=$(wc -l <"$work/stdout")
    echo "$records" >"$work/records.$size"
  fi
  echo -e "$tool\t$size\t$rep\t$t0\t$t1\t$(cat "$work/cpu" | tr ' ' '\t')\t${pkts:--}" >>"$times"
}

# ndpiReader reads the whole file? Its own count, once, without -q.
ndpi_total=$(ndpiReader -i "$capture" 2>&1 | sed -n 's/.*IP packets: *\([0-9]*\) *of \([0-9]*\) packets total.*/\2/p')
ndpi_tiny=$(ndpiReader -i "$tiny" 2>&1 | sed -n 's/.*IP packets: *\([0-9]*\) *of \([0-9]*\) packets total.*/\2/p')

tools=(floor sluice sluice_records ndpi)
[[ $diag == 1 ]] && tools+=(sluice_nocsum)
echo "== warm-up (page cache), then $reps alternating repetitions on CPU $cpu" >&2
for tool in "${tools[@]}"; do run_one "$tool" warm "$capture" 0; done
for ((r = 1; r <= reps; r++)); do
  for tool in "${tools[@]}"; do run_one "$tool" big "$capture" "$r"; done
  for tool in "${tools[@]}"; do run_one "$tool" tiny "$tiny" "$r"; done
  echo "   repetition $r/$reps done" >&2
done

# --- Micro-benchmarks.
micro_json="$work/micro.json"
if [[ $micro == 1 ]]; then
  echo "== micro-benchmarks (min time $min_time s each)" >&2
  taskset -c "$cpu" "$bench" --benchmark_min_time="$min_time" --benchmark_repetitions=3 \
    --benchmark_report_aggregates_only=true --benchmark_format=json >"$micro_json" 2>"$work/micro.err"
fi

# --- Tables.
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
dirty=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
tree="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ $dirty -gt 0 ]] && tree="$tree + uncommitted changes in $dirty tracked files (built as they were)"
machine="nproc $(nproc), $cpu_model, $(uname -r), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
records_big=$(cat "$work/records.big" 2>/dev/null || echo "?")
python3 - "$times" "$micro_json" "$micro" "$packets" "$tiny_packets" "$ndpi_total" "$ndpi_tiny" \
  "$reps" "$cpu" "$command_line" "$machine" "$gen_line" "$records_big" "$results" "$tree" <<'PY'
import json, statistics, sys, datetime
(times_path, micro_path, micro, packets, tiny_packets, ndpi_total, ndpi_tiny, reps, cpu,
 command_line, machine, gen_line, records_big, results, tree) = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(times_path) if l.strip()]
runs = {}
counts = {}
for tool, size, rep, t0, t1, user, sys_, pkts in rows:
    if size == "warm":
        if pkts != "-": counts[tool] = int(pkts)
        continue
    runs.setdefault((tool, size), []).append((float(t1) - float(t0), float(user) + float(sys_)))
    if pkts != "-" and size == "big":
        counts.setdefault(tool, int(pkts))
        if counts[tool] != int(pkts): counts[tool] = f"inconsistent {counts[tool]} / {pkts}"
if ndpi_total: counts["ndpi"] = int(ndpi_total)
names = {"floor": "pcap_floor (net_pcap rx + free: the floor)",
         "sluice": "sluice replay --no-records",
         "sluice_records": "sluice replay (records to /dev/null)",
         "ndpi": "ndpiReader -i FILE -q",
         "sluice_nocsum": "diagnostic: sluice replay --no-records --checksum off"}
med = lambda xs: statistics.median(xs)
stats = {}
for tool in names:
    big = runs.get((tool, "big"), [])
    tiny = runs.get((tool, "tiny"), [])
    if not big: continue
    wall, cpu_t = med([w for w, _ in big]), med([c for _, c in big])
    tiny_wall = med([w for w, _ in tiny]) if tiny else 0.0
    n = counts.get(tool, int(packets))
    n_num = n if isinstance(n, int) else int(packets)
    stats[tool] = dict(wall=wall, cpu=cpu_t, tiny=tiny_wall, n=n, mpps=n_num / wall / 1e6,
                       marginal=(n_num - int(tiny_packets)) / max(wall - tiny_wall, 1e-9) / 1e6,
                       spread=(min(w for w, _ in big), max(w for w, _ in big)))
fl = stats.get("floor"); nd = stats.get("ndpi")
out = []
out.append(f"Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}  ")
out.append(f"Machine: {machine}  ")
out.append(f"Command: `{command_line.strip()}`  ")
out.append(f"Tree: {tree}  ")
out.append(f"Capture: {gen_line.split(': ', 2)[-1]}  ")
out.append(f"Method: {reps} alternating repetitions per tool, each `taskset -c {cpu}`, whole-process "
           "wall time (fork to exit, EAL start-up included) and user+sys CPU time; medians. "
           f"Start-up = median wall time on a {tiny_packets}-packet capture from the same generator; "
           "'Mpps excl. start-up' = (packets - tiny packets) / (wall - start-up).")
out.append("")
out.append("| tool | packets | median wall s (min-max) | CPU s | Mpps (whole process) | vs floor | vs ndpiReader | start-up s | Mpps excl. start-up | vs floor excl. start-up |")
out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for tool, label in names.items():
    s = stats.get(tool)
    if not s: continue
    vs_floor = f"{s['mpps'] / fl['mpps']:.2f}x" if fl else "-"
    vs_ndpi = f"{s['mpps'] / nd['mpps']:.2f}x" if nd else "-"
    vs_floor_m = f"{s['marginal'] / fl['marginal']:.2f}x" if fl else "-"
    out.append(f"| {label} | {s['n']} | {s['wall']:.3f} ({s['spread'][0]:.3f}-{s['spread'][1]:.3f}) | "
               f"{s['cpu']:.2f} | {s['mpps']:.3f} | {vs_floor} | {vs_ndpi} | {s['tiny']:.3f} | "
               f"{s['marginal']:.3f} | {vs_floor_m} |")
out.append("")
if "sluice" in stats and fl and nd:
    s = stats["sluice"]
    ok_floor = s["mpps"] / fl["mpps"] >= 0.8
    ok_ndpi = s["mpps"] / nd["mpps"] >= 3.0
    out.append(f"Targets (sluice replay --no-records, whole process): >= 0.8x floor: "
               f"{s['mpps'] / fl['mpps']:.2f}x {'MET' if ok_floor else 'NOT MET'}; "
               f">= 3x ndpiReader: {s['mpps'] / nd['mpps']:.2f}x {'MET' if ok_ndpi else 'NOT MET'}. "
               f"Records printed by the records run: {records_big} (one per flow).")
    out.append("")
if micro == "1":
    try:
        data = json.load(open(micro_path))
    except Exception as e:
        data = {"benchmarks": []}
        out.append(f"(micro-benchmarks failed: {e})")
    bm = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") != "median": continue
        if b.get("error_occurred"):
            bm[b["run_name"]] = dict(ns=None, items=None, label=b.get("error_message", "error"))
            continue
        unit = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
        bm[b["run_name"]] = dict(ns=b["cpu_time"] * unit, items=b.get("items_per_second"),
                                 label=b.get("label", ""), pkts=b.get("pkts/s"))
    refs = {"ClientHelloParse/chromium": "FloorMemchr/1955",
            "FlowInspector/two_segment_hello": "ClientHelloParse/chromium",
            "InetChecksum/1480": "FloorChecksumNative/1480",
            "StreamAssembler/two_segment": "FloorMemcpy/1955",
            "ParseFrame/1514/csum:1": "FloorMemchr/1514",
            "ParseFrame/1514/csum:0": "FloorMemchr/1514",
            "QuicInitial/read_and_parse": "FloorAesGcmOpen/1210",
            "QuicInitial/first_packet": "FloorAesGcmOpen/1210"}
    out.append("Micro-benchmarks: CPU time per operation (median of 3 repetitions), pinned like the "
               "replay runs; the reference column names the floor measured in the same run.")
    out.append("")
    def fmt_time(ns):
        for unit, scale in (("ms", 1e6), ("us", 1e3)):
            if ns >= 10 * scale: return f"{ns / scale:.1f} {unit}"
        return f"{ns:.1f} ns"
    def fmt_rate(r):
        for unit, scale in (("M", 1e6), ("k", 1e3)):
            if r >= scale: return f"{r / scale:.2f} {unit}"
        return f"{r:.1f}"
    out.append("| micro-benchmark (median of 3) | time/op |  items/s | reference in the same run | ratio to reference | note |")
    out.append("|---|---:|---:|---|---:|---|")
    for name, b in bm.items():
        if b["ns"] is None:
            out.append(f"| {name} | error | | | | {b['label']} |"); continue
        ref = refs.get(name)
        ratio = f"{b['ns'] / bm[ref]['ns']:.1f}x" if ref in bm and bm[ref]["ns"] else ""
        note = b["label"]
        if b.get("pkts"): note = (note + " " if note else "") + f"{b['pkts'] / 1e6:.2f} M frames/s, 9 frames per flow"
        items = fmt_rate(b["items"]) if b["items"] else ""
        out.append(f"| {name} | {fmt_time(b['ns'])} | {items} | {ref or ''} | {ratio} | {note} |")
    out.append("")
text = "\n".join(out)
print(text)
with open(results, "w") as f:
    f.write("# Sluice benchmark results\n\n")
    f.write("Produced by perf/run-replay-bench.sh (see perf/README.md); every figure is a ratio to "
            "references measured in the same run on the same input.\n\n")
    f.write(text + "\n")
PY
echo "== written to $results" >&2
