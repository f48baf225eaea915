#!/usr/bin/env python3
"""PyTorch baseline for ToolTune's training-step benchmarks (CPU), in PyTorch's best CPU configuration.

    python3 scripts/bench_pytorch.py --preset opt-125m --batch 1 --seq 128 --steps 3 --warmup 1 --threads 2
    python3 scripts/bench_pytorch.py ... --precision bf16   # torch.autocast("cpu", dtype=torch.bfloat16)
    python3 scripts/bench_pytorch.py ... --json             # one JSON line, for side-by-side tables

The model is a RANDOMLY initialised Hugging Face OPTForCausalLM with the preset's real architecture
(nothing is downloaded), float32 weights, in train() mode with dropout 0.1 (OPT's training setting: on the
attention output and the fc2 output; attention_dropout 0). Inputs are random token ids, labels = ids.
The configuration is the fastest PyTorch offers on a CPU: sdpa attention (its fused CPU flash-attention
kernels), torch.optim.AdamW(fused=True), and for --precision bf16 the forward and loss under
torch.autocast("cpu", dtype=torch.bfloat16) (oneDNN's bf16 kernels on CPUs with AVX512_BF16 or AMX); the
backward follows autocast's dtypes. --attention eager and --optimizer default give the slower choices.

Each step is timed in three parts: forward including the loss, backward, and the optimizer step: global-norm
clipping at 1.0 (clip_grad_norm_, as Hugging Face's Trainer and ToolTune's training step do) and the AdamW
update. Figures are medians over `--steps` steps that follow `--warmup` untimed steps; `cpu_s` is the
process's CPU time per step (OpenMP threads spin while waiting, so it overstates PyTorch's work).

FLOP accounting (per token, for a sequence of T tokens; counted as multiply + add = 2 FLOPs):
    matmul_params = every Linear weight that is multiplied per token: q, k, v, out_proj, fc1, fc2 in every
                    layer, project_in / project_out if present, and the lm_head (vocab x word_embed_proj_dim,
                    counted although it is tied to the embedding). Embedding lookups, biases and LayerNorms
                    are not counted.
    attention     = QK^T and attention x V: 2 matmuls x 2 FLOPs x T x hidden per layer forward (the full
                    T x T square; the causal half is not discounted).
    fwd+bwd FLOPs/token = 6 * matmul_params + 12 * n_layers * hidden * T
    forward FLOPs/token = 1/3 of that (2 * matmul_params + 4 * n_layers * hidden * T); backward = 2/3.
GFLOP/s = those FLOPs x batch x T / median time. The optimizer step is not counted in FLOPs, but the
whole-step rate (fwd + bwd FLOPs over the median whole-step time) includes its time.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time

import torch
import transformers
from transformers import OPTConfig, OPTForCausalLM

# The real OPT architectures (facebook/opt-*). Parameter counts are with the lm_head tied, as on the Hub.
PRESETS = {
    "opt-125m": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, ffn_dim=3072,
                     word_embed_proj_dim=768, do_layer_norm_before=True),
    "opt-350m": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, ffn_dim=4096,
                     word_embed_proj_dim=512, do_layer_norm_before=False),
    "opt-1.3b": dict(hidden_size=2048, num_hidden_layers=24, num_attention_heads=32, ffn_dim=8192,
                     word_embed_proj_dim=2048, do_layer_norm_before=True),
}
EXPECTED_PARAMS = {"opt-125m": 125_239_296, "opt-350m": 331_196_416}
COMMON = dict(vocab_size=50272, max_position_embeddings=2048, pad_token_id=1, bos_token_id=2, eos_token_id=2,
              dropout=0.1, attention_dropout=0.0, activation_function="relu", enable_bias=True)
TRAIN_LR = 2e-5  # a job's default train.optimizer.lr; the value does not affect the timing
MAX_GRAD_NORM = 1.0  # a job's default train.max_grad_norm


def build_model(preset: str, attention: str) -> OPTForCausalLM:
    config = OPTConfig(**COMMON, **PRESETS[preset])
    config._attn_implementation = attention
    model = OPTForCausalLM(config)  # HF's own random init
    model.train()
    return model


def count_params(model: OPTForCausalLM) -> int:
    """Unique parameters: parameters() yields the tied embedding / lm_head weight once."""
    return sum(p.numel() for p in model.parameters())


def matmul_params(model: OPTForCausalLM) -> int:
    """Weights of every Linear module, lm_head included (see the module docstring)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def flops_per_token(model: OPTForCausalLM, seq: int) -> tuple[float, float]:
    """(forward, forward + backward) FLOPs per token."""
    c = model.config
    total = float(6 * matmul_params(model) + 12 * c.num_hidden_layers * c.hidden_size * seq)
    return total / 3, total


def time_steps(model, optimizer, batch: int, seq: int, steps: int, warmup: int, seed: int,
               precision: str) -> dict[str, list]:
    """Runs warmup + steps training steps; returns per-step seconds of the timed steps."""
    gen = torch.Generator().manual_seed(seed)
    times = {"forward": [], "backward": [], "optimizer": [], "step": [], "cpu": [], "loss": []}
    for i in range(warmup + steps):
        ids = torch.randint(0, model.config.vocab_size, (batch, seq), generator=gen)
        optimizer.zero_grad(set_to_none=True)
        c0 = time.process_time()
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(input_ids=ids, labels=ids).loss
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
        optimizer.step()
        t3 = time.perf_counter()
        c3 = time.process_time()
        if i >= warmup:
            times["forward"].append(t1 - t0)
            times["backward"].append(t2 - t1)
            times["optimizer"].append(t3 - t2)
            times["step"].append(t3 - t0)
            times["cpu"].append(c3 - c0)
            times["loss"].append(loss.item())
    return times


def peak_rss_mb() -> float:
    """ru_maxrss is in KiB on Linux (bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if platform.system() == "Darwin" else rss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="opt-125m")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5, help="timed steps (medians are over these)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="bf16: forward and loss under torch.autocast(\"cpu\", dtype=torch.bfloat16)")
    parser.add_argument("--attention", choices=["sdpa", "eager"], default="sdpa")
    parser.add_argument("--optimizer", choices=["fused", "default"], default="fused",
                        help="fused: torch.optim.AdamW(fused=True); default: PyTorch's own choice on CPU")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    args = parser.parse_args()
    if args.steps < 1 or args.warmup < 0 or not 1 <= args.seq <= COMMON["max_position_embeddings"]:
        parser.error("need --steps >= 1, --warmup >= 0 and 1 <= --seq <= 2048")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t_build = time.perf_counter()
    model = build_model(args.preset, args.attention)
    build_s = time.perf_counter() - t_build
    n_params = count_params(model)
    if args.preset in EXPECTED_PARAMS:
        assert n_params == EXPECTED_PARAMS[args.preset], (n_params, EXPECTED_PARAMS[args.preset])
    fused = dict(fused=True) if args.optimizer == "fused" else {}
    optimizer = torch.optim.AdamW(model.parameters(), lr=TRAIN_LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                                  **fused)

    times = time_steps(model, optimizer, args.batch, args.seq, args.steps, args.warmup, args.seed, args.precision)
    med = {k: statistics.median(v) for k, v in times.items() if k != "loss"}
    fwd_flops, total_flops = flops_per_token(model, args.seq)
    tokens = args.batch * args.seq

    result = dict(
        framework="pytorch", preset=args.preset, batch=args.batch, seq=args.seq, steps=args.steps,
        warmup=args.warmup, threads=args.threads, precision=args.precision, attention=args.attention, dropout=0.1,
        optimizer=f"clip_grad_norm_ 1.0 + torch.optim.AdamW ({args.optimizer})",
        params=n_params, matmul_params=matmul_params(model),
        flops_per_token_fwd=fwd_flops, flops_per_token_fwd_bwd=total_flops,
        forward_s=med["forward"], backward_s=med["backward"], optimizer_s=med["optimizer"], step_s=med["step"],
        tokens_per_s=tokens / med["step"], cpu_s=med["cpu"],
        gflops_forward=fwd_flops * tokens / med["forward"] / 1e9,
        gflops_backward=(total_flops - fwd_flops) * tokens / med["backward"] / 1e9,
        gflops_step=total_flops * tokens / med["step"] / 1e9,
        final_loss=times["loss"][-1], build_s=build_s, peak_rss_mb=peak_rss_mb(),
        torch_version=str(torch.__version__), transformers_version=transformers.__version__,
    )
    if args.json:
        print(json.dumps(result))
        return

    print(f"{args.preset}: {n_params:,} parameters ({result['matmul_params']:,} in matmuls incl. lm_head); "
          f"{args.precision}, {args.attention}, AdamW {args.optimizer}, dropout 0.1, train mode; torch {result['torch_version']}, "
          f"transformers {result['transformers_version']}, {args.threads} threads")
    print(f"batch {args.batch} x seq {args.seq} = {tokens} tokens/step; medians over {args.steps} steps "
          f"after {args.warmup} warmup")
    print(f"  forward+loss {med['forward'] * 1e3:10.1f} ms  {result['gflops_forward']:8.1f} GFLOP/s")
    print(f"  backward     {med['backward'] * 1e3:10.1f} ms  {result['gflops_backward']:8.1f} GFLOP/s")
    print(f"  clip + AdamW {med['optimizer'] * 1e3:10.1f} ms")
    print(f"  whole step   {med['step'] * 1e3:10.1f} ms  {result['gflops_step']:8.1f} GFLOP/s  "
          f"{result['tokens_per_s']:.1f} tokens/s")
    print(f"  FLOPs/token: {fwd_flops / 1e6:.1f} M forward, {total_flops / 1e6:.1f} M forward+backward")
    print(f"  last loss {result['final_loss']:.4f}; peak RSS {result['peak_rss_mb']:.0f} MB; "
          f"model build {build_s:.1f} s")


if __name__ == "__main__":
    main()
