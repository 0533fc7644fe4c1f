#!/usr/bin/env bash
# Runs every test, as CI does: formatting and lints, the unit and integration tests (real
# mmdebstrap, mksquashfs, xorriso, mtools and QEMU on real images), then end to end:
# pinned inputs (lock --check, pins --check, fetch), then the Gitea workflow's jobs through
# their scripts/ci/ steps: builder (the pin must match), verify (two full builds, must be
# identical), release (isoforge publish, twice, to a loopback stand-in for Gitea) and
# rebuild-elsewhere; and a build in the pinned builder (--runtime chroot), which must give
# the same ISO; and `isoforge verify` of the customization test profile (tests/profiles/custom).
# Installs what is missing first. Needs root (mmdebstrap root mode, namespaces).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi
"$top/scripts/setup.sh" --tests
export PATH="$HOME/.cargo/bin:$PATH"
cd "$top"
started=$(date +%s)
step() { printf '\n=== %s (%ds) ===\n' "$1" "$(( $(date +%s) - started ))"; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy --release --locked --workspace --all-targets -- -D warnings

# The CI gate's own files: isoforge lint-ci (workflow + runner config), actionlint, zizmor.
step "workflow linters: scripts/ci/lint.sh"
scripts/ci/lint.sh

bin="$top/target/release/isoforge"
git_id=(-c user.name=isoforge-ci -c user.email=ci@isoforge.invalid)

# The end-to-end steps build a scratch clone of HEAD. Debian drops superseded versions from
# the live mirror at every point release, so a committed lock can go stale through no fault
# of the commit: then the scratch clone is re-locked (and re-pinned) with a loud warning,
# instead of the suite turning red for that alone.
step "pinned inputs: isoforge lock --check, pins --check, fetch"
scratch=$(mktemp -d /var/tmp/isoforge-e2e.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
git clone -q --no-hardlinks "$top" "$scratch/src"
src="$scratch/src"
relocked=0
if ! "$bin" lock --check --config "$src/config"; then
  relocked=1
  echo "##########################################################################"
  echo "WARNING: the committed lock is stale or its packages left the mirror;"
  echo "WARNING: re-locking in the scratch clone. Run \`isoforge lock\` and commit."
  echo "##########################################################################"
  "$bin" lock --config "$src/config"
  git -C "$src" "${git_id[@]}" commit -qam "scratch: re-lock (stale committed lock)"
fi
"$bin" fetch --config "$src/config"

# The Gitea workflow's jobs run their scripts/ci/ steps here too, on the scratch clone.
export ISOFORGE_BIN="$bin"
step "CI job builder: scripts/ci/builder.sh (the builder the lock makes must be the pinned one)"
if ! "$src/scripts/ci/builder.sh" | tee "$scratch/builder.txt"; then
  # Only a re-lock above may move the pin; from the committed lock a different digest fails.
  [ "$relocked" = 1 ] || exit 1
  echo "WARNING: re-pinning the builder in the scratch clone (its lock was re-locked above)"
  built=$(grep -E '^BUILDER_IMAGE=' "$scratch/builder.txt" | head -n1)
  sed -i "s|^BUILDER_IMAGE=.*|$built|" "$src/config/builder.env"
  git -C "$src" "${git_id[@]}" commit -qam "scratch: re-pin the builder"
fi
"$bin" pins --check --config "$src/config"

# A failed comparison prints the head of each isoforge diff report it saved.
show_reports() {
  for r in "$@"; do
    [ -f "$r" ] || continue
    echo "---- $r (first 100 lines) ----"
    head -n 100 "$r"
  done
}

step "CI job verify: scripts/ci/verify.sh (two builds from scratch, build B in a varied environment)"
# The build id of the default flavor, the one CI verifies: <commit's 12 hex digits>-<flavor>.
id=$(git -C "$src" rev-parse HEAD | cut -c1-12)-$(sed -n 's/^DEFAULT_FLAVOR=//p' "$src/config/silvermetal-base.conf")
if ! WORKSPACE="$scratch" ISOFORGE_CI_RUNTIME=host "$src/scripts/ci/verify.sh"; then
  show_reports "$src/ci-reports"/*.diff.txt
  exit 1
fi
out="$src/ci-output"
iso=$(ls "$out"/*.iso)
"$bin" check --config "$top/config" "$out/SHA256SUMS"

step "CI job release: scripts/ci/release.sh against a loopback Gitea (scripts/ci/release-loopback.sh)"
"$src/scripts/ci/release-loopback.sh" "$out"

# The boot tests (crates/boot/tests/boot.rs) boot this verified ISO under BIOS and UEFI.
export ISOFORGE_TEST_ISO="$iso"
ISOFORGE_TEST_EXPECT="$(sed -n 's/^Product-Name: //p' "$out/BUILD_INFO") $(sed -n 's/^Version: //p' "$out/BUILD_INFO")"
export ISOFORGE_TEST_EXPECT

# Two lanes at once, as each is mostly single-threaded (dpkg, QEMU under TCG) and CI has two
# cores: the rebuild and the chroot build in the background, the test suite in the
# foreground. The background lane's log is printed when it ends.
e2e_more() {
  step "CI job rebuild-elsewhere: scripts/ci/rebuild.sh of the verified BUILD_INFO, from another directory"
  (cd / && "$src/scripts/ci/rebuild.sh" "$out")

  # One build in the pinned builder (--runtime chroot), from yet another directory: its tools
  # are the builder's, its inputs the same, so its ISO must be the verified one.
  step "end to end: a --runtime chroot build (the pinned builder) from another directory"
  git clone -q --no-hardlinks "$src" "$scratch/chroot"
  (cd "$scratch/chroot" && "$bin" build --runtime chroot --output "$scratch/chroot/output")
  grep -q '^Runtime: chroot$' "$scratch/chroot/output/$id/BUILD_INFO"
  chroot_iso=$(ls "$scratch/chroot/output/$id"/*.iso)
  echo "host build:   $(sha256sum "$iso" | cut -d' ' -f1)"
  echo "chroot build: $(sha256sum "$chroot_iso" | cut -d' ' -f1)"
  if ! cmp -s "$iso" "$chroot_iso"; then
    "$bin" diff --output "$scratch/chroot.diff.txt" "$iso" "$chroot_iso" || true
    show_reports "$scratch/chroot.diff.txt"
    echo "build tools, host (<) vs builder (>):"
    diff <(sed -n '/^Build-Tools:/,/^[A-Z]/p' "$out/BUILD_INFO") \
      <(sed -n '/^Build-Tools:/,/^[A-Z]/p' "$scratch/chroot/output/$id/BUILD_INFO") || true
    echo "FAIL: the chroot build differs from the verified host build"
    return 1
  fi
  rm -rf "$scratch/chroot"

  # The customization test profile (package list, overlays, chroot and binary hooks): two
  # builds, must be identical.
  step "end to end: scripts/ci/verify-custom.sh (verify of tests/profiles/custom)"
  "$src/scripts/ci/verify-custom.sh" "$scratch/custom"
}
step "in parallel: rebuild, chroot build, customization verify (background lane) | unit and integration tests"
(set -e; e2e_more) >"$scratch/e2e-more.log" 2>&1 &
lane=$!
# KVM hangs on some virtual machines: the BIOS boot test exercises the probe and its TCG
# fallback; the other boots go straight to TCG.
export ISOFORGE_TEST_ACCEL=${ISOFORGE_TEST_ACCEL:-tcg}
tests=0
cargo test --release --locked --workspace --no-fail-fast 2>&1 | tee "$top/target/test-output.txt" || tests=$?
lane_status=0
wait "$lane" || lane_status=$?
echo; echo "=== background lane (rebuild, chroot build, customization verify) ==="
cat "$scratch/e2e-more.log"
[ "$tests" -eq 0 ] || { echo "FAIL: cargo test (exit $tests)"; exit 1; }
[ "$lane_status" -eq 0 ] || { echo "FAIL: the rebuild, the chroot build or the customization verify (exit $lane_status)"; exit 1; }

step "done"
passed=$(grep -Eo '[0-9]+ passed' "$top/target/test-output.txt" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$top/target/test-output.txt" | awk '{s+=$1} END {print s+0}')
echo "verify: identical; rebuild: reproduced; chroot build: identical to the host build; ISO $iso"
echo "$passed passed, $failed failed"
