#!/usr/bin/env bash
# clang-format and clang-tidy over the project's own C++ sources; any finding fails.
#   scripts/lint.sh BUILD_DIR   check (BUILD_DIR holds compile_commands.json)
#   scripts/lint.sh --fix       rewrite the files with clang-format
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t sources < <(git ls-files --cached --others --exclude-standard -- '*.cc' '*.h' | grep -E '^(core|cli|control|wire|sidecar|operator|client|bench|tests|testbed)/')

if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${sources[@]}"
  exit 0
fi

build=${1:-build}
echo "lint: clang-format on ${#sources[@]} files"
clang-format --dry-run -Werror "${sources[@]}"

mapfile -t units < <(printf '%s\n' "${sources[@]}" | grep -E '^(core|cli|control|wire|sidecar|operator|client|testbed)/.*\.cc$')
echo "lint: clang-tidy on ${#units[@]} files"
# Only clang-tidy's "N warnings generated." count lines are dropped; its errors and
# findings are shown, and any of them fails the run.
printf '%s\n' "${units[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet 2>&1 |
  { grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' || true; }
echo "lint: clean"
