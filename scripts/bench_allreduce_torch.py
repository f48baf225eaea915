#!/usr/bin/env python3
"""PyTorch's side of `tooltune bench allreduce`: the same float32 sum-allreduces with torch.distributed
(gloo, the CPU backend DDP uses), on the same number of local processes, timed the same way (barrier,
then the slowest rank's seconds, medians), with the same JSON keys. The gradient sync allreduces
`--elements` values in `--bucket-mb` buckets the way DDP does: every bucket launched asynchronously,
then all awaited. Every rank adds (rank + 1) * (i % 7 + 1), so the sums are exact and checked.

    python3 scripts/bench_allreduce_torch.py --ranks 2 --sizes 1,16,64 --elements 331196416 --json
"""
import argparse
import json
import os
import socket
import statistics
import sys
import time


def run(rank, args, port, queue):
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=args.ranks)
    sizes = [max(1, int(mb * 1048576) // 4) for mb in args.sizes]
    largest = max(sizes + [args.elements])
    pattern = (torch.arange(largest) % 7 + 1).to(torch.float32)
    buffer = torch.empty(largest, dtype=torch.float32)
    total = args.ranks * (args.ranks + 1) / 2
    verified = True

    def timed(count, body):
        nonlocal verified
        seconds = []
        for iteration in range(args.warmup + args.iterations):
            torch.mul(pattern[:count], rank + 1, out=buffer[:count])
            dist.barrier()
            start = time.perf_counter()
            body(count)
            elapsed = torch.tensor([time.perf_counter() - start], dtype=torch.float64)
            dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
            if iteration >= args.warmup:
                seconds.append(elapsed.item())
        verified = verified and bool(torch.equal(buffer[:count], pattern[:count] * total))
        return statistics.median(seconds)

    def whole(count):
        dist.all_reduce(buffer[:count])

    bucket = max(1, int(args.bucket_mb * 1048576) // 4)

    def bucketed(count):
        works = [dist.all_reduce(buffer[start:min(start + bucket, count)], async_op=True)
                 for start in range(0, count, bucket)]
        for work in works:
            work.wait()

    messages = []
    for count in sizes:
        seconds = timed(count, whole)
        algbw = count * 4 / seconds / 1e9
        messages.append({"bytes": count * 4, "seconds": seconds, "algbw_gbps": algbw,
                         "busbw_gbps": algbw * 2 * (args.ranks - 1) / args.ranks})
    result = {"framework": "pytorch", "backend": "gloo", "torch": torch.__version__, "ranks": args.ranks,
              "iterations": args.iterations, "messages": messages, "gradient_elements": args.elements,
              "bucket_mb": args.bucket_mb, "bucketed_s": timed(args.elements, bucketed),
              "whole_s": timed(args.elements, whole)}
    flags = torch.tensor([0 if verified else 1])
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    result["verified"] = flags.item() == 0
    if rank == 0:
        queue.put(result)
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--sizes", default="1,4,16,64", help="message sizes in MB, comma-separated")
    parser.add_argument("--elements", type=int, required=True, help="gradient values to sync (tooltune's gradient_elements)")
    parser.add_argument("--bucket-mb", type=float, default=25.0)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="one JSON line instead of the table")
    args = parser.parse_args()
    args.sizes = [float(s) for s in args.sizes.split(",")]

    import torch.multiprocessing as mp

    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    mp.start_processes(run, args=(args, port, queue), nprocs=args.ranks, start_method="spawn")
    result = queue.get()
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for m in result["messages"]:
            print(f"{m['bytes'] / 1048576:9.2f} MB  {m['seconds'] * 1e3:8.3f} ms  {m['algbw_gbps']:6.2f} GB/s")
        print(f"gradient sync: {result['bucketed_s']:.3f} s in {args.bucket_mb:g} MB buckets, {result['whole_s']:.3f} s whole")
    sys.exit(0 if result["verified"] else 1)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
