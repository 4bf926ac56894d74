#!/usr/bin/env bash
# Payload throughput of the sidecar data plane on loopback, no shaping: two DCs,
# star at the first, one worker each. Every iteration moves M bytes up the
# aggregate-forward hop (summed at the root) and M back down the broadcast hop.
# Reports GB/s of payload per hop against memcpy of the same size, measured by
# aggregation_bench in the same run. Goal: at least 1 GB/s. The workers run
# --unchecked (the integration tests check the sums), so that their own work
# takes as little of the machine's CPU as it can.
#   bench/loopback_hops.sh [BUILD_DIR] [MODEL_MB] [ITERATIONS]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
model_mb=${2:-256}
iterations=${3:-5}
bin=$build/bin
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT

printf 'kind: mesh\ndataCenters: [a, b]\ndefaultMbps: 100000\n' >"$dir/two.yaml"
"$bin/geostorm" plan --topology "$dir/two.yaml" --strategy star --star-root 0 --model-mb "$model_mb" \
  --chunk-kb 1024 --yaml >"$dir/policy.yaml"
port_a=$((20000 + RANDOM % 20000)); port_b=$((port_a + 1))  # metrics on port + 2
for dc in a b; do
  [ $dc = a ] && { me=$port_a; peer="b=127.0.0.1:$port_b"; } || { me=$port_b; peer="a=127.0.0.1:$port_a"; }
  "$bin/geostorm-sidecar" --dc $dc --policy "$dir/policy.yaml" --listen "127.0.0.1:$me" --peer "$peer" \
    --worker-listen "unix:$dir/$dc.sock" --metrics "127.0.0.1:$((me + 2))" --timeout-ms 60000 --insecure \
    >"$dir/$dc.log" 2>&1 &
done
"$bin/geostorm-synthetic-worker" --sidecar "unix:$dir/a.sock" --dc-index 0 --dcs 2 --iterations "$iterations" \
  --unchecked >"$dir/wa.log" &
wa=$!
"$bin/geostorm-synthetic-worker" --sidecar "unix:$dir/b.sock" --dc-index 1 --dcs 2 --iterations "$iterations" \
  --unchecked >"$dir/wb.log"
wait $wa
# The sidecar's own clock (first gradient chunk in to last result out), so that
# the synthetic workers' generating and checking of values is not counted.
seconds=$(python3 -c "
import re, urllib.request
body = urllib.request.urlopen('http://127.0.0.1:$((port_b + 2))/metrics').read().decode()
total = float(re.search(r'^geostorm_iteration_duration_seconds_sum\{[^}]*\} (\S+)$', body, re.M).group(1))
print(total / $iterations)")
grep -q "iteration $((iterations - 1)) done" "$dir/wa.log" "$dir/wb.log"
memcpy=$("$bin/aggregation_bench" --benchmark_filter='BM_Memcpy/67108864' --benchmark_format=json 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["benchmarks"][0]["bytes_per_second"]/1e9)')
python3 - "$seconds" "$model_mb" "$memcpy" <<'PY'
import sys
seconds, mb, memcpy = map(float, sys.argv[1:])
gbps = mb * 1e6 / seconds / 1e9
print(f"{int(mb)} MB per iteration, {seconds:.3f} s per iteration at the sidecar")
print(f"per hop: {gbps:.2f} GB/s of payload; memcpy in this process: {memcpy:.2f} GB/s; ratio {gbps / memcpy:.2f}")
PY
