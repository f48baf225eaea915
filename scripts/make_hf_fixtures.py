#!/usr/bin/env python3
"""Write Hugging Face checkpoint fixtures for ToolTune's safetensors / pytorch_model.bin readers and writer.

    python3 scripts/make_hf_fixtures.py            # rewrite Tests/Fixtures/hf/
    python3 scripts/make_hf_fixtures.py --check    # rebuild in a temporary folder and compare
    python3 scripts/make_hf_fixtures.py --check-export OUT_DIR... [--tooltune .build/debug/tooltune]

Two tiny OPT models (pre-LN; post-LN with project_in/project_out, the opt-350m shape) are saved the ways
checkpoints reach users: transformers' `save_pretrained` (model.safetensors; sharded safetensors with a
model.safetensors.index.json) and PyTorch's zip `pytorch_model.bin` written by `torch.save(state_dict)`,
which is what transformers 4.x `save_pretrained(safe_serialization=False)` did (5.x writes safetensors only).
Each in fp32 and fp16 (the post-LN model also in bf16, and as a Hub-style fp16 .bin with `decoder.*` keys and
no lm_head). `expected.h5` holds the tensors as float32 and the logits of a fixed input. Malformed files for
the readers' error paths are in malformed/. The layout is described in Tests/Fixtures/hf/README.md.

--check-export loads folders written by `tooltune export-hf` with transformers, strictly (no missing,
unexpected or mismatched tensor; lm_head tied to embed_tokens; the config's dtype that of the weights; the
generation config's special ids; the tokenizer, when the folder has one, with ToolTune's ids), and compares
transformers' logits for a fixed input with those of ToolTune's forward on the same folder (`tooltune
import-hf`, then `tooltune forward`). Exit 1 if anything differs.
"""

from __future__ import annotations

import argparse
import collections
import copy
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile

import h5py
import numpy as np
import torch
import transformers
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_reference as ref  # noqa: E402  (the tiny-model builder and HDF5 fixture writer)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE_DIR = os.path.join(REPO_ROOT, "Tests", "Fixtures", "hf")
GENERATOR = "scripts/make_hf_fixtures.py"

# Smaller than the opt/ fixtures: every model is stored about ten times here.
VARIANTS = {
    "preln": dict(
        seed=211,
        config=dict(
            hidden_size=24, num_attention_heads=3, ffn_dim=40, num_hidden_layers=2, word_embed_proj_dim=24,
            vocab_size=61, max_position_embeddings=20, do_layer_norm_before=True, _remove_final_layer_norm=False,
        ),
        extras=[],
    ),
    "postln-proj": dict(
        seed=223,
        config=dict(
            hidden_size=24, num_attention_heads=2, ffn_dim=36, num_hidden_layers=2, word_embed_proj_dim=16,
            vocab_size=67, max_position_embeddings=20, do_layer_norm_before=False, _remove_final_layer_norm=False,
        ),
        extras=["bf16-safetensors", "bf16-bin", "fp16-bin-hub"],
    ),
}
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
FORMATS = ["safetensors", "sharded", "bin"]
SHARD_SIZE = "12KB"  # forces 2-4 shards for these models
INPUT_LENGTH = 8


# ----------------------------------------------------------------------------------------------------------
# Model folders


def save_folder(model, folder: str, fmt: str, hub_names: bool = False) -> None:
    os.makedirs(folder)
    if fmt == "safetensors":
        model.save_pretrained(folder)
    elif fmt == "sharded":
        model.save_pretrained(folder, max_shard_size=SHARD_SIZE)
        assert os.path.exists(os.path.join(folder, "model.safetensors.index.json")), folder
    else:
        model.config.save_pretrained(folder)
        state = model.state_dict()  # lm_head.weight included: it shares embed_tokens' storage
        assert state["lm_head.weight"].data_ptr() == state["model.decoder.embed_tokens.weight"].data_ptr()
        if hub_names:  # facebook/opt-*'s own pytorch_model.bin: decoder.* keys, no lm_head
            state = collections.OrderedDict(
                (k.removeprefix("model."), v) for k, v in state.items() if k != ref.TIED_NAME)
        torch.save(state, os.path.join(folder, "pytorch_model.bin"))


def widened(model, dtype) -> dict[str, np.ndarray]:
    """The model's tensors rounded to `dtype` by torch and widened back to float32 (what a reader must give)."""
    return {n: t.to(dtype).float().numpy() for n, t in model.state_dict().items() if n != ref.TIED_NAME}


def logits_with(model, weights: dict[str, np.ndarray], input_ids: np.ndarray) -> np.ndarray:
    """Logits (float32 compute, eval mode) of the model carrying `weights`."""
    m = copy.deepcopy(model).eval()
    m.load_state_dict({n: torch.from_numpy(a) for n, a in weights.items()}, strict=False)
    with torch.no_grad():
        return m(input_ids=ref.as_long(input_ids)).logits.numpy()


def make_variant(name: str, spec: dict, out: str) -> None:
    model = ref.build_model(spec, fp16_representable=False).eval()
    gen = torch.Generator().manual_seed(spec["seed"] + 1000)
    input_ids = ref.bos_led(gen, model.config.vocab_size, INPUT_LENGTH, model.config.bos_token_id)[None, :]

    datasets = {"/input_ids": input_ids}
    for dname in ["fp32", "fp16"] + (["bf16"] if any(e.startswith("bf16") for e in spec["extras"]) else []):
        weights = widened(model, DTYPES[dname])
        for n, a in weights.items():
            datasets[f"/model_{dname}/{n}"] = a
        datasets[f"/logits/{dname}"] = logits_with(model, weights, input_ids)
    attrs = {"/": dict(model_config=ref.config_json(model.config), generator=GENERATOR, fixture=name,
                       torch_version=str(torch.__version__), transformers_version=transformers.__version__)}
    os.makedirs(os.path.join(out, name))
    ref.write_fixture(os.path.join(out, name, "expected.h5"), dict(datasets=datasets, attrs=attrs))

    folders = [f"{d}-{f}" for d in ("fp32", "fp16") for f in FORMATS] + spec["extras"]
    for folder in folders:
        dname, fmt = folder.split("-")[:2]
        save_folder(copy.deepcopy(model).to(DTYPES[dname]), os.path.join(out, name, folder), fmt,
                    hub_names=folder.endswith("-hub"))


# ----------------------------------------------------------------------------------------------------------
# Hand-made and malformed pytorch_model.bin files


class Storage:
    """One storage record of a hand-made checkpoint (torch.save's persistent id)."""

    def __init__(self, key: str, storage_type, numel: int):
        self.key, self.storage_type, self.numel = key, storage_type, numel


class View:
    """A tensor as torch.save pickles it: _rebuild_tensor_v2(storage, offset, size, stride, ...)."""

    def __init__(self, storage: Storage, offset: int, size: tuple, stride: tuple):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, self.args


class Call:
    """Pickles as a call of `function(argument)`: what a malicious checkpoint does."""

    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


class CheckpointPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.storage_type, obj.key, "cpu", obj.numel)
        return None


def write_zip(path: str, entries: dict[str, bytes], compression=zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # fixed: reproducible bytes
            info.compress_type = compression
            z.writestr(info, data)


def handmade(path: str, state, storages: dict[str, bytes], with_pickle: bool = True) -> None:
    """A zip laid out as torch.save's (archive/data.pkl, archive/data/<key>, byteorder, version), written by
    Python's zipfile (no data descriptors, no alignment padding: a second writer for the zip reader)."""
    buffer = io.BytesIO()
    CheckpointPickler(buffer, protocol=2).dump(state)
    entries = {"archive/data.pkl": buffer.getvalue()} if with_pickle else {}
    entries.update({f"archive/data/{k}": v for k, v in storages.items()})
    entries.update({"archive/byteorder": b"little", "archive/version": b"3\n"})
    write_zip(path, entries)


def make_malformed(out: str) -> None:
    folder = os.path.join(out, "malformed")
    os.makedirs(folder)
    floats = np.arange(12, dtype=np.float32).tobytes()
    good = Storage("0", torch.FloatStorage, 12)

    def state(**values):
        return collections.OrderedDict(values)

    handmade(f"{folder}/os-system.bin", state(w=View(good, 0, (12,), (1,)), x=Call(os.system, "echo pwned")),
             {"0": floats})
    handmade(f"{folder}/builtins-eval.bin", state(x=Call(eval, "1 + 1")), {})
    handmade(f"{folder}/list-value.bin", state(w=View(good, 0, (12,), (1,)), x=[1, 2]), {"0": floats})
    handmade(f"{folder}/no-data-pkl.bin", state(), {"0": floats}, with_pickle=False)
    # offset 4 + (4 - 1) * 2 + (2 - 1) * 1 = 11 elements reach index 11 of a 10-element storage.
    handmade(f"{folder}/view-past-storage.bin", state(w=View(Storage("0", torch.FloatStorage, 10), 4, (4, 2), (2, 1))),
             {"0": floats[:40]})
    handmade(f"{folder}/storage-size-mismatch.bin", state(w=View(Storage("0", torch.FloatStorage, 12), 0, (12,), (1,))),
             {"0": floats[:40]})
    handmade(f"{folder}/missing-storage.bin", state(w=View(Storage("7", torch.FloatStorage, 12), 0, (12,), (1,))),
             {"0": floats})
    handmade(f"{folder}/int64-storage.bin", state(w=View(Storage("0", torch.LongStorage, 6), 0, (6,), (1,))),
             {"0": floats[:48]})
    # A correct torch.save file with every entry deflated: torch itself never compresses.
    buffer = io.BytesIO()
    torch.save({"w": torch.arange(12, dtype=torch.float32)}, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as z:
        write_zip(f"{folder}/compressed.bin", {n: z.read(n) for n in z.namelist()}, zipfile.ZIP_DEFLATED)


def make_strided(out: str) -> None:
    """torch.save keeps views as views: strided.bin has a transposed-like view, an expanded view (stride 0)
    and the base, all on one storage; strided-expected.safetensors has each made contiguous."""
    base = torch.arange(12, dtype=torch.float32) * 0.5 - 2.0
    views = {"base": base, "t": base.as_strided((3, 2), (1, 4), 1), "e": base[5:6].expand(2, 3)}
    torch.save(views, os.path.join(out, "strided.bin"))
    save_file({n: v.contiguous() for n, v in views.items()}, os.path.join(out, "strided-expected.safetensors"))


def make_rounding(out: str) -> None:
    """Values where float32 -> float16 / bfloat16 rounding is easy to get wrong, rounded by torch."""
    f16_ulp1 = 2.0 ** -10
    bf16_ulp1 = 2.0 ** -7
    special = [
        0.0, -0.0, 1.0, -1.0, float("inf"), float("-inf"), float("nan"),
        1 + f16_ulp1 / 2, 1 + 3 * f16_ulp1 / 2, -(1 + 3 * f16_ulp1 / 2),  # fp16 ties to even
        1 + bf16_ulp1 / 2, 1 + 3 * bf16_ulp1 / 2, 1 + bf16_ulp1 / 2 + 2 ** -20,  # bf16 ties, just above a tie
        65504.0, 65519.0, 65520.0, 70000.0, -65520.0,  # fp16 max, below/at the overflow tie
        2.0 ** -24, 2.0 ** -25, 3 * 2.0 ** -26, 2.0 ** -26, 2.0 ** -14, 2.0 ** -14 - 2.0 ** -25,  # fp16 subnormals
        3.4028235e38, -3.4028235e38, 3.3961776e38, 1e-40, -1e-45,  # bf16 overflow and float32 subnormals
    ]
    gen = torch.Generator().manual_seed(5)
    values = torch.cat([torch.tensor(special, dtype=torch.float32), torch.randn(256, generator=gen) * 3,
                        torch.randn(64, generator=gen) * 1e-5, torch.randn(64, generator=gen) * 3e4])
    save_file({"input": values, "fp16": values.half(), "bf16": values.bfloat16()},
              os.path.join(out, "rounding.safetensors"), metadata={"format": "pt"})


def build(out: str) -> None:
    ref.setup_torch()
    for name, spec in VARIANTS.items():
        make_variant(name, spec, out)
    make_malformed(out)
    make_strided(out)
    make_rounding(out)


# ----------------------------------------------------------------------------------------------------------
# --check


def weight_files(root: str) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
                  if not f.endswith(".md"))


def load_tensors(path: str) -> dict[str, torch.Tensor]:
    if path.endswith(".safetensors"):
        return load_file(path)
    return torch.load(path, weights_only=True)


def same_bits(x: torch.Tensor, y: torch.Tensor) -> bool:
    """Bit for bit, so that a NaN equals the same NaN."""
    return x.dtype == y.dtype and x.shape == y.shape and torch.equal(
        x.contiguous().view(-1).view(torch.uint8), y.contiguous().view(-1).view(torch.uint8))


def compare(committed: str, fresh: str) -> list[str]:
    problems = []
    files = weight_files(fresh)
    for extra in sorted(set(weight_files(committed)) ^ set(files)):
        problems.append(f"{extra}: only in {'committed' if extra not in files else 'recomputed'} fixtures")
    for rel in files:
        a, b = os.path.join(committed, rel), os.path.join(fresh, rel)
        if not os.path.exists(a) or "malformed" in rel:
            continue
        if rel.endswith(".h5"):
            problems += [f"{rel}: {p}" for p in ref.compare_trees(ref.read_fixture(b), ref.read_fixture(a), 0, 0)]
        elif rel.endswith((".safetensors", ".bin")):
            ta, tb = load_tensors(a), load_tensors(b)
            if list(ta) != list(tb) or any(not same_bits(ta[k], tb[k]) for k in ta):
                problems.append(f"{rel}: tensors differ")
        elif rel.endswith(".json") and "config" not in rel:
            if json.load(open(a)) != json.load(open(b)):
                problems.append(f"{rel}: differs")
    return problems


# ----------------------------------------------------------------------------------------------------------
# --check-export

LOGITS_TOLERANCE = 1e-4
TOKENIZER_TEXT = "System: call get_weather(city='Paris') ünïcödé\nUser: 42 tools?</s><pad>"


def run_tooltune(tooltune: str, *arguments: str) -> str:
    result = subprocess.run([tooltune, *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"tooltune {' '.join(arguments)}: {result.stderr.strip()}")
    return result.stdout


def check_export(folder: str, tooltune: str) -> list[str]:
    """Everything transformers sees differently from ToolTune in an exported folder."""
    problems = []
    model, info = transformers.OPTForCausalLM.from_pretrained(
        folder, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    model.eval()
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        if info.get(kind):
            problems.append(f"{kind}: {sorted(info[kind])}")
    embed = model.model.decoder.embed_tokens.weight
    if model.lm_head.weight.data_ptr() != embed.data_ptr():
        problems.append("lm_head.weight is not tied to embed_tokens")
    stored = {t.dtype for t in load_file(os.path.join(folder, "model.safetensors")).values()}
    config = json.load(open(os.path.join(folder, "config.json")))
    if {getattr(torch, config["torch_dtype"])} != stored or config.get("dtype") != config["torch_dtype"]:
        problems.append(f"config dtype {config['torch_dtype']} / {config.get('dtype')}, tensors {stored}")
    generation = transformers.GenerationConfig.from_pretrained(folder)
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        if getattr(generation, name) != getattr(model.config, name):
            problems.append(f"generation_config {name} {getattr(generation, name)}, config {getattr(model.config, name)}")

    # The same input through both: bos-led random ids inside the vocabulary.
    gen = torch.Generator().manual_seed(7)
    length = min(16, model.config.max_position_embeddings)
    ids = ref.bos_led(gen, model.config.vocab_size, length, model.config.bos_token_id)
    with torch.no_grad():
        theirs = model(input_ids=ref.as_long(ids[None, :])).logits[0].numpy()
    with tempfile.TemporaryDirectory() as tmp:
        imported, logits = os.path.join(tmp, "model.h5"), os.path.join(tmp, "logits.h5")
        try:
            run_tooltune(tooltune, "import-hf", folder, imported)
            run_tooltune(tooltune, "forward", imported, "--ids", ",".join(map(str, ids)), "--logits", logits)
        except RuntimeError as error:
            print(f"{folder}: ToolTune cannot read it")
            return problems + [str(error)]
        with h5py.File(logits, "r") as f:
            ours = f["logits"][0]
    difference = float(np.abs(ours - theirs).max())
    if difference > LOGITS_TOLERANCE:
        problems.append(f"logits differ by {difference:.3g} (tolerance {LOGITS_TOLERANCE})")
    report = f"logits max |ToolTune - transformers| = {difference:.2e} over {ours.shape}"

    if os.path.exists(os.path.join(folder, "vocab.json")):
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
        want = tokenizer(TOKENIZER_TEXT)["input_ids"]
        got = [int(i) for i in run_tooltune(tooltune, "tokenize", "--tokenizer", folder, "--ids", "--bos", TOKENIZER_TEXT).split()]
        if got != want:
            problems.append(f"tokenizer: transformers {want}, ToolTune {got}")
        for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
            if getattr(tokenizer, name) != getattr(model.config, name):
                problems.append(f"tokenizer {name} {getattr(tokenizer, name)}, config {getattr(model.config, name)}")
        report += f"; tokenizer {type(tokenizer).__name__}: {len(want)} ids equal"
    print(f"{folder}: {report}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="rebuild in a temporary folder and compare")
    parser.add_argument("--out", default=FIXTURE_DIR, help="fixture directory (default: %(default)s)")
    parser.add_argument("--check-export", nargs="+", metavar="DIR", help="folders written by tooltune export-hf")
    parser.add_argument("--tooltune", default=os.path.join(REPO_ROOT, ".build", "debug", "tooltune"),
                        help="the tooltune binary for --check-export (default: %(default)s)")
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if args.check_export:
        ref.setup_torch()
        failed = False
        for folder in args.check_export:
            problems = check_export(folder, args.tooltune)
            for p in problems:
                print(f"  {p}")
            failed |= bool(problems)
        print("export check: " + ("FAILED" if failed else "transformers agrees"))
        return 1 if failed else 0
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            build(tmp)
            problems = compare(args.out, tmp)
        for p in problems:
            print(p)
        print("hf fixtures: " + ("OUT OF DATE" if problems else "current"))
        return 1 if problems else 0

    readme = os.path.join(args.out, "README.md")
    kept = open(readme).read() if os.path.exists(readme) else None
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    if kept is not None:
        open(readme, "w").write(kept)
    build(args.out)
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in weight_files(args.out))
    print(f"wrote {len(weight_files(args.out))} files, {total:,} bytes, to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
