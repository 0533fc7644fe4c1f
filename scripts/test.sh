#!/usr/bin/env bash
# Runs every test, as CI does: formatting and lints, the unit and integration tests (real
# mmdebstrap, mksquashfs, xorriso, mtools and QEMU on real images), then end to end:
# `isoforge verify` on the default profile (two full builds, must be identical), `isoforge
# rebuild` of its BUILD_INFO from another directory, and QEMU boots of the verified ISO under
# BIOS and UEFI (in the boot crate's tests).
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

step "end to end: isoforge verify (two builds from scratch, build B in a varied environment)"
bin="$top/target/release/isoforge"
"$bin" verify --config "$top/config" --dir "$top/verify" --output "$top/output" --force
id=$(git -C "$top" rev-parse HEAD | cut -c1-12)
iso=$(ls "$top/output/$id"/*.iso)
(cd "$top/output/$id" && sha256sum -c SHA256SUMS)
"$bin" check --config "$top/config" "$top/output/$id/SHA256SUMS"
# The boot tests (crates/boot/tests/boot.rs) boot this verified ISO under BIOS and UEFI.
export ISOFORGE_TEST_ISO="$iso"
ISOFORGE_TEST_EXPECT="$(sed -n 's/^Product-Name: //p' "$top/output/$id/BUILD_INFO") $(sed -n 's/^Version: //p' "$top/output/$id/BUILD_INFO")"
export ISOFORGE_TEST_EXPECT

step "end to end: isoforge rebuild of the verified BUILD_INFO, from another directory"
elsewhere=$(mktemp -d)
(cd "$elsewhere" && "$bin" rebuild "$top/output/$id/BUILD_INFO" --source "$top" --dir "$elsewhere/rebuild")
rm -rf "$elsewhere"

step "unit and integration tests"
cargo test --release --locked --workspace 2>&1 | tee "$top/target/test-output.txt"

step "done"
passed=$(grep -Eo '[0-9]+ passed' "$top/target/test-output.txt" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$top/target/test-output.txt" | awk '{s+=$1} END {print s+0}')
echo "verify: identical; rebuild: reproduced; ISO $iso"
echo "$passed passed, $failed failed"
