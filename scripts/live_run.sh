#!/usr/bin/env bash
# The live part of `make run`: the 9-DC WAN of klonet-9dc as network namespaces
# (rates and model at 1/10, so that the kernel's shaping leaves CPU for the job),
# `star` and then `netstorm` on it with synthetic workers, and the comparison. The
# whole loop of the design runs: the sidecars measure and export, the real Prometheus
# scrapes them over the testbed's management network, the controller plans from it.
# Report and plot go to results/run. Without root there are no namespaces: it says
# so and runs netstorm on unshaped loopback instead.
#   scripts/live_run.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
if [ "$(id -u)" -ne 0 ]; then
  echo "live run: an emulated WAN needs root (network namespaces and tc); running on unshaped loopback instead"
  exec "$build/bin/geostorm" local --topology examples/topologies/klonet-9dc.yaml --model-mb 10 --iterations 10 \
    --prometheus-server --out results/local
fi
mkdir -p results/run
exec python3 bench/wan/head_to_head.py --build "$build" --topology examples/topologies/klonet-9dc.yaml \
  --scale 0.1 --model-mb 10 --systems star,netstorm --iterations 3 --prometheus-server --out results/run
