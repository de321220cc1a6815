#!/bin/sh
# Train and evaluate a translation model on a corpus directory.
#
#   examples/translate_corpus.sh DIR [SRC TGT [OUTDIR [extra `attend train` options...]]]
#
# DIR holds train.SRC/train.TGT, valid.* (or val.*) and test.* (or test2016.*), plain or .gz,
# one sentence per line. SRC/TGT default to fr/en. The model, the test translations and the
# metrics (JSON) go to OUTDIR (default: ./run-<dir name>). Environment: ATTEND (the binary,
# default build/attend), BEAM (default 5), THREADS (default 1), LC=1 for lower-cased BLEU.
#
# Examples (from the repository root, corpora in ../shared/data):
#   examples/translate_corpus.sh ../shared/data/eng-fra fr en run-eng-fra --tokenizer space \
#       --cell gru --attention bahdanau --hidden 256 --emb 256 --bidirectional --dropout 0.2 \
#       --lr 0.002 --steps 100000 --time-limit 600 --bleu-every 500
#   LC=1 examples/translate_corpus.sh ../shared/data/multi30k de en run-multi30k --tokenizer spm \
#       --spm-vocab 6000 --shared-vocab --lowercase --hidden 256 --emb 256 --bidirectional \
#       --dropout 0.3 --lr 0.002 --steps 100000 --time-limit 1500 --bleu-every 600
set -eu

if [ $# -lt 1 ]; then
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
DIR=$1
SRC=${2:-fr}
TGT=${3:-en}
OUT=${4:-run-$(basename "$DIR")}
[ $# -ge 4 ] && shift 4 || shift $#
ATTEND=${ATTEND:-build/attend}
BEAM=${BEAM:-5}
THREADS=${THREADS:-1}

# The first existing file among the candidates (split name, with or without .gz).
pick() {
  for name in "$@"; do
    for f in "$DIR/$name" "$DIR/$name.gz"; do
      if [ -f "$f" ]; then echo "$f"; return 0; fi
    done
  done
  echo "translate_corpus.sh: none of $* found in $DIR" >&2
  exit 2
}

TRAIN_SRC=$(pick "train.$SRC");  TRAIN_TGT=$(pick "train.$TGT")
VALID_SRC=$(pick "valid.$SRC" "val.$SRC" "dev.$SRC");  VALID_TGT=$(pick "valid.$TGT" "val.$TGT" "dev.$TGT")
TEST_SRC=$(pick "test.$SRC" "test2016.$SRC");  TEST_TGT=$(pick "test.$TGT" "test2016.$TGT")
mkdir -p "$OUT"

echo "== training on $TRAIN_SRC -> $TRAIN_TGT (output in $OUT)"
start=$(date +%s)
"$ATTEND" train --train-src "$TRAIN_SRC" --train-tgt "$TRAIN_TGT" \
  --valid-src "$VALID_SRC" --valid-tgt "$VALID_TGT" \
  --threads "$THREADS" --model "$OUT/model.safetensors" --metrics-json "$OUT/train.json" "$@"
end=$(date +%s)
echo "training wall time: $((end - start)) s"

echo "== test set $TEST_SRC, beam $BEAM"
LCFLAG=""
[ "${LC:-0}" = 1 ] && LCFLAG="--lc"
"$ATTEND" eval --model "$OUT/model.safetensors" --src "$TEST_SRC" --ref "$TEST_TGT" --beam "$BEAM" \
  --threads "$THREADS" $LCFLAG --out "$OUT/test.hyp" --metrics-json "$OUT/test.json"
echo "translations: $OUT/test.hyp; metrics: $OUT/train.json, $OUT/test.json"
