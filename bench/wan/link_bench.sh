#!/usr/bin/env bash
# One shaped WAN link between two network namespaces (tc tbf, each direction),
# measured three ways in the same run, for each rate:
#   - iperf3 TCP goodput (the reference);
#   - sidecar goodput: two DCs, netstorm (a shard rooted at each, pipelined), one
#     synthetic worker each;
#     every iteration moves M bytes each way, so goodput = M / iteration time,
#     timed by the sidecar itself (geostorm_iteration_duration_seconds);
#   - the sidecar's passive meter: geostorm_link_throughput_bytes_per_second.
# Needs root (namespaces, tc). Cleans up on exit, Ctrl-C included.
#   bench/wan/link_bench.sh [BUILD_DIR] [RATES_MBPS...]
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then echo "link_bench: needs root for network namespaces and tc; skipped"; exit 0; fi
build=$(cd "${1:-build}" && pwd); shift || true
rates=("$@")
[ ${#rates[@]} -eq 0 ] && rates=(20 100 500)
bin=$build/bin
dir=$(mktemp -d)
a=gsbench-a-$$ b=gsbench-b-$$
cleanup() {
  pkill -f "geostorm-sidecar --dc [ab] --policy $dir" 2>/dev/null || true
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

ip netns add "$a"; ip netns add "$b"
# Reno, as in testbed/emulated_wan.cc: BBR's window collapses without propagation delay.
for ns in "$a" "$b"; do ip netns exec "$ns" sysctl -qw net.ipv4.tcp_congestion_control=reno; done
ip link add va-$$ netns "$a" type veth peer name vb-$$ netns "$b"
ip -n "$a" addr add 10.77.0.1/24 dev va-$$; ip -n "$b" addr add 10.77.0.2/24 dev vb-$$
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set va-$$ up; ip -n "$b" link set vb-$$ up

shape() {  # rate in Mbit/s, both directions; burst at least rate/250 above 100 Mbit/s
  local mbps=$1 burst=$(( $1 * 1000000 / 8 / 250 ))
  [ $burst -lt 32000 ] && burst=32000
  ip netns exec "$a" tc qdisc replace dev va-$$ root tbf rate ${mbps}mbit burst $burst latency 50ms
  ip netns exec "$b" tc qdisc replace dev vb-$$ root tbf rate ${mbps}mbit burst $burst latency 50ms
}

metric() {  # metric NS PORT NAME: the value of the first series NAME on that sidecar
  ip netns exec "$1" python3 -c "
import re, sys, urllib.request
body = urllib.request.urlopen('http://127.0.0.1:$2/metrics').read().decode()
m = re.search(r'^$3(\{[^}]*\})? (\S+)$', body, re.M)
print(m.group(2) if m else 0)"
}

printf 'kind: mesh\ndataCenters: [a, b]\ndefaultMbps: 100\n' >"$dir/two.yaml"
printf '%-8s %14s %14s %8s %14s %8s\n' "Mbit/s" "iperf3 MB/s" "sidecar MB/s" "ratio" "meter MB/s" "error"
for mbps in "${rates[@]}"; do
  shape "$mbps"
  ip netns exec "$b" iperf3 -s -1 -D -p 5201 >/dev/null
  sleep 0.3
  iperf=$(ip netns exec "$a" iperf3 -c 10.77.0.2 -p 5201 -t 5 -J |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/8)')
  # Model size: about 3 s of transfer per iteration at this rate.
  model_mb=$(( mbps * 3 / 8 ))
  "$bin/geostorm" plan --topology "$dir/two.yaml" --strategy netstorm --model-mb "$model_mb" \
    --yaml >"$dir/policy.yaml"
  ip netns exec "$a" "$bin/geostorm-sidecar" --dc a --policy "$dir/policy.yaml" --listen 10.77.0.1:7000 \
    --peer b=10.77.0.2:7000 --worker-listen "unix:$dir/a.sock" --metrics 127.0.0.1:9100 --timeout-ms 60000 \
    --insecure >"$dir/a.log" 2>&1 &
  ip netns exec "$b" "$bin/geostorm-sidecar" --dc b --policy "$dir/policy.yaml" --listen 10.77.0.2:7000 \
    --peer a=10.77.0.1:7000 --worker-listen "unix:$dir/b.sock" --metrics 127.0.0.1:9100 --timeout-ms 60000 \
    --insecure >"$dir/b.log" 2>&1 &
  sleep 0.5
  # A warm-up iteration (connections, slow start), then three timed ones.
  for round in warm timed; do
    n=1; [ $round = timed ] && n=3
    first=0; [ $round = timed ] && first=1
    # The sidecar's own clock: first gradient chunk in to last result chunk out.
    start=$(metric "$b" 9100 geostorm_iteration_duration_seconds_sum)
    ip netns exec "$a" "$bin/geostorm-synthetic-worker" --sidecar "unix:$dir/a.sock" --dc-index 0 --dcs 2 \
      --iterations $n --first-iteration $first >"$dir/wa.log" &
    worker_a=$!
    ip netns exec "$b" "$bin/geostorm-synthetic-worker" --sidecar "unix:$dir/b.sock" --dc-index 1 --dcs 2 \
      --iterations $n --first-iteration $first >"$dir/wb.log"
    wait $worker_a
    end=$(metric "$b" 9100 geostorm_iteration_duration_seconds_sum)
  done
  grep -q "exact" "$dir/wb.log" || { echo "sidecar run failed:"; cat "$dir"/*.log; exit 1; }
  meter=$(metric "$b" 9100 geostorm_link_throughput_bytes_per_second)
  python3 - "$mbps" "$iperf" "$start" "$end" "$model_mb" "$meter" <<'PY'
import sys
mbps, iperf, start, end, model_mb, meter = map(float, sys.argv[1:])
goodput = model_mb * 1e6 / ((end - start) / 3)
print(f"{mbps:<8.0f} {iperf/1e6:14.2f} {goodput/1e6:14.2f} {goodput/iperf:8.3f} {meter/1e6:14.2f} {meter/iperf - 1:+8.1%}")
PY
  pkill -f "geostorm-sidecar --dc [ab] --policy $dir" || true
  sleep 0.5
done
