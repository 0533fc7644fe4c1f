#!/usr/bin/env bash
# CI job `builder`: the pinned builder must be the one config/builder.lock makes. A cached
# tarball whose sha256 is the pin is reused (the runner's cache volume, keyed by digest);
# otherwise the builder is built and its digest must equal config/builder.env's: a different
# digest from the same lock is a finding to fix, never a value to pass on.
# shellcheck source=scripts/ci/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pin_line=$(grep -n '^BUILDER_IMAGE=' config/builder.env | head -n1)
pinned=${pin_line#*:}
line=${pin_line%%:*}
digest=${pinned##*@sha256:}
cache="${ISOFORGE_CACHE_DIR:-$HOME/.cache/isoforge}"
tarball="$cache/builders/$digest.tar"
if [ -f "$tarball" ] && [ "$(sha256sum "$tarball" | cut -d' ' -f1)" = "$digest" ]; then
  echo "builder: cached $tarball matches config/builder.env:$line; not rebuilt"
  exit 0
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bin" builder build --config config | tee "$out"
built=$(grep -E '^BUILDER_IMAGE=' "$out" | head -n1)
if [ "$built" != "$pinned" ]; then
  echo "::error file=config/builder.env,line=$line::the builder built from config/builder.lock is not the pinned one"
  echo "FAIL: config/builder.env:$line pins   $pinned"
  echo "      this commit's lock builds $built"
  echo "      if the lock change is intended, commit this line in config/builder.env:"
  echo "      $built"
  exit 1
fi
echo "builder: $built matches config/builder.env:$line"
