#!/usr/bin/env bash
# Benchmark: isoforge diff against Debian's diffoscope on the same pair of live ISOs, same
# machine, one run each. Builds the pair itself (mmdebstrap + mksquashfs + grub-mkrescue),
# caching intermediate outputs under bench/results/ (git-ignored).
#
# Two pairs:
#   small (default)  bookworm minbase + kernel + live-boot: rootfs tar 680 MB, ISO 195 MB.
#   --desktop        the same plus Xfce, Firefox, LibreOffice and GIMP: rootfs tar 2.4 GB,
#                    ISO 675 MB, in bench/results/desktop/. diffoscope needs > 14 GB here, so
#                    it runs only with --diffoscope (niced). Its address space is capped at 14 GiB.
#
# The two ISOs differ in a few files inside the squashfs (planted below) and in boot
# metadata (grub-mkrescue writes a random FAT serial and wall-clock dates). B's
# /etc/machine-id is longer (early in the fragment order, so every later fragment block is
# packed differently: the costly case for a diff) and /etc/nvme/hostid is new (small pair)
# or changed (desktop pair, where nvme-cli writes one).
#
# Prints wall time and peak RSS (GNU time) of both tools, the ratios, and checks that every
# differing path diffoscope reports also appears in isoforge's JSON report.
#
# Needs (apt): mmdebstrap squashfs-tools grub-common grub-pc-bin grub-efi-amd64-bin mtools
#   xorriso diffoscope-minimal time python3; and network access to deb.debian.org.
# Usage: bench/diff-vs-diffoscope.sh [--desktop] [--diffoscope|--no-diffoscope] [--rebuild]
#   (BUILD_ONLY=1: build the pair, time nothing)
{ # the whole script is read before it runs (editing it during a run is harmless)
set -euo pipefail
export LC_ALL=C.UTF-8 TZ=UTC
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
pair=small rebuild= run_diffoscope=
for arg in "$@"; do
  case $arg in
    --desktop) pair=desktop ;;
    --rebuild) rebuild=1 ;;
    --diffoscope) run_diffoscope=1 ;;
    --no-diffoscope) run_diffoscope=0 ;;
    *) echo "usage: $0 [--desktop] [--diffoscope|--no-diffoscope] [--rebuild]" >&2; exit 2 ;;
  esac
done
include=linux-image-amd64,live-boot,systemd-sysv
out=$here/results
if [ $pair = desktop ]; then
  include=$include,task-xfce-desktop,firefox-esr,libreoffice-writer,libreoffice-calc,libreoffice-impress,libreoffice-gtk3,gimp,fonts-noto-core,nvme-cli
  out=$here/results/desktop
  run_diffoscope=${run_diffoscope:-0}
fi
run_diffoscope=${run_diffoscope:-1}
mkdir -p "$out"
[ -n "$rebuild" ] && rm -rf "$out"/{rootfs.tar,a,b,a.iso,b.iso}
SDE=1764000000
DIFFOSCOPE_TIMEOUT=${DIFFOSCOPE_TIMEOUT:-3600}

for t in mmdebstrap mksquashfs grub-mkrescue xorriso diffoscope python3; do
  command -v "$t" >/dev/null || { echo "missing $t (see the apt list at the top of $0)" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time: apt-get install time" >&2; exit 2; }

step() { printf '\n== %s\n' "$*"; }

if [ ! -f "$out/rootfs.tar" ]; then
  step "mmdebstrap: bookworm minbase + $include"
  SOURCE_DATE_EPOCH=$SDE mmdebstrap --variant=minbase --include="$include" \
    --format=tar --aptopt='Acquire::Check-Valid-Until "false"' bookworm "$out/rootfs.tar.tmp" http://deb.debian.org/debian
  mv "$out/rootfs.tar.tmp" "$out/rootfs.tar"
fi

build_side() {
  local s=$1
  [ -s "$out/$s.iso" ] && return
  step "side $s: rootfs, squashfs, grub-mkrescue"
  rm -rf "$out/$s"; mkdir -p "$out/$s/root" "$out/$s/stage/live" "$out/$s/stage/boot/grub"
  tar -xpf "$out/rootfs.tar" -C "$out/$s/root"
  if [ "$s" = b ]; then
    # A few files differ inside the squashfs, as after a real second build.
    head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$out/b/root/etc/machine-id"
    mkdir -p "$out/b/root/etc/nvme"; cat /proc/sys/kernel/random/uuid > "$out/b/root/etc/nvme/hostid"
    echo "Start-Date: $(date -u '+%F  %T')" >> "$out/b/root/var/log/dpkg.log"
    echo "Welcome to the rebuilt image" >> "$out/b/root/etc/motd"
    touch -d '2025-12-01 12:00' "$out/b/root/etc/hostname"
    chmod 0664 "$out/b/root/etc/issue"
  fi
  cp "$out/$s/root"/boot/vmlinuz-* "$out/$s/stage/live/vmlinuz"
  cp "$out/$s/root"/boot/initrd.img-* "$out/$s/stage/live/initrd.img"
  SOURCE_DATE_EPOCH=$SDE mksquashfs "$out/$s/root" "$out/$s/stage/live/filesystem.squashfs" \
    -comp xz -b 1M -noappend -no-progress -e boot >/dev/null
  printf 'set timeout=1\nmenuentry live {\n linux /live/vmlinuz boot=live\n initrd /live/initrd.img\n}\n' \
    > "$out/$s/stage/boot/grub/grub.cfg"
  grub-mkrescue -o "$out/$s.iso" "$out/$s/stage" >/dev/null 2>&1
  rm -rf "$out/$s/root"
}
build_side a
sleep 1.1 # distinct wall-clock seconds for the boot metadata
build_side b
ls -l "$out/a.iso" "$out/b.iso"
[ -n "${BUILD_ONLY:-}" ] && exit 0

step "isoforge diff (release build)"
(cd "$root" && cargo build --release -q -p isoforge)
sync
/usr/bin/time -v -o "$out/isoforge.time" "$root/target/release/isoforge" diff --format json \
  --output "$out/isoforge.json" --source-date-epoch $SDE "$out/a.iso" "$out/b.iso" || [ $? -eq 1 ]
# The default text report, untimed: its first 40 lines must name every planted cause.
"$root/target/release/isoforge" diff --source-date-epoch $SDE "$out/a.iso" "$out/b.iso" \
  > "$out/isoforge.txt" || [ $? -eq 1 ]

dstatus=-1
if [ "$run_diffoscope" = 1 ]; then
  # Without isoinfo (genisoimage) diffoscope compares the ISOs as binary files only.
  command -v isoinfo >/dev/null || echo "note: no isoinfo (apt-get install genisoimage): diffoscope falls back to a binary comparison of the ISOs"
  # The desktop pair's diffoscope is niced: it needs minutes and ~12 GB while others build.
  nice=; [ $pair = desktop ] && nice=nice
  step "diffoscope (timeout ${DIFFOSCOPE_TIMEOUT}s, ${nice:+niced, }at most 14 GiB of address space)"
  dstatus=0
  ( ulimit -v $((14 << 20)); exec $nice /usr/bin/time -v -o "$out/diffoscope.time" \
      timeout "$DIFFOSCOPE_TIMEOUT" diffoscope --no-progress \
      --json "$out/diffoscope.json" --text "$out/diffoscope.txt" "$out/a.iso" "$out/b.iso" ) || dstatus=$?
  case $dstatus in 0|1) ;; 124) echo "diffoscope timed out after ${DIFFOSCOPE_TIMEOUT}s" ;; *) echo "diffoscope exit status $dstatus" ;; esac
fi

step "results"
python3 - "$out" "$dstatus" <<'PY'
import json, re, sys
out, dstatus = sys.argv[1], int(sys.argv[2])

def gtime(path):
    t = open(path).read()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
    secs = 0.0
    for part in wall.split(":"):
        secs = secs * 60 + float(part)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
    return secs, rss

iw, ir = gtime(f"{out}/isoforge.time")
print(f"isoforge:   {iw:9.2f} s wall, {ir/1024:9.1f} MiB peak RSS")
if dstatus >= 0:
    dw, dr = gtime(f"{out}/diffoscope.time")
    failed = "" if dstatus in (0, 1) else ("  (TIMED OUT)" if dstatus == 124 else f"  (FAILED, exit status {dstatus}: no report)")
    print(f"diffoscope: {dw:9.2f} s wall, {dr/1024:9.1f} MiB peak RSS" + failed)
    print(f"speed-up:   {dw/iw:9.1f}x   (goal >= 25x)" + ("  (diffoscope did not finish: a lower bound)" if failed else ""))
    print(f"memory:     {ir/dr:9.3f} of diffoscope's peak (goal <= 0.25)")
else:
    print("diffoscope: not run (--diffoscope runs it)")

iso = json.load(open(f"{out}/isoforge.json"))
print(f"isoforge summary: {iso['summary']}")

# Causes first: every planted difference, with its cause and remedy, in the first 40 lines.
text = open(f"{out}/isoforge.txt").read().splitlines()
head = "\n".join(text[:40])
planted = {
    "machine-id": "/etc/machine-id", "nvme-hostid": "/etc/nvme/hostid", "logs": "/var/log/dpkg.log",
    "umask": "/etc/issue", "fat-serial": "volume serial", "unknown": "/etc/motd",
}
absent = [f"[{h}] {p}" for h, p in planted.items() if f"[{h}]" not in head or p not in head]
absent += [f"remedy of [{c['id']}]" for c in iso.get("causes", []) if c["id"] in planted and c["remedy"] not in head]
print(f"text report: {len(text)} lines; first 40 name every planted cause with its remedy: "
      + ("yes" if not absent else "NO, missing " + ", ".join(absent)))
names = set()
def walk(n):
    names.add(n["name"])
    for c in n.get("children", []):
        walk(c)
if iso.get("root"):
    walk(iso["root"])

if dstatus < 0:
    sys.exit(0)
try:
    dj = json.load(open(f"{out}/diffoscope.json"))
except Exception as e:
    print(f"no diffoscope JSON ({e}); coverage not checked")
    sys.exit(0)
# Paths diffoscope reports (leaves and containers), without command outputs such as
# "isoinfo -l {}" or "file list".
paths = set()
def dwalk(n, depth=0):
    s = n.get("source1", "")
    if depth > 0 and s and not re.search(r"[ {}]", s) and s not in ("file list",):
        p = re.sub(r"^(\./|squashfs-root/|/)+", "", s.split("/squashfs-root/")[-1])
        if p:
            paths.add(p)
    for d in n.get("details", []) or []:
        dwalk(d, depth + 1)
dwalk(dj)
stripped = [x.strip("/") for x in names if x.strip("/")]
def covered(p):
    # Same member, possibly named relative to a different container level.
    return any(n == p or n.endswith("/" + p) or p.endswith("/" + n) for n in stripped)
missing = sorted(p for p in paths if not covered(p))
print(f"diffoscope reported {len(paths)} differing paths; isoforge reported {len(paths) - len(missing)} of them")
for p in missing:
    print(f"  NOT in isoforge's report: {p}")
PY
exit
}
