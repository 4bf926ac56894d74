#!/usr/bin/env bash
# The monitoring loop on the emulated WAN (root): `geostorm local --wan
# --prometheus-server` on a 3-DC mesh. While it runs, the real Prometheus has every
# gateway (inside its DC's namespace, over the management network) and the
# controller as healthy targets, holds a measured rate for every link the policy
# uses, and the controller reads its matrix from it (source up). Afterwards no
# namespace and no management bridge are left.
#   tests/root/prometheus_wan_test.sh BUILD_DIR
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then echo "prometheus_wan_test: needs root for network namespaces and tc; skipped"; exit 77; fi
geostorm=$(cd "${1:-build}" && pwd)/bin/geostorm
dir=$(mktemp -d)
tag=p$$
tag=${tag:0:6}
run_pid=
cleanup() {
  [ -n "$run_pid" ] && kill -INT "$run_pid" 2>/dev/null && wait "$run_pid" 2>/dev/null
  "$geostorm" wan down --tag "$tag" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; tail -n 20 "$dir/local.err"; exit 1; }

printf 'name: m3\nkind: mesh\ndataCenters: [a, b, c]\ndefaultMbps: 40\n' >"$dir/mesh.yaml"
"$geostorm" local --topology "$dir/mesh.yaml" --wan --model-mb 2 --iterations 100000 --interval-ms 1000 \
  --prometheus-server --tag "$tag" --out "$dir/run" >/dev/null 2>"$dir/local.err" &
run_pid=$!
url=
for _ in $(seq 1 300); do
  url=$(grep -o 'Prometheus at http://[0-9.:]*' "$dir/local.err" | cut -d' ' -f3) && [ -n "$url" ] && break
  grep -q "no Prometheus" "$dir/local.err" && fail "Prometheus did not start"
  sleep 0.1
done
[ -n "$url" ] || fail "the run never said where Prometheus is"
query() { python3 -c 'import json, sys, urllib.parse, urllib.request
body = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/" + sys.argv[2], timeout=5))
print(json.dumps(body["data"]))' "$url" "$1"; }
check() {  # the targets, the links and the controller's source, once everything has been scraped
  python3 - "$(query targets)" "$(query 'query?query=geostorm_link_throughput_bytes_per_second>0')" \
    "$(query 'query?query=geostorm_controller_source_up')" <<'PY'
import json, sys
targets, links, up = (json.loads(a) for a in sys.argv[1:4])
healthy = [t["scrapeUrl"] for t in targets["activeTargets"] if t["health"] == "up"]
gateways = [u for u in healthy if u.startswith("http://10.78.")]
measured = {(r["metric"]["src"], r["metric"]["dst"]) for r in links["result"]}
source_up = [r["value"][1] for r in up["result"]]
ok = len(gateways) == 3 and len(healthy) == 4 and len(measured) >= 2 and source_up == ["1"]
print(f"{len(gateways)} gateways over the management network and {len(healthy) - len(gateways)} controller "
      f"healthy; {len(measured)} links measured; the controller's source up: {source_up}")
sys.exit(0 if ok else 1)
PY
}
for _ in $(seq 1 60); do
  if check >"$dir/check.out" 2>&1; then break; fi
  sleep 1
done
check || fail "Prometheus does not see the job: $(cat "$dir/check.out")"
kill -INT "$run_pid"
wait "$run_pid" 2>/dev/null || true
run_pid=
[ -z "$(ip netns list | grep "gs$tag-")" ] || fail "namespaces left: $(ip netns list | grep "gs$tag-")"
[ ! -e "/sys/class/net/gsm$tag" ] || fail "the management bridge gsm$tag is left"
echo "prometheus on the WAN: passed"
