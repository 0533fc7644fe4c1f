#!/usr/bin/env bash
# CI job `builder`: the pinned builder must be the one config/builder.lock makes. It is built
# every time, because reusing a cached tarball named by the pin would hide a lock (or code)
# change that moves the digest; a different digest from the same lock is a finding to fix,
# never a value to pass on. The tarball lands in the cache (the runner's cache volume) as
# builders/<digest>.tar, keyed by its digest, where the next jobs' --runtime chroot finds it.
# shellcheck source=scripts/ci/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pin_line=$(grep -n '^BUILDER_IMAGE=' config/builder.env | head -n1)
[ -n "$pin_line" ] || { echo "config/builder.env: no BUILDER_IMAGE= line" >&2; exit 2; }
pinned=${pin_line#*:}
line=${pin_line%%:*}
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
