#!/usr/bin/env bash
# Runs the fuzz targets on their committed seed corpora (fuzz/corpus/<target>/, reproducers of past
# findings included, so every run replays them first), in a scratch copy so the seeds stay as
# committed. Usage: fuzz/run.sh [SECONDS] [BUILD_DIR] [TARGET...]   (default 10 s, build-fuzz, all)
# RUNS=N runs each target for N executions instead of SECONDS. Exits non-zero when a target
# crashes, leaks, takes longer than 1 s on one input or exceeds 2 GB; the input that did it is
# kept under BUILD_DIR/fuzz-artifacts/ and libFuzzer's log under BUILD_DIR/fuzz-logs/. Prints each target's executions, rate, coverage and peak RSS
# from libFuzzer's final statistics.
set -euo pipefail
seconds=${1:-10}
build=${2:-build-fuzz}
shift $(( $# < 2 ? $# : 2 ))
here=$(cd "$(dirname "$0")" && pwd)
artifacts="$(cd "$build" && pwd)/fuzz-artifacts"
logs="$(cd "$build" && pwd)/fuzz-logs"
mkdir -p "$artifacts" "$logs"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if [[ -n ${RUNS:-} ]]; then budget=(-runs="$RUNS"); else budget=(-max_total_time="$seconds"); fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for exe in "$build"/fuzz/fuzz_*; do [[ -x $exe ]] && targets+=("$(basename "$exe")"); done
fi
status=0
for name in "${targets[@]}"; do
  exe="$build/fuzz/$name"
  corpus="$scratch/$name"
  mkdir -p "$corpus"
  seeds="$here/corpus/${name#fuzz_}"
  [[ -d $seeds ]] && cp -r "$seeds"/. "$corpus"/
  log="$logs/$name.log"
  if ! TMPDIR="$scratch" "$exe" "${budget[@]}" -timeout=1 -rss_limit_mb=2048 -detect_leaks=1 \
       -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$corpus" >"$log" 2>&1; then
    echo "$name: FAILED (input kept in $artifacts)"; tail -40 "$log"; status=1
    continue
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  took=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  peak=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  rate="?"; [[ $took =~ ^[0-9]+$ && $took -gt 0 && $runs =~ ^[0-9]+$ ]] && rate=$(( runs / took ))
  printf '%-18s %10s executions in %6s s (%6s/s)  cov %5s  ft %6s  peak %5s MB\n' \
    "$name" "$runs" "$took" "$rate" "$cov" "$ft" "$peak"
done
exit $status
