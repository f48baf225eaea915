#!/bin/bash
# Shared prefixes, measured: one training epoch of the same job with data.share_prefixes true and false,
# side by side, for the demo's training data and (when present) ToolBench's data_example, both with the demo
# tokenizer, at each max_seq_len given. The job is the demo's (tiny model, 2 ranks x 1 thread, micro-batches
# of 2048 tokens, global batches of 8192, trim-history) with one epoch and no checkpoint but the last.
#
#   scripts/bench_shared_prefixes.sh [--reps 3] [--lengths 1024,2048] [--bin .build/release/tooltune]
#
# Prints, per data set and length: examples, chains, sequences and tokens before and after sharing (from
# prepare), then each run's epoch time (the sum of its step times from metrics.jsonl, start-up excluded),
# the process wall time and the CPU time of both ranks (user + system; Open MPI's ranks poll while they
# wait, so it counts waits too), and the medians with the ratios. Runs alternate sharing on and off, so
# drift on a shared machine hits both alike; quote medians, and say what else was running.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=3 lengths=1024,2048 bin=.build/release/tooltune
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) reps=$2; shift 2 ;;
        --lengths) lengths=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        *) echo "usage: $0 [--reps N] [--lengths L1,L2] [--bin PATH]" >&2; exit 64 ;;
    esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d /tmp/bench-shared-prefixes.XXXXXX)
trap 'rm -rf "$work"' EXIT
project=$PWD
example=${TOOLBENCH_DATA_EXAMPLE:-$project/../shared/toolbench/ToolBench-data_example}

job() {  # name train max_seq_len share extra-data-line
    cat > "$work/$1.yaml" <<YAML
name: $1
seed: 1234
model: {init: random, config: {preset: tiny, vocab_size: 4096, max_position_embeddings: $3}}
tokenizer: {path: $project/demo/tokenizer}
data:
  train: $2
  format: toolbench-answers
  max_seq_len: $3
  fit: trim-history
  share_prefixes: $4
$5
train:
  epochs: 1
  micro_batch_tokens: 2048
  global_batch_tokens: 8192
  optimizer: {name: adamw, lr: 3.0e-3, betas: [0.9, 0.98], eps: 1.0e-8, weight_decay: 0.01}
  schedule: {name: cosine, warmup_steps: 10}
  dropout: 0.0
checkpoint: {dir: $work/run-$1, every_steps: 1000000, keep_last: 1, resume: never}
distributed: {ranks: 2, threads_per_rank: 1, bucket_mb: 1}
YAML
}

sets=("demo|$project/demo/data/train|  test_query_ids: $project/demo/data/test_query_ids.json")
if [ -d "$example/answer" ]; then sets+=("data_example|$example/answer|"); else echo "note: no data_example at $example"; fi

for set in "${sets[@]}"; do
    IFS='|' read -r name train extra <<<"$set"
    for length in ${lengths//,/ }; do
        echo "== $name, max_seq_len $length"
        for share in true false; do
            job "$name-$length-$share" "$train" "$length" "$share" "$extra"
            "$bin" prepare "$work/$name-$length-$share.yaml" | grep -E "^examples:|^shared prefixes|^packing" | sed "s/^/   share $share: /"
        done
        for share in true false; do : > "$work/$name-$length-$share.times"; done
        for rep in $(seq "$reps"); do
            for share in true false; do
                run=$work/run-$name-$length-$share
                rm -rf "$run/checkpoints" "$run/LATEST" "$run/metrics.jsonl"
                start=$(date +%s.%N)
                /usr/bin/time -f "%U %S" -o "$work/cpu" mpirun -n 2 --oversubscribe --bind-to none "$bin" train \
                    "$work/$name-$length-$share.yaml" > "$work/log" 2>&1 || { cat "$work/log"; exit 1; }
                wall=$(python3 -c "print(round($(date +%s.%N) - $start, 2))")
                cpu=$(python3 -c "print(round(sum(map(float, open('$work/cpu').read().split())), 2))")
                epoch=$(python3 -c "import json; print(round(sum(json.loads(l)['seconds'] for l in open('$run/metrics.jsonl')), 2))")
                steps=$(wc -l < "$run/metrics.jsonl")
                echo "$epoch $wall $cpu" >> "$work/$name-$length-$share.times"
                printf '   run %d share %-5s: %3d steps, epoch %7.2f s, process %7.2f s, CPU %7.2f s, load %s\n' \
                    "$rep" "$share" "$steps" "$epoch" "$wall" "$cpu" "$(cut -d' ' -f1 /proc/loadavg)"
            done
        done
        python3 - "$work/$name-$length-true.times" "$work/$name-$length-false.times" <<'PY'
import statistics, sys
on, off = ([list(map(float, line.split())) for line in open(f)] for f in sys.argv[1:3])
for i, what in enumerate(["epoch", "process", "CPU"]):
    a, b = statistics.median(r[i] for r in on), statistics.median(r[i] for r in off)
    print(f"   median {what}: shared {a:.2f} s, separate {b:.2f} s, separate / shared {b / a:.2f}x")
PY
    done
done
