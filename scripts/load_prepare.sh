#!/usr/bin/env bash
# prepare at scale: the demo's 400 training answer files copied COPIES times (COPIES=40: 16,000 files,
# COPIES=400: 160,000), prepared with the demo job's recipe; prints the wall time, the peak RSS and the
# output's size. The copies are made once under SCRATCH (default /tmp/tooltune-load) and kept for reruns.
#
#   scripts/load_prepare.sh 40 [RUNS]         # RUNS prepares in a row (default 1), each line printed
#   KEEP_OUTPUT=1 scripts/load_prepare.sh 400 # keep the prepared train.h5 to inspect
set -euo pipefail
cd "$(dirname "$0")/.."
copies=${1:?usage: scripts/load_prepare.sh COPIES [RUNS]}
runs=${2:-1}
scratch=${SCRATCH:-/tmp/tooltune-load}
bin=${TOOLTUNE_BIN:-.build/release/tooltune}
input="$scratch/train-x$copies"
[ -x "$bin" ] || { echo "no $bin: swift build -c release --product tooltune" >&2; exit 1; }

if [ ! -f "$input/.complete" ]; then
    rm -rf "$input"
    mkdir -p "$input"
    for ((i = 0; i < copies; i++)); do cp -r demo/data/train "$input/copy-$(printf %04d "$i")"; done
    touch "$input/.complete"
fi
files=$(find "$input" -name '*.json' | wc -l)

job="$scratch/load-x$copies.yaml"
sed -e "s#^  train: .*#  train: $input#" -e "s#^  eval: .*##" -e "s#^  dir: .*#  dir: $scratch/run-x$copies#" \
    -e "s#demo/#$PWD/demo/#g" jobs/demo.yaml > "$job"

echo "prepare: $files answer files ($(du -sh "$input" | cut -f1)), $(nproc) CPUs, $bin"
for ((r = 1; r <= runs; r++)); do
    rm -rf "$scratch/run-x$copies"
    /usr/bin/time -f "%e %M %U %S" -o "$scratch/time.txt" "$bin" prepare "$job" > "$scratch/prepare.log" 2>&1 || {
        cat "$scratch/prepare.log" >&2; exit 1; }
    read -r seconds kb user system < "$scratch/time.txt"
    out="$scratch/run-x$copies/data/train.h5"
    examples=$(grep -m1 '^examples:' "$scratch/prepare.log" | sed 's/;.*//')
    printf 'run %d: %s s (CPU %s s), peak RSS %.2f GB, %s, train.h5 %s\n' "$r" "$seconds" "$(echo "$user + $system" | bc)" "$(echo "$kb / 1048576" | bc -l)" \
        "$examples" "$(du -h "$out" | cut -f1)"
done
[ -n "${KEEP_OUTPUT:-}" ] || rm -rf "$scratch/run-x$copies"
