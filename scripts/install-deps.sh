#!/usr/bin/env bash
# Installs what Sluice needs to build, test and benchmark, from Debian 12 packages. Idempotent:
# packages already installed are skipped without touching the network.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config git
  libdpdk-dev dpdk libhyperscan-dev libssl-dev libabsl-dev nlohmann-json3-dev libcli11-dev
  libmicrohttpd-dev
  libpcap-dev libgtest-dev googletest libgmock-dev libbenchmark-dev libyaml-cpp-dev
  libcurl4-openssl-dev
  # sd_notify for the systemd unit (deploy/systemd/sluice.service)
  libsystemd-dev
  # fuzzing (libFuzzer and the sanitizer runtimes come with Debian's clang)
  clang libclang-rt-14-dev
  # tests with real parts and captures
  python3 python3-scapy tcpdump iproute2 ethtool
  # the appliance namespace of the interception handoff (deploy/appliance/, live.intercept_handoff)
  nftables
  # a real syslog receiver for the audit export tests (tests/control/syslog_export_test.cc)
  rsyslog
  # deployment tests (tests/deploy/): Debian's dpdk-telemetry.py reads sluice's counters, the
  # installed logrotate file is checked by logrotate itself, the .deb by dpkg-deb
  dpdk-dev logrotate dpkg-dev
  # sluice-intercept's live tests: real clients and servers, certificates, TPROXY
  # (gnutls-bin: RC4-only and 3DES-only upstreams, which Debian's OpenSSL 3 cannot serve)
  curl openssl nftables python3-cryptography gnutls-bin
  # peer for benchmarks
  libndpi-bin
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: these Debian packages are missing; run as root to install them:" >&2
    echo "  ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
