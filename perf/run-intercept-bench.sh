#!/usr/bin/env bash
# Builds sluice-intercept and intercept_load, then runs perf/intercept_bench.py (sluice-intercept
# beside Squid ssl-bump and mitmproxy). Extra arguments go to the script, e.g. --reps 3.
# Writes perf/INTERCEPT-RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$(dirname "$here")"
build="${BUILD_DIR:-$src/perf/out/build}"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_PERF=ON >/dev/null
nice cmake --build "$build" -j2 --target sluice-intercept intercept_load >/dev/null
exec python3 "$here/intercept_bench.py" "$build/interceptor/sluice-intercept" "$build/perf/intercept_load" \
  --out "$here/INTERCEPT-RESULTS.md" "$@"
