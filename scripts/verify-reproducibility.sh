#!/usr/bin/env bash
# Seed interface: build HEAD twice from scratch, the second under a different environment,
# and compare every artefact (exit 0 identical, 1 different, 2 error). A thin wrapper around
# `isoforge verify`; the report is verify/<build-id>/verification.log.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi
"$top/scripts/setup.sh"
cd "$top"
exec "$top/target/release/isoforge" verify --config "$top/config" --dir "$top/verify" \
  --output "$top/output" "$@"
