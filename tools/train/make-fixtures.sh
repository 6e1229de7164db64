#!/bin/sh
# Rebuild the SpecQD test models from scratch (corpus -> tokenizer -> target -> draft -> GGUF -> evaluation).
#   tools/train/make-fixtures.sh            # full run, ~95 min on 2 cores
# Env: WORK (scratch dir, default /tmp/specqd-train), NPM_DIR (default /tmp/corpus-npm),
#      TARGET_MIN (default 70), DRAFT_MIN (default 15), DISTILL_MIN (default 25), DEEP_MIN (default 35),
#      STAGES (default "corpus tok target draft export distill deepen eval").
# Needs: apt-get install -y python3-torch python3-numpy libopenblas0-openmp python3-regex ; npm.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
WORK=${WORK:-/tmp/specqd-train}
NPM_DIR=${NPM_DIR:-/tmp/corpus-npm}
TARGET_MIN=${TARGET_MIN:-70}
DRAFT_MIN=${DRAFT_MIN:-15}
DISTILL_MIN=${DISTILL_MIN:-25}
DEEP_MIN=${DEEP_MIN:-35}
STAGES=${STAGES:-"corpus tok target draft export distill deepen eval"}
OUTDIR="$ROOT/test/fixtures/models"
mkdir -p "$WORK" "$OUTDIR"
# Large tensors are freshly mmap'ed by glibc on every step and first-touch page faults are very slow in this
# sandbox (100 MB zeros: 0.39 s); jemalloc that retains its pages makes them ~50x cheaper (apt: libjemalloc2).
JE=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
if [ -e "$JE" ]; then export LD_PRELOAD="$JE" MALLOC_CONF=retain:true,dirty_decay_ms:-1,muzzy_decay_ms:-1; fi
LOG="$HERE/results/checks.log"
# checkpoint -> GGUF, then the numpy float64 check against the checkpoint and the golden file
export_checked() {
  $PY "$HERE/export_gguf.py" --work "$WORK" --ckpt "$WORK/$1.pt" --name "$1" --out "$OUTDIR/$1.gguf" | tee -a "$LOG"
  $PY "$HERE/check_gguf.py" --work "$WORK" --ckpt "$WORK/$1.pt" --gguf "$OUTDIR/$1.gguf" \
    --golden "$OUTDIR/$1.golden.json" | tee -a "$LOG"
}
# llama.cpp parity (node-llama-cpp 3.21.1) of each named model with its golden file: from test/parity/node_modules
# (what npm test installs), or NLC_DIR=/path/node_modules/node-llama-cpp
check_llamacpp() {
  NLC=${NLC_DIR:-$ROOT/test/parity/node_modules/node-llama-cpp}
  if [ ! -d "$NLC" ]; then
    echo "node-llama-cpp not found ($NLC): llama.cpp check skipped" | tee -a "$LOG"
    return
  fi
  for m in "$@"; do
    echo "llama.cpp: $m.gguf" | tee -a "$LOG"
    env -u LD_PRELOAD node "$HERE/check_llamacpp.mjs" "$OUTDIR/$m.gguf" "$OUTDIR/$m.golden.json" "$NLC" 2>&1 | tee -a "$LOG"
  done
}
for s in $STAGES; do
  echo "== $s $(date -u +%H:%M:%S)"
  case $s in
    corpus)
      rm -rf "$NPM_DIR" && mkdir -p "$NPM_DIR"
      cp "$HERE/npm-corpus/package.json" "$HERE/npm-corpus/package-lock.json" "$NPM_DIR/"
      (cd "$NPM_DIR" && npm ci --ignore-scripts --no-audit --no-fund)
      $PY "$HERE/corpus.py" --npm "$NPM_DIR/node_modules" --out "$WORK"
      $PY "$HERE/heldout.py" --work "$WORK" --out "$ROOT/test/fixtures/heldout" ;;
    tok)
      $PY "$HERE/tok_train.py" --work "$WORK" --vocab 4096 --sample-mb 30 --seed 1 ;;
    target)
      $PY "$HERE/train.py" --work "$WORK" --name tiny-coder --out "$WORK/tiny-coder.pt" \
        --d 256 --layers 6 --heads 4 --kv 2 --ffn 704 --ctx 256 --ctx2 512 --long-frac 0.3 \
        --lr 3e-3 --minutes "$TARGET_MIN" --seed 1 ;;
    draft)
      $PY "$HERE/train.py" --work "$WORK" --name tiny-coder-draft --out "$WORK/tiny-coder-draft.pt" \
        --d 128 --layers 2 --heads 2 --kv 1 --ffn 352 --ctx 256 --ctx2 512 --long-frac 0.3 \
        --lr 4e-3 --minutes "$DRAFT_MIN" --seed 2 ;;
    export)
      mkdir -p "$HERE/results"
      : > "$LOG"
      for m in tiny-coder tiny-coder-draft; do export_checked $m; done
      check_llamacpp tiny-coder tiny-coder-draft ;;
    distill)
      # the draft trained further on the target's output distributions, read from the two GGUFs just exported
      D=tiny-coder-draft-distilled
      $PY "$HERE/distill.py" --work "$WORK" --teacher "$OUTDIR/tiny-coder.gguf" --init "$OUTDIR/tiny-coder-draft.gguf" \
        --minutes "$DISTILL_MIN" --seed 3 --out "$WORK/$D.pt" --report "$HERE/results/distill.json"
      export_checked $D
      check_llamacpp $D ;;
    deepen)
      # the distilled draft grown to 6 blocks (the new ones start as identities) and distilled further: depth is
      # nearly free in a draft whose cost per token is its vocabulary head. A lower peak rate than the first
      # distillation: 2e-3 disturbed the trained blocks (KL 0.60 -> 0.74 in the first 100 steps).
      D=tiny-coder-draft-deep
      $PY "$HERE/distill.py" --work "$WORK" --teacher "$OUTDIR/tiny-coder.gguf" \
        --init "$OUTDIR/tiny-coder-draft-distilled.gguf" --layers 6 --lr 1e-3 --warmup 100 \
        --minutes "$DEEP_MIN" --seed 4 --out "$WORK/$D.pt" --report "$HERE/results/distill-deep.json"
      export_checked $D
      check_llamacpp $D ;;
    eval)
      $PY "$HERE/evaluate.py" --work "$WORK" --target "$WORK/tiny-coder.pt" --draft "$WORK/tiny-coder-draft.pt" \
        --out "$HERE/results" --n-loss 64 --n-agree 48 --n-per-kind 12
      $PY "$HERE/make_card.py" --work "$WORK" --results "$HERE/results" --models "$OUTDIR" ;;
  esac
done
echo "== done $(date -u +%H:%M:%S)"
