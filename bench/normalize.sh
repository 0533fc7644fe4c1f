#!/usr/bin/env bash
# Benchmark of `isoforge normalize`.
#
# 1. Speed (run by default): normalize of the default ISO against the by-hand equivalent on
#    the same machine, one run each: xorriso -osirrox extract, unsquashfs, mksquashfs with the
#    profile's MKSQUASHFS_OPTIONS, xorriso with the input's boot setup replayed. Goal: within
#    10% of by hand. The ISO is the first argument, else /var/tmp/out0/*/*.iso, else one is
#    built with `isoforge build --config config`; SOURCE_DATE_EPOCH comes from the BUILD_INFO
#    beside it.
# 2. A grub-mkrescue pair with a real kernel (run by default; `--skip-speed` runs it alone):
#    the default ISO's tree (kernel, initrd, squashfs, grub.cfg) without its boot images,
#    made into two ISOs by grub-mkrescue a few seconds apart; they differ, normalize makes
#    them identical, and the result boots under BIOS and UEFI (`isoforge boot`).
# 3. A live-build pair (`--live-build`, NOT run by default, and not run on the project's
#    machine: Debian's live-build package pulls a newer apt, which would change the host tools
#    every other build uses). Install it first on a throwaway machine or VM:
#        apt-get install live-build
#    It builds a small live-build ISO twice with nothing done for reproducibility (no
#    SOURCE_DATE_EPOCH, two build directories, a minute apart), checks they differ, compares
#    them with `isoforge diff`, normalizes both, checks the results are identical, compares
#    the raw pair's report with the normalized pair's, and boots both (`isoforge boot`).
#
#   sudo bench/normalize.sh [ISO] [--skip-speed] [--skip-pair] [--live-build]
#   (results in bench/results/normalize/)
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi
bin="$top/target/release/isoforge"
[ -x "$bin" ] || (cd "$top" && cargo build --release --locked)
results="$top/bench/results/normalize"
mkdir -p "$results"
work="${ISOFORGE_BENCH_DIR:-/var/tmp/isoforge-bench-normalize}"
rm -rf "$work"; mkdir -p "$work"
live_build=no iso="" speed=yes pair=yes
for a in "$@"; do
  case "$a" in
    --live-build) live_build=yes ;;
    --skip-speed) speed=no ;;
    --skip-pair) pair=no ;;
    *) iso="$a" ;;
  esac
done
summary="$results/summary.txt"
: >"$summary"
say() { echo "$*" | tee -a "$summary" >&2; }
# Wall seconds and peak KiB of a command, appended to $summary under a name.
timed() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/$name.time" "$@" >"$work/$name.log" 2>&1
  read -r secs kib <"$work/$name.time"
  say "$name: ${secs} s wall, $((kib / 1024)) MiB peak"
  echo "$secs"
}

# The same steps by hand: ISO, SOURCE_DATE_EPOCH, mksquashfs options, work directory.
by_hand() {
  local iso=$1 epoch=$2 opts=$3 w=$4 boot
  rm -rf "$w"; mkdir -p "$w"
  export SOURCE_DATE_EPOCH=$epoch LC_ALL=C.UTF-8 TZ=UTC
  xorriso -no_rc -osirrox on -indev "$iso" -extract / "$w/tree"
  unsquashfs -n -d "$w/rootfs" "$w/tree/live/filesystem.squashfs"
  rm "$w/tree/live/filesystem.squashfs"
  # shellcheck disable=SC2086
  mksquashfs "$w/rootfs" "$w/tree/live/filesystem.squashfs" -noappend -no-progress $opts
  boot=$(xorriso -no_rc -indev "$iso" -report_el_torito as_mkisofs 2>/dev/null |
    grep -v -e '^-V ' -e '^--modification-date' | tr '\n' ' ')
  rm -f "$w/tree/boot.catalog"
  eval "xorriso -no_rc -volume_date uuid 2023111422132000 -as mkisofs -iso-level 3 -r -J \
    -joliet-long -V HAND $boot -o '$w/out.iso' '$w/tree'"
}
export -f by_hand

find_iso() {
  if [ -z "$iso" ]; then
    iso=$(find /var/tmp/out0 -maxdepth 2 -name '*.iso' 2>/dev/null | sort | head -n1 || true)
  fi
  if [ -z "$iso" ]; then
    "$bin" build --config "$top/config" --output "$work/built" --force
    iso=$(find "$work/built" -maxdepth 2 -name '*.iso' | sort | head -n1)
  fi
}

speed() {
  find_iso
  local info epoch opts
  info="$(dirname "$iso")/BUILD_INFO"
  epoch=$(sed -n 's/^Source-Date-Epoch: //p' "$info" 2>/dev/null || true)
  epoch=${epoch:-$(git -C "$top" log -1 --format=%ct)}
  opts=$(sed -n 's/^MKSQUASHFS_OPTIONS=//p' "$top/config/silvermetal-base.conf" | tr -d '"')
  say "input: $iso ($(stat -c %s "$iso") bytes), SOURCE_DATE_EPOCH=$epoch"
  say "mksquashfs options: $opts; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"

  local hand tool
  hand=$(timed "by-hand" bash -c 'by_hand "$@"' _ "$iso" "$epoch" "$opts" "$work/hand")
  rm -rf "$work/hand"
  tool=$(timed "isoforge-normalize" "$bin" normalize "$iso" "$work/normalized.iso" \
    --config "$top/config" --source-date-epoch "$epoch" --report "$results/report.json" --force)
  cp "$work/isoforge-normalize.log" "$results/normalize.log"
  say "overhead: $(echo "scale=1; ($tool - $hand) * 100 / $hand" | bc)% (goal: within 10%)"
  # Normalizing the result again gives the same bytes.
  "$bin" normalize "$work/normalized.iso" "$work/again.iso" --config "$top/config" \
    --source-date-epoch "$epoch" --force >/dev/null 2>&1
  if cmp -s "$work/normalized.iso" "$work/again.iso"; then
    say "normalize is idempotent on it: yes"
  else
    say "normalize is idempotent on it: NO"
  fi
}

grub_mkrescue_pair() {
  find_iso
  local epoch
  epoch=$(sed -n 's/^Source-Date-Epoch: //p' "$(dirname "$iso")/BUILD_INFO" 2>/dev/null || true)
  epoch=${epoch:-$(git -C "$top" log -1 --format=%ct)}
  local tree="$work/gm-tree"
  rm -rf "$tree"
  xorriso -no_rc -osirrox on -indev "$iso" -extract / "$tree" 2>/dev/null
  chmod -R u+w "$tree"
  rm -f "$tree/boot/grub/bios.img" "$tree/boot/grub/efi.img" "$tree/boot.catalog"
  for side in a b; do
    grub-mkrescue -o "$work/gm-$side.iso" "$tree" >/dev/null 2>&1
    sleep 2
  done
  if cmp -s "$work/gm-a.iso" "$work/gm-b.iso"; then
    say "grub-mkrescue pair: identical before normalize (unexpected)"
  else
    say "grub-mkrescue pair: differ before normalize ($(cmp -l "$work/gm-a.iso" "$work/gm-b.iso" | wc -l) bytes)"
  fi
  for side in a b; do
    timed "normalize-grub-mkrescue-$side" "$bin" normalize "$work/gm-$side.iso" \
      "$work/gm-$side.norm.iso" --config "$top/config" --source-date-epoch "$epoch" \
      --report "$results/grub-mkrescue-$side.report.txt" --force >/dev/null
  done
  if cmp -s "$work/gm-a.norm.iso" "$work/gm-b.norm.iso"; then
    say "grub-mkrescue pair after normalize: identical ($(sha256sum <"$work/gm-a.norm.iso" | cut -c1-64))"
  else
    say "grub-mkrescue pair after normalize: DIFFERENT"
  fi
  for fw in bios uefi; do
    if "$bin" boot --firmware "$fw" --timeout 900 --log-dir "$results" "$work/gm-a.norm.iso" >"$work/boot-$fw.log" 2>&1; then
      say "boot of the normalized grub-mkrescue ISO, $fw: ok ($(tail -n1 "$work/boot-$fw.log"))"
    else
      say "boot of the normalized grub-mkrescue ISO, $fw: FAILED ($(tail -n1 "$work/boot-$fw.log"))"
    fi
  done
}

live_build_pair() {
  command -v lb >/dev/null || { say "live-build is not installed (apt-get install live-build)"; exit 2; }
  local epoch
  epoch=$(git -C "$top" log -1 --format=%ct)
  for side in a b; do
    local d="$work/lb-$side-$RANDOM"
    mkdir -p "$d"
    (
      cd "$d"
      unset SOURCE_DATE_EPOCH
      lb config --distribution bookworm --binary-image iso-hybrid \
        --bootloaders 'grub-pc grub-efi' --debootstrap-options '--variant=minbase' \
        --apt-recommends false --firmware-binary false --firmware-chroot false \
        --memtest none --win32-loader false >/dev/null
      timed "live-build-$side" lb build
    )
    cp "$d/live-image-amd64.hybrid.iso" "$work/lb-$side.iso"
    [ "$side" = a ] && sleep 60
  done
  if cmp -s "$work/lb-a.iso" "$work/lb-b.iso"; then say "live-build pair: identical (unexpected)"; fi
  "$bin" diff "$work/lb-a.iso" "$work/lb-b.iso" -o "$results/live-build-raw.diff.txt" || true
  for side in a b; do
    timed "normalize-lb-$side" "$bin" normalize "$work/lb-$side.iso" "$work/lb-$side.norm.iso" \
      --source-date-epoch "$epoch" --report "$results/live-build-$side.report.txt" --force
  done
  if "$bin" diff "$work/lb-a.norm.iso" "$work/lb-b.norm.iso" \
    -o "$results/live-build-normalized.diff.txt"; then
    say "live-build pair after normalize: identical"
  else
    say "live-build pair after normalize: DIFFERENT (see live-build-normalized.diff.txt)"
  fi
  for side in a b; do
    if "$bin" boot "$work/lb-$side.norm.iso"; then
      say "boot lb-$side: ok"
    else
      say "boot lb-$side: FAILED"
    fi
  done
}

if [ "$speed" = yes ]; then speed; fi
if [ "$pair" = yes ]; then grub_mkrescue_pair; fi
if [ "$live_build" = yes ]; then live_build_pair; else say "live-build pair: not run (--live-build)"; fi
echo "results: $summary"
