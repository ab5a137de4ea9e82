#!/usr/bin/env bash
# Sluice's main job on its built-in sample: installs dependencies, builds, and replays
# samples/school-morning.pcapng (real clients captured in network namespaces) through the DPDK
# worker path. Audit records (JSON lines) go to stdout, the summary to stderr.
# Usage (as root on Debian 12): scripts/demo.sh [CAPTURE]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
capture=${1:-"$root/samples/school-morning.pcapng"}
echo "== sluice replay $capture" >&2
exec "$root/build/dataplane/app/sluice" replay "$capture"
