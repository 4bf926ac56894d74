#!/usr/bin/env bash
# `geostorm` (plan, simulate, local) and geostorm-sidecar's flags as a user runs them:
# outputs and errors.
#   tests/cli/cli_test.sh GEOSTORM_BINARY TOPOLOGY_DIR
set -uo pipefail
bin=$1
topologies=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect_ok NAME NEEDLE ARGS...: exits 0 and prints NEEDLE on stdout.
expect_ok() {
  local name=$1 needle=$2; shift 2
  if ! "$bin" "$@" >"$tmp/out" 2>"$tmp/err"; then fail "$name: exit $? ($(cat "$tmp/err"))"; return; fi
  grep -qF -- "$needle" "$tmp/out" || fail "$name: output lacks '$needle'"
}

# expect_error NAME NEEDLE ARGS...: exits non-zero and says NEEDLE on stderr.
expect_error() {
  local name=$1 needle=$2; shift 2
  if "$bin" "$@" >"$tmp/out" 2>"$tmp/err"; then fail "$name: exited 0"; return; fi
  grep -qF -- "$needle" "$tmp/err" || fail "$name: stderr '$(cat "$tmp/err")' lacks '$needle'"
}

klonet=$topologies/klonet-9dc.yaml
expect_ok "plan text" "T_min 1.333 s" plan --topology "$klonet" --model-mb 100 --strategy netstorm
expect_ok "plan text edges" "reduce:    dc" plan --topology "$klonet" --model-mb 100 --strategy netstorm-paper
expect_ok "plan dot" "digraph" plan --topology "$klonet" --model-mb 100 --dot
expect_ok "plan yaml" "dataCenters: [\"dc1\"" plan --topology "$klonet" --model-mb 100 --yaml
expect_ok "plan random mesh" "policy v1  strategy netstorm" plan --random-mesh 12 --model-mb 10

"$bin" plan --topology "$klonet" --model-mb 100 --json >"$tmp/plan.json" || fail "plan --json exited $?"
python3 - "$tmp/plan.json" <<'PY' || fail "plan --json is not a policy"
import json, sys
p = json.load(open(sys.argv[1]))
assert p["strategy"] == "netstorm" and p["modelBytes"] == 100000000, p
assert sum(s["numChunks"] for s in p["shards"]) * p["chunkBytes"] >= p["modelBytes"]
assert 0 < p["tMinSeconds"] < p["predictedSeconds"] < 1.3 * p["tMinSeconds"], p
PY

"$bin" simulate --topology "$klonet" --model-mb 100 --json >"$tmp/sim.json" || fail "simulate --json exited $?"
python3 - "$tmp/sim.json" <<'PY' || fail "simulate --json lacks strategies or fields"
import json, sys
rows = json.load(open(sys.argv[1]))
names = [r["strategy"] for r in rows]
assert names == ["star", "sharded-ps", "ring", "mlnet", "tsengine", "netstorm-paper", "netstorm"], names
for r in rows:
    assert r["predicted_s"] >= r["t_min_s"] > 0, r
best = min(rows, key=lambda r: r["predicted_s"])
assert best["strategy"] == "netstorm", best
PY
expect_ok "simulate subset" "speed" simulate --topology "$klonet" --model-mb 10 --strategies ring,netstorm --json
expect_ok "simulate table" "vs star" simulate --topology "$topologies/mesh-5dc-hetero.yaml" --model-mb 10

printf 'kind: physical\ndataCenters: [a, b]\nlinks:\n  - {a: a, b: zz, mbps: 10}\n' >"$tmp/unknown.yaml"
expect_error "unknown DC" "unknown.yaml:4:15: field 'links[0].b': unknown DC 'zz'" plan --topology "$tmp/unknown.yaml"
printf 'kind: physical\ndataCenters: [a, b]\nlinks:\n  - {a: a, b: b, mbps: -3}\n' >"$tmp/negative.yaml"
expect_error "negative rate" "field 'links[0].mbps': rate must not be negative" simulate --topology "$tmp/negative.yaml"
printf 'kind: physical\ndataCenters: [a, b, c]\nlinks:\n  - {a: a, b: b, mbps: 10}\n' >"$tmp/split.yaml"
expect_error "disconnected" "topology is disconnected: DC 'c' cannot be reached from 'a'" plan --topology "$tmp/split.yaml"
printf 'kind: mesh\ndataCenters: [a, b\n' >"$tmp/bad.yaml"
expect_error "bad YAML" "bad.yaml:3:1: bad YAML" plan --topology "$tmp/bad.yaml"
expect_error "missing file" "$tmp/none.yaml: cannot open topology file" plan --topology "$tmp/none.yaml"
expect_error "unknown strategy" "--strategy" plan --topology "$klonet" --strategy magic
expect_error "no topology" "give --topology FILE or --random-mesh N" simulate

# A real (small) job on this machine: controller, sidecars and workers.
expect_ok "local run" "3/3 iterations finished on every DC" \
  local --topology "$topologies/mesh-4dc-uniform.yaml" --model-mb 1 --iterations 3 --out "$tmp/local"
python3 - "$tmp/local/summary.json" <<'PY' || fail "local summary.json"
import json, sys
s = json.load(open(sys.argv[1]))
assert len(s["iterations"]) == 3 and s["failed_workers"] == 0, s
assert s["median_s"] > 0 and s["t_min_s"] > 0, s
# Completion times from the gateways' event files: in order, and their gaps are the throughput.
done = [i["done_at_s"] for i in s["iterations"]]
assert 0 < done[0] < done[1] < done[2], done
assert abs(s["throughput_s"] - max(done[1] - done[0], done[2] - done[1])) < 1e-6, s  # the upper median
assert s["failed_iterations"] == [], s
assert 0 < s["cpu_busy"] <= 1, s  # the machine's, from the first iteration done to the end
PY
expect_error "local without topology" "--topology is required" local --model-mb 1
expect_error "local bad topology" "bad.yaml:3:1: bad YAML" local --topology "$tmp/bad.yaml"

# geostorm-sidecar's own flags: a usage error or a named failure, never a crash.
sidecar=$(dirname "$bin")/geostorm-sidecar
"$bin" plan --topology "$topologies/mesh-4dc-uniform.yaml" --model-mb 1 --yaml >"$tmp/policy.yaml"
expect_sidecar_error() {
  local name=$1 needle=$2 code; shift 2
  "$sidecar" --dc a --policy "$tmp/policy.yaml" --insecure "$@" >"$tmp/out" 2>&1
  code=$?
  if [ "$code" -eq 0 ] || [ "$code" -ge 128 ]; then fail "$name: exit $code"; return; fi
  grep -qF -- "$needle" "$tmp/out" || fail "$name: output '$(cat "$tmp/out")' lacks '$needle'"
}
expect_sidecar_error "sidecar queue bound not a number" "--max-queue-mb" --max-queue-mb lots
expect_sidecar_error "sidecar metrics address not ours" "--metrics 192.0.2.1:9100: cannot serve /metrics there" \
  --metrics 192.0.2.1:9100 --peer b=127.0.0.1:1 --peer c=127.0.0.1:1 --peer d=127.0.0.1:1
expect_sidecar_error "sidecar worker API off loopback" "--worker-listen 0.0.0.0:9000: the worker API has no TLS" \
  --worker-listen 0.0.0.0:9000 --peer b=127.0.0.1:1 --peer c=127.0.0.1:1 --peer d=127.0.0.1:1
expect_sidecar_error "sidecar events file unwritable" "--events: cannot open '/nonexistent/e.jsonl'" \
  --events /nonexistent/e.jsonl --peer b=127.0.0.1:1 --peer c=127.0.0.1:1 --peer d=127.0.0.1:1
# mTLS is the default; plaintext is asked for, and said.
grep -qF -- "--insecure: plaintext gRPC" "$tmp/out" || fail "sidecar --insecure: no warning in '$(cat "$tmp/out")'"

if [ "$failures" -gt 0 ]; then
  echo "$failures CLI checks failed"
  exit 1
fi
echo "all CLI checks passed"
