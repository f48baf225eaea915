#!/usr/bin/env python3
"""Write the PyTorch / Hugging Face reference fixtures for ToolTune's OPT implementation.

The Swift forward/backward/AdamW is tested against the HDF5 files this script writes to
Tests/Fixtures/opt/ (the llm.c `test_gpt2.c` pattern: the tests need no Python).

    python3 scripts/make_reference.py            # rewrite Tests/Fixtures/opt/*.h5
    python3 scripts/make_reference.py --check    # recompute and compare with the committed files

Every number comes from Hugging Face `OPTForCausalLM` (eager attention, float32, every dropout 0) run by
PyTorch on the CPU with deterministic algorithms and one thread. Gradients and the AdamW steps are taken
with the model in train() mode (identical to eval() here because every dropout and layerdrop is 0);
generation uses eval() mode, as `generate` would be used. /autocast_bf16 repeats the cases' loss and
gradients under torch.autocast("cpu", dtype=torch.bfloat16), PyTorch's mixed precision on the CPU, and
records PyTorch's bfloat16 rounding of every weight.

The file layout is described in Tests/Fixtures/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field

import h5py
import numpy as np
import torch
import torch.nn.functional as F
import transformers
from transformers import OPTConfig, OPTForCausalLM

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE_DIR = os.path.join(REPO_ROOT, "Tests", "Fixtures", "opt")
GENERATOR = "scripts/make_reference.py"

IGNORE = -100  # Hugging Face's ignore_index for labels
INIT_STD = 0.1  # raised from OPT's 0.02 so activations and gradients are far from zero

# The tied lm_head is not stored: it is the same tensor as the token embedding.
TIED_NAME = "lm_head.weight"

# AdamW settings for /adamw (HF Trainer's parameter grouping, see no_decay_names()).
ADAMW = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, max_grad_norm=1.0)
ADAMW_STEPS = 5
GENERATE_NEW_TOKENS = 10

# Common OPT settings: special tokens as in the real checkpoints, every dropout off.
BASE_CONFIG = dict(
    pad_token_id=1,
    bos_token_id=2,
    eos_token_id=2,
    dropout=0.0,
    attention_dropout=0.0,
    layerdrop=0.0,
    activation_function="relu",
    enable_bias=True,
    layer_norm_elementwise_affine=True,
    init_std=INIT_STD,
)

# Deliberately odd sizes so that no dimension can be mistaken for another.
MODEL_SPECS = {
    # pre-LN with a final LayerNorm and no projections (opt-125m / opt-1.3b shape).
    "tiny-preln": dict(
        seed=101,
        config=dict(
            hidden_size=48, num_attention_heads=3, ffn_dim=80, num_hidden_layers=2, word_embed_proj_dim=48,
            vocab_size=101, max_position_embeddings=40, do_layer_norm_before=True,
            _remove_final_layer_norm=False,
        ),
    ),
    # opt-350m shape: post-LN (so HF builds no final LayerNorm) with project_in / project_out.
    "tiny-postln-proj": dict(
        seed=113,
        config=dict(
            hidden_size=48, num_attention_heads=3, ffn_dim=72, num_hidden_layers=3, word_embed_proj_dim=32,
            vocab_size=113, max_position_embeddings=40, do_layer_norm_before=False,
            _remove_final_layer_norm=False,
        ),
    ),
    # pre-LN, projections present, and the legacy `_remove_final_layer_norm` switch on.
    "tiny-preln-proj-nofinal": dict(
        seed=97,
        config=dict(
            hidden_size=40, num_attention_heads=5, ffn_dim=56, num_hidden_layers=2, word_embed_proj_dim=24,
            vocab_size=97, max_position_embeddings=40, do_layer_norm_before=True,
            _remove_final_layer_norm=True,
        ),
    ),
}


# ----------------------------------------------------------------------------------------------------------
# Model


def setup_torch() -> None:
    """Make every run produce the same bits: deterministic kernels, one thread (BLAS blocking and
    reduction order may depend on the thread count), float32 everywhere."""
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)


def make_config(spec: dict) -> OPTConfig:
    config = OPTConfig(**BASE_CONFIG, **spec["config"])
    config._attn_implementation = "eager"
    config.architectures = ["OPTForCausalLM"]
    config.dtype = torch.float32
    return config


def is_layer_norm_param(name: str) -> bool:
    return "layer_norm" in name


def build_model(spec: dict, fp16_representable: bool = True) -> OPTForCausalLM:
    """An OPTForCausalLM initialised like HF's _init_weights (normal(0, init_std) for Linear and Embedding
    weights, the padding row of embed_tokens zero) but with std 0.1, and with every bias and LayerNorm
    parameter set to random non-trivial values so that each one influences the output.
    `fp16_representable=False` keeps full float32 precision (scripts/make_hf_fixtures.py needs every
    mantissa bit used, so that a reader which loses bits is caught).

    The weights are drawn here from an explicit generator, in named_parameters() order, rather than left to
    HF's constructor, so that they do not depend on how a given transformers version orders its init."""
    config = make_config(spec)
    model = OPTForCausalLM(config)
    assert model.lm_head.weight is model.model.decoder.embed_tokens.weight, "lm_head must be tied"

    gen = torch.Generator().manual_seed(spec["seed"])
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=gen)
            if is_layer_norm_param(name) and name.endswith(".weight"):
                param.copy_(1.0 + 0.1 * noise)
            elif name.endswith(".bias"):
                param.copy_(0.1 * noise)
            else:
                param.copy_(INIT_STD * noise)
            # Round to float16-representable values: an fp16 export/import of the fixture model is then
            # lossless (Hub checkpoints are often fp16), and the stored weights compress far better.
            if fp16_representable:
                param.copy_(param.half().float())
        model.model.decoder.embed_tokens.weight[config.pad_token_id].zero_()
    return model


def state_arrays(model: OPTForCausalLM) -> dict[str, np.ndarray]:
    """Every state_dict entry except the tied lm_head, as float32 numpy arrays (HF names and shapes)."""
    return {
        name: tensor.detach().numpy().astype(np.float32)
        for name, tensor in model.state_dict().items()
        if name != TIED_NAME
    }


def grad_arrays(model: OPTForCausalLM) -> dict[str, np.ndarray]:
    """Gradients by HF parameter name. named_parameters() lists the tied weight once, as
    model.decoder.embed_tokens.weight, and its .grad already sums the embedding and lm_head uses."""
    return {name: param.grad.detach().numpy().copy() for name, param in model.named_parameters()}


class PositionRecorder:
    """Records the position_ids HF itself computes, by watching the call into embed_positions."""

    def __init__(self, model: OPTForCausalLM):
        self.seen: list[torch.Tensor] = []
        module = model.model.decoder.embed_positions
        self.handle = module.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        self.seen.append(kwargs["position_ids"].detach().clone())

    def last(self) -> np.ndarray:
        return self.seen[-1].numpy().astype(np.int32)

    def close(self) -> None:
        self.handle.remove()


# ----------------------------------------------------------------------------------------------------------
# Inputs


@dataclass
class CaseInputs:
    input_ids: np.ndarray  # int32 [B, T]
    attention_mask: np.ndarray  # int32 [B, T]
    labels: np.ndarray  # int32 [B, T], HF convention (unshifted), IGNORE = not a target
    segment_lengths: list[int] = field(default_factory=list)  # packed case only


def random_tokens(gen: torch.Generator, vocab: int, n: int) -> np.ndarray:
    """Ordinary tokens: never pad (1) or bos/eos (2), and not 0, so special ids only appear on purpose."""
    return torch.randint(3, vocab, (n,), generator=gen).numpy().astype(np.int32)


def bos_led(gen: torch.Generator, vocab: int, n: int, bos: int) -> np.ndarray:
    """A sequence the way OPT's tokenizer makes one: `</s>` (bos 2) first."""
    return np.concatenate([[bos], random_tokens(gen, vocab, n - 1)]).astype(np.int32)


def ignore_at(labels: np.ndarray, row: int, positions: list[int]) -> None:
    labels[row, positions] = IGNORE


def make_batch_case(gen, config) -> CaseInputs:
    """B=2, T=12, no padding; a few labels ignored, some in the middle. labels[:, 0] is never a target
    (nothing predicts the first token), so row 1 leaves it as a token id to show that it is unused."""
    ids = np.stack([bos_led(gen, config.vocab_size, 12, config.bos_token_id) for _ in range(2)])
    labels = ids.copy()
    ignore_at(labels, 0, [0, 5, 6])
    ignore_at(labels, 1, [3, 11])
    return CaseInputs(ids, np.ones_like(ids), labels)


def make_leftpad_case(gen, config) -> CaseInputs:
    """Row 0: 4 left pads then 8 real tokens; row 1: 12 real tokens.
    Labels are ignored on the pads and on row 0's first real token: HF's shifted loss would otherwise make
    the last pad position predict it."""
    pads = 4
    real = bos_led(gen, config.vocab_size, 12 - pads, config.bos_token_id)
    row0 = np.concatenate([np.full(pads, config.pad_token_id), real])
    row1 = bos_led(gen, config.vocab_size, 12, config.bos_token_id)
    ids = np.stack([row0, row1]).astype(np.int32)
    mask = np.ones_like(ids)
    mask[0, :pads] = 0
    labels = ids.copy()
    ignore_at(labels, 0, list(range(pads + 1)))
    ignore_at(labels, 1, [0, 7])
    return CaseInputs(ids, mask, labels)


def make_packed_case(gen, config) -> CaseInputs:
    """B=1, T=16: three examples of lengths 5, 7, 4 back to back. The first token of each example is not a
    target, so no label crosses an example boundary; two more labels are ignored inside examples."""
    lengths = [5, 7, 4]
    ids = np.concatenate([bos_led(gen, config.vocab_size, n, config.bos_token_id) for n in lengths])[None, :]
    labels = ids.copy()
    starts = np.cumsum([0] + lengths[:-1]).tolist()
    ignore_at(labels, 0, starts + [3, 9])
    return CaseInputs(ids.astype(np.int32), np.ones_like(ids, dtype=np.int32), labels, lengths)


def target_count(labels: np.ndarray) -> int:
    """Targets of HF's shifted loss: the labels[:, 1:] that are not IGNORE (labels[:, 0] is never a target)."""
    return int((labels[:, 1:] != IGNORE).sum())


def as_long(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array.astype(np.int64))


# ----------------------------------------------------------------------------------------------------------
# Forward / backward


def precision_context(autocast: bool):
    """torch.autocast("cpu", dtype=torch.bfloat16) for mixed precision, else plain float32."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()


def run_hf_case(model: OPTForCausalLM, case: CaseInputs, autocast: bool = False) -> dict:
    """HF's own forward and loss (mean over the shifted targets of the whole batch), then backward."""
    model.train()
    model.zero_grad(set_to_none=True)
    recorder = PositionRecorder(model)
    with precision_context(autocast):
        out = model(
            input_ids=as_long(case.input_ids),
            attention_mask=as_long(case.attention_mask),
            labels=as_long(case.labels),
        )
    out.loss.backward()
    recorder.close()
    return dict(
        position_ids=recorder.last(),
        logits=out.logits.detach().float().numpy(),
        loss=np.float32(out.loss.item()),
        grads=grad_arrays(model),
    )


def segment_ids_of(lengths: list[int]) -> np.ndarray:
    return np.concatenate([np.full(n, i) for i, n in enumerate(lengths)]).astype(np.int32)[None, :]


def run_packed_case(model: OPTForCausalLM, case: CaseInputs, autocast: bool = False) -> dict:
    """The packed row's reference: each example run SEPARATELY through HF (batch of 1, no padding, so
    nothing can leak between examples). loss = sum of token CE over every example's targets / total target
    count; logits = the per-example logits concatenated; gradients from that loss. Under autocast the
    cross-entropy reads the bfloat16 logits in float32, as HF's loss does."""
    model.train()
    model.zero_grad(set_to_none=True)
    recorder = PositionRecorder(model)
    bounds = np.cumsum([0] + case.segment_lengths)
    logits, positions, ce_sum = [], [], 0.0
    for start, end in zip(bounds[:-1], bounds[1:]):
        with precision_context(autocast):
            out = model(input_ids=as_long(case.input_ids[:, start:end]))
        example_logits = out.logits.float()
        labels = as_long(case.labels[0, start + 1:end])  # targets inside this example only
        ce_sum = ce_sum + F.cross_entropy(example_logits[0, :-1], labels, ignore_index=IGNORE, reduction="sum")
        logits.append(example_logits.detach())
        positions.append(recorder.last())
    count = target_count(case.labels)
    loss = ce_sum / count
    loss.backward()
    recorder.close()

    logits = torch.cat(logits, dim=1)
    # The concatenation is the same as HF's shifted loss over the packed row, because the label after each
    # example's last token is the next example's (ignored) first token.
    hf_loss = model.loss_function(logits=logits, labels=as_long(case.labels), vocab_size=model.config.vocab_size)
    assert torch.allclose(hf_loss, loss.detach(), rtol=1e-6, atol=0), (hf_loss, loss)
    return dict(
        position_ids=np.concatenate(positions, axis=1),
        segment_ids=segment_ids_of(case.segment_lengths),
        logits=logits.numpy(),
        loss=np.float32(loss.item()),
        grads=grad_arrays(model),
    )


def block_diagonal_mask(segment_ids: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    """Additive 4-D mask [B, 1, T, T] for eager attention: 0 where key k is visible from query q (same
    example and k <= q), the float minimum elsewhere, as HF's own eager masks are built."""
    seg = torch.from_numpy(segment_ids)
    t = seg.shape[1]
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    same = seg[:, :, None] == seg[:, None, :]
    visible = (same & causal)[:, None]
    return torch.where(visible, torch.zeros((), dtype=dtype), torch.finfo(dtype).min)


def check_packed_row_in_hf(model: OPTForCausalLM, case: CaseInputs, ref: dict) -> dict:
    """Runs the packed row through HF in one call, two ways, and reports which reproduce the separate runs.

    - 4-D mask: a block-diagonal additive mask plus restarting position_ids. Must match (asserted), for the
      logits and for every gradient.
    - position_ids only (no attention_mask): some HF models detect packing from restarting positions;
      recorded, not asserted, because it depends on whether this OPT passes position_ids to its mask."""
    ids, labels = as_long(case.input_ids), as_long(case.labels)
    positions = as_long(ref["position_ids"])

    model.train()
    model.zero_grad(set_to_none=True)
    out = model(input_ids=ids, attention_mask=block_diagonal_mask(ref["segment_ids"]), position_ids=positions,
                labels=labels)
    out.loss.backward()
    logit_err = float((out.logits.detach() - torch.from_numpy(ref["logits"])).abs().max())
    assert logit_err < 1e-5, f"4-D block-diagonal mask does not reproduce the separate runs: {logit_err}"
    assert abs(out.loss.item() - float(ref["loss"])) < 1e-5
    grad_err = max(
        float(np.abs(g - ref["grads"][name]).max()) for name, g in grad_arrays(model).items()
    )
    assert grad_err < 1e-5, f"4-D mask gradients differ from the separate runs: {grad_err}"
    model.zero_grad(set_to_none=True)

    with torch.no_grad():
        plain = model(input_ids=ids, position_ids=positions).logits
    pos_only_err = float((plain - torch.from_numpy(ref["logits"])).abs().max())
    return dict(
        mask4d_max_logit_err=logit_err,
        mask4d_max_grad_err=grad_err,
        position_ids_only_max_logit_err=pos_only_err,
        position_ids_only_matches=pos_only_err < 1e-5,
    )


def check_every_gradient_is_live(cases: dict[str, dict]) -> dict[str, float]:
    """Every parameter must get a non-zero gradient in some case, except k_proj.bias: adding a constant to
    every key adds q.b to every score of a query row, which softmax ignores, so its exact gradient is zero
    and fp32 leaves only rounding noise. Returns the largest |grad| of each k_proj.bias, for the README."""
    names = next(iter(cases.values()))["grads"].keys()
    k_bias_noise = {}
    for name in names:
        largest = max(float(np.abs(c["grads"][name]).max()) for c in cases.values())
        if name.endswith("k_proj.bias"):
            assert largest < 1e-6, f"{name} gradient should be rounding noise, got {largest}"
            k_bias_noise[name] = largest
        else:
            assert largest > 1e-6, f"{name} gets no gradient in any case"
    return k_bias_noise


# ----------------------------------------------------------------------------------------------------------
# AdamW


def no_decay_names(model: OPTForCausalLM) -> list[str]:
    """HF Trainer's rule: no weight decay for biases and LayerNorm parameters; everything else, including
    the token and position embeddings (and so the tied lm_head), is decayed."""
    names = [n for n, _ in model.named_parameters() if n.endswith(".bias") or is_layer_norm_param(n)]
    # Cross-check against the Trainer's own helper (it names the tied weight twice; named_parameters once).
    from transformers.trainer_pt_utils import get_parameter_names

    trainer_decay = set(get_parameter_names(
        model, [torch.nn.LayerNorm], [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]
    ))
    assert {n for n, _ in model.named_parameters() if n not in trainer_decay} == set(names)
    return names


def run_adamw(spec: dict, case: CaseInputs, start: dict[str, np.ndarray]) -> dict:
    """ADAMW_STEPS optimizer steps on `case` from a fresh copy of the fixture model: loss, backward,
    clip_grad_norm_ to max_grad_norm (its return value, the pre-clip total norm, is recorded), step."""
    model = build_model(spec)
    assert all(np.array_equal(a, start[n]) for n, a in state_arrays(model).items())
    model.train()
    skip = set(no_decay_names(model))
    params = dict(model.named_parameters())
    groups = [
        {"params": [p for n, p in params.items() if n not in skip], "weight_decay": ADAMW["weight_decay"]},
        {"params": [p for n, p in params.items() if n in skip], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=ADAMW["lr"], betas=(ADAMW["beta1"], ADAMW["beta2"]), eps=ADAMW["eps"])

    losses, norms = [], []
    for _ in range(ADAMW_STEPS):
        optimizer.zero_grad(set_to_none=True)
        out = model(input_ids=as_long(case.input_ids), attention_mask=as_long(case.attention_mask),
                    labels=as_long(case.labels))
        out.loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), ADAMW["max_grad_norm"])
        optimizer.step()
        losses.append(out.loss.item())
        norms.append(norm.item())
    assert max(norms) > ADAMW["max_grad_norm"], f"clipping never triggered: {norms}"
    return dict(
        losses=np.array(losses, dtype=np.float32),
        grad_norms=np.array(norms, dtype=np.float32),
        final=state_arrays(model),
        no_decay=sorted(skip),
    )


# ----------------------------------------------------------------------------------------------------------
# Generation


def run_generate(model: OPTForCausalLM, gen: torch.Generator) -> dict:
    """Greedy decoding of exactly GENERATE_NEW_TOKENS tokens. eos_token_id is set to None for this call so
    that generation cannot stop early and no logit is suppressed (min_new_tokens would instead push eos to
    -inf and change the argmax).

    generate() decodes with its KV cache; a plain full-recompute argmax loop (no cache) must pick the same
    tokens with the same logits. The logits of every decoding step are stored too, since matching ids alone
    can hide a cache bug, and each step's top-1 must beat its top-2 clearly so the ids are unambiguous."""
    model.eval()
    config = model.config
    prompt = bos_led(gen, config.vocab_size, 6, config.bos_token_id)
    prompt_t = as_long(prompt)[None, :]
    with torch.no_grad():
        out = model.generate(
            input_ids=prompt_t, attention_mask=torch.ones_like(prompt_t), do_sample=False,
            max_new_tokens=GENERATE_NEW_TOKENS, eos_token_id=None, pad_token_id=config.pad_token_id,
            return_dict_in_generate=True, output_logits=True,
        )
        new = out.sequences[0, prompt.size:]
        step_logits = torch.cat(out.logits, dim=0)  # [N, V]: the logits each new token was chosen from
        assert new.numel() == GENERATE_NEW_TOKENS, new

        ids, recomputed = prompt_t, []
        for _ in range(GENERATE_NEW_TOKENS):
            logits = model(input_ids=ids).logits[:, -1]
            recomputed.append(logits)
            ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], dim=1)
        assert torch.equal(ids[0, prompt.size:], new), (ids, new)
        assert torch.allclose(torch.cat(recomputed), step_logits, atol=1e-5, rtol=0)
        top2 = step_logits.topk(2, dim=-1).values
        margin = float((top2[:, 0] - top2[:, 1]).min())
        assert margin > 1e-3, f"greedy step too close to a tie: {margin}"
    return dict(
        prompt_ids=prompt,
        greedy_ids=new.numpy().astype(np.int32),
        prompt_logits_last=step_logits[0].numpy(),  # step 0's logits are those of the last prompt position
        step_logits=step_logits.numpy(),
        min_top2_margin=margin,
    )


# ----------------------------------------------------------------------------------------------------------
# Fixture tree: {"datasets": {path: array}, "attrs": {group path: {name: value}}}


# Generic PreTrainedConfig keys that say nothing about a causal LM's architecture.
CONFIG_NOISE_KEYS = {
    "_name_or_path", "id2label", "label2id", "problem_type", "return_dict", "output_attentions",
    "output_hidden_states", "chunk_size_feed_forward", "is_encoder_decoder",
    "transformers_version",  # a root attribute of its own
}


def config_json(config: OPTConfig) -> str:
    """config.json-style keys as plain JSON, sorted so the string is stable."""
    keys = json.loads(json.dumps(config.to_dict(), default=str))
    keys = {k: v for k, v in keys.items() if k not in CONFIG_NOISE_KEYS}
    required = [
        "hidden_size", "ffn_dim", "num_hidden_layers", "num_attention_heads", "word_embed_proj_dim",
        "do_layer_norm_before", "_remove_final_layer_norm", "vocab_size", "max_position_embeddings",
        "pad_token_id", "bos_token_id", "eos_token_id", "dropout", "attention_dropout", "activation_function",
        "layer_norm_elementwise_affine", "enable_bias",
    ]
    missing = [k for k in required if k not in keys]
    assert not missing, missing
    return json.dumps(keys, sort_keys=True)


def root_attrs(config: OPTConfig, generator: str, fixture: str, model_mode: str) -> dict:
    """The root attributes every fixture file carries: the model and where the numbers come from."""
    return dict(
        model_config=config_json(config),
        generator=generator,
        fixture=fixture,
        torch_version=str(torch.__version__),
        transformers_version=transformers.__version__,
        attn_implementation="eager",
        model_mode=model_mode,
    )


def compute_fixture(name: str, spec: dict) -> dict:
    model = build_model(spec)
    config = model.config
    model_arrays = state_arrays(model)
    gen = torch.Generator().manual_seed(spec["seed"] + 1000)  # inputs; independent of the weights

    inputs = {
        "batch": make_batch_case(gen, config),
        "leftpad": make_leftpad_case(gen, config),
        "packed": make_packed_case(gen, config),
    }
    results = {
        "batch": run_hf_case(model, inputs["batch"]),
        "leftpad": run_hf_case(model, inputs["leftpad"]),
        "packed": run_packed_case(model, inputs["packed"]),
    }
    autocast = {
        "batch": run_hf_case(model, inputs["batch"], autocast=True),
        "leftpad": run_hf_case(model, inputs["leftpad"], autocast=True),
        "packed": run_packed_case(model, inputs["packed"], autocast=True),
    }
    packing = check_packed_row_in_hf(model, inputs["packed"], results["packed"])
    k_bias_noise = check_every_gradient_is_live(results)
    adamw = run_adamw(spec, inputs["batch"], model_arrays)
    generate = run_generate(model, gen)

    datasets: dict[str, np.ndarray] = {}
    attrs: dict[str, dict] = {
        "/": root_attrs(config, GENERATOR, name, "train() for cases and adamw (all dropout 0), eval() for generate"),
    }
    for n, a in model_arrays.items():
        datasets[f"/model/{n}"] = a

    for case_name, case in inputs.items():
        res = results[case_name]
        base = f"/cases/{case_name}"
        datasets[f"{base}/input_ids"] = case.input_ids
        datasets[f"{base}/attention_mask"] = case.attention_mask
        datasets[f"{base}/position_ids"] = res["position_ids"]
        datasets[f"{base}/labels"] = case.labels
        datasets[f"{base}/logits"] = res["logits"]
        datasets[f"{base}/loss"] = res["loss"]
        datasets[f"{base}/target_count"] = np.int32(target_count(case.labels))
        if "segment_ids" in res:
            datasets[f"{base}/segment_ids"] = res["segment_ids"]
        for n, g in res["grads"].items():
            datasets[f"{base}/grads/{n}"] = g
    for case_name, res in autocast.items():
        base = f"/autocast_bf16/cases/{case_name}"
        datasets[f"{base}/loss"] = res["loss"]
        for n, g in res["grads"].items():
            datasets[f"{base}/grads/{n}"] = g
    for n, p in model.named_parameters():
        datasets[f"/autocast_bf16/weights/{n}"] = p.detach().to(torch.bfloat16).float().numpy()
    attrs["/autocast_bf16"] = dict(
        autocast='torch.autocast("cpu", dtype=torch.bfloat16) around the forward and loss; backward outside',
        weights="each parameter's bfloat16 rounding (Tensor.to(torch.bfloat16)), widened to float32 (exact)",
    )
    attrs["/cases/packed"] = dict(
        reference="each example run separately through HF; loss = sum CE / total target count",
        mask4d_matches=True,  # asserted in check_packed_row_in_hf
        mask4d_max_logit_err=packing["mask4d_max_logit_err"],
        position_ids_only_matches=packing["position_ids_only_matches"],
        position_ids_only_max_logit_err=packing["position_ids_only_max_logit_err"],
    )

    datasets["/adamw/losses"] = adamw["losses"]
    datasets["/adamw/grad_norms"] = adamw["grad_norms"]
    for n, a in adamw["final"].items():
        datasets[f"/adamw/final/{n}"] = a
    attrs["/adamw"] = dict(
        lr=ADAMW["lr"], beta1=ADAMW["beta1"], beta2=ADAMW["beta2"], eps=ADAMW["eps"],
        weight_decay=ADAMW["weight_decay"], max_grad_norm=ADAMW["max_grad_norm"],
        steps=ADAMW_STEPS, case="batch", no_decay=json.dumps(adamw["no_decay"]),
    )

    datasets["/generate/prompt_ids"] = generate["prompt_ids"]
    datasets["/generate/greedy_ids"] = generate["greedy_ids"]
    datasets["/generate/prompt_logits_last"] = generate["prompt_logits_last"]
    datasets["/generate/step_logits"] = generate["step_logits"]
    attrs["/generate"] = dict(
        max_new_tokens=GENERATE_NEW_TOKENS, do_sample=False,
        stopping="eos_token_id=None for the call: exactly max_new_tokens, no eos suppression",
        min_top2_margin=generate["min_top2_margin"],
    )

    summary = dict(
        losses={c: float(r["loss"]) for c, r in results.items()},
        autocast_losses={c: float(r["loss"]) for c, r in autocast.items()},
        adamw_grad_norms=adamw["grad_norms"].tolist(),
        k_bias_noise=max(k_bias_noise.values()),
        packing=packing,
        leftpad_positions=results["leftpad"]["position_ids"].tolist(),
    )
    return dict(datasets=datasets, attrs=attrs, summary=summary)


# ----------------------------------------------------------------------------------------------------------
# HDF5 I/O


def write_fixture(path: str, tree: dict) -> None:
    """Writes in sorted order with no timestamps so the same tree gives the same bytes. Arrays of more
    than 64 values are stored as one chunk with shuffle + gzip 9 (deflate is in every HDF5 build).
    The file format is HDF5 1.10's (libver v110): its single-chunk index and compact groups need far less
    metadata per dataset than the 1.8 format; any HDF5 >= 1.10 (Debian 12 ships 1.10.8) reads it."""
    with h5py.File(path, "w", libver=("v110", "v110"), track_order=False) as f:
        for name in sorted(tree["datasets"]):
            array = np.asarray(tree["datasets"][name])
            options = dict(track_times=False)
            if array.ndim >= 1 and array.size > 64:
                options.update(chunks=array.shape, compression="gzip", compression_opts=9, shuffle=True)
            f.create_dataset(name, data=array, **options)
        for group, values in sorted(tree["attrs"].items()):
            target = f.require_group(group) if group != "/" else f  # a group may hold only attributes
            for key in sorted(values):
                target.attrs[key] = values[key]  # str -> variable-length UTF-8 string


def read_fixture(path: str) -> dict:
    datasets, attrs = {}, {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            datasets["/" + name] = obj[()]
        if obj.attrs:
            attrs["/" + name] = dict(obj.attrs)

    with h5py.File(path, "r") as f:
        f.visititems(visit)
        attrs["/"] = dict(f.attrs)
    return dict(datasets=datasets, attrs=attrs)


def compare_trees(expected: dict, actual: dict, rtol=1e-5, atol=1e-6) -> list[str]:
    """Differences that matter: missing/extra datasets, shape or dtype changes, integer changes, floats
    beyond rtol/atol, and changed attributes other than the library versions."""
    problems = []
    exp_ds, act_ds = expected["datasets"], actual["datasets"]
    for name in sorted(set(exp_ds) ^ set(act_ds)):
        problems.append(f"{name}: only in {'recomputed' if name in exp_ds else 'committed'} file")
    for name in sorted(set(exp_ds) & set(act_ds)):
        e, a = np.asarray(exp_ds[name]), np.asarray(act_ds[name])
        if e.shape != a.shape or e.dtype != a.dtype:
            problems.append(f"{name}: {a.dtype}{list(a.shape)} committed, {e.dtype}{list(e.shape)} recomputed")
        elif np.issubdtype(e.dtype, np.floating):
            if not np.allclose(e, a, rtol=rtol, atol=atol):
                problems.append(f"{name}: max abs diff {np.abs(e - a).max():.3g}")
        elif not np.array_equal(e, a):
            problems.append(f"{name}: integer values differ")
    for group in sorted(set(expected["attrs"]) | set(actual["attrs"])):
        e, a = expected["attrs"].get(group, {}), actual["attrs"].get(group, {})
        for key in sorted(set(e) | set(a)):
            ev, av = e.get(key), a.get(key)
            if key.endswith("_version") or key.endswith("_err"):
                continue  # versions are reported separately; *_err are rounding-noise measurements
            if isinstance(ev, float) and isinstance(av, (float, np.floating)):
                same = np.isclose(ev, av, rtol=1e-3, atol=0)
            else:
                same = str(ev) == str(av)
            if not same:
                problems.append(f"{group} attribute {key}: {av!r} committed, {ev!r} recomputed")
    return problems


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ----------------------------------------------------------------------------------------------------------
# Main


def print_summary(name: str, path: str, tree: dict) -> None:
    s = tree["summary"]
    losses = ", ".join(f"{c} {v:.5f}" for c, v in s["losses"].items())
    print(f"{name}: {os.path.getsize(path):,} bytes; loss {losses}")
    print("  autocast bf16 loss " + ", ".join(f"{c} {v:.5f}" for c, v in s["autocast_losses"].items()))
    print(f"  adamw pre-clip grad norms {[round(x, 4) for x in s['adamw_grad_norms']]}")
    print(f"  largest |k_proj.bias grad| {s['k_bias_noise']:.2e}; leftpad position_ids {s['leftpad_positions']}")
    p = s["packing"]
    print(f"  packed: 4-D mask max logit err {p['mask4d_max_logit_err']:.2e}, grads {p['mask4d_max_grad_err']:.2e}; "
          f"position_ids only matches: {p['position_ids_only_matches']} "
          f"(max logit err {p['position_ids_only_max_logit_err']:.3g})")


def check_fixture(name: str, path: str, tree: dict) -> bool:
    """Compares a recomputed fixture tree with the committed file at `path`; prints the verdict and returns
    whether the file is current (numerically; byte identity is reported, not required)."""
    if not os.path.exists(path):
        print(f"{name}: MISSING {path}")
        return False
    committed = read_fixture(path)
    problems = compare_trees(tree, committed)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = os.path.join(tmp, os.path.basename(path))
        write_fixture(fresh, tree)
        identical = sha256(fresh) == sha256(path)
    versions = {k: committed["attrs"]["/"].get(k) for k in ("torch_version", "transformers_version")}
    now = dict(torch_version=str(torch.__version__), transformers_version=transformers.__version__)
    note = "" if versions == now else f" (committed with {versions}, now {now})"
    if problems:
        print(f"{name}: OUT OF DATE{note}")
        for p in problems[:20]:
            print(f"  {p}")
        return False
    print(f"{name}: current ({'byte-identical' if identical else 'numerically equal, bytes differ'}){note}")
    return True


def fixture_main(doc: str, fixture_dir: str, specs: dict, compute, summarize) -> int:
    """The command line of a fixture script: compute every fixture of `specs` and write it (then print
    `summarize(name, path, tree)`), or with --check compare it with the committed file."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="recompute and compare with the committed fixtures instead of writing them")
    parser.add_argument("--out", default=fixture_dir, help="fixture directory (default: %(default)s)")
    args = parser.parse_args()
    setup_torch()

    failed = False
    os.makedirs(args.out, exist_ok=True)
    for name, spec in specs.items():
        path = os.path.join(args.out, f"{name}.h5")
        tree = compute(name, spec)
        if args.check:
            failed |= not check_fixture(name, path, tree)
        else:
            write_fixture(path, tree)
            summarize(name, path, tree)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(fixture_main(__doc__, FIXTURE_DIR, MODEL_SPECS, compute_fixture, print_summary))
