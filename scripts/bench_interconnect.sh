#!/usr/bin/env bash
# The interconnect's cost, measured on simulated hosts (scripts/simcluster.sh; root): 2 hosts x 1 rank
# joined by links of 1, 10 and 25 Gbit/s (tc tbf) and an unshaped veth link, and for each
#   - `tooltune bench allreduce`: one opt-125m and one opt-350m gradient sync (25 MB buckets, medians of
#     --iterations, slowest rank), Float32 and bfloat16 on the wire, and 64 MB messages' bus bandwidth;
#   - real training steps of an opt-125m-shaped model (random weights, the demo data, 1 sequence of
#     --seq tokens per rank per step, 1 thread per rank): medians over the steps after the first of the
#     step time, the allreduce time (comm_s, overlapped with backward) and what backward left to wait for
#     (wait_s), fp32 and bf16.
# It prints two Markdown tables (the ones in cluster/README.md) and, with --json FILE, writes every figure.
#
#   scripts/bench_interconnect.sh                        # ~20 minutes on a quiet 2-core machine
#   scripts/bench_interconnect.sh --links 10gbit --presets opt-125m --steps 3 --no-train
#
# Needs a release build (TOOLTUNE_BIN for another binary) and about 6 GB of memory (opt-350m's gradients
# on 2 ranks; opt-125m training on 2 ranks). The simulated hosts share this machine's cores: compute
# times are this machine's, and a loaded machine stretches them (the allreduce too, less so).
set -euo pipefail
cd "$(dirname "$0")/.."

links="1gbit 10gbit 25gbit none" presets="opt-125m opt-350m" iterations=3 steps=4 seq=1024 train=1 json=""
while [ $# -gt 0 ]; do
    case "$1" in
        --links) links="$2"; shift 2 ;;
        --presets) presets="${2//,/ }"; shift 2 ;;
        --iterations) iterations="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --seq) seq="$2"; shift 2 ;;
        --no-train) train=0; shift ;;
        --json) json="$2"; shift 2 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1" >&2; exit 2 ;;
    esac
done
links=${links//,/ }
bin="$(pwd)/${TOOLTUNE_BIN:-.build/release/tooltune}"
[ -x "$bin" ] || { echo "error: $bin not found; run swift build -c release --product tooltune" >&2; exit 1; }

name="bench$$"
work=$(mktemp -d)
trap 'scripts/simcluster.sh down --name "$name"; rm -rf "$work"' EXIT
results=$work/results.jsonl
scripts/simcluster.sh up 2 --name "$name" --owner $$ >&2   # --owner: a later prune removes it if this is killed

# A job of the demo's data on an opt-125m-shaped model: every rank gets one sequence per step.
cat >"$work/job.yaml" <<EOF
name: interconnect
seed: 1
model: {init: random, config: {preset: opt-125m}}
tokenizer: {path: $(pwd)/demo/tokenizer}
data: {train: $(pwd)/demo/data/train, max_seq_len: $seq}
train: {max_steps: $steps, micro_batch_tokens: $seq, global_batch_tokens: $((2 * seq)), dropout: 0.1}
checkpoint: {dir: $work/run, every_steps: 100000, keep_last: 1}
distributed: {threads_per_rank: 1, bucket_mb: 25, allreduce_dtype: DTYPE}
EOF
echo "preparing the demo data at max_seq_len $seq" >&2
sed 's/DTYPE/fp32/' "$work/job.yaml" >"$work/fp32.yaml"
"$bin" prepare "$work/fp32.yaml" >/dev/null

for link in $links; do
    scripts/simcluster.sh up 2 --name "$name" --link "$link" >&2
    for preset in $presets; do
        for dtype in fp32 bf16; do
            echo "link $link: bench allreduce $preset $dtype" >&2
            scripts/simcluster.sh run --name "$name" mpirun -n 2 --bind-to none "$bin" bench allreduce --sizes 64 \
                --preset "$preset" --bucket-mb 25 --iterations "$iterations" --warmup 1 --allreduce-dtype "$dtype" --json \
                | tail -n 1 | python3 -c 'import json, sys; r = json.load(sys.stdin); r.update(kind="allreduce", link=sys.argv[1]); print(json.dumps(r))' "$link" >>"$results"
        done
    done
    if [ $train -eq 1 ]; then
        for dtype in fp32 bf16; do
            echo "link $link: $steps training steps of opt-125m, $dtype" >&2
            rm -rf "$work/run/checkpoints" "$work/run/LATEST" "$work/run/metrics.jsonl"
            sed "s/DTYPE/$dtype/" "$work/job.yaml" >"$work/$dtype.yaml"
            scripts/simcluster.sh run --name "$name" mpirun -n 2 --bind-to none "$bin" train "$work/$dtype.yaml" >"$work/train.log" 2>&1 \
                || { cat "$work/train.log" >&2; exit 1; }
            python3 - "$link" "$dtype" "$work/run/metrics.jsonl" >>"$results" <<'PY'
import json, statistics, sys
link, dtype, path = sys.argv[1:]
steps = [json.loads(line) for line in open(path)][1:]
med = lambda key: statistics.median(s[key] for s in steps)
print(json.dumps({"kind": "train", "link": link, "dtype": dtype, "steps": len(steps), "tokens": steps[0]["tokens"],
                  "seconds": med("seconds"), "compute_s": med("compute_s"), "comm_s": med("comm_s"), "wait_s": med("wait_s")}))
PY
        done
    fi
done
[ -z "$json" ] || cp "$results" "$json"

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
gbit = lambda link: "unshaped veth" if link == "none" else link.replace("gbit", " Gbit/s")
print("Gradient sync, 2 hosts x 1 rank, 25 MB buckets (bench allreduce; median of the slowest rank):\n")
print("| link | model | gradients | fp32 sync | bf16 sync | 64 MB busbw (fp32) |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
for link in dict.fromkeys(r["link"] for r in rows):
    for preset in dict.fromkeys(r["preset"] for r in rows if r["kind"] == "allreduce"):
        pick = {r["allreduce_dtype"]: r for r in rows if r["kind"] == "allreduce" and r["link"] == link and r["preset"] == preset}
        if "fp32" not in pick: continue
        f, b = pick["fp32"], pick.get("bf16")
        print(f"| {gbit(link)} | {preset} | {f['gradient_elements'] * 4 / 1e6:,.0f} MB | {f['bucketed_s']:.3f} s | "
              f"{b['bucketed_s'] if b else float('nan'):.3f} s | {f['messages'][-1]['busbw_gbps'] * 8:.2f} Gbit/s |")
train = [r for r in rows if r["kind"] == "train"]
if train:
    print(f"\nTraining steps, opt-125m shape, 2 hosts x 1 rank x 1 thread, {train[0]['tokens']:,} tokens per step "
          "(medians; comm = time in allreduce, overlapped with backward; exposed = wait after backward):\n")
    print("| link | allreduce dtype | step | compute | allreduce (comm_s) | exposed (wait_s) | exposed share |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in train:
        print(f"| {gbit(r['link'])} | {r['dtype']} | {r['seconds']:.2f} s | {r['compute_s']:.2f} s | {r['comm_s']:.2f} s | "
              f"{r['wait_s']:.2f} s | {100 * r['wait_s'] / r['seconds']:.0f}% |")
PY
