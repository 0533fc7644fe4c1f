#!/usr/bin/env bash
# isoforge verify's variations and --bisect against planted leaks, and what verify costs:
#   1. Planted leaks: one local package per leak, whose postinst writes one value into the image
#      (/usr/share/silvermetal-leak/<leak>): `date -u +%Y-%m` (time), `nproc` (num_cpus),
#      `ls -f` of a directory (fileordering), `$PATH` (exec_path); `uname -r` (reprotest's kernel)
#      only when asked for: that variation cannot apply (libc6 refuses uname 2.6); `date` is
#      expected NOT to be caught as `time` (libfaketime does not reach maintainer scripts). For each
#      one, a scratch clone of this repository with that package added to PACKAGES (signed
#      local repository on 127.0.0.1, `isoforge lock`, `fetch`, commit), then
#      `isoforge verify --strict --bisect`: it must exit 1 and name the leak's variation.
#   2. `isoforge build` against `isoforge verify --strict` of the default profile (wall times,
#      same machine, one run each; goal: verify at most 1.4x a build).
# Table and figures in bench/results/verify-variations/summary.txt.
#
#   sudo bench/verify-variations.sh [LEAK...]     LEAK: nproc date path [order uname]
#   BENCH_SKIP_LEAKS=1 / BENCH_SKIP_TIMING=1 leave a part out; BENCH_RESULTS=DIR writes elsewhere
#   (two runs at once need two).
# Needs root, network access to the Debian mirror (isoforge lock), faketime and disorderfs.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi
bin="$top/target/release/isoforge"
[ -x "$bin" ] || "$top/scripts/setup.sh"
results="${BENCH_RESULTS:-$top/bench/results/verify-variations}"
mkdir -p "$results"
secs() { date +%s.%N; }
leaks=("$@")
# `order` needs fileordering, which dpkg does not survive (see README): by name only.
[ "${#leaks[@]}" -gt 0 ] || leaks=(nproc date path)

declare -A expect=([date]=time [nproc]=num_cpus [order]=fileordering [uname]=kernel [path]=exec_path)
declare -A script=(
  [date]='date -u +%Y-%m > "$d/date"'
  [nproc]='nproc > "$d/nproc"'
  [order]='ls -f "$d/order" > "$d/order.list"'
  [uname]='uname -r > "$d/uname"'
  [path]='printf "%s\n" "$PATH" > "$d/path"'
)

# A signed repository with one package per leak, served on 127.0.0.1.
make_repo() {
  local w="$1" repo="$1/repo" gnupg="$1/gnupg"
  rm -rf "$w"; mkdir -p "$repo/dists/bookworm/main/binary-amd64" "$gnupg"
  chmod 700 "$gnupg"
  gpg --homedir "$gnupg" --batch --pinentry-mode loopback --passphrase '' \
    --quick-gen-key "isoforge leak bench <leaks@bench.invalid>" default default never 2>/dev/null
  for leak in "${!expect[@]}"; do
    local pkg="$w/pkg-$leak" name="silvermetal-leak-$leak"
    mkdir -p "$pkg/DEBIAN" "$pkg/usr/share/silvermetal-leak/order"
    # Eight entries, so that reversed and hash order tell apart.
    for f in alpha bravo charlie delta echo foxtrot golf hotel; do
      echo "$f" >"$pkg/usr/share/silvermetal-leak/order/$f"
    done
    printf 'Package: %s\nVersion: 1.0\nArchitecture: all\nMaintainer: SilverLABS <dev@silvermetal.invalid>\nPriority: optional\nDescription: planted leak: %s (isoforge bench)\n' \
      "$name" "$leak" >"$pkg/DEBIAN/control"
    printf '#!/bin/sh\nset -e\nd=/usr/share/silvermetal-leak\n%s\n' "${script[$leak]}" >"$pkg/DEBIAN/postinst"
    chmod 755 "$pkg/DEBIAN/postinst"
    mkdir -p "$repo/pool/main/s/$name"
    SOURCE_DATE_EPOCH=1700000000 dpkg-deb --root-owner-group --build "$pkg" \
      "$repo/pool/main/s/$name/${name}_1.0_all.deb" >/dev/null
  done
  (cd "$repo" && dpkg-scanpackages --multiversion pool 2>/dev/null) \
    >"$repo/dists/bookworm/main/binary-amd64/Packages"
  local p="$repo/dists/bookworm/main/binary-amd64/Packages"
  printf 'Origin: isoforge leak bench\nSuite: bookworm\nCodename: bookworm\nArchitectures: amd64 all\nComponents: main\nDate: Thu, 26 Nov 2026 00:00:00 UTC\nSHA256:\n %s %s main/binary-amd64/Packages\n' \
    "$(sha256sum "$p" | cut -d' ' -f1)" "$(stat -c %s "$p")" >"$repo/dists/bookworm/Release"
  gpg --homedir "$gnupg" --batch --yes --clearsign --output "$repo/dists/bookworm/InRelease" \
    "$repo/dists/bookworm/Release"
  gpg --homedir "$gnupg" --armor --export >"$w/key.asc"
}

summary="$results/summary.txt"
: >"$summary"
if [ "${BENCH_SKIP_LEAKS:-}" != 1 ]; then
  w="$results/leaks"
  make_repo "$w"
  port=$((20000 + RANDOM % 20000))
  python3 -m http.server --bind 127.0.0.1 --directory "$w/repo" "$port" >"$w/http.log" 2>&1 &
  http_pid=$!
  trap 'kill "$http_pid" 2>/dev/null || true' EXIT
  sleep 1
  printf '%-8s %-14s %-60s %s\n' leak expected "bisect says" "extra builds" | tee -a "$summary"
  for leak in "${leaks[@]}"; do
    src="$w/src-$leak"
    rm -rf "$src"
    git clone -q --no-hardlinks "$top" "$src"
    git -C "$src" checkout -q -B "leak-$leak"
    mkdir -p "$src/config/repositories"
    cp "$w/key.asc" "$src/config/repositories/leak-bench.asc"
    printf 'URL=http://127.0.0.1:%s\nSUITE=bookworm\nCOMPONENTS=main\nSIGNED_BY=repositories/leak-bench.asc\n' \
      "$port" >"$src/config/repositories/leak-bench.env"
    sed -i "s/^PACKAGES=\"\\(.*\\)\"/PACKAGES=\"\\1 silvermetal-leak-$leak\"/" "$src/config/silvermetal-base.conf"
    (cd "$src" && "$bin" lock && "$bin" fetch) >"$w/lock-$leak.log" 2>&1
    git -C "$src" add -A config
    git -C "$src" -c user.name=bench -c user.email=bench@invalid commit -q -m "planted leak: $leak"
    status=0
    t0=$(secs)
    (cd "$src" && "$bin" verify --strict --bisect --dir "$w/verify-$leak" --output "$w/out-$leak") \
      >"$w/verify-$leak.log" 2>&1 || status=$?
    t1=$(secs)
    said=$(grep -m1 '^bisect: ' "$w/verify-$leak.log" | sed 's/^bisect: //' || true)
    builds=$(printf '%s' "$said" | grep -o '([0-9]* extra build' | grep -o '[0-9]*' || echo '?')
    verdict="exit $status"
    [ "$status" = 1 ] && printf '%s' "$said" | grep -q "follows \`${expect[$leak]}\` (" && verdict=ok
    printf '%-8s %-14s %-60s %s  [%s, %.0f s]\n' "$leak" "${expect[$leak]}" "${said:-(none)}" \
      "$builds" "$verdict" "$(awk "BEGIN{print $t1 - $t0}")" | tee -a "$summary"
  done
fi

if [ "${BENCH_SKIP_TIMING:-}" != 1 ]; then
  src="$results/default"
  rm -rf "$src"
  git clone -q --no-hardlinks "$top" "$src"
  t0=$(secs)
  (cd "$src" && "$bin" build --output "$results/default-build") >"$results/build.log" 2>&1
  t1=$(secs)
  status=0
  (cd "$src" && "$bin" verify --strict --dir "$results/default-verify" --output "$results/default-out") \
    >"$results/verify.log" 2>&1 || status=$?
  t2=$(secs)
  awk -v b="$(awk "BEGIN{print $t1 - $t0}")" -v v="$(awk "BEGIN{print $t2 - $t1}")" -v s="$status" 'BEGIN{
    printf "isoforge build:           %.0f s\nisoforge verify --strict: %.0f s (exit %s)\nratio: %.2fx (goal: at most 1.4x)\n", b, v, s, v / b }' \
    | tee -a "$summary"
fi
