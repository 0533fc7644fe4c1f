#!/usr/bin/env bash
# The desktop flavor end to end, too slow for CI (about four builds of a bigger image):
#   1. `isoforge build --flavor desktop` of a clean clone of HEAD (timed);
#   2. `isoforge boot` of its ISO under BIOS and UEFI, waiting for the boot marker;
#   3. `isoforge verify --flavor desktop` (two more builds from scratch, B in a varied
#      environment), which must say IDENTICAL and place the same ISO.
# Prints the build time, the ISO size, the package count and each step's verdict; logs in
# bench/results/desktop-flavor/. Exit 0 only if it built, booted both ways and verified.
#
#   sudo bench/desktop-flavor.sh
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi
bin="$top/target/release/isoforge"
[ -x "$bin" ] || "$top/scripts/setup.sh"
flavor=desktop
results="${ISOFORGE_BENCH_RESULTS:-$top/bench/results/desktop-flavor}"
rm -rf "$results"; mkdir -p "$results"
src="$results/src"
git clone -q --no-hardlinks "$top" "$src"
id="$(git -C "$src" rev-parse HEAD | cut -c1-12)-$flavor"
secs() { date +%s.%N; }
since() { awk "BEGIN{printf \"%.0f\", $(secs) - $1}"; }

echo "== fetch (packages-$flavor.lock into the cache)"
"$bin" fetch --config "$src/config" --flavor "$flavor" --image-only >"$results/fetch.log" 2>&1

echo "== build --flavor $flavor"
t0=$(secs)
(cd "$src" && "$bin" build --flavor "$flavor" --output "$results/output") >"$results/build.log" 2>&1
build_s=$(since "$t0")
out="$results/output/$id"
iso=$(ls "$out"/*.iso)
iso_sha=$(sha256sum "$iso" | cut -d' ' -f1)
iso_mb=$(( $(stat -c %s "$iso") / 1000000 ))
packages=$(sed -n '/^Installed-Packages:/,/^[A-Z]/p' "$out/BUILD_INFO" | grep -c '^ ')
locked=$(grep -c '^package ' "$src/config/packages-$flavor.lock")
grep -q "^Flavor: $flavor$" "$out/BUILD_INFO"
(cd "$out" && sha256sum -c --quiet SHA256SUMS)
echo "   $(basename "$iso"): $iso_mb MB, $packages packages ($locked locked), built in ${build_s} s"

echo "== boot (BIOS and UEFI, waiting for the boot marker)"
t0=$(secs)
boot=ok
# isoforge boot writes its console logs into the current directory.
(cd "$results" && "$bin" boot "$iso") >"$results/boot.log" 2>&1 || boot="FAILED (exit $?)"
boot_s=$(since "$t0")
tail -n 4 "$results/boot.log" | sed 's/^/   /'

echo "== verify --flavor $flavor (two builds from scratch)"
t0=$(secs)
verify=IDENTICAL
(cd "$src" && "$bin" verify --flavor "$flavor" --dir "$results/verify" \
  --output "$results/verified") >"$results/verify.log" 2>&1 || verify="NOT IDENTICAL (exit $?)"
verify_s=$(since "$t0")
verified_sha=$(sha256sum "$results/verified/$id"/*.iso 2>/dev/null | cut -d' ' -f1 || true)
[ "$verified_sha" = "$iso_sha" ] || verify="$verify; verified ISO ${verified_sha:-missing} != first build $iso_sha"

cat <<EOF | tee "$results/summary.txt"

desktop flavor ($(git -C "$src" log -1 --format=%h), $(nproc) cores, $(uname -r))
  ISO          $(basename "$iso"), $iso_mb MB, sha256 $iso_sha
  packages     $packages installed ($locked in packages-$flavor.lock)
  build        ${build_s} s (warm cache)
  boot         $boot, BIOS + UEFI in ${boot_s} s
  verify       $verify, in ${verify_s} s (two builds)
EOF
[ "$boot" = ok ] && [ "$verify" = IDENTICAL ]
