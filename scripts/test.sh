#!/usr/bin/env bash
# Sluice's whole test suite, from a fresh Debian 12 machine (as root): installs dependencies,
# builds, and runs
#   1. unit tests, replay tests over captures of real clients, and the kept fuzz corpora as
#      regression inputs (gcc build, build/);
#   2. the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer, and every
#      libFuzzer target for a bounded time (clang build, build-fuzz/).
# FUZZ_SECONDS (default 60) bounds each fuzzer. Exits non-zero on any failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fuzz_seconds=${FUZZ_SECONDS:-60}

"$root/scripts/install-deps.sh"

echo "== build (gcc, RelWithDebInfo)"
"$root/scripts/build.sh" "$root/build"

echo "== unit, replay and fuzz-corpus tests"
(cd "$root/build" && ctest --output-on-failure -j"$(nproc)")

echo "== sanitizer and fuzz build (clang, ASan+UBSan, libFuzzer)"
cmake -S "$root" -B "$root/build-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DSLUICE_FUZZ=ON -DSLUICE_SANITIZE=ON -DSLUICE_PERF=OFF >/dev/null
targets=()
for src in "$root"/tests/fuzz/*_fuzz.cc; do targets+=("$(basename "$src" .cc)"); done
unit_tests=(core_tests control_tests control_api_tests app_tests dpdk_tests dpdk_eal_tests dpdk_rcu_tests
            host_tests handoff_tests interceptor_tests)
for lib in policy config; do
  if compgen -G "$root/tests/dataplane/$lib/*_test.cc" >/dev/null; then unit_tests+=("${lib}_tests"); fi
done
cmake --build "$root/build-fuzz" -j"$(nproc)" --target "${unit_tests[@]}" "${targets[@]}" >/dev/null

echo "== unit tests under ASan+UBSan"
for t in "${unit_tests[@]}"; do "$root/build-fuzz/tests/$t" --gtest_brief=1; done

fuzz_failed=0
for t in "${targets[@]}"; do
  echo "== fuzz $t for ${fuzz_seconds}s"
  work=$(mktemp -d)
  # New inputs go to a scratch directory; the kept corpus is only read.
  if ! (cd "$work" && "$root/build-fuzz/tests/fuzz/$t" -max_total_time="$fuzz_seconds" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        "$work" "$root/tests/fuzz/corpus/$t" >"$work/log" 2>&1); then
    echo "fuzz $t FAILED; crash input and log kept in $work:" >&2
    tail -40 "$work/log" >&2
    fuzz_failed=$((fuzz_failed + 1))
    continue
  fi
  grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$work/log" | tail -1
  rm -rf "$work"
done

fuzz_total=${#targets[@]}
echo "fuzz: $((fuzz_total - fuzz_failed)) passed, $fuzz_failed failed"
[ "$fuzz_failed" -eq 0 ]
