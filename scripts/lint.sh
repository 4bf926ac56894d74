#!/usr/bin/env bash
# clang-format and clang-tidy over the project's own C++ sources; any finding fails.
#   scripts/lint.sh BUILD_DIR   check (BUILD_DIR holds compile_commands.json)
#   scripts/lint.sh --fix       rewrite the files with clang-format
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t sources < <(git ls-files --cached --others --exclude-standard -- '*.cc' '*.h' | grep -E '^(core|cli|control|sidecar|operator|client|bench|tests|testbed)/')

if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${sources[@]}"
  exit 0
fi

build=${1:-build}
echo "lint: clang-format on ${#sources[@]} files"
clang-format --dry-run -Werror "${sources[@]}"

mapfile -t units < <(printf '%s\n' "${sources[@]}" | grep -E '^(core|cli|control|sidecar|operator|client)/.*\.cc$')
echo "lint: clang-tidy on ${#units[@]} files"
printf '%s\n' "${units[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet 2>/dev/null
echo "lint: clean"
