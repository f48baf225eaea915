#!/usr/bin/env bash
# ToolTune's training step against PyTorch's, side by side: the same presets, shapes, thread count,
# dropout (0.1), clipping (1.0) and optimizer (AdamW), medians over the same number of steps. Runs one benchmark at a
# time (never both at once) and prints a table with PyTorch time / ToolTune time as the ratio.
#
#   scripts/bench_train_step.sh                                   # opt-125m and opt-350m at 1x512 and 4x512
#   scripts/bench_train_step.sh --threads 2 --steps 3 opt-125m:1x128 opt-350m:2x256
#
# Needs a release build (`swift build -c release`; set TOOLTUNE_BIN to use another binary) and the
# Python packages of scripts/requirements-reference.txt. Benchmarks are slow and the machine may be
# shared: run it when nothing else is running.
set -euo pipefail
cd "$(dirname "$0")/.."

threads=$(nproc)
steps=3
warmup=1
shapes=()
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        -*) echo "error: unknown option $1" >&2; exit 2 ;;
        *) shapes+=("$1"); shift ;;
    esac
done
[ ${#shapes[@]} -gt 0 ] || shapes=(opt-125m:1x512 opt-125m:4x512 opt-350m:1x512 opt-350m:4x512)

bin="${TOOLTUNE_BIN:-.build/release/tooltune}"
[ -x "$bin" ] || { echo "error: $bin not found; run swift build -c release (or set TOOLTUNE_BIN)" >&2; exit 1; }

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for shape in "${shapes[@]}"; do
    if [[ ! "$shape" =~ ^([a-z0-9.-]+):([0-9]+)x([0-9]+)$ ]]; then
        echo "error: shape \"$shape\" is not PRESET:BATCHxSEQ (e.g. opt-125m:1x512)" >&2
        exit 2
    fi
    preset=${BASH_REMATCH[1]} batch=${BASH_REMATCH[2]} seq=${BASH_REMATCH[3]}
    args=(--preset "$preset" --batch "$batch" --seq "$seq" --steps "$steps" --warmup "$warmup" --threads "$threads")
    echo "running $preset $batch x $seq on $threads threads: tooltune, then pytorch" >&2
    "$bin" bench train-step "${args[@]}" --json >>"$results"
    python3 scripts/bench_pytorch.py "${args[@]}" --json >>"$results"
done

python3 - "$results" <<'PY'
import json, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
pairs = [(runs[i], runs[i + 1]) for i in range(0, len(runs), 2)]
print(f"medians over {pairs[0][0]['steps']} steps after {pairs[0][0]['warmup']} warmup; ratio = PyTorch time / ToolTune time")
head = f"{'preset':9} {'shape':>7} {'thr':>3} | {'part':8} {'ToolTune':>10} {'PyTorch':>10} {'ratio':>6}"
print(head)
print("-" * len(head))
for ours, torch in pairs:
    shape = f"{ours['batch']}x{ours['seq']}"
    for part, key in [("forward", "forward_s"), ("backward", "backward_s"), ("clip+AdamW", "optimizer_s"), ("step", "step_s")]:
        print(f"{ours['preset']:9} {shape:>7} {ours['threads']:>3} | {part:8} {ours[key] * 1e3:8.0f}ms {torch[key] * 1e3:8.0f}ms "
              f"{torch[key] / ours[key]:6.2f}")
    print(f"{'':9} {'':>7} {'':>3} | {'tok/s':8} {ours['tokens_per_s']:10.1f} {torch['tokens_per_s']:10.1f} "
          f"{ours['tokens_per_s'] / torch['tokens_per_s']:6.2f}")
    print(f"{'':9} {'':>7} {'':>3} | {'GFLOP/s':8} {ours['gflops_step']:10.1f} {torch['gflops_step']:10.1f}   "
          f"(peak RSS {ours['peak_rss_mb']:.0f} / {torch['peak_rss_mb']:.0f} MB)")
PY
