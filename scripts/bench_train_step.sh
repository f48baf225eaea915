#!/usr/bin/env bash
# ToolTune's training step against PyTorch's, side by side in one run: the same presets, shapes, thread
# count, dropout (0.1), clipping and optimizer (AdamW), medians over the same number of steps, PyTorch in its
# best CPU configuration for the precision (sdpa attention, fused AdamW, and torch.autocast for bf16). Each
# shape also gets the GEMM peak it is measured against: `tooltune bench gemm` on the step's products with
# the same engine (step-weighted GFLOP/s), and the step's share of it (MFU). One benchmark runs at a time.
#
#   scripts/bench_train_step.sh --precision bf16                      # opt-350m at 4x512 and 1x2048
#   scripts/bench_train_step.sh --precision fp32 --threads 2 --steps 3 opt-125m:1x512 opt-350m:4x512
#   RUNS=3 scripts/bench_train_step.sh --precision bf16               # each pair 3 times, medians of the runs
#
# Needs a release build (`swift build -c release`; set TOOLTUNE_BIN to use another binary) and the Python
# packages of scripts/requirements-reference.txt (PYTHON picks the interpreter). Benchmarks are slow and the
# machine may be shared: run it when nothing else runs (opt-350m 4x512 takes about 8 GB in ToolTune and
# 14 GB in PyTorch, one after the other).
set -euo pipefail
cd "$(dirname "$0")/.."

threads=$(nproc)
steps=3
warmup=1
precision=fp32
runs=${RUNS:-1}
shapes=()
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        --precision) precision="$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        -*) echo "error: unknown option $1" >&2; exit 2 ;;
        *) shapes+=("$1"); shift ;;
    esac
done
[ ${#shapes[@]} -gt 0 ] || shapes=(opt-350m:4x512 opt-350m:1x2048)
case "$precision" in fp32|bf16) ;; *) echo "error: --precision is fp32 or bf16, not $precision" >&2; exit 2 ;; esac

bin="${TOOLTUNE_BIN:-.build/release/tooltune}"
python="${PYTHON:-python3}"
[ -x "$bin" ] || { echo "error: $bin not found; run swift build -c release (or set TOOLTUNE_BIN)" >&2; exit 1; }

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for shape in "${shapes[@]}"; do
    if [[ ! "$shape" =~ ^([a-z0-9.-]+):([0-9]+)x([0-9]+)$ ]]; then
        echo "error: shape \"$shape\" is not PRESET:BATCHxSEQ (e.g. opt-350m:4x512)" >&2
        exit 2
    fi
    preset=${BASH_REMATCH[1]} batch=${BASH_REMATCH[2]} seq=${BASH_REMATCH[3]}
    args=(--preset "$preset" --batch "$batch" --seq "$seq" --steps "$steps" --warmup "$warmup" --threads "$threads"
          --precision "$precision")
    echo "$preset $batch x $seq, $precision, $threads threads: GEMM peak" >&2
    "$bin" bench gemm --preset "$preset" --tokens $((batch * seq)) --threads "$threads" --precision "$precision" --json \
        | sed "s/^/{\"kind\":\"gemm\",\"shape\":\"$shape\",\"result\":/; s/\$/}/" >>"$results"
    for run in $(seq 1 "$runs"); do
        echo "$preset $batch x $seq, $precision: tooltune, then pytorch (run $run of $runs)" >&2
        "$bin" bench train-step "${args[@]}" --json | sed "s/^/{\"kind\":\"tooltune\",\"shape\":\"$shape\",\"result\":/; s/\$/}/" >>"$results"
        "$python" scripts/bench_pytorch.py "${args[@]}" --json | sed "s/^/{\"kind\":\"pytorch\",\"shape\":\"$shape\",\"result\":/; s/\$/}/" >>"$results"
    done
done

"$python" - "$results" "$precision" "$(uptime)" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
precision, load = sys.argv[2], sys.argv[3]
shapes = list(dict.fromkeys(r["shape"] for r in rows))
def pick(kind, shape): return [r["result"] for r in rows if r["kind"] == kind and r["shape"] == shape]
def med(values): return statistics.median(values)
first = pick("tooltune", shapes[0])[0]
engine = f"{first['gemm']} {first['precision']}"
print(f"{precision}: medians over {first['steps']} steps after {first['warmup']} warmup, median of "
      f"{len(pick('tooltune', shapes[0]))} run(s); {first['threads']} threads; ToolTune GEMMs {engine} "
      f"({first['kernels']}); load at the end: {load.split('load average:')[-1].strip()}")
print("PyTorch: sdpa, fused AdamW" + (", torch.autocast bf16" if precision == "bf16" else ", fp32")
      + "; GEMM peak: bench gemm on the step's products, step-weighted, same engine and threads; MFU = step / peak")
print("'idle' figures count CPU time instead of wall time (FLOPs per CPU-second x threads): the rate on idle cores,")
print("barely moved by other work on the machine (an upper bound: it assumes every thread is busy)")
head = (f"{'shape':16} | {'ToolTune tok/s':>14} {'PyTorch tok/s':>13} {'ratio':>6} | {'step GFLOP/s':>12} "
        f"{'GEMM peak':>9} {'MFU':>5} | {'idle: step':>10} {'peak':>6} {'MFU':>5} | {'RSS MB ToolTune':>15} {'PyTorch':>8}")
print(head)
print("-" * len(head))
for shape in shapes:
    ours, torch, gemm = pick("tooltune", shape), pick("pytorch", shape), pick("gemm", shape)
    peak = gemm[0]["stepGFLOPS"].get(engine, float("nan")) if gemm else float("nan")
    idle_peak = gemm[0]["stepGFLOPSIdle"].get(engine, float("nan")) if gemm else float("nan")
    ours_tps, torch_tps = med([r["tokens_per_s"] for r in ours]), med([r["tokens_per_s"] for r in torch])
    gflops, idle = med([r["gflops_step"] for r in ours]), med([r["gflops_idle"] for r in ours])
    print(f"{shape:16} | {ours_tps:14.1f} {torch_tps:13.1f} {ours_tps / torch_tps:6.2f} | {gflops:12.1f} "
          f"{peak:9.1f} {gflops / peak:5.0%} | {idle:10.1f} {idle_peak:6.1f} {idle / idle_peak:5.0%} | "
          f"{med([r['peak_rss_mb'] for r in ours]):15.0f} {med([r['peak_rss_mb'] for r in torch]):8.0f}")
    for part, key in [("forward", "forward_s"), ("backward", "backward_s"), ("clip+AdamW", "optimizer_s"),
                      ("step", "step_s")]:
        a, b = med([r[key] for r in ours]), med([r[key] for r in torch])
        print(f"{'':16} |   {part:11} {a * 1e3:9.0f} ms {b * 1e3:9.0f} ms  ratio {b / a:5.2f}")
PY
