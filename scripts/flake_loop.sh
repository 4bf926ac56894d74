#!/usr/bin/env bash
# Runs the integration suite (with the root tests) RUNS times in a row under ctest -j2,
# and counts how often each test failed. Each run's log stays in OUT.
#   scripts/flake_loop.sh BUILD_DIR [RUNS] [OUT]      (make flakes)
set -uo pipefail
build=$(realpath "$1")
runs=${2:-10}
out=$(realpath -m "${3:-$build/flakes}")
mkdir -p "$out"
declare -A failures
clean=0
for run in $(seq 1 "$runs"); do
  start=$(date +%s)
  if (cd "$build" && ctest -j 2 -L integration --output-on-failure >"$out/run-$run.log" 2>&1); then
    clean=$((clean + 1))
  else
    while read -r test; do
      failures[$test]=$((${failures[$test]:-0} + 1))
    done < <(sed -n 's/^[0-9]*:\(.*\)$/\1/p' "$build/Testing/Temporary/LastTestsFailed.log")
  fi
  passed=$(grep -o '[0-9]*% tests passed, [0-9]* tests failed out of [0-9]*' "$out/run-$run.log")
  echo "flakes: run $run/$runs: $passed ($(($(date +%s) - start)) s)"
done
echo "flakes: $clean of $runs runs passed whole"
for test in "${!failures[@]}"; do
  echo "flakes: $test failed in ${failures[$test]} of $runs runs"
done
[ "$clean" -eq "$runs" ]
