#!/usr/bin/env bash
# Benchmark: `isoforge build` against the same steps run by hand on the same machine, in one
# run: mmdebstrap -> mksquashfs -> grub-mkimage (BIOS, EFI) -> mkfs.fat + mtools -> xorriso,
# with the default profile's packages and options. Pairs alternate (hand, isoforge, ...)
# so network and cache effects hit both alike. Goal: at most 5% wall-time overhead.
#
#   sudo bench/build-overhead.sh [PAIRS]      (default 1 pair; results in bench/results/)
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi
pairs="${1:-1}"
bin="$top/target/release/isoforge"
[ -x "$bin" ] || "$top/scripts/setup.sh"
results="$top/bench/results/build-overhead"
rm -rf "$results"; mkdir -p "$results"

# A throwaway clone of HEAD, so the benchmark builds a clean commit.
src="$results/src"
git clone -q --no-hardlinks "$top" "$src"
conf="$src/config/silvermetal-base.conf"
val() { sed -n "s/^$1=//p" "$conf" | sed 's/^"\(.*\)"$/\1/'; }
suite=$(val SUITE); packages=$(val PACKAGES | tr ' ' ','); squash_opts=$(val MKSQUASHFS_OPTIONS)
label=$(val ISO_VOLUME_LABEL); cmdline=$(val LIVE_BOOT_OPTIONS)
mirror=$(sed -n 's/^MIRROR=//p' "$src/config/snapshot-pin.env")
epoch=$(git -C "$src" log -1 --format=%ct)

# Both sides install the same .debs without downloading them: isoforge from its cache, by
# hand through apt's archive cache (the usual mmdebstrap setup hook), filled from the same
# files, so the figure is the orchestration's cost, not the network's. (By hand still reads
# the mirror's index.)
"$bin" fetch --config "$src/config" >/dev/null
cache=$("$bin" fetch --config "$src/config" 2>/dev/null | sed -n 's/^cache: //p')
debs="$results/debs"; mkdir -p "$debs"
# apt's own file names: name_version_arch.deb, an epoch's colon as %3a.
grep '^package ' "$src/config/packages-cli.lock" | while read -r _ name version arch _ _ sha _; do
  ln -f "$cache/sha256/${sha:0:2}/$sha" "$debs/${name}_${version/:/%3a}_${arch}.deb"
done

by_hand() {
  local w="$results/hand"; rm -rf "$w"; mkdir -p "$w/staging/live" "$w/staging/boot/grub"
  export SOURCE_DATE_EPOCH=$epoch LC_ALL=C.UTF-8 TZ=UTC
  mmdebstrap --mode=root --format=directory --variant=minbase --include="$packages" \
    --setup-hook="mkdir -p \"\$1/var/cache/apt/archives\" && cp -l $debs/*.deb \"\$1/var/cache/apt/archives/\"" \
    "$suite" "$w/rootfs" "deb $mirror $suite main" >"$w/mmdebstrap.log" 2>&1
  # shellcheck disable=SC2086
  mksquashfs "$w/rootfs" "$w/staging/live/filesystem.squashfs" -noappend $squash_opts >"$w/mksquashfs.log"
  cp "$w"/rootfs/boot/vmlinuz-* "$w/staging/live/vmlinuz"
  cp "$w"/rootfs/boot/initrd.img-* "$w/staging/live/initrd.img"
  printf 'search --no-floppy --fs-uuid --set=root x\nset prefix=($root)/boot/grub\nconfigfile ($root)/boot/grub/grub.cfg\n' >"$w/early.cfg"
  printf "menuentry 'live' {\n linux /live/vmlinuz %s\n initrd /live/initrd.img\n}\n" "$cmdline" >"$w/staging/boot/grub/grub.cfg"
  grub-mkimage -d /usr/lib/grub/i386-pc -O i386-pc-eltorito -p /boot/grub -c "$w/early.cfg" \
    -o "$w/staging/boot/grub/bios.img" biosdisk iso9660 part_msdos part_gpt normal search \
    search_fs_uuid configfile linux echo test serial terminal ls cat
  grub-mkimage -d /usr/lib/grub/x86_64-efi -O x86_64-efi -p /boot/grub -c "$w/early.cfg" \
    -o "$w/BOOTX64.EFI" part_gpt part_msdos fat iso9660 normal search search_fs_uuid configfile \
    linux echo test serial terminal efi_gop all_video ls cat
  mkfs.fat --invariant -C -i 12345678 "$w/staging/boot/grub/efi.img" 1280 >/dev/null
  MTOOLS_SKIP_CHECK=1 mmd -i "$w/staging/boot/grub/efi.img" ::/EFI ::/EFI/BOOT
  MTOOLS_SKIP_CHECK=1 mcopy -i "$w/staging/boot/grub/efi.img" "$w/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
  xorriso -no_rc -as mkisofs -iso-level 3 -r -J -joliet-long -V "$label" \
    -b boot/grub/bios.img -no-emul-boot -boot-load-size 4 -boot-info-table --grub2-boot-info \
    --grub2-mbr /usr/lib/grub/i386-pc/boot_hybrid.img --efi-boot boot/grub/efi.img \
    -efi-boot-part --efi-boot-image --protective-msdos-label -o "$w/hand.iso" "$w/staging" \
    >"$w/xorriso.log" 2>&1
  sha256sum "$w/hand.iso" >"$w/hand.iso.sha256"
  rm -rf "$w/rootfs" "$w/staging"
}

with_isoforge() {
  rm -rf "$results/output"
  (cd "$src" && "$bin" build --config "$src/config" --output "$results/output") >/dev/null 2>"$results/isoforge.log"
}

now() { date +%s.%N; }
printf 'run,kind,seconds\n' >"$results/times.csv"
for i in $(seq 1 "$pairs"); do
  s=$(now); by_hand; e=$(now); echo "$i,hand,$(echo "$e - $s" | bc)" >>"$results/times.csv"
  s=$(now); with_isoforge; e=$(now); echo "$i,isoforge,$(echo "$e - $s" | bc)" >>"$results/times.csv"
  tail -2 "$results/times.csv"
done
awk -F, 'NR>1 { t[$2]+=$3; n[$2]++ } END {
  h=t["hand"]/n["hand"]; f=t["isoforge"]/n["isoforge"];
  printf "by hand:  %.1f s (mean of %d)\nisoforge: %.1f s (mean of %d)\noverhead: %+.1f%%\n", h, n["hand"], f, n["isoforge"], (f/h-1)*100 }' \
  "$results/times.csv" | tee "$results/summary.txt"
