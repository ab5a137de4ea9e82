#!/usr/bin/env bash
# Configures and builds Sluice in build/ (Release with debug info). Extra arguments go to CMake.
# Usage: scripts/build.sh [BUILD_DIR] [-DOPTION=VALUE ...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-"$root/build"}
shift || true
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build_dir" -j"$(nproc)" 2>&1 | grep -vE '^\[ *[0-9]+%\]|^make|^-- ' || true
# grep swallows make's exit status: check the build really finished.
cmake --build "$build_dir" -j"$(nproc)" >/dev/null
