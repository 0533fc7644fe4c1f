#!/usr/bin/env bash
# Seed interface: build the ISO of HEAD into output/<build-id>/ (ISO, SHA256SUMS, BUILD_INFO).
# A thin wrapper around `isoforge build`; installs what is missing first. Extra arguments go
# to `isoforge build` (see `isoforge build --help`).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi
"$top/scripts/setup.sh"
cd "$top"
exec "$top/target/release/isoforge" build --config "$top/config" --output "$top/output" "$@"
