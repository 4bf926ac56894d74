#!/usr/bin/env bash
# The emulated WAN testbed (root): `geostorm wan up` on
#   - a 3-DC mesh with a different rate on every ordered pair: iperf3 between each
#     pair measures within 10% of the configured rate;
#   - a 4-DC physical chain a-b-c-d: a -> d crosses b and c (their shaped links
#     carry the bytes) at the chain's slowest rate, within 10%;
# and that every namespace is gone after Ctrl-C, and after `wan down` when the
# testbed was killed.
#   tests/root/testbed_test.sh BUILD_DIR
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then echo "testbed_test: needs root for network namespaces and tc; skipped"; exit 77; fi
geostorm=$(cd "${1:-build}" && pwd)/bin/geostorm
dir=$(mktemp -d)
tag=t$$
tag=${tag:0:6}
wan_pid=
cleanup() {
  [ -n "$wan_pid" ] && kill -INT "$wan_pid" 2>/dev/null && wait "$wan_pid" 2>/dev/null
  "$geostorm" wan down --tag "$tag" >/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

up() {  # up TOPOLOGY: starts the testbed and waits until it is ready
  "$geostorm" wan up --topology "$1" --tag "$tag" >"$dir/wan.out" 2>&1 &
  wan_pid=$!
  for _ in $(seq 1 100); do grep -q '^ready$' "$dir/wan.out" && return 0; sleep 0.1; done
  cat "$dir/wan.out"; exit 1
}

down() {  # stops the testbed with Ctrl-C and checks that nothing is left
  kill -INT "$wan_pid"; wait "$wan_pid"; wan_pid=
  left=$(ip netns list | grep -c "^gs$tag-" || true)
  [ "$left" -eq 0 ] || fail "$left namespaces left after Ctrl-C"
}

# Mbit/s that iperf3 moves from DC I to DC J (1-based).
measure() {
  local i=$1 j=$2 port=$((5200 + $1 * 10 + $2))
  ip netns exec "gs$tag-dc$j" iperf3 -s -1 -B "10.77.0.$j" -p "$port" >/dev/null 2>&1 &
  sleep 0.3
  ip netns exec "gs$tag-dc$i" iperf3 -c "10.77.0.$j" -p "$port" -t 2 -O 1 -J |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6)'
  wait
}

within() {  # within MEASURED CONFIGURED WHAT
  python3 - "$@" <<'PY' || fail "$3: measured $1 Mbit/s, configured $2"
import sys
measured, configured = float(sys.argv[1]), float(sys.argv[2])
print(f"{sys.argv[3]}: {measured:.1f} Mbit/s of {configured:.0f} configured ({measured / configured:.3f})")
sys.exit(0 if abs(measured - configured) <= 0.10 * configured else 1)
PY
}

cat >"$dir/mesh.yaml" <<'EOF'
kind: mesh
dataCenters: [a, b, c]
mbps:
  a: {b: 20, c: 45}
  b: {a: 30, c: 60}
  c: {a: 50, b: 25}
EOF
up "$dir/mesh.yaml"
declare -A rate=([1,2]=20 [1,3]=45 [2,1]=30 [2,3]=60 [3,1]=50 [3,2]=25)
for pair in 1,2 1,3 2,1 2,3 3,1 3,2; do
  i=${pair%,*} j=${pair#*,}
  within "$(measure "$i" "$j")" "${rate[$pair]}" "mesh dc$i -> dc$j"
done
down

cat >"$dir/chain.yaml" <<'EOF'
kind: physical
dataCenters: [a, b, c, d]
links:
  - {a: a, b: b, mbps: 80}
  - {a: b, b: c, mbps: 30}
  - {a: c, b: d, mbps: 60}
EOF
up "$dir/chain.yaml"
sent() { tc -n "gs$tag-dc$1" -s class show dev "to-dc$2" | awk '/Sent/ {print $2; exit}'; }
before=$(sent 3 4)
within "$(measure 1 4)" 30 "chain a -> d, across b and c"
after=$(sent 3 4)
if [ $((after - before)) -lt 3000000 ]; then fail "c's link to d carried $((after - before)) bytes of a's traffic"; fi
within "$(measure 4 3)" 60 "chain d -> c"
down

# A killed testbed leaves its namespaces; `wan down` removes them.
up "$dir/mesh.yaml"
kill -9 "$wan_pid"; wait "$wan_pid" 2>/dev/null || true; wan_pid=
"$geostorm" wan down --tag "$tag"
left=$(ip netns list | grep -c "^gs$tag-" || true)
[ "$left" -eq 0 ] || fail "$left namespaces left after wan down"

if [ "$failures" -ne 0 ]; then exit 1; fi
echo "testbed test passed"
