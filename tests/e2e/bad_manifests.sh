#!/usr/bin/env bash
# Applies every manifest in DIR with the real kubectl and checks it is refused with
# the field named: by the API server (`# refused-by: api`: kubectl fails, nothing is
# stored) or by the operator (`# refused-by: operator`: InvalidSpec names it, and no
# member cluster gets anything of that job). A job whose GeoCluster is not ready is
# held, not refused (`# refused-by: cluster`): ClustersReady=False names it, the job
# has not failed, and no member gets anything of it. `# expect:` is the text to find.
# Usage: bad_manifests.sh HOST_KUBECONFIG MEMBER_KUBECONFIG... DIR
set -euo pipefail
host=$1
dir=${*: -1}
members=("${@:2:$#-2}")
k() { kubectl --kubeconfig "$host" "$@"; }
failures=0 count=0
bad() { echo "  FAIL $1: $2"; failures=$((failures + 1)); }
operator_jobs=()
for file in "$dir"/*.yaml; do
  case=$(basename "$file" .yaml)
  by=$(sed -n 's/^# refused-by: //p' "$file")
  expect=$(sed -n 's/^# expect: //p' "$file")
  count=$((count + 1))
  if [ "$by" = api ]; then
    if out=$(k apply -f "$file" 2>&1); then
      bad "$case" "accepted: $out"
    elif ! grep -qF -- "$expect" <<<"$out"; then
      bad "$case" "refused without naming it ($expect): $out"
    elif [ -n "$(k get gtj -o name 2>/dev/null)" ]; then
      bad "$case" "something was stored: $(k get gtj -o name)"
    else
      echo "  ok   $case: $(grep -F -- "$expect" <<<"$out" | head -1 | cut -c1-150)"
    fi
  else
    k apply -f "$file" >/dev/null || { bad "$case" "the API server refused it; want the operator to"; continue; }
    operator_jobs+=("$case:$by:$(awk '/^kind: GeoTrainingJob/{j=1} j && /^metadata:/{match($0, /name: [^,}]+/); print substr($0, RSTART+6, RLENGTH-6); exit}' "$file")")
  fi
done
for entry in "${operator_jobs[@]}"; do
  IFS=: read -r case by job <<<"$entry"
  expect=$(sed -n 's/^# expect: //p' "$dir/$case.yaml")
  condition=InvalidSpec
  [ "$by" = cluster ] && condition=ClustersReady
  message=""
  for _ in $(seq 1 100); do
    message=$(k get gtj "$job" -o jsonpath="{.status.conditions[?(@.type==\"$condition\")].message}" 2>/dev/null || true)
    grep -qF -- "$expect" <<<"$message" && break
    sleep 0.2
  done
  phase=$(k get gtj "$job" -o jsonpath='{.status.phase}')
  if ! grep -qF -- "$expect" <<<"$message"; then
    bad "$case" "$condition message '$message' does not name '$expect'"
    continue
  fi
  if [ "$by" = cluster ]; then
    [ "$phase" != Failed ] || bad "$case" "a job waiting for its cluster failed"
  else
    [ "$phase" = Failed ] || bad "$case" "phase $phase, want Failed"
  fi
  for member in "${members[@]}"; do
    left=$(kubectl --kubeconfig "$member" get pods,services,secrets -A -l "geostorm.io/job-name=$job" -o name)
    [ -z "$left" ] || bad "$case" "partial resources in $member: $left"
  done
  echo "  ok   $case: $message"
done
# Refused jobs still delete cleanly (the finalizer finds nothing to clean).
for entry in "${operator_jobs[@]}"; do
  k delete gtj "${entry##*:}" --timeout=20s >/dev/null || bad "${entry%%:*}" "could not be deleted"
done
echo "bad manifests: $count cases, $failures failed"
[ "$failures" -eq 0 ]
