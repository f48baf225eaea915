#!/usr/bin/env python3
"""Predicted step time and scaling efficiency of a data-parallel ToolTune job on 1-64 nodes.

The model (cluster/README.md, "Scaling model") combines measured inputs with the job's shape:

  compute   Each step's global batch is `sequences` packed sequences of `seq` tokens. They go to the
            n x ranks_per_node ranks, longest first to the least loaded, so the slowest rank gets
            ceil(sequences / ranks) of them; ranks beyond `sequences` have nothing to do. A rank computes
            with `threads` cores at `gflops_per_core` (measured, one thread), FLOPs per token as
            `tooltune bench train-step` counts them (6 per matmul weight + 12 x layers x hidden x seq):
                T_compute = ceil(sequences / (n r)) x seq x flops_per_token / (threads x gflops_per_core).
  network   Node leaders exchange the gradients (S bytes: 4 per parameter in fp32, 2 in bf16) with a
            bandwidth-optimal allreduce: each node's link carries 2 (n - 1) / n x S each way, at
            `link` x `efficiency` (the share of the line rate Open MPI's TCP reaches, measured), plus a
            latency `alpha` per message: 2 (n - 1) messages per bucket, buckets of `bucket_mb` float32 MB:
                T_allreduce = 2 (n-1)/n x S x 8 / (link x efficiency) + 2 (n-1) x buckets x alpha.
  overlap   Buckets are summed while the step's last micro-batch runs backward (2/3 of its compute); the
            last bucket can only start when backward ends:
                exposed = max(T_allreduce / buckets, T_allreduce - backward of the last micro-batch).
  update    Clipping and AdamW over every parameter on every rank, `adamw_ns_per_param` per parameter
            on one core (measured), spread over the rank's threads.
  step      T_step = T_compute + exposed + T_update; efficiency(n) = T_step(1) / (n x T_step(n)).

    python3 scripts/scaling_model.py --gflops-per-core 100 --link 10 --efficiency 0.9
    python3 scripts/scaling_model.py --preset opt-125m --dtype bf16 --markdown

Everything a node does besides this (shared-memory sums within a node, reading data, checkpoints) is left
out; the compute assumes a node's cores scale linearly, which makes the network's share an upper bound.
"""
import argparse
import math

PRESETS = {  # parameters, parameters in matmuls (incl. lm_head), layers, hidden: as `tooltune bench train-step` prints
    "opt-125m": (125_239_296, 123_543_552, 12, 768),
    "opt-350m": (331_196_416, 328_777_728, 24, 1024),
}


def step(n, a):
    params, matmul, layers, hidden = PRESETS[a.preset]
    flops_per_token = 6 * matmul + 12 * layers * hidden * a.seq
    ranks = n * a.ranks_per_node
    per_rank = math.ceil(a.sequences / ranks)
    compute = per_rank * a.seq * flops_per_token / (a.threads * a.gflops_per_core * 1e9)
    micro_batches = math.ceil(per_rank * a.seq / a.micro_batch_tokens)
    window = (2 / 3) * compute / micro_batches
    gradient_bytes = params * (2 if a.dtype == "bf16" else 4)
    buckets = math.ceil(params * 4 / (a.bucket_mb * 2**20))
    if n == 1:
        allreduce = exposed = 0.0
    else:
        allreduce = (2 * (n - 1) / n * gradient_bytes * 8 / (a.link * 1e9 * a.efficiency)
                     + 2 * (n - 1) * buckets * a.alpha_us * 1e-6)
        exposed = max(allreduce / buckets, allreduce - window)
    update = params * a.adamw_ns_per_param * 1e-9 / a.threads
    return compute, allreduce, exposed, update, compute + exposed + update


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="opt-350m", choices=sorted(PRESETS))
    p.add_argument("--gflops-per-core", type=float, required=True, help="training GFLOP/s of one core (measured)")
    p.add_argument("--adamw-ns-per-param", type=float, default=1.0, help="clip + AdamW, ns per parameter on one core")
    p.add_argument("--link", type=float, default=10, help="Gbit/s per node, each way")
    p.add_argument("--efficiency", type=float, default=0.9, help="share of the line rate an allreduce reaches")
    p.add_argument("--alpha-us", type=float, default=50, help="latency per message, microseconds")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--bucket-mb", type=float, default=25)
    p.add_argument("--sequences", type=int, default=32, help="sequences per step (global_batch_tokens / seq)")
    p.add_argument("--seq", type=int, default=2048)
    p.add_argument("--micro-batch-tokens", type=int, default=4096)
    p.add_argument("--ranks-per-node", type=int, default=4)
    p.add_argument("--threads", type=int, default=8, help="threads per rank")
    p.add_argument("--nodes", default="1,2,4,8,16,32,64")
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args()
    nodes = [int(x) for x in a.nodes.split(",")]
    base = step(1, a)[-1]
    head = ["nodes", "compute", "allreduce", "exposed", "update", "step", "tokens/s", "speedup", "efficiency"]
    rows = []
    for n in nodes:
        compute, allreduce, exposed, update, total = step(n, a)
        rows.append([f"{n}", f"{compute:.2f} s", f"{allreduce:.2f} s", f"{exposed:.2f} s", f"{update:.2f} s",
                     f"{total:.2f} s", f"{a.sequences * a.seq / total:,.0f}", f"{base / total:.1f}x",
                     f"{100 * base / (n * total):.0f}%"])
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("| " + " | ".join("---:" for _ in head) + " |")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        print(" ".join(f"{h:>11}" for h in head))
        for r in rows:
            print(" ".join(f"{c:>11}" for c in r))


if __name__ == "__main__":
    main()
