#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 10) on its committed seed corpus, in a scratch
# copy so the seeds stay as committed. Usage: fuzz/run.sh [SECONDS] [BUILD_DIR]
# Exits non-zero when a target crashes, leaks, or takes longer than 1 s on one input; prints each
# target's executions and coverage from libFuzzer's final statistics.
set -euo pipefail
seconds=${1:-10}
build=${2:-build-fuzz}
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for exe in "$build"/fuzz/fuzz_*; do
  [[ -x $exe ]] || continue
  name=$(basename "$exe")
  corpus="$scratch/$name"
  mkdir -p "$corpus"
  seeds="$here/corpus/${name#fuzz_}"
  [[ -d $seeds ]] && cp -r "$seeds"/. "$corpus"/
  log="$scratch/$name.log"
  if ! TMPDIR="$scratch" "$exe" -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$scratch/$name-" "$corpus" >"$log" 2>&1; then
    echo "$name: FAILED"; tail -40 "$log"; status=1
    for a in "$scratch/$name"-*; do [[ -e $a ]] && { mkdir -p fuzz-artifacts; cp "$a" fuzz-artifacts/; }; done
    continue
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  peak=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  printf '%-20s %12s executions  %6s edges covered  %5s MB peak\n' "$name" "$runs" "$cov" "$peak"
done
exit $status
