#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ with small images made by the real tools (the corpus directory
# is git-ignored; crashes found are kept as regression files in crates/formats/tests/regressions).
# Needs: squashfs-tools xorriso grub-common grub-pc-bin dosfstools mtools cpio tar binutils gzip xz-utils zstd
set -euo pipefail
export LC_ALL=C.UTF-8 TZ=UTC SOURCE_DATE_EPOCH=1764000000 MTOOLS_SKIP_CHECK=1
here=$(cd "$(dirname "$0")" && pwd)
corpus=$here/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p "$corpus"/{iso9660,squashfs,fat,cpio,tar,ar,compress,diff,buildinfo,lock,sha256sums,envfile}

mkdir -p t/etc/d t/bin
echo hello > t/etc/motd; echo conf > t/etc/d/c.conf; printf '#!/bin/sh\n' > t/bin/init; chmod 755 t/bin/init
ln -s motd t/etc/link; head -c 3000 /dev/urandom > t/bin/blob

for c in xz gzip zstd lz4; do
  mksquashfs t "$corpus/squashfs/$c.sqfs" -comp "$c" -b 4K -noappend -no-progress >/dev/null
done
mksquashfs t "$corpus/squashfs/xattrs-uncompressed.sqfs" -noI -noD -noF -noX -noappend -no-progress >/dev/null

xorriso -no_rc -as mkisofs -no-pad -R -J -o "$corpus/iso9660/rr-joliet.iso" t 2>/dev/null
xorriso -no_rc -as mkisofs -no-pad -o "$corpus/iso9660/plain.iso" t 2>/dev/null
cp t/etc/motd boot.img && truncate -s 2048 boot.img && mkdir -p e/boot && cp boot.img e/boot/
mkfs.fat -C -i 1234abcd efi.img 200 >/dev/null; mmd -i efi.img ::/EFI; mcopy -i efi.img t/etc/motd ::/EFI/Long-Name.txt
cp efi.img e/boot/efi.img
xorriso -no_rc -as mkisofs -no-pad -R -J -b boot/boot.img -no-emul-boot -boot-load-size 4 -boot-info-table \
  --efi-boot boot/efi.img -efi-boot-part --efi-boot-image --protective-msdos-label -o "$corpus/iso9660/eltorito-gpt.iso" e 2>/dev/null
# Keep ISOs small: the metadata lives in the first blocks and the fuzzer stays fast.
for f in "$corpus"/iso9660/*.iso; do truncate -s "$(( $(stat -c %s "$f") < 262144 ? $(stat -c %s "$f") : 262144 ))" "$f"; done

cp efi.img "$corpus/fat/fat12.img"
mkfs.fat -C -F 16 fat16.img 20000 >/dev/null; mcopy -i fat16.img t/etc/motd ::/M.TXT; head -c 262144 fat16.img > "$corpus/fat/fat16-head.img"
mkfs.fat -C -F 32 fat32.img 40000 >/dev/null 2>&1 && mcopy -i fat32.img t/etc/motd ::/M.TXT && head -c 262144 fat32.img > "$corpus/fat/fat32-head.img" || true

(cd t && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$corpus/cpio/newc.cpio"
(cd t && find . | LC_ALL=C sort | cpio -o -H odc --quiet) > "$corpus/cpio/odc.cpio"
(cd t && find . | LC_ALL=C sort | cpio -o -H newc --quiet | zstd -q -c) > seg.zst
cat "$corpus/cpio/newc.cpio" seg.zst > "$corpus/cpio/initramfs.img"

tar --format=gnu -cf "$corpus/tar/gnu.tar" -C t .
tar --format=pax -cf "$corpus/tar/pax.tar" -C t .
tar --format=ustar -cf "$corpus/tar/ustar.tar" -C t .

ar rc "$corpus/ar/plain.a" t/etc/motd t/bin/init
printf 'x' > a_very_long_member_name_for_gnu_ar.txt; ar rc "$corpus/ar/gnu-long.a" a_very_long_member_name_for_gnu_ar.txt t/etc/motd

gzip -c t/etc/motd > "$corpus/compress/motd.gz"; gzip -n -c "$corpus/tar/gnu.tar" > "$corpus/compress/tar.gz"
xz -c t/etc/motd > "$corpus/compress/motd.xz"; zstd -q -c t/etc/motd > "$corpus/compress/motd.zst"
lz4 -q -c t/etc/motd > "$corpus/compress/motd.lz4" 2>/dev/null || true

# diff: one byte (split point) then the input; the target builds side B from a prefix.
for f in "$corpus"/squashfs/gzip.sqfs "$corpus"/cpio/initramfs.img "$corpus"/tar/gnu.tar "$corpus"/fat/fat12.img; do
  { printf '\xff'; cat "$f"; } > "$corpus/diff/$(basename "$f")"
done
# Text parsers: the committed configuration and locks, sums made by coreutils, and a
# BUILD_INFO in the shape the build writes (the fields' checks are what is fuzzed).
config=$here/../config
cp "$config"/*.lock "$corpus/lock/"
cp "$config"/*.env "$config"/*.conf "$corpus/envfile/"
(cd "$config" && sha256sum -- * > "$corpus/sha256sums/gnu.sums" && sha256sum --tag -- * > "$corpus/sha256sums/tag.sums")
printf 'x' > 'back\slash'; printf 'y' > "$(printf 'new\nline')"; sha256sum -- 'back\slash' "$(printf 'new\nline')" > "$corpus/sha256sums/escaped.sums"
cat > "$corpus/buildinfo/BUILD_INFO" <<'BI'
Format: 1
Build-Tool: isoforge 0.1.0
Source: silvermetal
Product-Name: SilverMetal Linux
Version: 1.1.0
Architecture: amd64
Profile-Sha256: abababababababababababababababababababababababababababababababab
Config-Dir: config
Commit: 0123456789abcdef0123456789abcdef01234567
Commit-Dirty: no
Source-Date-Epoch: 1700000000
Source-Date-Epoch-Origin: commit
Snapshot-Timestamp: 20261101T000000Z
Snapshot-Url: https://snapshot.debian.org/archive/debian/20261101T000000Z/
Mirror: http://deb.debian.org/debian
Package-Source: mirror http://deb.debian.org/debian
Package-Lock-Sha256: efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef
Runtime: chroot
Builder-Digest: 3a8b276accd980c8d71d89743f60437dc341ced5a365f31f90cce5ef5387be1a
Kernel: 6.1.0-50-amd64
Build-Tools:
 xorriso (= 1.5.4-4)
 squashfs-tools (= 1:4.5.1-1)
Environment:
 LC_ALL="C.UTF-8"
 TZ="UTC"
Installed-Packages:
 base-files (= 12.4+deb12u13) amd64 1212121212121212121212121212121212121212121212121212121212121212
 bsdutils (= 1:2.38.1-5+deb12u3) amd64
Checksums-Sha256:
 cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd 226818048 silvermetal-1.1.0-amd64.iso
BI
sed 's/^Commit-Dirty: no/Commit-Dirty: yes\nDirty-Paths:\n config\/x.conf/' "$corpus/buildinfo/BUILD_INFO" > "$corpus/buildinfo/dirty"

echo "seeded: $(find "$corpus" -type f | wc -l) files in $corpus"
