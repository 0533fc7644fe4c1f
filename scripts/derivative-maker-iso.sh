#!/usr/bin/env bash
# Kicksecure's derivative-maker ISO, made reproducible after the fact: runs a derivative-maker
# checkout (`./derivative-maker --flavor kicksecure-cli --target iso`) inside the pinned
# builder (config/builder.env's BUILDER_IMAGE, imported into docker or podman from isoforge's
# cache), passes the ISO it writes through `isoforge normalize`, and writes BUILD_INFO and
# SHA256SUMS beside the normalized ISO.
#
# NOT RUN on the project's machine: derivative-maker needs GitHub and deb.kicksecure.com,
# which cannot be reached there. It is checked for syntax only (bash -n and shellcheck, in
# scripts/ci/lint.sh).
#
# Usage:
#   sudo scripts/derivative-maker-iso.sh CHECKOUT [--flavor kicksecure-cli] [--output DIR]
#        [--config DIR] [--engine docker|podman] [--binary-dir DIR]
# CHECKOUT is a derivative-maker git checkout (with its submodules); its commit time is the
# SOURCE_DATE_EPOCH every date of the normalized ISO is pinned to.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi

usage() { sed -n '12,16p' "$0" >&2; exit 2; }
[ "$#" -ge 1 ] || usage
checkout=$(cd "$1" && pwd); shift
flavor=kicksecure-cli output="$top/output/derivative-maker" config="$top/config" engine=docker
binary_dir=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --flavor) flavor=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --engine) engine=$2; shift 2 ;;
    --binary-dir) binary_dir=$2; shift 2 ;;
    *) usage ;;
  esac
done
case "$flavor" in kicksecure-cli | kicksecure-lxqt) ;; *) echo "unknown flavor: $flavor" >&2; exit 2 ;; esac
case "$engine" in docker | podman) ;; *) echo "--engine: docker or podman" >&2; exit 2 ;; esac
bin="$top/target/release/isoforge"
[ -x "$bin" ] || (cd "$top" && cargo build --release --locked)
[ -x "$checkout/derivative-maker" ] || { echo "$checkout: not a derivative-maker checkout" >&2; exit 2; }

commit=$(git -C "$checkout" rev-parse HEAD)
if [ -n "$(git -C "$checkout" status --porcelain)" ]; then
  echo "$checkout has uncommitted changes; commit or stash them (BUILD_INFO names a commit)" >&2
  exit 2
fi
epoch=$(git -C "$checkout" log -1 --format=%ct)

# The pinned builder: name@sha256:<digest of the rootfs tarball in isoforge's cache>.
image=$(sed -n 's/^BUILDER_IMAGE=//p' "$config/builder.env")
digest=${image##*@sha256:}
[[ "$digest" =~ ^[0-9a-f]{64}$ ]] || { echo "$config/builder.env: BUILDER_IMAGE is not pinned by digest" >&2; exit 2; }
cache=${ISOFORGE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/isoforge}
tarball="$cache/builders/$digest.tar"
[ -f "$tarball" ] || { echo "$tarball missing: run \`isoforge builder build\`" >&2; exit 2; }
echo "$digest  $tarball" | sha256sum -c --quiet -
tag="silvermetal-builder:${digest:0:12}"
"$engine" import "$tarball" "$tag" >/dev/null

# derivative-maker writes its ISO under ~/derivative-binary/<version>/ of the user it runs as.
work=$(mktemp -d /var/tmp/derivative-maker.XXXXXX)
trap 'rm -rf "$work"' EXIT
home="$work/home"; mkdir -p "$home"
binary_dir=${binary_dir:-$home/derivative-binary}
# Privileged: live-build mounts /proc, /sys and /dev in its chroot. It builds a copy of the
# checkout, so the build cannot change what BUILD_INFO names.
cp -a "$checkout" "$work/src"
"$engine" run --rm --privileged \
  -v "$work/src:/src" -v "$home:/root" -w /src \
  -e "SOURCE_DATE_EPOCH=$epoch" -e LC_ALL=C.UTF-8 -e TZ=UTC \
  "$tag" ./derivative-maker --flavor "$flavor" --target iso
raw=$(find "$binary_dir" -name '*.iso' -type f -printf '%T@ %p\n' | sort -n | tail -n1 | cut -d' ' -f2-)
[ -n "$raw" ] || { echo "derivative-maker wrote no ISO under $binary_dir" >&2; exit 2; }

name=$(basename "$raw")
out="$output/${commit:0:12}-$flavor"
mkdir -p "$out"
"$bin" normalize "$raw" "$out/$name" --config "$config" --source-date-epoch "$epoch" \
  --report "$out/normalize-report.json" --force
cat >"$out/BUILD_INFO.tmp" <<EOF
Format: isoforge-derivative-maker 1
Source: derivative-maker
Commit: $commit
Flavor: $flavor
Target: iso
Source-Date-Epoch: $epoch
Builder-Image: $image
Isoforge-Version: $("$bin" --version | cut -d' ' -f2)
Raw-Iso-Sha256: $(sha256sum "$raw" | cut -d' ' -f1)
Normalized-Iso: $name
Normalized-Iso-Sha256: $(sha256sum "$out/$name" | cut -d' ' -f1)
EOF
mv "$out/BUILD_INFO.tmp" "$out/BUILD_INFO"
(cd "$out" && sha256sum "$name" BUILD_INFO | LC_ALL=C sort -k2 >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)
echo "$out/$name"
