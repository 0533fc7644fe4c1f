# shellcheck shell=bash disable=SC2034  # bin, build_id, flavor: for the scripts that source this
# Sourced by the scripts/ci/ steps: the repository root, the built isoforge, and where CI
# keeps what one job hands to the next. Outside CI the same defaults work by hand.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/ci: needs root (mmdebstrap root mode)" >&2
  exit 2
fi
export PATH="$HOME/.cargo/bin:$PATH"
# A job container starts bare: install what is missing and build isoforge (idempotent).
# ISOFORGE_BIN: an isoforge already built (scripts/test.sh running these steps on a clone).
if [ -n "${ISOFORGE_BIN:-}" ]; then
  bin="$ISOFORGE_BIN"
else
  [ "${ISOFORGE_CI_SKIP_SETUP:-}" = 1 ] || "$top/scripts/setup.sh"
  bin="$top/target/release/isoforge"
fi
# CI builds and verifies ONE flavor: ISOFORGE_CI_FLAVOR, else the profile's DEFAULT_FLAVOR.
# The build id (output/<build-id>/) is the commit's first 12 hex digits, then -<flavor>.
flavor=${ISOFORGE_CI_FLAVOR:-$(sed -n 's/^DEFAULT_FLAVOR=//p' "$top/config/silvermetal-base.conf" | tr -d "\"'")}
build_id=$(git -C "$top" rev-parse HEAD | cut -c1-12)${flavor:+-$flavor}
