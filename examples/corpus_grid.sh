#!/bin/sh
# Train and evaluate every cell × attention variant on one corpus with the same options.
#
#   examples/corpus_grid.sh DIR SRC TGT OUTDIR [extra `attend train` options...]
#
# Each variant runs examples/translate_corpus.sh into OUTDIR/<cell>-<attention> (model, test
# translations, train.json with the validation curve and wall time, test.json with test BLEU).
# Environment: CELLS (default "gru lstm"), ATTENTIONS (default "none bahdanau luong-general
# local-p"), JOBS (variants at once, default 2, one thread each), and translate_corpus.sh's ATTEND,
# BEAM, LC. docs/results.md shows the commands and the table of the measured grids.
set -eu

if [ $# -lt 4 ]; then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
DIR=$1 SRC=$2 TGT=$3 OUT=$4
shift 4
CELLS=${CELLS:-gru lstm}
ATTENTIONS=${ATTENTIONS:-none bahdanau luong-general local-p}
JOBS=${JOBS:-2}
HERE=$(dirname "$0")
mkdir -p "$OUT"

running=0
for cell in $CELLS; do
  for attention in $ATTENTIONS; do
    run="$OUT/$cell-$attention"
    if [ -f "$run/test.json" ]; then
      echo "== $cell + $attention: done already ($run/test.json)"
      continue
    fi
    echo "== $cell + $attention -> $run"
    mkdir -p "$run"
    THREADS=1 "$HERE/translate_corpus.sh" "$DIR" "$SRC" "$TGT" "$run" --cell "$cell" \
      --attention "$attention" "$@" > "$run/log.txt" 2>&1 &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
      wait
      running=0
    fi
  done
done
wait
failed=0
for cell in $CELLS; do
  for attention in $ATTENTIONS; do
    if [ ! -f "$OUT/$cell-$attention/test.json" ]; then
      echo "FAILED: $cell + $attention (see $OUT/$cell-$attention/log.txt)" >&2
      failed=1
    fi
  done
done
exit $failed
