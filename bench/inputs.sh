#!/usr/bin/env bash
# Benchmark of the hermetic inputs, one run each on this machine:
#   - `isoforge lock` resolution time (image and builder locks, apt in a throwaway root);
#   - a cold-cache build (every locked .deb downloaded, then built);
#   - a warm-cache build with no network at all (`unshare --net`: loopback only, down).
# Both builds must give the same ISO SHA-256. Results in bench/results/inputs/.
#
#   sudo bench/inputs.sh
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi
bin="$top/target/release/isoforge"
[ -x "$bin" ] || "$top/scripts/setup.sh"
results="$top/bench/results/inputs"
rm -rf "$results"; mkdir -p "$results"
src="$results/src"
git clone -q --no-hardlinks "$top" "$src"
cache="$results/cache"
secs() { date +%s.%N; }

t0=$(secs)
"$bin" lock --config "$src/config" >"$results/lock.log" 2>&1
t1=$(secs)
lock_s=$(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")
git -C "$src" diff --quiet -- config/packages-cli.lock config/builder.lock \
  && lock_same="identical to the committed locks" || lock_same="differs from the committed locks"

t0=$(secs)
(cd "$src" && "$bin" build --cache-dir "$cache" --output "$results/cold") >"$results/cold.log" 2>&1
t1=$(secs)
cold_s=$(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")

t0=$(secs)
(cd "$src" && unshare --net "$bin" build --cache-dir "$cache" --output "$results/warm") >"$results/warm.log" 2>&1
t1=$(secs)
warm_s=$(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")

cold_sha=$(tail -1 "$results/cold.log" | cut -d' ' -f2)
warm_sha=$(tail -1 "$results/warm.log" | cut -d' ' -f2)
fetch_line=$(grep -o 'packages: cache and local repository: done in [^:]*' "$results/cold.log" || true)
{
  echo "isoforge lock (image + builder):      ${lock_s} s ($lock_same)"
  echo "cold-cache build (download + build):  ${cold_s} s  [$fetch_line]"
  echo "warm-cache build, no network at all:  ${warm_s} s"
  echo "ISO sha256 cold: $cold_sha"
  echo "ISO sha256 warm: $warm_sha"
  [ "$cold_sha" = "$warm_sha" ] && echo "same ISO: yes" || echo "same ISO: NO"
} | tee "$results/summary.txt"
