#!/usr/bin/env bash
# Adaptation on an emulated WAN (root): a 3-DC mesh of namespaces at 40 Mbit/s per
# direction, the controller re-planning every 2 s from the sidecars' passive
# reports. Mid-run the busiest tree link of the policy in force drops to half its
# rate. Checks that
#   - a new policy, decided after the change (prepared after it), is committed within
#     two reconcile intervals of the change,
#   - it puts fewer bytes on that link than the old one did,
#   - iterations on it are faster than those on the old policy after the change,
#   - every sum stays exact.
#   tests/root/adaptation_test.sh BUILD_DIR
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then echo "adaptation_test: needs root for network namespaces and tc; skipped"; exit 77; fi
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../bench/wan/mesh.sh
source "$here/../../bench/wan/mesh.sh"
bin=$build/bin
tag=$$
dir=$(mktemp -d)
pids=()
cleanup() {
  if [ -n "${KEEP:-}" ]; then cp -r "$dir" "$KEEP"; fi  # KEEP=DIR keeps the logs
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  mesh_down "$tag"
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

n=3 mbps=40 interval_ms=2000 iterations=50 change_at=12
mesh_up "$tag" "$n"
for i in $(seq 1 $n); do
  for j in $(seq 1 $n); do [ "$i" != "$j" ] && mesh_rate "$tag" "$i" "$j" "$mbps"; done
done
printf 'kind: mesh\ndataCenters: [dc1, dc2, dc3]\ndefaultMbps: %s\n' "$mbps" >"$dir/topology.yaml"

ip netns exec "$(mesh_ns "$tag" hub)" "$bin/geostorm-controller" --topology "$dir/topology.yaml" --model-mb 4 \
  --listen 10.77.0.254:7100 --interval-ms $interval_ms --state-file "$dir/state.json" --insecure \
  >"$dir/controller.log" 2>&1 &
pids+=($!)
for i in $(seq 1 $n); do
  peers=()
  for j in $(seq 1 $n); do [ "$i" != "$j" ] && peers+=(--peer "dc$j=10.77.0.$j:7000"); done
  ip netns exec "$(mesh_ns "$tag" "$i")" "$bin/geostorm-sidecar" --dc "dc$i" --controller 10.77.0.254:7100 \
    --listen "10.77.0.$i:7000" "${peers[@]}" --worker-listen "unix:$dir/w$i.sock" --timeout-ms 30000 --insecure \
    --events "$dir/gateway-$i.events" \
    >"$dir/gateway-$i.log" 2>&1 &
  pids+=($!)
done
workers=()
for i in $(seq 1 $n); do
  ip netns exec "$(mesh_ns "$tag" "$i")" "$bin/geostorm-synthetic-worker" --sidecar "unix:$dir/w$i.sock" \
    --dc-index $((i - 1)) --dcs $n --iterations $iterations >"$dir/worker-$i.log" 2>&1 &
  workers+=($!)
done

# Once the job runs steadily, halve the busiest tree link of the policy in force.
finished() {  # did gateway 1 finish iteration $1? (its event file)
  python3 -c 'import json, sys
sys.exit(0 if any(e.get("event") == "iteration" and e.get("iteration") == int(sys.argv[2])
                  for e in map(json.loads, open(sys.argv[1]))) else 1)' "$dir/gateway-1.events" "$1" 2>/dev/null
}
for _ in $(seq 1 600); do
  finished "$change_at" && break
  sleep 0.1
done
read -r src dst < <(python3 - "$dir/state.json" <<'PY'
import json, sys
policy = json.load(open(sys.argv[1]))["committed"][-1]["policy"]
load = {}
for s in policy["shards"]:
    for child, parent in s["reduce"].items():
        load[(child, parent)] = load.get((child, parent), 0) + s["numChunks"]
src, dst = max(load, key=load.get)
print(src[2:], dst[2:])
PY
)
changed_at=$(date +%s.%N)
mesh_rate "$tag" "$src" "$dst" $((mbps / 2))
echo "halved dc$src -> dc$dst at iteration $change_at"

status=0  # a worker exits 0 only when every iteration was exact
for w in "${workers[@]}"; do wait "$w" || status=1; done
finished $((iterations - 1)) || status=1
if [ $status -ne 0 ]; then
  echo "FAIL: a worker did not finish exactly"; tail -n 5 "$dir"/worker-*.log "$dir"/gateway-*.log; exit 1
fi

python3 - "$dir" "$changed_at" "$src" "$dst" "$interval_ms" <<'PY'
import json, sys
d, changed_at, src, dst, interval_ms = sys.argv[1], float(sys.argv[2]), "dc" + sys.argv[3], "dc" + sys.argv[4], int(sys.argv[5])

events = [json.loads(l) for l in open(f"{d}/gateway-1.events")]
commits = [(e["time"], e["version"]) for e in events if e["event"] == "policy_committed"]
prepared = {e["version"]: e["time"] for e in events if e["event"] == "policy_prepared"}
# The reaction is the first policy decided after the change: one prepared before it
# (planned from the old rates) may still commit after it, and is no reaction.
after = [(t, v) for t, v in commits if prepared.get(v, 0) > changed_at]
failures = []
if not after:
    failures.append("no policy decided after the change was committed")
else:
    delay = after[0][0] - changed_at
    print(f"policy v{after[0][1]} committed {delay:.2f} s after the change (limit {2 * interval_ms / 1000:.1f} s)")
    if delay > 2 * interval_ms / 1000:
        failures.append(f"commit took {delay:.2f} s")

state = json.load(open(f"{d}/state.json"))
def link_chunks(policy):
    return sum(s["numChunks"] for s in policy["shards"]
               for tree in (s["reduce"], s["broadcast"]) for child, parent in tree.items()
               if (child, parent) == (src, dst) or (parent, child) == (src, dst) and tree is s["broadcast"])
versions = {a["policy"]["version"]: a["policy"] for a in state["committed"]}
old = max(v for t, v in commits if t <= changed_at) if any(t <= changed_at for t, _ in commits) else 1
reaction = after[0][1] if after else None
if after and after[0][1] in versions and old in versions:
    before_chunks, after_chunks = link_chunks(versions[old]), link_chunks(versions[after[0][1]])
    print(f"chunks on {src}->{dst}: v{old} {before_chunks}, v{after[0][1]} {after_chunks}")
    if after_chunks >= before_chunks:
        failures.append("the new policy does not move load off the halved link")

times = {e["iteration"]: (e["time"], e["seconds"], e["policy_version"]) for e in events if e["event"] == "iteration"}
def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")
before = [s for t, (w, s, v) in times.items() if w <= changed_at]
degraded = [s for t, (w, s, v) in times.items() if w > changed_at and reaction and v < reaction]
recovered = [s for t, (w, s, v) in times.items() if w > changed_at and reaction and v >= reaction]
print(f"iteration time: before {mean(before):.3f} s, after the change on older policies {mean(degraded):.3f} s "
      f"({len(degraded)} iterations), on the new policy {mean(recovered):.3f} s ({len(recovered)})")
if not degraded or not recovered or mean(recovered) >= mean(degraded):
    failures.append("iteration time did not recover")
if failures:
    print("FAIL: " + "; ".join(failures))
    sys.exit(1)
print("adaptation test passed")
PY
