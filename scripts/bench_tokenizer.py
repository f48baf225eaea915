#!/usr/bin/env python3
"""Helpers for scripts/bench_tokenizer.sh (tokenizer throughput: ToolTune against Hugging Face `tokenizers`).

    python3 scripts/bench_tokenizer.py render OUT.txt          # the benchmark text (below)
    python3 scripts/bench_tokenizer.py ids TEXT.txt            # `tokenizers` ids of the text, space-separated
    python3 scripts/bench_tokenizer.py hf TEXT.txt MODE RUNS   # MB/s of RUNS timed runs, one per line
    python3 scripts/bench_tokenizer.py report NAME=FILE ...    # medians and ratios of the MB/s files

The text: every rendered demo example (demo/data train + eval, toolbench_format.render, each ending in
the literal "</s>"), concatenated in file order. Since "</s>" is split out before pre-tokenization, the
concatenation tokenizes exactly as the examples one by one.

`tokenizers` is set up as the fixtures are (train_demo_tokenizer.hf_tokenizer: demo vocab.json +
merges.txt, ByteLevel pre-tokenizer and decoder, "</s>" and "<pad>" added). Each timed run builds a fresh
tokenizer (a cold cache, like a fresh `tooltune tokenize` process) and times only the encode call:
  encode        tk.encode(whole text): one call, one thread
  batch         tk.encode_batch(examples): one call over the examples list; rayon's thread pool uses
                TOKENIZERS_PARALLELISM / RAYON_NUM_THREADS from the environment (the .sh sets them)
  batch_fast    tk.encode_batch_fast(examples): the same without character offsets
All three compute ids of the same text (the token counts are printed beside each speed).
"""

import glob
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TOK = os.path.join(ROOT, "demo", "tokenizer")


def rendered_examples():
    from toolbench_format import answer_file_examples, render
    texts = []
    for split in ("train", "eval"):
        for path in sorted(glob.glob(os.path.join(ROOT, "demo", "data", split, "G*_answer", "*.json"))):
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
            texts.extend(render(conv) for _, _, conv in answer_file_examples(d))
    return texts


def read_examples(path):
    """The examples of a rendered text file: cut after each "</s>" (every example ends with one)."""
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    parts = text.split("</s>")
    assert parts[-1] == "", "the benchmark text must end with </s>"
    return text, [p + "</s>" for p in parts[:-1]]


def main():
    cmd = sys.argv[1]
    if cmd == "render":
        texts = rendered_examples()
        with open(sys.argv[2], "w", encoding="utf-8", newline="") as f:
            f.write("".join(texts))
        size = sum(len(t.encode("utf-8")) for t in texts)
        print("%d rendered demo examples, %.2f MB" % (len(texts), size / 1e6))
    elif cmd == "ids":
        from train_demo_tokenizer import hf_tokenizer
        text, _ = read_examples(sys.argv[2])
        print(" ".join(map(str, hf_tokenizer(TOK).encode(text).ids)))
    elif cmd == "hf":
        from train_demo_tokenizer import hf_tokenizer
        text, examples = read_examples(sys.argv[2])
        mode, runs = sys.argv[3], int(sys.argv[4])
        size = len(text.encode("utf-8"))
        for _ in range(runs):
            tk = hf_tokenizer(TOK)
            start = time.perf_counter()
            if mode == "encode":
                n = len(tk.encode(text).ids)
            elif mode == "batch":
                n = sum(len(e.ids) for e in tk.encode_batch(examples))
            else:
                n = sum(len(e.ids) for e in tk.encode_batch_fast(examples))
            seconds = time.perf_counter() - start
            print("%.3f %d" % (size / 1e6 / seconds, n))
    elif cmd == "report":
        rows, counts = [], set()
        for arg in sys.argv[2:]:
            name, path = arg.split("=", 1)
            with open(path) as f:
                lines = [line.split() for line in f if line.strip()]
            values = [float(parts[0]) for parts in lines]
            counts.update(int(parts[1]) for parts in lines if len(parts) > 1)
            rows.append((name, statistics.median(values), values))
        assert len(counts) <= 1, "token counts differ between the tokenizers runs: %s" % counts
        base = rows[0][1]
        print("%-44s %9s %8s   runs (MB/s)" % ("", "median", "ratio"))
        for name, median, values in rows:
            print("%-44s %6.2f MB/s %7.2fx   %s" % (name, median, base / median, " ".join("%.2f" % v for v in values)))
        print("ratio = %s median / row median" % rows[0][0])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
