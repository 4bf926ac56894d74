#!/usr/bin/env bash
# End to end with the real kubectl: a host and two member clusters (API emulators),
# geostorm-operator as the chart runs it (each job's live policy controller on),
# the CRDs and examples/. Workers, injected sidecars, Services and Secrets appear in
# the right members; printer columns; suspend and resume; a standby operator takes
# over the Lease, and the job's controller port, without duplicating anything; a
# member that stops answering (SIGSTOP) is shown on the job, the job's controller
# goes on serving, and nothing is redone once it is back; a job made while the API
# servers answer 500 and 429 in bursts converges;
# deleting the job empties every member; no secret leaks into logs, events, status or metrics;
# bad manifests are refused with the field named.
# Usage: operator_e2e.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
command -v kubectl >/dev/null || { echo "SKIP: kubectl is not installed"; exit 77; }
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for log in "$work"/*.log; do echo "--- $log (tail)"; tail -n 30 "$log"; done >&2
  exit 1
}
# eventually DESCRIPTION COMMAND...: retries COMMAND for up to 30 s.
eventually() {
  local what=$1; shift
  for _ in $(seq 1 150); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  fail "timed out: $what"
}

# Each cluster's kubeconfig holds a bearer token of its own: secrets that the leak
# check at the end looks for in everything the operator wrote (the members' reach it
# through Secrets). The emulators do not require them: kubectl and helm send no
# bearer token over plain HTTP.
start_cluster() {
  echo "e2e-token-$(openssl rand -hex 20)" >"$work/$1.token"
  python3 "$src/tests/support/kube_emulator.py" --port-file "$work/$1.port" --bookmark-s 2 >"$work/$1.log" 2>&1 &
  pids+=($!)
  eval "emulator_$1=$!"
  for _ in $(seq 1 100); do [ -s "$work/$1.port" ] && break; sleep 0.05; done
  cat >"$work/$1.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: $1, cluster: {server: "http://127.0.0.1:$(cat "$work/$1.port")"}}]
users: [{name: $1, user: {token: "$(cat "$work/$1.token")"}}]
contexts: [{name: $1, context: {cluster: $1, user: $1, namespace: default}}]
current-context: $1
KC
}
start_cluster host
start_cluster eu
start_cluster us
k() { kubectl --kubeconfig "$work/host.kubeconfig" --cache-dir "$work/cache-host" "$@"; }
keu() { kubectl --kubeconfig "$work/eu.kubeconfig" --cache-dir "$work/cache-eu" "$@"; }
kus() { kubectl --kubeconfig "$work/us.kubeconfig" --cache-dir "$work/cache-us" "$@"; }
helm() { "$src/.cache/tools/bin/helm" --kubeconfig "$work/host.kubeconfig" "$@" 2>"$work/helm.err"; }
# The operator as the chart's Deployment runs it: its args, but out of cluster (a
# kubeconfig instead of the pod's service account), named NAME, on a free port.
start_operator() {  # NAME
  local args
  mapfile -t args < <(python3 -c 'import json, sys
for a in json.load(sys.stdin):
    if a == "--in-cluster": print("--kubeconfig=" + sys.argv[1])
    elif a.startswith("--identity="): print("--identity=" + sys.argv[2])
    elif a.startswith("--health-listen="): print("--health-listen=127.0.0.1:0")
    elif a.startswith("--control-bind="): print("--control-bind=127.0.0.1")
    else: print(a)' "$work/host.kubeconfig" "$1" <<<"$deployment_args")
  "$build/bin/geostorm-operator" "${args[@]}" --port-file "$work/$1.health-port" >"$work/operator-$1.log" 2>&1 &
  pids+=($!)
  eval "pid_${1//-/_}=$!"
}
# Whether something listens on 127.0.0.1:PORT.
listening() { python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()' "$1"; }
http_get() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"; }
health_port() {  # NAME: the port the operator bound and wrote to its port file
  for _ in $(seq 1 150); do [ -s "$work/$1.health-port" ] && break; sleep 0.2; done
  cat "$work/$1.health-port" 2>/dev/null || fail "operator $1 wrote no health port"
}

echo "== helm install (CRDs, RBAC, the operator's Deployment), member cluster Secrets and GeoClusters"
# Fast leases and resyncs for the test; each job's live controller on one of 4 free
# ports (the chart's default is 7100-7115). The emulator serves no OpenAPI v2, which
# helm's client-side validation reads.
control_port=$(python3 -c 'import random, socket
while True:
    first = random.randrange(20000, 30000, 4)
    try:
        for port in range(first, first + 4):
            socket.socket().bind(("127.0.0.1", port))
        print(first)
        break
    except OSError:
        pass')
chart_values=(--set operator.leaseDurationSeconds=3 --set-json operator.retrySeconds=0.5 --set operator.resyncSeconds=5
  --set operator.clusterCheckSeconds=1 --set operator.control.firstPort="$control_port" --set operator.control.ports=4
  --disable-openapi-validation)
helm install geostorm "$src/helm/geostorm" -n geostorm-system --create-namespace "${chart_values[@]}" >/dev/null \
  || fail "helm install: $(cat "$work/helm.err")"
[ "$(helm status geostorm -n geostorm-system -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["info"]["status"])')" = deployed ] \
  || fail "the release is not deployed"
explained=$(k explain gtj.spec.sync)
grep -q "How gradients are synchronised across DCs" <<<"$explained" && grep -q "minImprovement" <<<"$explained" \
  || fail "kubectl explain gtj.spec.sync: $explained"
deployment_args=$(k -n geostorm-system get deploy geostorm-operator -o jsonpath='{.spec.template.spec.containers[0].args}')
grep -qF -- '--lease-duration-s=3' <<<"$deployment_args" || fail "the Deployment's args: $deployment_args"
for member in eu:eu-west us:us-east; do
  k -n geostorm-system create secret generic "${member#*:}-kubeconfig" \
    --from-file=kubeconfig="$work/${member%%:*}.kubeconfig" --dry-run=client -o yaml | k apply -f - >/dev/null
done
k apply -f "$src/examples/geoclusters.yaml" >/dev/null
start_operator op-a
health_a=$(health_port op-a)
# The real Prometheus scrapes op-a, for the operator dashboard's queries (checked
# before the failover). It cannot bind port 0 and say which, so a free one is chosen.
prom_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: geostorm-operator\n    static_configs: [{targets: ["127.0.0.1:%s"]}]\n' \
  "$health_a" >"$work/prometheus.yml"
/usr/bin/prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
pids+=($!)
cluster_ready() { [ "$(k get geocluster "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
eventually "GeoCluster eu-west Ready" cluster_ready eu-west
eventually "GeoCluster us-east Ready" cluster_ready us-east
k get geoclusters

echo "== the job: Services first, pods once the load balancers have addresses"
k apply -f "$src/examples/geotrainingjob.yaml" >/dev/null
eventually "gateway Service in eu" keu get svc resnet-eu-gateway
eventually "gateway Service in us" kus get svc resnet-us-gateway
[ "$(k get gtj resnet -o jsonpath='{.status.conditions[?(@.type=="TopologyReady")].reason}')" = WaitingForGateways ] \
  || fail "TopologyReady should wait for the load balancers"
waiting=$(k get gtj resnet --no-headers)
grep -q "WaitingForGateways" <<<"$waiting" || fail "REASON column while waiting: $waiting"
wide=$(k get gtj resnet -o wide --no-headers)
grep -q "waiting for an address of Service resnet-" <<<"$wide" || fail "MESSAGE column (-o wide): $wide"
[ -z "$(keu get pods -o name)" ] || fail "pods before the gateways have addresses"
# Play the cloud's load-balancer controller.
keu patch svc resnet-eu-gateway --subresource=status --type=merge \
  -p '{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.10"}]}}}' >/dev/null
kus patch svc resnet-us-gateway --subresource=status --type=merge \
  -p '{"status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.20"}]}}}' >/dev/null
eventually "2 workers in eu" bash -c "[ \$(kubectl --kubeconfig $work/eu.kubeconfig get pods -o name | wc -l) = 2 ]"
eventually "1 worker in us" kus get pod resnet-us-0
[ -z "$(kus get pod resnet-eu-0 -o name 2>/dev/null)" ] || fail "an eu worker in the us cluster"
[ -z "$(k get pods -o name)" ] || fail "workers in the host cluster"

echo "== the injected sidecar"
sidecar=$(keu get pod resnet-eu-0 -o jsonpath='{.spec.initContainers[0].name} {.spec.initContainers[0].restartPolicy} {.spec.initContainers[0].image}')
[ "$sidecar" = "geostorm-sidecar Always registry.example.com/geostorm-sidecar:0.1" ] || fail "sidecar: $sidecar"
args=$(keu get pod resnet-eu-0 -o jsonpath='{.spec.initContainers[0].args}')
grep -q '"--peer","us=198.51.100.20:7070"' <<<"$args" || fail "the eu gateway does not know the us peer: $args"
grep -q '"--total-workers","3"' <<<"$args" || fail "world size: $args"
member_args=$(keu get pod resnet-eu-1 -o jsonpath='{.spec.initContainers[0].args}')
grep -q '"--gateway","resnet-eu-0.resnet-eu.default.svc:7070"' <<<"$member_args" || fail "member: $member_args"
[ "$(keu get pod resnet-eu-1 -o jsonpath='{.metadata.labels.geostorm\.io/replica-index} {.metadata.labels.geostorm\.io/dc} {.metadata.labels.geostorm\.io/job-name}')" = "1 eu resnet" ] \
  || fail "labels on resnet-eu-1"
[ "$(keu get pod resnet-eu-1 -o jsonpath='{.spec.containers[0].env[?(@.name=="GEOSTORM_SIDECAR")].value}')" = unix:/var/run/geostorm/worker.sock ] \
  || fail "worker env"
[ "$(keu get svc resnet-eu -o jsonpath='{.spec.clusterIP}')" = None ] || fail "headless Service"
# The gateways dial the job's live controller through the operator's Service.
job_control_port=$(k get gtj resnet -o jsonpath='{.status.controlPort}')
[ "$job_control_port" -ge "$control_port" ] && [ "$job_control_port" -lt $((control_port + 4)) ] \
  || fail "status.controlPort $job_control_port is not one of the chart's ports from $control_port"
grep -qF "\"--controller\",\"geostorm-operator.geostorm-system.svc:$job_control_port\"" <<<"$args" \
  || fail "the gateway does not dial the job's controller through the operator Service: $args"
listening "$job_control_port" || fail "nothing serves the job's controller on port $job_control_port"
[ "$(k get topologypolicy resnet-v1 -o jsonpath='{.spec.version} {.spec.strategy} {.metadata.ownerReferences[0].name}')" = "1 netstorm resnet" ] \
  || fail "TopologyPolicy resnet-v1"
k get topologypolicies
[ "$(kus get svc resnet-us-gateway -o jsonpath='{.spec.type}')" = LoadBalancer ] || fail "gateway Service type"
for dc in eu us; do
  kubectl --kubeconfig "$work/$dc.kubeconfig" get secret "resnet-$dc-tls" -o jsonpath='{.data.ca\.crt}' | base64 -d >"$work/$dc-ca.crt"
  kubectl --kubeconfig "$work/$dc.kubeconfig" get secret "resnet-$dc-tls" -o jsonpath='{.data.tls\.crt}' | base64 -d >"$work/$dc.crt"
  openssl verify -CAfile "$work/$dc-ca.crt" "$work/$dc.crt" >/dev/null || fail "the $dc certificate is not signed by the job CA"
  names=$(openssl x509 -in "$work/$dc.crt" -noout -ext subjectAltName)
  grep -q "resnet-$dc-gateway.default.svc" <<<"$names" \
    || fail "the $dc certificate lacks its gateway name"
done
cmp -s "$work/eu-ca.crt" "$work/us-ca.crt" || fail "the DCs trust different CAs"

echo "== status and printer columns"
for pod in resnet-eu-0 resnet-eu-1; do
  keu patch pod "$pod" --subresource=status --type=merge -p '{"status":{"phase":"Running"}}' >/dev/null
done
kus patch pod resnet-us-0 --subresource=status --type=merge -p '{"status":{"phase":"Running"}}' >/dev/null
running() { k get gtj resnet --no-headers | grep -Eq '^resnet +Running +2/2 +1 '; }
eventually "phase Running with 2/2 DCs and policy v1" running
k get geotrainingjobs
table=$(k get geotrainingjobs)
grep -Eq '^NAME +PHASE +DCS +POLICY +ITERATION +REASON +AGE' <<<"${table%%$'\n'*}" || fail "printer columns"
[ "$(k get gtj resnet -o jsonpath='{.status.observedGeneration}')" = 1 ] || fail "observedGeneration"
reasons=$(k get events -o jsonpath='{.items[*].reason}')
grep -q Created <<<"$reasons" || fail "no Created event"

echo "== suspend and resume"
k patch gtj resnet --type=merge -p '{"spec":{"runPolicy":{"suspend":true}}}' >/dev/null
eventually "no workers while suspended" bash -c "[ -z \"\$(kubectl --kubeconfig $work/eu.kubeconfig get pods -o name)\" ] && [ -z \"\$(kubectl --kubeconfig $work/us.kubeconfig get pods -o name)\" ]"
eventually "phase Suspended" bash -c "kubectl --kubeconfig $work/host.kubeconfig get gtj resnet --no-headers | grep -q Suspended"
keu get svc resnet-eu-gateway >/dev/null || fail "suspend removed the gateway Service"
k patch gtj resnet --type=merge -p '{"spec":{"runPolicy":{"suspend":false}}}' >/dev/null
eventually "workers back after resume" bash -c "[ \$(kubectl --kubeconfig $work/eu.kubeconfig get pods -o name | wc -l) = 2 ] && kubectl --kubeconfig $work/us.kubeconfig get pod resnet-us-0"
[ "$(k get gtj resnet -o jsonpath='{.status.conditions[?(@.type=="Suspended")].status}')" = False ] || fail "Suspended"

echo "== the operator dashboard: every query returns data from the real Prometheus"
operator_board() {
  python3 "$src/tests/dashboards/live_dashboards.py" --prometheus "http://127.0.0.1:$prom_port" \
    "$src/dashboards/geostorm-operator.json"
}
eventually "every query of the operator dashboard returns data" operator_board
operator_board

echo "== leader failover"
start_operator op-b
health_b=$(health_port op-b)
eventually "the standby is ready" http_get "http://127.0.0.1:$health_b/readyz"
[ "$(k -n geostorm-system get lease geostorm-operator -o jsonpath='{.spec.holderIdentity}')" = op-a ] || fail "op-a should lead"
metrics=$(http_get "http://127.0.0.1:$health_a/metrics")
grep -q 'geostorm_operator_reconcile_total{controller="geotrainingjob",result="success"}' <<<"$metrics" \
  || fail "reconcile metrics"
uids_before=$(keu get pods -o jsonpath='{.items[*].metadata.uid}')
kill -9 "$pid_op_a"
holder_b() { [ "$(k -n geostorm-system get lease geostorm-operator -o jsonpath='{.spec.holderIdentity}')" = op-b ]; }
eventually "op-b takes the Lease" holder_b
eventually "op-b serves the job's controller on the same port" listening "$job_control_port"
[ "$(k get gtj resnet -o jsonpath='{.status.controlPort}')" = "$job_control_port" ] || fail "the control port moved"
kus delete pod resnet-us-0 --wait=false >/dev/null
eventually "op-b recreates the deleted worker" kus get pod resnet-us-0
# The running workers must survive op-b's next reconciles too: wait for two more.
reconciles() {
  http_get "http://127.0.0.1:$health_b/metrics" | python3 -c 'import re, sys
print(int(sum(float(v) for v in re.findall(r"^geostorm_operator_reconcile_total\{controller=\"geotrainingjob\"[^}]*\} (\S+)$",
                                            sys.stdin.read(), re.M))))'
}
reconciled_since() { [ "$(reconciles)" -ge $(($1 + 2)) ]; }
eventually "op-b reconciles the job again" reconciled_since "$(reconciles)"
[ "$(keu get pods -o jsonpath='{.items[*].metadata.uid}')" = "$uids_before" ] || fail "the new leader replaced running workers"
[ "$(keu get pods -o name | wc -l)" = 2 ] || fail "duplicate workers in eu"

echo "== a member cluster stops answering while the job runs, then answers again"
gtj_condition() { k get gtj "$1" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].status}"; }
clusters_ready_is() { [ "$(gtj_condition resnet ClustersReady)" = "$1" ]; }
pod_uids() { kubectl --kubeconfig "$work/$1.kubeconfig" get pods -o jsonpath='{.items[*].metadata.uid}'; }
uids_eu=$(pod_uids eu)
uids_us=$(pod_uids us)
phase_before=$(k get gtj resnet -o jsonpath='{.status.phase}')
kill -STOP "$emulator_us"  # as behind a partition: connections are taken, nothing answers
eventually "ClustersReady False on the job" clusters_ready_is False
[ "$(k get geocluster us-east -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}')" = Unreachable ] \
  || fail "GeoCluster us-east should be Unreachable"
row=$(k get gtj resnet --no-headers)
controller_up=$(listening "$job_control_port" && echo yes || echo no)
kill -CONT "$emulator_us"
grep -q "ClusterNotReady" <<<"$row" || fail "REASON column while us-east is unreachable: $row"
[ "$(k get gtj resnet -o jsonpath='{.status.phase}')" = "$phase_before" ] || fail "the phase changed with a member away"
[ "$controller_up" = yes ] || fail "the job's controller stopped while a member was away"
eventually "ClustersReady True again" clusters_ready_is True
eventually "GeoCluster us-east Ready again" cluster_ready us-east
reasons=$(k get events -o jsonpath='{.items[*].reason}')
grep -q ClusterNotReady <<<"$reasons" && grep -q ClustersReady <<<"$reasons" || fail "events: $reasons"
# Let op-b reconcile the job twice more after it came back: nothing is made again.
eventually "op-b reconciles the job again" reconciled_since "$(reconciles)"
[ "$(pod_uids eu)" = "$uids_eu" ] && [ "$(pod_uids us)" = "$uids_us" ] || fail "workers were replaced after the member came back"

echo "== the API servers answer 500 and 429 in bursts: reconciles retry, back off and converge"
# Each burst outlasts the client's 6 attempts (backing off, and waiting out 429's
# Retry-After), so that whole reconciles fail and the work queue backs off: on the
# members' applies (PATCH), then on the new job's status writes in the host.
inject() { http_get "http://127.0.0.1:$(cat "$work/$1.port")/debug/fail?$2" >/dev/null; }
for c in eu us; do
  inject "$c" "code=500&count=6&method=PATCH"
  inject "$c" "code=429&count=2&method=PATCH"
done
status_path=/apis/geostorm.io/v1alpha1/namespaces/default/geotrainingjobs/burst
inject host "code=500&count=3&method=PATCH&path=$status_path"
inject host "code=429&count=3&method=PATCH&path=$status_path"
errors_before=$(http_get "http://127.0.0.1:$health_b/metrics" | sed -n 's/^geostorm_operator_reconcile_total{controller="geotrainingjob",result="error"} //p')
sed 's/^  name: resnet$/  name: burst/' "$src/examples/geotrainingjob.yaml" | k apply -f - >/dev/null
objects() { kubectl --kubeconfig "$work/$1.kubeconfig" get services,secrets,configmaps -l "geostorm.io/job-name=$2" -o name | sort; }
converged() {
  [ "$(objects eu burst)" = "$(objects eu resnet | sed 's/resnet/burst/')" ] && [ "$(objects us burst)" = "$(objects us resnet | sed 's/resnet/burst/')" ] &&
    [ "$(gtj_condition burst Created)" = True ]
}
eventually "the job made in bursts of 500 and 429 converges" converged
for c in host eu us; do
  left=$(http_get "http://127.0.0.1:$(cat "$work/$c.port")/debug/stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["failuresLeft"])')
  [ "$left" = 0 ] || fail "$left injected failures in $c were never met: the test did not test"
done
errors_after=$(http_get "http://127.0.0.1:$health_b/metrics" | sed -n 's/^geostorm_operator_reconcile_total{controller="geotrainingjob",result="error"} //p')
python3 -c 'import sys; sys.exit(0 if float(sys.argv[2]) > float(sys.argv[1] or 0) else 1)' "$errors_before" "$errors_after" \
  || fail "no reconcile failed under the bursts ($errors_before, then $errors_after)"
k delete gtj burst --timeout=30s >/dev/null

echo "== no secret in logs, events, status or metrics"
# The secrets of this run: the API servers' tokens (the members' reached the
# operator through Secrets) and every private key the operator minted (the job's
# CA and each DC's, in the host Secret), each looked for by a line of its PEM body.
secrets=("$(cat "$work/host.token")" "$(cat "$work/eu.token")" "$(cat "$work/us.token")")
ca_secret=$(k get secret resnet-geostorm-ca -o json)
while read -r key; do
  secrets+=("$(base64 -d <<<"$key" | sed -n 2p)")
done < <(python3 -c 'import json, sys
for k, v in json.load(sys.stdin)["data"].items():
    if k.endswith(".key"): print(v)' <<<"$ca_secret")
[ "${#secrets[@]}" -ge 6 ] || fail "expected the CA's and two DCs' private keys in resnet-geostorm-ca"
{
  cat "$work"/operator-*.log
  http_get "http://127.0.0.1:$health_b/metrics"
  for kc in k keu kus; do
    $kc get events -A -o json
    $kc get pods,services,configmaps -A -o json
  done
  k get gtj,geoclusters,topologypolicies -A -o json
} >"$work/everything-written"
[ "$(wc -c <"$work/everything-written")" -gt 10000 ] || fail "the leak check read too little"
for secret in "${secrets[@]}"; do
  [ "${#secret}" -ge 40 ] || fail "a secret of the run is too short to look for: '$secret'"
  if grep -qF -- "$secret" "$work/everything-written"; then fail "a secret of the run appears in logs, events, status or metrics"; fi
done
echo "none of ${#secrets[@]} secrets in $(wc -c <"$work/everything-written") bytes of logs, events, objects and metrics"

echo "== delete: every member cluster is emptied"
k delete gtj resnet --timeout=30s >/dev/null
for kc in eu us; do
  left=$(kubectl --kubeconfig "$work/$kc.kubeconfig" get pods,services,secrets -l geostorm.io/job-name=resnet -o name)
  [ -z "$left" ] || fail "left in $kc: $left"
done
eventually "the job's CA Secret is garbage-collected" bash -c "! kubectl --kubeconfig $work/host.kubeconfig get secret resnet-geostorm-ca"
eventually "the job's controller is stopped" bash -c "$(declare -f listening); ! listening $job_control_port"

echo "== bad manifests"
"$src/tests/e2e/bad_manifests.sh" "$work/host.kubeconfig" "$work/eu.kubeconfig" "$work/us.kubeconfig" "$src/tests/e2e/bad" \
  || fail "bad manifests"

echo "== helm upgrade with changed values, then helm uninstall"
helm upgrade geostorm "$src/helm/geostorm" -n geostorm-system "${chart_values[@]}" --set operator.replicas=3 \
  --set dashboards.enabled=true >/dev/null || fail "helm upgrade: $(cat "$work/helm.err")"
[ "$(k -n geostorm-system get deploy geostorm-operator -o jsonpath='{.spec.replicas}')" = 3 ] || fail "upgrade: replicas"
[ "$(k -n geostorm-system get cm -l grafana_dashboard=1 -o name | wc -l)" = 4 ] || fail "upgrade: dashboards"
[ "$(helm history geostorm -n geostorm-system -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2 ] \
  || fail "two revisions"
helm uninstall geostorm -n geostorm-system >/dev/null || fail "helm uninstall: $(cat "$work/helm.err")"
for r in deployments configmaps services serviceaccounts roles rolebindings poddisruptionbudgets secrets; do
  left=$(k -n geostorm-system get "$r" -l app.kubernetes.io/instance=geostorm -o name)
  [ -z "$left" ] || fail "helm uninstall left $left"
done
left=$(k get clusterroles,clusterrolebindings -l app.kubernetes.io/instance=geostorm -o name)
[ -z "$left" ] || fail "helm uninstall left $left"
[ -z "$(k -n geostorm-system get secrets -l owner=helm -o name)" ] || fail "helm uninstall left its release Secrets"

echo "== RBAC: what the operator did, against what the chart grants"
for c in host eu us; do http_get "http://127.0.0.1:$(cat "$work/$c.port")/debug/stats" >"$work/$c.stats"; done
python3 "$src/tests/e2e/check_rbac.py" "$src/.cache/tools/bin/helm" "$src/helm/geostorm" "$work/host.stats" \
  "$work/eu.stats" "$work/us.stats" || fail "RBAC"

echo "== the operators' logs: no message said twice within 100 ms"
python3 - "$work"/operator-*.log <<'PY' || fail "repeated log lines"
import datetime, re, sys
bad = []
for path in sys.argv[1:]:
    last = {}
    for line in open(path):
        m = re.match(r"\[(\S+ \S+)\] (.*)", line)
        if not m:
            continue
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        if m.group(2) in last and t - last[m.group(2)] < 0.1:
            bad.append(f"{path}: {m.group(2)}")
        last[m.group(2)] = t
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
echo "PASS"
