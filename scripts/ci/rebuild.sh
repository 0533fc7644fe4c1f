#!/usr/bin/env bash
# CI job `rebuild-elsewhere`: `isoforge rebuild` of the verified BUILD_INFO, on another
# machine (another runner label), from this checkout. Two machines must agree.
# Usage: scripts/ci/rebuild.sh OUTPUT_DIR   (the verify job's ci-output/)
# shellcheck source=scripts/ci/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ "$#" -eq 1 ] || { echo "usage: scripts/ci/rebuild.sh OUTPUT_DIR" >&2; exit 2; }
outdir=$1
[ -f "$outdir/BUILD_INFO" ] || { echo "scripts/ci/rebuild.sh: $outdir/BUILD_INFO: missing" >&2; exit 2; }
dir=$(mktemp -d /var/tmp/isoforge-rebuild.XXXXXX)
trap 'rm -rf "$dir"' EXIT
"$bin" rebuild "$outdir/BUILD_INFO" --source "$top" --dir "$dir/rebuild"
