#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600), two at a time (a single allocation over
# 512 MiB counts as a finding), and prints per-target run
# time, executions and findings. Logs go to fuzz/logs/ (git-ignored).
# Usage: fuzz/run-all.sh [SECONDS] [TARGET...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
secs=${1:-600}; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(iso9660 squashfs fat cpio tar ar compress diff buildinfo lock sha256sums envfile)
mkdir -p logs
[ -d corpus ] || ./seed-corpus.sh
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O >/dev/null 2>&1
run() {
  local t=$1
  mkdir -p "corpus/$t"
  cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=30 -print_final_stats=1 >"logs/$t.log" 2>&1 || true
}
i=0
for t in "${targets[@]}"; do
  run "$t" &
  i=$((i + 1))
  if [ $((i % 2)) -eq 0 ]; then wait; fi
done
wait
for t in "${targets[@]}"; do
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "logs/$t.log" | grep -Eo '[0-9]+$' || echo '?')
  time=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "logs/$t.log" | grep -Eo '[0-9]+ second' || echo '?')
  crash=$(grep -cE '^==[0-9]+==ERROR|panicked at|deadly signal' "logs/$t.log" || true)
  echo "$t: ${time} execs=${execs} findings=${crash}"
done
