#!/usr/bin/env bash
# Assembles the customization test profile as a git repository of its own at DEST: the
# default profile's configuration (config/*.conf, *.env, builder.lock) plus this directory's
# config/ (a package list, includes.chroot/ with an executable and symlinks, includes.binary/,
# a chroot hook and a binary hook); then `isoforge lock` (its own packages.lock: the package
# list adds a package) and `isoforge fetch`, committed. Needs root and the network (lock).
#   tests/profiles/custom/make-repo.sh DEST [--date-hook]
# --date-hook adds hooks/20-date.hook.chroot, which writes `date` into /etc/build-date: the
# leak `isoforge verify` must catch and explain.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/../../.." && pwd)"
bin="${ISOFORGE_BIN:-$top/target/release/isoforge}"
dest="${1:?usage: make-repo.sh DEST [--date-hook]}"
rm -rf "$dest"
mkdir -p "$dest/config"
cp "$top"/config/*.conf "$top"/config/*.env "$top/config/builder.lock" "$dest/config/"
cp -a "$here/config/." "$dest/config/"
# A profile without flavors (the flavorless path: packages.lock, output/<commit>/): the
# default profile's flavors are not copied, so its DEFAULT_FLAVOR goes too.
sed -i '/^DEFAULT_FLAVOR=/d' "$dest/config/silvermetal-base.conf"
if [ "${2:-}" = --date-hook ]; then
  printf '#!/bin/sh\n# Leaks the wall clock into the image: verify must catch it.\ndate > /etc/build-date\n' \
    >"$dest/config/hooks/20-date.hook.chroot"
  chmod 0755 "$dest/config/hooks/20-date.hook.chroot"
fi
printf '/output\n/verify\n' >"$dest/.gitignore"
git_id=(-c user.name=isoforge-ci -c user.email=ci@isoforge.invalid)
git -C "$dest" init -q
"$bin" lock --config "$dest/config"
git -C "$dest" add -A
git -C "$dest" "${git_id[@]}" commit -qm "customization test profile"
"$bin" fetch --config "$dest/config" >/dev/null
