#!/usr/bin/env bash
# diagnose-divergence.sh A B [extra isoforge diff args...]
#
# Explains why two builds differ: runs `isoforge diff`, prints the text report on stdout and
# writes an HTML report next to B (B.diff.html). Exit status: 0 identical, 1 different,
# 2 error. Uses target/release/isoforge when built, else isoforge from PATH.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 A B [isoforge diff options...]" >&2
  exit 2
fi
a=$1 b=$2; shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/target/release/isoforge
[ -x "$bin" ] || bin=$(command -v isoforge || true)
if [ -z "$bin" ]; then
  echo "$0: isoforge not found: run 'cargo build --release' or put isoforge on PATH" >&2
  exit 2
fi
html=${b%/}.diff.html
set +e
"$bin" diff --format text --html "$html" "$@" -- "$a" "$b"
status=$?
set -e
[ "$status" -eq 1 ] && echo "HTML report: $html" >&2
exit "$status"
