#!/usr/bin/env bash
# CI job `verify`: `isoforge verify --strict` (every variation applied, none skipped) of one
# flavor (ISOFORGE_CI_FLAVOR, else DEFAULT_FLAVOR) with the pinned builder (--runtime chroot):
# builds A and B under $WORKSPACE/<build-id>/build-a and build-b. Leaves, for the upload steps:
#   ci-output/   the verified output directory (ISO, SHA256SUMS, BUILD_INFO, provenance)
#   ci-reports/  on failure: verification.log and the isoforge diff reports (txt, html, json)
# Usage: scripts/ci/verify.sh [extra isoforge verify options]
# shellcheck source=scripts/ci/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

workspace="${WORKSPACE:-$top}"
dir="$workspace/verify"
output="$top/output"
rm -rf "$top/ci-output" "$top/ci-reports"
status=0
flavor_args=()
[ -n "$flavor" ] && flavor_args=(--flavor "$flavor")
"$bin" verify --config config "${flavor_args[@]}" --runtime "${ISOFORGE_CI_RUNTIME:-chroot}" \
  --dir "$dir" --output "$output" --force --strict "$@" || status=$?
if [ "$status" -ne 0 ]; then
  mkdir -p "$top/ci-reports"
  for f in "$dir/$build_id"/verification.log "$dir/$build_id"/*.diff.{txt,html,json}; do
    [ -f "$f" ] && cp -- "$f" "$top/ci-reports/"
  done
  echo "FAIL: isoforge verify exit $status; reports in ci-reports/"
  exit "$status"
fi
mkdir -p "$top/ci-output"
cp -a -- "$output/$build_id/." "$top/ci-output/"
(cd "$top/ci-output" && sha256sum -c SHA256SUMS)
