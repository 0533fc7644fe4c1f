#!/usr/bin/env bash
# Acceptance of the customization points (issue 10: hooks, overlays, package lists, hints),
# with full builds (four, about 10-15 minutes on 2 cores):
#   1. `isoforge verify` of the customization test profile (tests/profiles/custom): must be
#      identical (scripts/ci/verify-custom.sh, which also checks what the hooks and overlays
#      put in the ISO);
#   2. the same profile plus a chroot hook that writes `date` into /etc/build-date: verify
#      must fail (exit 1), and its report must name the file, the hook and the hint "time
#      near the build" with its remedy.
# Prints the figures (times, ISO size, package count) at the end.
#   sudo bench/customization.sh        (results in bench/results/customization/)
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi
bin="${ISOFORGE_BIN:-$top/target/release/isoforge}"
[ -x "$bin" ] || "$top/scripts/setup.sh"
export ISOFORGE_BIN="$bin"
results="$top/bench/results/customization"
rm -rf "$results"; mkdir -p "$results"
fail() { echo "FAIL: $*"; exit 1; }

echo "== 1. verify of the customization profile: must be identical"
t0=$(date +%s)
"$top/scripts/ci/verify-custom.sh" "$results/identical" | tee "$results/identical.txt"
t1=$(date +%s)
src="$results/identical/src"
id=$(git -C "$src" rev-parse HEAD | cut -c1-12)
out="$results/identical/output/$id"
iso=$(ls "$out"/*.iso)
packages=$(grep -c '^package ' "$src/config/packages.lock")
hook_paths=$(grep -c '^image hooks/' "$out/logs/writers" || true)

echo "== 2. the same profile with a hook that writes \`date\`: verify must fail and explain it"
date_dir="$results/date"
"$top/tests/profiles/custom/make-repo.sh" "$date_dir/src" --date-hook
did=$(git -C "$date_dir/src" rev-parse HEAD | cut -c1-12)
t2=$(date +%s)
status=0
(cd "$date_dir/src" && "$bin" verify --config config --dir "$date_dir/verify" \
  --output "$date_dir/output") >"$results/date.txt" 2>&1 || status=$?
t3=$(date +%s)
cat "$results/date.txt"
[ "$status" -eq 1 ] || fail "verify with the date hook exited $status, not 1 (different)"
report="$date_dir/verify/$did/silvermetal-1.1.0-amd64.iso.diff.txt"
[ -f "$report" ] || report=$(ls "$date_dir/verify/$did"/*.iso.diff.txt)
line=$(grep -F '[time-near-build]' "$report" | head -n1) || true
echo "report: $report"
echo "its line: $line"
grep -F '[time-near-build]' -A2 "$report" | head -n 6
[[ "$line" == *"/etc/build-date"* ]] || fail "the report does not name /etc/build-date"
[[ "$line" == *"hooks/20-date.hook.chroot"* ]] || fail "the report does not name the hook"
grep -q 'a time near the build.*remedy: .*SOURCE_DATE_EPOCH' "$report" \
  || fail "the report has no 'time near the build' hint with its remedy"

cat <<SUMMARY | tee "$results/summary.txt"
customization profile ($packages packages, hooks wrote $hook_paths image paths):
  verify identical in $((t1 - t0)) s (two full builds and the comparison), ISO $(( $(stat -c %s "$iso") / 1000000 )) MB
  sha256 $(sha256sum "$iso" | cut -d' ' -f1)
with the \`date\` hook: verify exit $status (different) in $((t3 - t2)) s; the report names
  /etc/build-date, hooks/20-date.hook.chroot and "time near the build" with its remedy
SUMMARY
