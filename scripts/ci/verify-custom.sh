#!/usr/bin/env bash
# CI: `isoforge verify` of the customization test profile (tests/profiles/custom: a package
# list, overlays with symlinks and an executable, a chroot hook and a binary hook). Both
# builds must be identical, the hooks must have run (logs/hooks/, logs/writers), and the ISO
# must hold what the overlays and hooks put there.
#   scripts/ci/verify-custom.sh [WORKDIR]     (default: a new directory in /var/tmp)
# shellcheck source=scripts/ci/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

work="${1:-$(mktemp -d /var/tmp/isoforge-custom.XXXXXX)}"
src="$work/src"
ISOFORGE_BIN="$bin" "$top/tests/profiles/custom/make-repo.sh" "$src"
id=$(git -C "$src" rev-parse HEAD | cut -c1-12)
status=0
(cd "$src" && "$bin" verify --config config --runtime "${ISOFORGE_CI_RUNTIME:-host}" \
  --dir "$work/verify" --output "$work/output" --force) || status=$?
if [ "$status" -ne 0 ]; then
  for f in "$work/verify/$id"/verification.log "$work/verify/$id"/*.diff.txt; do
    [ -f "$f" ] && { echo "---- $f (first 60 lines) ----"; head -n 60 "$f"; }
  done
  echo "FAIL: isoforge verify of the customization profile: exit $status"
  exit "$status"
fi
out="$work/output/$id"
fail() { echo "FAIL: customization profile: $*"; exit 1; }
for w in includes.chroot includes.binary hooks/10-customize.hook.chroot hooks/50-checksums.hook.binary; do
  grep -q " $w /" "$out/logs/writers" || fail "logs/writers does not name $w"
done
grep -q '^customized: ' "$out/logs/hooks/10-customize.hook.chroot.log" || fail "the chroot hook did not run"
iso=$(ls "$out"/*.iso)
listing=$(xorriso -no_rc -indev "$iso" -find / -type f 2>/dev/null)
for f in /README.txt /live/SHA256SUMS; do
  grep -qx "'$f'" <<<"$listing" || fail "$f is not in the ISO"
done
grep -q '^ tree (= ' "$out/BUILD_INFO" || fail "the package list's package (tree) is not in BUILD_INFO"
echo "customization profile: verify identical; hooks, overlays and package list in the ISO ($iso)"
