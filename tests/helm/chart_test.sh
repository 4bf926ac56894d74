#!/usr/bin/env bash
# The Helm chart with the real helm (scripts/tools.sh fetches it): lint, render with
# the defaults, with everything on and in member mode, values that change the
# output, values the schema refuses with their name, and the CRDs' one source.
#   tests/helm/chart_test.sh SOURCE_DIR
set -uo pipefail
src=$1
helm=$src/.cache/tools/bin/helm
chart=$src/helm/geostorm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
[ -x "$helm" ] || { echo "FAIL: no helm at $helm (scripts/tools.sh fetches it)"; exit 1; }
render() { "$helm" template g "$chart" -n geostorm-system "$@" 2>"$tmp/err"; }
kinds() { grep '^kind:' | sort | uniq -c | awk '{print $1 "x" $3}' | tr '\n' ' '; }

cat >"$tmp/all-on.yaml" <<'VALUES'
metrics: {serviceMonitor: {enabled: true, labels: {release: kps}}, podMonitor: {enabled: true}}
dashboards: {enabled: true, folder: Training}
commonLabels: {team: ml}
commonAnnotations: {owner: ml-infra}
imagePullSecrets: [{name: regcred}]
operator: {podLabels: {tier: control}, nodeSelector: {pool: system}, tolerations: [{key: dedicated, operator: Exists}]}
VALUES

for values in "" "-f $tmp/all-on.yaml" "--set mode=member"; do
  # shellcheck disable=SC2086
  "$helm" lint --strict "$chart" $values >"$tmp/lint" 2>&1 || fail "helm lint --strict $values: $(cat "$tmp/lint")"
done

defaults=$(render) || fail "render with the defaults: $(cat "$tmp/err")"
want="1xClusterRole 1xClusterRoleBinding 1xDeployment 1xPodDisruptionBudget 1xRole 1xRoleBinding 1xService 1xServiceAccount "
[ "$(kinds <<<"$defaults")" = "$want" ] || fail "defaults render $(kinds <<<"$defaults"), want $want"
for needle in "replicas: 2" "runAsNonRoot: true" "readOnlyRootFilesystem: true" "drop: [ALL]" \
  "seccompProfile: {type: RuntimeDefault}" "path: /healthz" "path: /readyz" "--control-ports=7100-7115" \
  "--lease-namespace=geostorm-system" "verbs: [get, create, update]"; do
  grep -qF -- "$needle" <<<"$defaults" || fail "defaults lack '$needle'"
done

all=$(render -f "$tmp/all-on.yaml") || fail "render with everything on: $(cat "$tmp/err")"
want="1xClusterRole 1xClusterRoleBinding 4xConfigMap 1xDeployment 1xPodDisruptionBudget 1xPodMonitor 1xRole 1xRoleBinding 1xService 1xServiceAccount 1xServiceMonitor "
[ "$(kinds <<<"$all")" = "$want" ] || fail "everything on renders $(kinds <<<"$all"), want $want"
for needle in 'grafana_dashboard: "1"' "grafana_folder: Training" "honorLabels: true" "release: kps" "team: ml" \
  "owner: ml-infra" "name: regcred" "pool: system" '"title": "geostorm / Topology"'; do
  grep -qF -- "$needle" <<<"$all" || fail "everything on lacks '$needle'"
done

member=$(render --set mode=member) || fail "member mode: $(cat "$tmp/err")"
[ "$(kinds <<<"$member")" = "1xClusterRole 1xClusterRoleBinding 1xSecret 1xServiceAccount " ] \
  || fail "member mode renders $(kinds <<<"$member")"
grep -qF "kubernetes.io/service-account.name: geostorm-member" <<<"$member" || fail "member token Secret"

# Values change the output.
out=$(render --set image.repository=registry.example/ops/geostorm --set image.tag=1.2.3 --set operator.replicas=3)
grep -qF 'image: "registry.example/ops/geostorm:1.2.3"' <<<"$out" || fail "--set image: $(grep image: <<<"$out")"
grep -qF "replicas: 3" <<<"$out" || fail "--set operator.replicas=3"
grep -q "kind: ServiceMonitor" <<<"$(render --set metrics.serviceMonitor.enabled=true)" || fail "ServiceMonitor on"
grep -q "kind: ServiceMonitor" <<<"$defaults" && fail "ServiceMonitor is off by default"
grep -q -- "--control-host" <<<"$(render --set operator.control.enabled=false)" && fail "control off still has --control-host"

# The schema refuses a misspelled and a mistyped value, naming it.
expect_refused() {
  local needle=$1; shift
  if render "$@" >/dev/null; then fail "accepted: $*"; return; fi
  grep -qF -- "$needle" "$tmp/err" || fail "$*: '$(cat "$tmp/err")' lacks '$needle'"
}
expect_refused "Additional property opertor is not allowed" --set opertor.replicas=2
expect_refused "operator.replicas: Invalid type. Expected: integer, given: string" --set operator.replicas=two
expect_refused "mode" --set mode=satellite
expect_refused "operator.control.firstPort" --set operator.control.firstPort=70000

# One source of truth for the CRDs: the chart's crds/ is the top-level crds/.
[ "$(readlink "$chart/crds")" = "../../crds" ] || fail "helm/geostorm/crds is not a link to crds/"
[ -f "$chart/crds/geotrainingjobs.yaml" ] || fail "the chart has no GeoTrainingJob CRD"

if [ "$failures" -gt 0 ]; then
  echo "$failures chart checks failed"
  exit 1
fi
echo "all chart checks passed"
