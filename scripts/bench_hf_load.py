#!/usr/bin/env python3
"""Load time and peak memory of `tooltune import-hf` on an opt-350m-shaped checkpoint, side by side with
PyTorch loading the same files.

    python3 scripts/bench_hf_load.py [--work /tmp/tooltune-hf-bench] [--runs 3] [--scratch-path .build]

Saves a random opt-350m-shaped OPTForCausalLM (331M parameters) with transformers into --work (never into the
repository; about 4.7 GB): model.safetensors in fp32 and fp16 (save_pretrained), sharded fp32 safetensors, and
pytorch_model.bin in fp32 and fp16 (torch.save of the state dict, as transformers 4.x wrote it). Then, for each
folder, runs the release `tooltune import-hf FOLDER OUT.h5 --json` (config.json, the strict weight
loader, every tensor read into the model's float32 parameter buffer; then OUT.h5 written) and a PyTorch
baseline that does the reading part (safetensors.torch.load_file / torch.load(mmap=True, weights_only=True),
then each tensor converted to float32 and copied into one preallocated float32 buffer), each in a fresh
process, `--runs` times, and prints the median read time and the peak RSS during reading (import-hf reports
both before it writes OUT.h5; the write time is printed beside them). The first import of each folder is
checked against PyTorch's tensors, bit for bit. Files are read from the page cache (they were just written):
the figures are parsing + conversion + copying, not disk speed. One thread on both sides (import-hf reads
on one thread; PyTorch is set to one).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

OPT_350M = dict(
    vocab_size=50272, hidden_size=1024, num_hidden_layers=24, ffn_dim=4096, num_attention_heads=16,
    max_position_embeddings=2048, word_embed_proj_dim=512, do_layer_norm_before=False,
    _remove_final_layer_norm=False,
)
FOLDERS = ["fp32-safetensors", "fp32-sharded", "fp32-bin", "fp16-safetensors", "fp16-bin"]  # fp16 last: .to() is in place

# The PyTorch side: the reading part of import-hf, in a fresh interpreter.
PYTORCH_LOAD = textwrap.dedent("""
    import json, os, sys, time
    import torch
    torch.set_num_threads(1)
    folder, expected_path, scripts = sys.argv[1], sys.argv[2], sys.argv[3]
    sys.path.insert(0, scripts)
    from bench_hf_load import load_state
    expected = json.load(open(expected_path))
    def peak_rss_mb():  # VmHWM: getrusage's ru_maxrss is carried over from the parent process on Linux
        line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    import_rss = peak_rss_mb()
    start = time.perf_counter()
    state = load_state(folder)
    total = sum(torch.Size(shape).numel() for _, shape in expected)
    buffer = torch.empty(total, dtype=torch.float32)
    offset = 0
    for name, shape in expected:
        n = torch.Size(shape).numel()
        buffer[offset:offset + n].copy_(state[name].reshape(-1))  # converts fp16 -> fp32 on the way
        offset += n
    elapsed = time.perf_counter() - start
    peak = peak_rss_mb()
    print(json.dumps(dict(total_s=elapsed, peak_rss_mb=peak, import_rss_mb=import_rss)))
""")


def load_state(folder: str) -> dict:
    """The folder's tensors as PyTorch loads them: safetensors.torch.load_file, or torch.load(mmap=True)."""
    import torch
    from safetensors.torch import load_file

    if os.path.exists(os.path.join(folder, "model.safetensors")):
        return load_file(os.path.join(folder, "model.safetensors"))
    if os.path.exists(os.path.join(folder, "model.safetensors.index.json")):
        index = json.load(open(os.path.join(folder, "model.safetensors.index.json")))
        state = {}
        for shard in sorted(set(index["weight_map"].values())):
            state.update(load_file(os.path.join(folder, shard)))
        return state
    return torch.load(os.path.join(folder, "pytorch_model.bin"), mmap=True, weights_only=True)


def make_checkpoints(work: str) -> str:
    """Writes the folders (skipping those already there) and expected.json; returns expected.json's path."""
    import torch
    import transformers
    from transformers import OPTConfig, OPTForCausalLM

    expected_path = os.path.join(work, "expected.json")
    if all(os.path.isdir(os.path.join(work, f)) for f in FOLDERS) and os.path.exists(expected_path):
        return expected_path
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(0)
    model = OPTForCausalLM(OPTConfig(**OPT_350M)).eval()
    count = sum(p.numel() for p in model.parameters())
    print(f"opt-350m-shaped model: {count:,} parameters", flush=True)
    for folder in FOLDERS:
        path = os.path.join(work, folder)
        if os.path.isdir(path):
            continue
        dtype, fmt = folder.split("-")
        m = model.to(torch.float16 if dtype == "fp16" else torch.float32)
        os.makedirs(path)
        if fmt == "safetensors":
            m.save_pretrained(path, max_shard_size="50GB")
        elif fmt == "sharded":
            m.save_pretrained(path, max_shard_size="300MB")
        else:
            m.config.save_pretrained(path)
            torch.save(m.state_dict(), os.path.join(path, "pytorch_model.bin"))
        size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
        print(f"  wrote {folder}: {size / 1e6:,.0f} MB", flush=True)
    expected = [[n, list(t.shape)] for n, t in model.state_dict().items() if n != "lm_head.weight"]
    with open(expected_path, "w") as f:
        json.dump(expected, f)
    return expected_path


def run_json(command: list[str]) -> dict:
    out = subprocess.run(command, check=True, capture_output=True, text=True,
                         env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def same_as_pytorch(imported: str, folder: str, expected: list) -> bool:
    """The model import-hf wrote equals the folder's tensors as PyTorch loads them (widened to float32)."""
    import h5py
    import numpy as np

    state = load_state(folder)
    with h5py.File(imported, "r") as f:
        return all(np.array_equal(f["model"][name][()], state[name].float().numpy()) for name, _ in expected)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="/tmp/tooltune-hf-bench", help="where the checkpoints go (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scratch-path", default=".build", help="SwiftPM scratch path (default: %(default)s)")
    args = parser.parse_args()
    work = os.path.abspath(args.work)
    assert not work.startswith(REPO_ROOT), "the benchmark checkpoints must not go into the repository"
    os.makedirs(work, exist_ok=True)
    expected = make_checkpoints(work)

    subprocess.run(["swift", "build", "-c", "release", "--scratch-path", args.scratch_path, "--product", "tooltune"],
                   cwd=REPO_ROOT, check=True, capture_output=True)
    tooltune = os.path.join(REPO_ROOT, args.scratch_path, "release", "tooltune")
    imported = os.path.join(work, "imported.h5")

    print(f"\n{'checkpoint':18} {'MB':>6} | {'ToolTune s':>10} {'peak MiB':>8} {'(write s)':>9} | {'PyTorch s':>9}"
          f" {'peak MiB':>8} {'(import)':>8} | {'PyTorch/ToolTune':>16}")
    for folder in FOLDERS:
        path = os.path.join(work, folder)
        size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)) / 1e6
        ours = []
        for run in range(args.runs):
            ours.append(run_json([tooltune, "import-hf", path, imported, "--force", "--json"]))
            if run == 0:
                same = same_as_pytorch(imported, path, json.load(open(expected)))
        os.remove(imported)
        theirs = [run_json([sys.executable, "-c", PYTORCH_LOAD, path, expected, os.path.dirname(os.path.abspath(__file__))])
                  for _ in range(args.runs)]
        t_ours = statistics.median(r["read_s"] for r in ours)
        t_write = statistics.median(r["write_s"] for r in ours)
        t_theirs = statistics.median(r["total_s"] for r in theirs)
        rss_ours = max(r["read_peak_rss_mb"] for r in ours)
        rss_theirs = max(r["peak_rss_mb"] for r in theirs)
        import_rss = max(r["import_rss_mb"] for r in theirs)
        print(f"{folder:18} {size:6.0f} | {t_ours:10.2f} {rss_ours:8.0f} {t_write:9.2f} | {t_theirs:9.2f} {rss_theirs:8.0f}"
              f" {import_rss:8.0f} | {t_theirs / t_ours:16.2f}" + ("" if same else "  VALUES DIFFER FROM PYTORCH'S"))
    params = ours[0]["parameters"]
    print(f"\n{params:,} parameters = {params * 4 / 2**20:,.0f} MiB as float32 (the destination buffer). "
          f"Median of {args.runs} fresh processes; peak = largest VmHWM (MiB) while reading. (import) = PyTorch's peak "
          f"after `import torch`. (write s) = import-hf writing the .h5 (fsynced), not part of the comparison.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
