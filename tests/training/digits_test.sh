#!/usr/bin/env bash
# The PyTorch example (examples/pytorch/train_digits.py) as a user runs it:
# `geostorm local --worker-command` on 4 DCs x 2 workers, each DC with a skewed
# slice of the digits. Every worker must reach at least 90% test accuracy, with the
# same accuracy on all (their weights are the same), and the run must succeed.
#   tests/training/digits_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$build/bin/geostorm" local --topology "$src/examples/topologies/mesh-4dc-uniform.yaml" --workers 2 \
  --model-mb 0.00964 --iterations 200 --worker-command "/usr/bin/python3 $src/examples/pytorch/train_digits.py" \
  --out "$out/run" >"$out/local.out" 2>"$out/local.err" || { echo "FAIL: geostorm local"; tail "$out"/run/worker-*.log; exit 1; }
python3 - "$out/run" <<'PY'
import glob, json, sys
results = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/result-rank*.json"))]
accuracies = {round(r["accuracy"], 6) for r in results}
print(f"digits: {len(results)} workers, test accuracy {sorted(accuracies)}, steps {results[0]['steps'] if results else 0}")
ok = len(results) == 8 and len(accuracies) == 1 and min(accuracies) >= 0.9
sys.exit(0 if ok else 1)
PY
