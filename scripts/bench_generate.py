#!/usr/bin/env python3
"""Greedy generation speed: ToolTune's KV-cache decoding against transformers' `generate`, side by side.

    python3 scripts/bench_generate.py                               # opt-350m, 512-token prompt, 128 new tokens
    python3 scripts/bench_generate.py --preset opt-125m --prompt-tokens 1024 --new-tokens 64 --threads 2

Both run the SAME randomly initialised model (built here with transformers' own init, seeded, and written
once as a ToolTune model file under --workdir, so `tooltune bench generate --model` loads the same
weights), the SAME prompt ids (BOS, then 3 + (i * 7919) % (vocab - 3)) and the same thread count; neither
stops early (transformers: eos_token_id=None). ToolTune runs first, then PyTorch, never both at once.
Figures are medians over --repeats runs after --warmup untimed ones:
    prefill  = the prompt through the model once (transformers: a forward with use_cache=True, timed
               separately before each generate call);
    total    = the whole generation (transformers: model.generate(...));
    generated tokens/s = new tokens / total; decoding tokens/s = (new tokens - 1) / (total - prefill).
The table also says for how many leading tokens the two greedy outputs agree (fp32 rounding differs, so
a random model's near-ties can split them after a while). On a CPU with bfloat16 instructions ToolTune also
runs with eval.precision bf16 (bfloat16 weights and KV cache: half the bytes each token reads), in the
third column, against ToolTune's own fp32 decoding and PyTorch's.

Needs a release build (`swift build -c release`; TOOLTUNE_BIN for another binary) and the packages of
scripts/requirements-reference.txt. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import h5py
import numpy as np
import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_pytorch import PRESETS, build_model  # noqa: E402  (the same architectures as the training benchmark)

MODEL_KEYS = ["vocab_size", "hidden_size", "num_hidden_layers", "ffn_dim", "num_attention_heads", "max_position_embeddings",
              "do_layer_norm_before", "_remove_final_layer_norm", "word_embed_proj_dim", "dropout", "attention_dropout",
              "activation_function", "layerdrop", "init_std", "enable_bias", "layer_norm_elementwise_affine",
              "pad_token_id", "bos_token_id", "eos_token_id", "tie_word_embeddings"]


def prompt_ids(count: int, vocab: int) -> list[int]:
    return [2] + [3 + (i * 7919) % (vocab - 3) for i in range(1, count)]


def write_model_file(model, path: str) -> None:
    """ToolTune's model file: attribute model_config (config.json keys) and /model/<HF name> float32."""
    config = model.config.to_dict()
    with h5py.File(path + ".tmp", "w") as f:
        f.attrs["model_config"] = json.dumps({k: config[k] for k in MODEL_KEYS if k in config})
        group = f.create_group("model")
        for name, tensor in model.state_dict().items():
            if name != "lm_head.weight":
                group.create_dataset(name, data=tensor.detach().numpy().astype(np.float32))
    os.replace(path + ".tmp", path)


def bench_torch(model, ids: list[int], new_tokens: int, repeats: int, warmup: int) -> dict:
    inputs = torch.tensor([ids])
    mask = torch.ones_like(inputs)
    prefills, totals, tokens = [], [], []
    with torch.inference_mode():
        for run in range(warmup + repeats):
            start = time.perf_counter()
            model(input_ids=inputs, attention_mask=mask, use_cache=True)
            prefill = time.perf_counter() - start
            start = time.perf_counter()
            out = model.generate(input_ids=inputs, attention_mask=mask, do_sample=False, max_new_tokens=new_tokens,
                                 min_new_tokens=0, eos_token_id=None, pad_token_id=1)
            total = time.perf_counter() - start
            if run >= warmup:
                prefills.append(prefill)
                totals.append(total)
            tokens = out[0, len(ids):].tolist()
    prefill, total = statistics.median(prefills), statistics.median(totals)
    return dict(framework="pytorch", prefill_s=prefill, total_s=total, generated_tokens_per_s=new_tokens / total,
                decode_tokens_per_s=(new_tokens - 1) / (total - prefill), tokens=tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="opt-350m", choices=sorted(PRESETS))
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"], help="transformers' attention (default: its own default, sdpa)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default="/tmp/tooltune-bench-generate")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    model = build_model(args.preset, args.attn).eval()
    os.makedirs(args.workdir, exist_ok=True)
    path = os.path.join(args.workdir, f"{args.preset}-seed{args.seed}.h5")
    write_model_file(model, path)
    ids = prompt_ids(args.prompt_tokens, model.config.vocab_size)

    binary = os.environ.get("TOOLTUNE_BIN", ".build/release/tooltune")
    print(f"running {args.preset}, {len(ids)}-token prompt + {args.new_tokens} new tokens on {args.threads} threads: "
          f"tooltune, then pytorch", file=sys.stderr)
    def tooltune(precision: str) -> dict | None:
        run = subprocess.run(
            [binary, "bench", "generate", "--model", path, "--prompt-tokens", str(args.prompt_tokens), "--new-tokens",
             str(args.new_tokens), "--repeats", str(args.repeats), "--warmup", str(args.warmup), "--threads",
             str(args.threads), "--precision", precision, "--json"], capture_output=True, text=True)
        if run.returncode != 0:
            if precision == "bf16":
                print(f"tooltune bf16: {run.stderr.strip()}", file=sys.stderr)
                return None
            raise SystemExit(run.stderr)
        return json.loads(run.stdout)

    ours = tooltune("fp32")
    ours_bf16 = tooltune("bf16")
    theirs = bench_torch(model, ids, args.new_tokens, args.repeats, args.warmup)

    def agreement(a: list[int], b: list[int]) -> int:
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n

    print(f"{args.preset} ({ours['params']:,} parameters), prompt {len(ids)} + {args.new_tokens} new tokens, "
          f"{args.threads} threads, medians of {args.repeats} runs; torch {torch.__version__}, transformers {transformers.__version__} ({args.attn} attention)")
    print(f"{'':24} {'ToolTune':>10} {'PyTorch':>10} {'ratio':>7}" + (f" {'ToolTune bf16':>14} {'vs fp32':>8}" if ours_bf16 else ""))
    for label, key, unit in [("prefill", "prefill_s", "s"), ("total", "total_s", "s"),
                             ("generated tokens/s", "generated_tokens_per_s", ""), ("decoding tokens/s", "decode_tokens_per_s", "")]:
        ratio = (lambda a, b: b[key] / a[key]) if unit == "s" else (lambda a, b: a[key] / b[key])
        line = f"{label:24} {ours[key]:10.3f} {theirs[key]:10.3f} {ratio(ours, theirs):7.2f}"
        if ours_bf16:
            line += f" {ours_bf16[key]:14.3f} {ratio(ours_bf16, ours):8.2f}"
        print(line)
    print(f"ratio > 1: ToolTune is faster (bf16: than ToolTune fp32). Greedy outputs agree for the first "
          f"{agreement(ours['tokens'], theirs['tokens'])} of {args.new_tokens} tokens"
          + (f"; bf16 and fp32 for the first {agreement(ours_bf16['tokens'], ours['tokens'])}." if ours_bf16 else "."))


if __name__ == "__main__":
    main()
