#!/usr/bin/env python3
"""Train the same job with TRL's SFTTrainer and with ToolTune, and compare per-step losses and wall time.

    python3 scripts/trl_twin.py jobs/demo.yaml [--steps N] [--precision fp32|bf16] [--repeats R]

What it does, in one run on one machine:
1. `tooltune validate` gives the job with every default filled in; `tooltune prepare` runs if the job's
   prepared training data is missing or out of date.
2. A twin job is written to the work folder (--workdir, default runs/trl-twin/<job name>-<precision>): the
   job with train.max_steps = N (so both learning-rate schedules span the same N steps), a fresh checkpoint.dir
   whose data/train.h5 links to the job's prepared data, resume: never, and train.precision for --precision bf16.
3. `tooltune export-steps` writes the run's initial model and the rows of every step as the coordinator
   plans them (one per chain of shared prefixes: input_ids, labels with -100 outside the loss and EOS where a
   shorter example of the chain ends); `tooltune export-hf` makes the model a Hugging Face folder.
4. For each repeat, back to back: TRL's SFTTrainer in a fresh Python process, then `tooltune train` on the
   twin job (under mpirun when the job has several ranks). Losses come from the first repeat (the others are
   checked to be identical); wall times are medians over the repeats.
5. Prints the per-step losses side by side with the relative difference, the gradient norms and learning
   rates, the largest difference, and wall time per optimizer step and per epoch with the ratio TRL / ToolTune;
   writes everything to <workdir>/comparison.json.

The job's settings in TRL (SFTConfig / the Hugging Face model):
    train.optimizer.lr, betas, eps, weight_decay  learning_rate, adam_beta1, adam_beta2, adam_epsilon,
                                                  weight_decay; optim="adamw_torch_fused" (torch.optim.AdamW)
    no-decay set                                  the Trainer's own: biases and LayerNorm weights, which is
                                                  ToolTune's set (printed and checked below)
    train.schedule (linear, cosine, constant)     lr_scheduler_type linear, cosine, constant_with_warmup;
                                                  warmup_steps = ToolTune's (plan.json: ceil(ratio x steps))
    train.max_grad_norm                           max_grad_norm (0 = off in both)
    train.dropout                                 config.dropout (OPT's: attention output and fc2 output);
                                                  attention_dropout and layerdrop 0, as ToolTune
    seed                                          seed (the initial weights are ToolTune's, exported)
    train.global_batch_tokens, micro_batch_tokens gradient_accumulation_steps = ceil(global / micro); each step's
                                                  rows (ToolTune's, see below) dealt into that many micro-batches
    data.max_seq_len, fitting, packing plan       taken as prepared: TRL gets the fitted examples, never truncates
    loss on the target tokens                     the exported labels (-100 outside the loss); TRL's loss is the
                                                  sum over the step's target tokens / their count (num_items_in_batch
                                                  over all accumulated micro-batches), which is ToolTune's
    distributed.ranks x threads_per_rank          torch.set_num_threads(ranks x threads): TRL runs as one process on
                                                  the cores the ToolTune job uses
    train.precision bf16 (--precision bf16)       bf16=True (torch.autocast bf16 on CPU); fp32 otherwise (bf16=False,
                                                  TRL's default is True)
    also: activation (gradient) checkpointing off (TRL defaults to on; ToolTune keeps activations), attention "sdpa",
    padding_free=False, packing=False, dataset preparation skipped (the examples are already tokenized and fitted).

What cannot be mapped, and what is done instead:
- Shared prefixes (data.share_prefixes, on by default). TRL has no such mode: it trains each example as its own
  row. The twin gives TRL ToolTune's chains, one row each, so both run the same tokens at the same positions and
  the comparison stays exact (same loss terms from the same rows; wall time for the same work). A shorter
  example's `</s>` inside a chain is a label over another input token (the longer example's next turn): the
  exported labels say EOS there, TRL's collator keeps the labels it is given, and transformers' causal-LM loss
  takes its targets from the labels alone (shifted by one), never from input_ids, so that position trains as
  ToolTune trains it. A TRL run as a TRL user would make it (every example its own row) is the same job with
  data.share_prefixes: false.
- Packing. ToolTune packs several chains into one sequence with a block-diagonal causal mask. TRL packs with
  padding-free rows and position_ids, which keep examples apart only with FlashAttention; transformers' OPT
  builds its mask from the attention mask alone (it ignores position_ids for that), and there is no
  FlashAttention on CPU, so packed rows would attend across chains. TRL therefore gets one chain per row,
  right-padded to the longest row of its micro-batch: the same loss terms, more padding.
- Data order and batch composition. TRL draws fixed-size batches from a sampler; ToolTune's steps are token
  budgets over a seeded permutation of packed sequences. The Trainer's dataloader is replaced by one that
  yields, for every optimizer step, that step's rows (exported from ToolTune's plan) dealt into exactly
  gradient_accumulation_steps micro-batches: longest first, cut into runs of about equal tokens. A step with
  fewer rows than micro-batches gets empty micro-batches (one padding row, no labels): they add nothing to
  the loss or the gradient, and their count is printed.
- Loss normalisation across accumulation steps needs no workaround: both divide the summed token losses by the
  step's target-token count (TRL: num_items_in_batch, counted by the Trainer over the step's micro-batches).
- Dropout masks come from different generators, so with dropout > 0 the losses agree only statistically;
  compare with dropout 0.
- Summation order differs (micro-batch shapes, padding, kernels), so fp32 losses agree to rounding at first and
  drift apart slowly as training amplifies it.
- Wall time per step: TRL from one on_step_end callback to the next (includes fetching and collating the step's
  micro-batches, forward/backward, clipping, the optimizer, the scheduler and logging); ToolTune the step's
  `seconds` in metrics.jsonl (reading the step's sequences, forward/backward, the gradient allreduce, clipping and
  AdamW). The first step of each is left out of the per-step median (warm-up). Per epoch: the sum of an epoch's
  step times when the run covers the first epoch, otherwise the mean step time (first step left out) times the
  epoch's steps, marked as extrapolated. Process wall times (start-up included) are printed too.

Packages: scripts/requirements-reference.txt (trl and its dependencies, pinned).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IGNORE = -100


# ----------------------------------------------------------------------------------------------------------
# The TRL side (runs in its own process: `trl_twin.py --trl-worker WORKDIR RESULT.json`)


def deal(rows: list[dict], count: int) -> list[list[int]]:
    """Indices of a step's rows in `count` micro-batches: longest first (so rows of one micro-batch are
    close in length and padding stays small), cut into consecutive runs of about total/count tokens each. A
    micro-batch may stay empty only when the step has fewer rows than `count`."""
    order = sorted(range(len(rows)), key=lambda i: (-len(rows[i]["input_ids"]), i))
    total = sum(len(rows[i]["input_ids"]) for i in order)
    batches: list[list[int]] = [[] for _ in range(count)]
    done, b = 0, 0
    for position, i in enumerate(order):
        left = len(order) - position
        # Move on when this run has its share, or when the remaining runs need one row each.
        if batches[b] and b < count - 1 and (done >= total * (b + 1) / count or left <= count - 1 - b):
            b += 1
        batches[b].append(i)
        done += len(rows[i]["input_ids"])
    return batches


def trl_worker(workdir: Path, result_path: Path) -> None:
    settings = json.loads((workdir / "twin.json").read_text())
    threads = settings["threads"]
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    import transformers
    from datasets import Dataset
    from torch.utils.data import DataLoader
    from transformers import AutoTokenizer, OPTForCausalLM, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    transformers.logging.set_verbosity_error()
    job, plan = settings["job"], json.loads((workdir / "export" / "plan.json").read_text())
    train = job["train"]
    exported = [json.loads(line) for line in (workdir / "export" / "examples.jsonl").open()]
    accumulation = math.ceil(train["global_batch_tokens"] / train["micro_batch_tokens"])

    # The dataset: every row (a chain) once, in export order, then one empty row for steps that need it.
    rows = [{"input_ids": e["input_ids"], "labels": e["labels"]} for e in exported]
    pad = job["model_pad_token_id"]
    empty = len(rows)
    rows.append({"input_ids": [pad, pad], "labels": [IGNORE, IGNORE]})
    micro_batches, empties = [], 0
    by_step: dict[int, list[int]] = {}
    for index, e in enumerate(exported):
        by_step.setdefault(e["step"], []).append(index)
    for step in sorted(by_step):
        members = by_step[step]
        for batch in deal([exported[i] for i in members], accumulation):
            micro_batches.append([members[i] for i in batch] if batch else [empty])
            empties += not batch

    model = OPTForCausalLM.from_pretrained(
        workdir / "hf", dtype=torch.float32, attn_implementation="sdpa",
        dropout=train["dropout"], attention_dropout=0.0, layerdrop=0.0)
    tokenizer = AutoTokenizer.from_pretrained(workdir / "hf")
    schedule = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}[train["schedule"]["name"]]
    optimizer = train["optimizer"]
    config = SFTConfig(
        output_dir=str(workdir / "trl-output"), max_steps=len(by_step), num_train_epochs=1,
        per_device_train_batch_size=1, gradient_accumulation_steps=accumulation,
        learning_rate=optimizer["lr"], adam_beta1=optimizer["betas"][0], adam_beta2=optimizer["betas"][1],
        adam_epsilon=optimizer["eps"], weight_decay=optimizer["weight_decay"], optim="adamw_torch_fused",
        lr_scheduler_type=schedule, warmup_steps=plan["warmup_steps"], max_grad_norm=train["max_grad_norm"],
        seed=job["seed"], bf16=settings["precision"] == "bf16", fp16=False, activation_checkpointing=False,
        packing=False, padding_free=False, max_length=None, dataset_kwargs={"skip_prepare_dataset": True},
        remove_unused_columns=False, use_cpu=True, dataloader_num_workers=0, logging_steps=1, save_strategy="no",
        report_to=[], disable_tqdm=True)

    class TwinTrainer(SFTTrainer):
        """SFTTrainer whose dataloader yields ToolTune's steps: gradient_accumulation_steps micro-batches each."""

        def get_train_dataloader(self):
            return DataLoader(self.train_dataset, batch_sampler=micro_batches, collate_fn=self.data_collator)

    class Record(TrainerCallback):
        def __init__(self):
            self.steps, self.last = [], None

        def on_train_begin(self, args, state, control, **kwargs):
            self.last = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            now = time.perf_counter()
            self.steps.append({"step": state.global_step, "seconds": now - self.last})
            self.last = now

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs and self.steps and self.steps[-1]["step"] == state.global_step:
                self.steps[-1].update(loss=logs["loss"], grad_norm=float(logs["grad_norm"]), lr=logs["learning_rate"])

    record = Record()
    trainer = TwinTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                          callbacks=[record])
    no_decay = sorted(n for n, _ in model.named_parameters() if n not in set(trainer.get_decay_parameter_names(model)))
    start = time.perf_counter()
    trainer.train()
    result = dict(steps=record.steps, seconds=time.perf_counter() - start, accumulation=accumulation,
                  empty_micro_batches=empties, no_decay=no_decay, threads=torch.get_num_threads(),
                  versions={m.__name__: m.__version__ for m in (torch, transformers, sys.modules["trl"])})
    result_path.write_text(json.dumps(result))


# ----------------------------------------------------------------------------------------------------------
# The driver


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Runs a command; on failure prints its output and stops."""
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        sys.exit(f"trl_twin: {' '.join(map(str, command))} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done


def export_steps(binary: str, job: str, arguments: list[str]) -> None:
    """`tooltune export-steps`; when the prepared data is out of date for the job, prepares it again first."""
    command = [binary, "export-steps"] + arguments
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 and "is out of date" in done.stderr:
        print(f"preparing {job} again: {done.stderr.strip()}", file=sys.stderr)
        run([binary, "prepare", job])
        done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"trl_twin: {' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def twin_job(job: dict, steps: int, precision: str, run_dir: Path) -> dict:
    """The job as ToolTune trains it here: N steps (the schedule spans them), a fresh run folder."""
    twin = json.loads(json.dumps(job))
    twin["name"] = f"{job['name']}-twin"
    twin["train"]["max_steps"] = steps
    if precision == "bf16":
        twin["train"]["precision"] = "bf16"
    twin["checkpoint"] = dict(dir=str(run_dir), every_steps=steps, keep_last=1, resume="never")
    twin.pop("eval", None)
    return twin


def tooltune_run(binary: str, job_path: Path, ranks: int) -> list[str]:
    command = [binary, "train", str(job_path)]
    if ranks == 1:
        return command
    return ["mpirun", "-n", str(ranks), "--oversubscribe", "--bind-to", "none"] + (
        ["--allow-run-as-root"] if os.geteuid() == 0 else []) + command


def timing(steps: list[dict], steps_per_epoch: int) -> dict:
    seconds = [s["seconds"] for s in steps]
    later = seconds[1:] or seconds
    if len(seconds) >= steps_per_epoch:
        epoch, extrapolated = sum(seconds[:steps_per_epoch]), False
    else:
        epoch, extrapolated = statistics.fmean(later) * steps_per_epoch, True
    return dict(step_median=statistics.median(later), epoch=epoch, extrapolated=extrapolated, total=sum(seconds))


def relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("job", help="the job YAML")
    parser.add_argument("--steps", type=int, help="optimizer steps (default: the job's first epoch)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--repeats", type=int, default=1, help="timing pairs (TRL, then ToolTune), back to back")
    parser.add_argument("--tooltune", default=str(REPO / ".build" / "release" / "tooltune"), help="the tooltune binary")
    parser.add_argument("--workdir", help="work folder (default runs/trl-twin/<job name>-<precision>)")
    parser.add_argument("--first-steps", type=int, default=5, help="steps held to 1e-4 relative (default 5)")
    if sys.argv[1:2] == ["--trl-worker"]:  # the TRL side, in its own process
        return trl_worker(Path(sys.argv[2]), Path(sys.argv[3]))
    args = parser.parse_args()

    import yaml

    binary = args.tooltune
    job = yaml.safe_load(run([binary, "validate", args.job]).stdout)
    workdir = Path(args.workdir or f"runs/trl-twin/{job['name']}-{args.precision}").resolve()
    prepared = job["data"]["train"] if job["data"]["train"].endswith(".h5") else \
        os.path.join(job["checkpoint"]["dir"], "data", "train.h5")
    if not os.path.exists(prepared):
        print(f"preparing {args.job} ({prepared} is missing)", file=sys.stderr)
        run([binary, "prepare", args.job])
    ranks = job["distributed"].get("ranks") or 1
    threads = ranks * job["distributed"]["threads_per_rank"]

    # The twin job, its export, and the initial model as a Hugging Face folder.
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)

    def run_folder(name: str) -> Path:
        folder = workdir / name
        (folder / "data").mkdir(parents=True)
        if not job["data"]["train"].endswith(".h5"):
            (folder / "data" / "train.h5").symlink_to(Path(prepared).resolve())
        return folder

    steps = args.steps
    if steps is None:  # the first epoch: ask the planner how many steps it has
        probe = twin_job(job, 1, args.precision, run_folder("probe"))
        (workdir / "probe.yaml").write_text(yaml.safe_dump(probe, sort_keys=False))
        export_steps(binary, args.job, [str(workdir / "probe.yaml"), str(workdir / "probe-export"), "--steps", "1"])
        steps = json.loads((workdir / "probe-export" / "plan.json").read_text())["steps_per_epoch"][0]
        shutil.rmtree(workdir / "probe-export")
        shutil.rmtree(workdir / "probe")
        (workdir / "probe.yaml").unlink()

    twin_paths = []
    for r in range(args.repeats):
        twin = twin_job(job, steps, args.precision, run_folder(f"tooltune-{r + 1}"))
        path = workdir / f"twin-{r + 1}.yaml"
        path.write_text(yaml.safe_dump(twin, sort_keys=False))
        twin_paths.append(path)
    export_steps(binary, args.job, [str(twin_paths[0]), str(workdir / "export")])
    run([binary, "export-hf", str(workdir / "export" / "initial.h5"), str(workdir / "hf"), "--tokenizer",
         job["tokenizer"]["path"]])
    plan = json.loads((workdir / "export" / "plan.json").read_text())
    pad = json.loads((workdir / "hf" / "config.json").read_text())["pad_token_id"]
    (workdir / "twin.json").write_text(json.dumps(dict(
        job={**job, "model_pad_token_id": pad}, precision=args.precision, threads=threads)))

    # Timing pairs, back to back: TRL, then ToolTune.
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    trl_runs, tooltune_runs = [], []
    for r in range(args.repeats):
        result = workdir / f"trl-{r + 1}.json"
        start = time.perf_counter()
        run([sys.executable, __file__, "--trl-worker", str(workdir), str(result)], env=env)
        trl = json.loads(result.read_text())
        trl["process_seconds"] = time.perf_counter() - start
        trl_runs.append(trl)
        start = time.perf_counter()
        run(tooltune_run(binary, twin_paths[r], ranks))
        seconds = time.perf_counter() - start
        metrics = [json.loads(line) for line in (workdir / f"tooltune-{r + 1}" / "metrics.jsonl").open()]
        tooltune_runs.append(dict(steps=metrics, process_seconds=seconds))
        print(f"repeat {r + 1}/{args.repeats}: TRL {trl['process_seconds']:.1f} s, ToolTune {seconds:.1f} s",
              file=sys.stderr)

    report(job, plan, args, steps, threads, ranks, trl_runs, tooltune_runs, workdir)


def report(job, plan, args, steps, threads, ranks, trl_runs, tooltune_runs, workdir: Path) -> None:
    trl, ours = trl_runs[0]["steps"], tooltune_runs[0]["steps"]
    assert len(trl) == len(ours) == steps, f"steps: TRL {len(trl)}, ToolTune {len(ours)}, asked {steps}"
    for k, other in enumerate(trl_runs[1:] + tooltune_runs[1:]):
        first = trl if k < len(trl_runs) - 1 else ours
        if [s["loss"] for s in other["steps"]] != [s["loss"] for s in first]:
            print(f"note: repeat {k + 2} has different losses than repeat 1", file=sys.stderr)
    print(f"{args.job}: {steps} steps, {args.precision}, {ranks} rank(s) x {job['distributed']['threads_per_rank']} "
          f"thread(s) for ToolTune, {threads} torch threads for TRL; gradient accumulation "
          f"{trl_runs[0]['accumulation']} ({trl_runs[0]['empty_micro_batches']} empty micro-batches); "
          f"dropout {job['train']['dropout']}")
    print(f"TRL no-decay parameters: {len(trl_runs[0]['no_decay'])} (biases and LayerNorm weights: "
          f"{all(n.endswith('bias') or 'layer_norm' in n for n in trl_runs[0]['no_decay'])})")
    print()
    print(f"{'step':>5} {'tokens':>7} {'targets':>7} {'ToolTune loss':>14} {'TRL loss':>14} {'rel. diff':>10} "
          f"{'grad norm TT':>12} {'grad norm TRL':>13} {'lr rel. diff':>12} {'s TT':>7} {'s TRL':>7}")
    rows = []
    for p, a, b in zip(plan["steps"], ours, trl):
        d = relative(a["loss"], b["loss"])
        rows.append(dict(step=p["step"], tokens=p["tokens"], target_tokens=p["target_tokens"], tooltune_loss=a["loss"],
                         trl_loss=b["loss"], relative_difference=d, tooltune_grad_norm=a["grad_norm"],
                         trl_grad_norm=b["grad_norm"], tooltune_lr=a["lr"], trl_lr=b["lr"],
                         tooltune_seconds=a["seconds"], trl_seconds=b["seconds"]))
        print(f"{p['step']:>5} {p['tokens']:>7} {p['target_tokens']:>7} {a['loss']:>14.8f} {b['loss']:>14.8f} "
              f"{d:>10.2e} {a['grad_norm']:>12.6f} {b['grad_norm']:>13.6f} {relative(a['lr'], b['lr']):>12.1e} "
              f"{a['seconds']:>7.3f} {b['seconds']:>7.3f}")
    first = max(r["relative_difference"] for r in rows[:args.first_steps])
    worst = max(rows, key=lambda r: r["relative_difference"])
    print()
    print(f"largest relative loss difference: {worst['relative_difference']:.2e} (step {worst['step']}); "
          f"steps 1-{min(args.first_steps, steps)}: {first:.2e} "
          f"({'within' if first <= 1e-4 else 'NOT within'} 1e-4); all steps "
          f"{'within' if worst['relative_difference'] <= 1e-2 else 'NOT within'} 1%")

    per_epoch = plan["steps_per_epoch"][0]
    ours_t = [timing(r["steps"], per_epoch) for r in tooltune_runs]
    trl_t = [timing(r["steps"], per_epoch) for r in trl_runs]

    def median(values, key):
        return statistics.median(v[key] for v in values)

    table = {}
    for key in ("step_median", "epoch"):
        a, b = median(ours_t, key), median(trl_t, key)
        table[key] = dict(tooltune=a, trl=b, ratio=b / a)
    a = statistics.median(r["process_seconds"] for r in tooltune_runs)
    b = statistics.median(r["process_seconds"] for r in trl_runs)
    table["process"] = dict(tooltune=a, trl=b, ratio=b / a)
    extrapolated = ours_t[0]["extrapolated"]
    print()
    print(f"wall time, medians of {args.repeats} run(s) each, {args.precision}:")
    print("| | ToolTune | TRL | TRL / ToolTune |")
    print("| --- | ---: | ---: | ---: |")
    for key, label in (("step_median", "per optimizer step"),
                       ("epoch", f"per epoch ({per_epoch} steps{', extrapolated' if extrapolated else ''})"),
                       ("process", f"whole run ({steps} steps, start-up included)")):
        t = table[key]
        print(f"| {label} | {t['tooltune']:.3f} s | {t['trl']:.3f} s | {t['ratio']:.2f} |")
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; {trl_runs[0]['versions']}")
    (workdir / "comparison.json").write_text(json.dumps(dict(
        job=args.job, steps=steps, precision=args.precision, repeats=args.repeats, ranks=ranks, threads=threads,
        accumulation=trl_runs[0]["accumulation"], empty_micro_batches=trl_runs[0]["empty_micro_batches"],
        rows=rows, largest_relative_difference=worst["relative_difference"], first_steps_difference=first,
        wall=table, tooltune_timing=ours_t, trl_timing=trl_t, load_average=load, versions=trl_runs[0]["versions"]),
        indent=1))


if __name__ == "__main__":
    main()
