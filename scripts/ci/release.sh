#!/usr/bin/env bash
# CI job `release` (v* tags): publishes the verified output directory as a Gitea release.
# `isoforge publish` checks the directory against its SHA256SUMS first, creates or finds the
# release, and uploads only the missing assets. The token is read from GITEA_TOKEN by
# isoforge itself; this script never expands it.
# Usage: scripts/ci/release.sh OUTPUT_DIR   with GITEA_URL, GITEA_REPO (owner/name),
#        RELEASE_TAG and GITEA_TOKEN in the environment.
# shellcheck source=scripts/ci/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ "$#" -eq 1 ] || { echo "usage: scripts/ci/release.sh OUTPUT_DIR" >&2; exit 2; }
outdir=$1
for var in GITEA_URL GITEA_REPO RELEASE_TAG GITEA_TOKEN; do
  # Only tested for being set, never printed: the token must not reach the log.
  [ -n "${!var:-}" ] || { echo "scripts/ci/release.sh: $var is not set" >&2; exit 2; }
done
exec "$bin" publish "$outdir" --gitea "$GITEA_URL" --repo "$GITEA_REPO" --tag "$RELEASE_TAG"
