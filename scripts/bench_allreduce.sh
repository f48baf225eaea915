#!/usr/bin/env bash
# ToolTune's allreduce (Open MPI, through `tooltune bench allreduce` under mpirun) against PyTorch's
# (torch.distributed with gloo, what DDP uses on CPUs), side by side: the same rank count on this
# machine, message sizes, gradient size (a preset's parameter count) and bucket size, medians over the
# same iterations. Ratio = PyTorch time / ToolTune time.
#
#   scripts/bench_allreduce.sh                                 # 2 ranks, 1-64 MB, opt-350m in 25 MB buckets
#   scripts/bench_allreduce.sh --ranks 2 --sizes 1,16 --preset opt-125m --iterations 3
#
# Needs a release build (`swift build -c release`; TOOLTUNE_BIN for another binary) and torch from
# scripts/requirements-reference.txt. For several nodes run `tooltune bench allreduce` under your own
# mpirun line (cluster/README.md); this script compares on one machine.
set -euo pipefail
cd "$(dirname "$0")/.."

ranks=2 sizes=1,4,16,64 preset=opt-350m bucket=25 iterations=5 warmup=1
while [ $# -gt 0 ]; do
    case "$1" in
        --ranks) ranks="$2"; shift 2 ;;
        --sizes) sizes="$2"; shift 2 ;;
        --preset) preset="$2"; shift 2 ;;
        --bucket-mb) bucket="$2"; shift 2 ;;
        --iterations) iterations="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1" >&2; exit 2 ;;
    esac
done

bin="${TOOLTUNE_BIN:-.build/release/tooltune}"
[ -x "$bin" ] || { echo "error: $bin not found; run swift build -c release (or set TOOLTUNE_BIN)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

echo "running $ranks ranks: tooltune (Open MPI), then pytorch (gloo)" >&2
ours=$(mpirun -n "$ranks" --oversubscribe --bind-to none "$bin" bench allreduce --sizes "$sizes" --preset "$preset" \
    --bucket-mb "$bucket" --iterations "$iterations" --warmup "$warmup" --json)
elements=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["gradient_elements"])' "$ours")
theirs=$(python3 scripts/bench_allreduce_torch.py --ranks "$ranks" --sizes "$sizes" --elements "$elements" \
    --bucket-mb "$bucket" --iterations "$iterations" --warmup "$warmup" --json)

python3 - "$ours" "$theirs" "$preset" <<'PY'
import json, sys
ours, torch, preset = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
print(f"allreduce over {ours['ranks']} ranks, medians of {ours['iterations']} iterations (slowest rank); "
      f"ratio = PyTorch time / ToolTune time")
head = f"{'what':>30} | {'ToolTune':>10} {'PyTorch':>10} {'ratio':>6} | {'busbw ToolTune / PyTorch':>24}"
print(head)
print("-" * len(head))
for a, b in zip(ours["messages"], torch["messages"]):
    print(f"{a['bytes'] / 1048576:27.2f} MB | {a['seconds'] * 1e3:8.2f}ms {b['seconds'] * 1e3:8.2f}ms "
          f"{b['seconds'] / a['seconds']:6.2f} | {a['busbw_gbps']:9.2f} / {b['busbw_gbps']:.2f} GB/s")
mb = ours["gradient_elements"] * 4 / 1048576
for label, key in [(f"{preset} grads, {ours['bucket_mb']:g} MB buckets", "bucketed_s"), (f"{preset} grads, one message", "whole_s")]:
    print(f"{label:>30} | {ours[key]:9.3f}s {torch[key]:9.3f}s {torch[key] / ours[key]:6.2f} | ({mb:.0f} MB)")
print(f"sums checked: ToolTune {'exact' if ours['verified'] else 'WRONG'}, PyTorch {'exact' if torch['verified'] else 'WRONG'}")
PY
