#!/usr/bin/env python3
"""Write the PyTorch reference for ToolTune's trainer: a few optimizer steps of a tiny OPT on a small packed
dataset, as Hugging Face's Trainer would take them, to Tests/Fixtures/train/.

    python3 scripts/make_training_reference.py            # rewrite Tests/Fixtures/train/*.h5
    python3 scripts/make_training_reference.py --check    # recompute and compare with the committed files

The Swift test (Tests/TrainingTests/TrainingReferenceTests.swift) writes the fixture's dataset as a prepared
dataset and its initial weights as a checkpoint, runs `tooltune train` on 1 and 2 ranks, and compares every
step's loss, gradient norm and learning rate, and the final weights, with the numbers here.

Everything the trainer decides is rewritten here from its specification, not translated from the Swift:
- data order: per epoch a Fisher-Yates shuffle of the sequence indices driven by SplitMix64 (Vigna's
  reference algorithm, checked against its published outputs) seeded with
  seed + 0x9E3779B97F4A7C15 * (epoch + 1) (mod 2^64); the permutation is cut into steps of at most
  global_batch_tokens tokens (a step takes at least one sequence), the last partial step kept;
- targets: position i of an example predicts token i + 1 when loss_mask[i + 1] = 1, inside the example;
  each example is run through HF `OPTForCausalLM` on its own (batch of 1, positions from 0, nothing to
  attend to across examples), with HF's own loss and `num_items_in_batch` = the step's target count, as
  the Trainer does under gradient accumulation: the step's loss is sum of token CE / target count;
- the update: `torch.nn.utils.clip_grad_norm_`, `torch.optim.AdamW` with the Trainer's two parameter
  groups, and transformers' `get_linear_schedule_with_warmup` / `get_cosine_schedule_with_warmup`
  (LambdaLR: step k runs at lr * factor(k), so the first step has lr 0 when there is warmup).

Model weights come from scripts/make_reference.py's `build_model` (same scheme as the OPT fixtures), with
a vocabulary of at least 258 ids: a byte-level BPE tokenizer, which the trainer loads to check the
dataset's tokenizer hash, has 256 byte tokens plus `<pad>` and `</s>`, and every id must be < vocab_size.

The file layout is described in Tests/Fixtures/README.md.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

import numpy as np
import torch
import transformers

import make_reference as ref

FIXTURE_DIR = os.path.join(ref.REPO_ROOT, "Tests", "Fixtures", "train")
GENERATOR = "scripts/make_training_reference.py"
MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15

RUN_SPECS = {
    # pre-LN with a final LayerNorm (opt-125m shape); linear schedule; stops at max_steps inside epoch 2.
    "tiny-run": dict(
        model=dict(seed=211, config=dict(
            hidden_size=24, num_attention_heads=3, ffn_dim=40, num_hidden_layers=2, word_embed_proj_dim=24,
            vocab_size=261, max_position_embeddings=40, do_layer_norm_before=True, _remove_final_layer_norm=False,
        )),
        data=dict(seed=212, sequences=24, max_seq_len=32),
        train=dict(seed=4242, epochs=2, max_steps=8, micro_batch_tokens=32, global_batch_tokens=96,
                   lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, schedule="linear", warmup_steps=2,
                   max_grad_norm=1.5),
    ),
    # opt-350m shape (post-LN, no final LayerNorm, project_in/out); cosine schedule over two whole epochs.
    "tiny-run-postln-proj": dict(
        model=dict(seed=223, config=dict(
            hidden_size=24, num_attention_heads=2, ffn_dim=36, num_hidden_layers=2, word_embed_proj_dim=16,
            vocab_size=263, max_position_embeddings=40, do_layer_norm_before=False, _remove_final_layer_norm=False,
        )),
        data=dict(seed=224, sequences=20, max_seq_len=32),
        train=dict(seed=77, epochs=2, max_steps=None, micro_batch_tokens=64, global_batch_tokens=128,
                   lr=5e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05, schedule="cosine", warmup_steps=1,
                   max_grad_norm=0.7),
    ),
}


# ----------------------------------------------------------------------------------------------------------
# Data: a packed dataset in the prepared-dataset layout


@dataclass
class PackedData:
    tokens: np.ndarray  # int32 [T]: every example's tokens, bos first, examples in sequence order
    loss_mask: np.ndarray  # uint8 [T]: 1 = the token is a target (predicted from the tokens before it)
    example_offsets: np.ndarray  # int64 [E + 1]
    sequence_example_offsets: np.ndarray  # int64 [S + 1]

    def examples(self, sequence: int) -> list[tuple[np.ndarray, np.ndarray]]:
        first, end = self.sequence_example_offsets[sequence], self.sequence_example_offsets[sequence + 1]
        return [(self.tokens[a:b], self.loss_mask[a:b])
                for a, b in zip(self.example_offsets[first:end], self.example_offsets[first + 1:end + 1])]

    def length(self, sequence: int) -> int:
        return sum(len(t) for t, _ in self.examples(sequence))

    def targets(self, sequence: int) -> int:
        """Positions with a label: mask ones after an example's first token (which nothing predicts)."""
        return sum(int(m[1:].sum()) for _, m in self.examples(sequence))


def make_dataset(spec: dict, vocab: int, bos: int) -> PackedData:
    """Sequences of 2 to 4 bos-led examples each (at most max_seq_len tokens). Each example's loss mask
    covers its last 1 to 3 tokens (an assistant reply) and sometimes one token in the middle; never the
    bos, which nothing predicts."""
    gen = torch.Generator().manual_seed(spec["seed"])

    def randint(low: int, high: int) -> int:  # inclusive
        return int(torch.randint(low, high + 1, (1,), generator=gen))

    tokens, mask, example_offsets, sequence_offsets = [], [], [0], [0]
    for _ in range(spec["sequences"]):
        count = randint(2, 4)
        for _ in range(count):
            n = randint(3, spec["max_seq_len"] // count)
            ids = ref.bos_led(gen, vocab, n, bos)
            m = np.zeros(n, dtype=np.uint8)
            m[n - randint(1, min(3, n - 1)):] = 1
            if n >= 5 and randint(0, 2) == 0:
                m[randint(1, n - 3)] = 1
            tokens.append(ids)
            mask.append(m)
            example_offsets.append(example_offsets[-1] + n)
        sequence_offsets.append(sequence_offsets[-1] + count)
    data = PackedData(np.concatenate(tokens).astype(np.int32), np.concatenate(mask).astype(np.uint8),
                      np.array(example_offsets, dtype=np.int64), np.array(sequence_offsets, dtype=np.int64))
    assert all(data.length(s) <= spec["max_seq_len"] for s in range(spec["sequences"]))
    return data


# ----------------------------------------------------------------------------------------------------------
# Data order


class SplitMix64:
    """Sebastiano Vigna's splitmix64 (https://prng.di.unimi.it/splitmix64.c), on Python ints mod 2^64."""

    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + GOLDEN_GAMMA) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)


# The first outputs of splitmix64 seeded with 1234567, as published with the reference implementation.
_rng = SplitMix64(1234567)
assert [_rng.next() for _ in range(3)] == [6457827717110365317, 3203168211198807973, 9817491932198370423]


def permutation(count: int, seed: int, epoch: int) -> list[int]:
    """Fisher-Yates from the back: for i = n-1 .. 1, swap i with next() % (i + 1)."""
    rng = SplitMix64(seed + GOLDEN_GAMMA * (epoch + 1))
    order = list(range(count))
    for i in range(count - 1, 0, -1):
        j = rng.next() % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def epoch_steps(lengths: list[int], budget: int, seed: int, epoch: int) -> list[list[int]]:
    """The epoch's permutation cut into steps: a sequence joins the current step while the step's tokens
    stay within the budget; a step always takes at least one sequence; the last partial step is kept."""
    steps, current, tokens = [], [], 0
    for s in permutation(len(lengths), seed, epoch):
        if current and tokens + lengths[s] > budget:
            steps.append(current)
            current, tokens = [], 0
        current.append(s)
        tokens += lengths[s]
    if current:
        steps.append(current)
    return steps


def plan_run(data: PackedData, train: dict) -> list[tuple[int, list[int]]]:
    """(epoch, sequences) for every optimizer step of the run: all epochs, cut at max_steps."""
    lengths = [data.length(s) for s in range(len(data.sequence_example_offsets) - 1)]
    steps = [(epoch, step) for epoch in range(train["epochs"])
             for step in epoch_steps(lengths, train["global_batch_tokens"], train["seed"], epoch)]
    return steps[:train["max_steps"]] if train["max_steps"] else steps


# ----------------------------------------------------------------------------------------------------------
# Training


def make_scheduler(optimizer, train: dict, total_steps: int):
    make = dict(linear=transformers.get_linear_schedule_with_warmup,
                cosine=transformers.get_cosine_schedule_with_warmup)[train["schedule"]]
    return make(optimizer, num_warmup_steps=train["warmup_steps"], num_training_steps=total_steps)


def run_training(model_spec: dict, data: PackedData, train: dict, steps, dtype=torch.float32) -> dict:
    """The Trainer's loop over `steps`: zero grads; per example HF forward with labels and
    num_items_in_batch (sum of CE / the step's target count) and backward; clip_grad_norm_ (its return
    value is the pre-clip norm); AdamW step at the scheduler's lr; scheduler step."""
    model = ref.build_model(model_spec).to(dtype)
    model.train()
    skip = set(ref.no_decay_names(model))
    params = dict(model.named_parameters())
    groups = [
        {"params": [p for n, p in params.items() if n not in skip], "weight_decay": train["weight_decay"]},
        {"params": [p for n, p in params.items() if n in skip], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=train["lr"], betas=train["betas"], eps=train["eps"])
    scheduler = make_scheduler(optimizer, train, len(steps))

    losses, norms, lrs = [], [], []
    for _, sequences in steps:
        optimizer.zero_grad(set_to_none=True)
        count = torch.tensor(sum(data.targets(s) for s in sequences))
        loss = 0.0
        for s in sequences:
            for ids, mask in data.examples(s):
                labels = np.where(mask == 1, ids, ref.IGNORE)
                out = model(input_ids=ref.as_long(ids)[None], labels=ref.as_long(labels)[None], num_items_in_batch=count)
                out.loss.backward()
                loss += out.loss.item()
        norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), train["max_grad_norm"]).item())
        lrs.append(optimizer.param_groups[0]["lr"])
        assert all(g["lr"] == lrs[-1] for g in optimizer.param_groups)
        optimizer.step()
        scheduler.step()
        losses.append(loss)
    return dict(losses=losses, norms=norms, lrs=lrs, final=ref.state_arrays(model), no_decay=sorted(skip))


def float64_drift(fp32: dict, fp64: dict) -> tuple[dict, float]:
    """How far float32 PyTorch itself is from float64 after the run: per tensor, max |diff| relative to
    the tensor's largest weight (the noise any float32 implementation is entitled to). k_proj.bias is
    apart: its exact gradient is zero, so Adam normalises pure rounding noise into steps of about lr;
    its largest absolute difference is returned on its own."""
    relative = {n: float(np.abs(fp32[n] - fp64[n]).max() / np.abs(fp64[n]).max())
                for n in fp32 if not n.endswith("k_proj.bias")}
    k_bias = max(float(np.abs(fp32[n] - fp64[n]).max()) for n in fp32 if n.endswith("k_proj.bias"))
    return relative, k_bias


# ----------------------------------------------------------------------------------------------------------
# Fixture


def compute_fixture(name: str, spec: dict) -> dict:
    model = ref.build_model(spec["model"])
    config = model.config
    train = spec["train"]
    data = make_dataset(spec["data"], config.vocab_size, config.bos_token_id)
    steps = plan_run(data, train)
    result = run_training(spec["model"], data, train, steps)
    drift, k_bias_drift = float64_drift(result["final"],
                                        run_training(spec["model"], data, train, steps, torch.float64)["final"])

    clipped = [n > train["max_grad_norm"] for n in result["norms"]]
    assert any(clipped) and not all(clipped), f"{name}: clip some steps, not all: {result['norms']}"
    assert len({e for e, _ in steps}) > 1, f"{name}: the run should reach a second epoch"

    sequences = [s for _, step in steps for s in step]
    datasets: dict[str, np.ndarray] = {
        "/data/tokens": data.tokens,
        "/data/loss_mask": data.loss_mask,
        "/data/examples/offsets": data.example_offsets,
        "/data/sequences/example_offsets": data.sequence_example_offsets,
        "/steps/epoch": np.array([e for e, _ in steps], dtype=np.int32),
        "/steps/sequence_offsets": np.cumsum([0] + [len(step) for _, step in steps]).astype(np.int64),
        "/steps/sequences": np.array(sequences, dtype=np.int64),
        "/steps/tokens": np.array([sum(data.length(s) for s in step) for _, step in steps], dtype=np.int64),
        "/steps/target_tokens": np.array([sum(data.targets(s) for s in step) for _, step in steps], dtype=np.int64),
        "/steps/loss": np.array(result["losses"], dtype=np.float64),
        "/steps/grad_norm": np.array(result["norms"], dtype=np.float64),
        "/steps/lr": np.array(result["lrs"], dtype=np.float64),
    }
    for n, a in ref.state_arrays(model).items():
        datasets[f"/model/{n}"] = a
    for n, a in result["final"].items():
        datasets[f"/final/{n}"] = a

    attrs = {
        "/": ref.root_attrs(config, GENERATOR, name, "train() (every dropout 0)"),
        "/data": dict(max_seq_len=spec["data"]["max_seq_len"], bos_id=config.bos_token_id, eos_id=config.eos_token_id),
        "/train": dict(
            seed=train["seed"], epochs=train["epochs"], max_steps=train["max_steps"] or 0,
            micro_batch_tokens=train["micro_batch_tokens"], global_batch_tokens=train["global_batch_tokens"],
            lr=train["lr"], beta1=train["betas"][0], beta2=train["betas"][1], eps=train["eps"],
            weight_decay=train["weight_decay"], schedule=train["schedule"], warmup_steps=train["warmup_steps"],
            max_grad_norm=train["max_grad_norm"], dropout=0.0, total_steps=len(steps),
            no_decay=json.dumps(result["no_decay"]),
        ),
        "/final": dict(float64_max_rel_err=max(drift.values()), float64_k_proj_bias_max_abs_err=k_bias_drift),
    }
    summary = dict(steps=steps, clipped=clipped, drift=drift, k_bias_drift=k_bias_drift, **result)
    return dict(datasets=datasets, attrs=attrs, summary=summary)


def print_summary(name: str, path: str, tree: dict) -> None:
    s = tree["summary"]
    print(f"{name}: {os.path.getsize(path):,} bytes; {len(s['steps'])} steps")
    for k, ((epoch, seqs), loss, norm, lr, clip) in enumerate(zip(s["steps"], s["losses"], s["norms"], s["lrs"], s["clipped"])):
        print(f"  step {k + 1}: epoch {epoch} sequences {seqs} loss {loss:.6f} grad_norm {norm:.4f}"
              f"{' (clipped)' if clip else ''} lr {lr:.6g}")
    worst = max(s["drift"], key=s["drift"].get)
    print(f"  float32 vs float64 final weights: max error {s['drift'][worst]:.2e} of the tensor's largest weight "
          f"({worst}); k_proj.bias max |diff| {s['k_bias_drift']:.2e} (sum of lr {sum(s['lrs']):.3g})")


if __name__ == "__main__":
    sys.exit(ref.fixture_main(__doc__, FIXTURE_DIR, RUN_SPECS, compute_fixture, print_summary))
