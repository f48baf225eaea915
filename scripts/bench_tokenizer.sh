#!/usr/bin/env bash
# Tokenizer throughput: ToolTune (release build) against Hugging Face `tokenizers` on the same text and the
# same demo tokenizer files, medians of RUNS runs each (see scripts/bench_tokenizer.py for the text and
# the exact calls). A benchmark, not a test: run it on an otherwise idle machine.
#
#   scripts/bench_tokenizer.sh                 # RUNS=5, builds into .build
#   RUNS=7 SCRATCH=.build-tok scripts/bench_tokenizer.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
SCRATCH=${SCRATCH:-.build}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

swift build -c release --scratch-path "$SCRATCH" --product tooltune >/dev/null
BIN="$SCRATCH/release/tooltune"
TEXT="$WORK/demo_rendered.txt"
python3 scripts/bench_tokenizer.py render "$TEXT"

# The ids must agree on the whole text before speeds mean anything.
python3 scripts/bench_tokenizer.py ids "$TEXT" >"$WORK/ids_hf"
"$BIN" tokenize --tokenizer demo/tokenizer --file "$TEXT" --ids >"$WORK/ids_tooltune"
if ! cmp -s "$WORK/ids_hf" "$WORK/ids_tooltune"; then
    echo "ids differ between ToolTune and tokenizers on the benchmark text" >&2
    exit 1
fi
echo "ids identical: $(wc -w <"$WORK/ids_tooltune") tokens"

for _ in $(seq "$RUNS"); do
    "$BIN" tokenize --tokenizer demo/tokenizer --file "$TEXT" --stats >"$WORK/stats"
    grep '^MB/s (ids):' "$WORK/stats" | awk '{print $3}' >>"$WORK/tt_ids"
    grep '^MB/s (ids + offsets):' "$WORK/stats" | awk '{print $5}' >>"$WORK/tt_offsets"
done
python3 scripts/bench_tokenizer.py hf "$TEXT" encode "$RUNS" >"$WORK/hf_encode"
TOKENIZERS_PARALLELISM=false python3 scripts/bench_tokenizer.py hf "$TEXT" batch "$RUNS" >"$WORK/hf_batch_1"
TOKENIZERS_PARALLELISM=false python3 scripts/bench_tokenizer.py hf "$TEXT" batch_fast "$RUNS" >"$WORK/hf_fast_1"
THREADS=$(nproc)
TOKENIZERS_PARALLELISM=true RAYON_NUM_THREADS=$THREADS python3 scripts/bench_tokenizer.py hf "$TEXT" batch "$RUNS" >"$WORK/hf_batch_n"
TOKENIZERS_PARALLELISM=true RAYON_NUM_THREADS=$THREADS python3 scripts/bench_tokenizer.py hf "$TEXT" batch_fast "$RUNS" >"$WORK/hf_fast_n"

echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tokenizers $(python3 -c 'import tokenizers; print(tokenizers.__version__)'), $RUNS runs each"
python3 scripts/bench_tokenizer.py report \
    "ToolTune encode, 1 thread (ids)=$WORK/tt_ids" \
    "ToolTune encodeWithOffsets, 1 thread=$WORK/tt_offsets" \
    "tokenizers encode(whole text), 1 thread=$WORK/hf_encode" \
    "tokenizers encode_batch, 1 thread=$WORK/hf_batch_1" \
    "tokenizers encode_batch_fast, 1 thread=$WORK/hf_fast_1" \
    "tokenizers encode_batch, $THREADS threads=$WORK/hf_batch_n" \
    "tokenizers encode_batch_fast, $THREADS threads=$WORK/hf_fast_n"
