#!/usr/bin/env bash
# The C++ example (examples/cpp/logistic_regression.cc) as a user runs it:
# `geostorm local --worker-command` on 4 DCs x 2 workers, each DC with a skewed
# range of the data. Every worker must end with the same weights (BSP), at least
# 90% test accuracy, and weights pointing where the true ones do (cosine >= 0.9).
#   tests/training/cpp_example_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$build/bin/geostorm" local --topology "$src/examples/topologies/mesh-4dc-uniform.yaml" --workers 2 \
  --model-mb 0.000132 --iterations 300 --worker-command "$build/bin/geostorm-example-logreg" \
  --out "$out/run" >"$out/local.out" 2>"$out/local.err" || { echo "FAIL: geostorm local"; tail "$out"/run/worker-*.log; exit 1; }
python3 - "$out/run" <<'PY'
import glob, json, sys
results = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/result-rank*.json"))]
weights = {r["weights"] for r in results}
accuracy = min(r["accuracy"] for r in results) if results else 0
cosine = min(r["cosine"] for r in results) if results else 0
print(f"logreg: {len(results)} workers, {len(weights)} distinct weights, test accuracy {accuracy:.3f}, "
      f"cosine to the true weights {cosine:.3f}")
sys.exit(0 if len(results) == 8 and len(weights) == 1 and accuracy >= 0.9 and cosine >= 0.9 else 1)
PY
