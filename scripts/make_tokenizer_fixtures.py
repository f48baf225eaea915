#!/usr/bin/env python3
"""Tokenizer parity fixtures for ToolTune's Swift byte-level BPE.

    python3 scripts/make_tokenizer_fixtures.py   # needs demo/data and demo/tokenizer

Writes Tests/Fixtures/tokenizer/:
  corpus.json     [{"name", "text"}]: the test strings below + rendered demo examples (template of
                  toolbench_format.render, ending in the literal "</s>")
  demo_ids.json   per corpus string, with the demo tokenizer (demo/tokenizer/vocab.json + merges.txt):
                    ids           `tokenizers` ids, no BOS; "</s>" and "<pad>" written in the text are
                                  split out first and map to 2 and 1 (OPT's declared special tokens);
                                  "<s>" and "<unk>" in a text are ordinary characters
                    ids_with_bos  OPT behaviour: [2] + ids (</s> is OPT's BOS)
                    pieces        the pre-tokenization split (GPT-2 regex, ByteLevel, use_regex,
                                  add_prefix_space false) as substrings of the ORIGINAL text; special
                                  tokens are single pieces. "".join(pieces) == text.
  real_toolbench_hashes.json
                  the 50 step examples of ../shared/toolbench/ToolBench-data_example rendered exactly as
                  preprocess_toolllama_data.py + the tool-llama-single-round template would: per example
                  only lengths and sha256 digests (the data itself must not be committed), so a Swift
                  test can render the same files itself (when ../shared is present) and compare.

All implementations (tokenizers, transformers, a pure-Python reference BPE) are checked to agree first
(train_demo_tokenizer.verify).
"""

import glob
import hashlib
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from toolbench_format import answer_file_examples, render, split_target

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "tokenizer")
TOK = os.path.join(ROOT, "demo", "tokenizer")
REAL = os.path.abspath(os.path.join(ROOT, "..", "..", "shared", "toolbench", "ToolBench-data_example", "answer"))
if not os.path.isdir(REAL):
    REAL = "/work/shared/toolbench/ToolBench-data_example/answer"

# (name, text). Each targets something a regex split or BPE port gets wrong easily.
STRINGS = [
    ("empty", ""),
    ("ascii_prose", "The quick brown fox jumps over the lazy dog. It was 7 o'clock in the morning."),
    ("ascii_punct", "Hello, world! (Yes?) [No.] {Maybe...} a-b_c/d\\e|f~g`h^i@j#k$l%m&n*o+p=q<r>s;t:u"),
    ("contractions", "It's what they're saying: we've seen it, I'm sure you'll see; he'd go, don't worry, 's 't"),
    ("contractions_upper", "IT'S WHAT THEY'RE SAYING: WE'VE SEEN IT, I'M SURE YOU'LL SEE; HE'D GO. JOHN'S 'S 'T"),
    ("contractions_curly", "It’s what they’re saying; we’ve seen it, I’m sure. ‘Quoted’ and “double”."),
    ("contractions_edge", "'s's 'll'd ''s 'S 'Ll rock'n'roll o' '"),
    ("accents_precomposed", "café naïve résumé coöperate El niño comió año Grüße über Straße Ærø Œuvre"),
    ("accents_combining", "cafe\u0301 nin\u0303o A\u030angstro\u0308m e\u0301\u0301 \u0301leading"),
    ("cjk_chinese", "我们明天早上九点在北京火车站见面。谢谢！"),
    ("cjk_japanese", "今日は天気がいいので、公園で散歩しましょう。カタカナとひらがな、ＡＢＣ１２３。"),
    ("korean", "오늘 서울 날씨가 아주 좋네요. 내일 다시 연락할게요."),
    ("korean_jamo", "\u1100\u1161\u11a8 \u3131\u314f"),
    ("arabic", "مرحبا، كيف حالك اليوم؟ الطقس جميل في القاهرة ١٢٣٤."),
    ("hebrew_rtl_mixed", "שלום world 123 עולם"),
    ("devanagari_thai", "नमस्ते, आज मौसम अच्छा है। สวัสดีครับ"),
    ("greek_cyrillic", "Καλημέρα κόσμε. Привет, мир!"),
    ("emoji_simple", "I love it 😀😀 🎉!"),
    ("emoji_modifiers", "👍🏽 👋🏿 ❤️ ☕️ ✈️"),
    ("emoji_zwj", "👩‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 🧑🏽‍🚀"),
    ("emoji_flags_keycaps", "🇫🇷🇯🇵🇺🇸 1️⃣ #️⃣"),
    ("digits_runs", "1 12 123 1234 12345 123456 1234567 12345678901234567890"),
    ("digits_decimal", "3.14 -2.5 0.000123 1e-5 1,000,000 2,048 1_000_000 +42 $9.99 50%"),
    ("digits_mixed", "abc123def x1234567y A1B2 3rd 2024-05-14T09:30:00Z 9:30"),
    ("digits_unicode", "١٢٣ ৪৫ ½ ² ③ Ⅻ ０１２"),
    ("spaces_multiple", "a  b   c    d     e"),
    ("spaces_tabs", "a\tb\t\tc \t d\t"),
    ("spaces_trailing", "trailing spaces   "),
    ("spaces_leading", "   leading spaces"),
    ("only_spaces", "     "),
    ("only_one_space", " "),
    ("newlines_double", "line one\n\nline two\n\n\nline three\n"),
    ("newlines_crlf", "windows\r\nline\r\n\r\nend\r"),
    ("space_before_newline", "space before newline  \nnext \n \n  x"),
    ("only_newlines", "\n\n\n"),
    ("unicode_spaces", "a\u00a0b\u00a0\u00a0c \u3000d\u3000\u3000e\u2003f\u2009g\u202fh"),
    ("unicode_invisible", "zero\u200bwidth\u200cnon\u200djoiner \ufeffbom \u2028ls \u2029ps \u0085nel \u000bvt \u000cff"),
    ("json_escapes", '{"text": "line1\\nline2", "quote": "\\"hi\\"", "e": "caf\\u00e9", "tab": "\\t", "slash": "a\\/b"}'),
    ("json_nested_escapes", '{"error": "", "response": "{\\"city\\":\\"Z\\\\u00fcrich\\",\\"t\\":21.5}"}'),
    ("json_pretty", '{\n  "return_type": "give_answer",\n  "final_answer": "It is 21\u00b0C in Z\u00fcrich."\n}'),
    ("python_repr", "{'name': 'Finish', 'flag': True, 'x': None, 'n': 3.5, 'l': ['a', \"b's\"], 'd': {}}"),
    ("python_repr_unicode", "{'city': 'São Paulo', 'local_name': '建国記念の日', 'temp': -3.0}"),
    ("code_python", "def f(x: int) -> int:\n    return x ** 2  # square\n\nprint(f(12))\n"),
    ("code_swift", "let ids = text.unicodeScalars.map { $0.value } // 👀\nguard !ids.isEmpty else { return [] }"),
    ("url_path", "https://example.com/a/b?c=1&d=%20e#frag /usr/local/bin ~/x.y"),
    ("control_chars", "\x00nul \x01soh \x07bel \x08bs \x1b[31mred\x1b[0m \x7fdel \x9f"),
    ("private_and_max", "\ue000 \ufffd \U0001d11e \U0010ffff"),
    ("special_tokens_in_text", "<s>Hello</s> <pad><unk></s></s>a</s>b <s > </S> <\\s>"),
    ("template_markers", "System: x\nUser: \ny\nBegin!\nAssistant: \nThought: \nAction: Finish\nAction Input: {}</s>"),
    ("long_repeated_letter", "a" * 2000),
    ("long_repeated_punct", "=" * 2000),
    ("long_repeated_space_then_word", " " * 300 + "word"),
    ("mixed_everything", "Zürich 21°C ☀️ — 東京 9:30 (UTC+09:00) → 1,234.56 USD ≈ 1 140,50 € ✓"),
]


def demo_examples():
    """A few rendered demo examples chosen for coverage (first match in file order, deterministic)."""
    picks = {}
    for split in ("train", "eval"):
        for path in sorted(glob.glob(os.path.join(ROOT, "demo", "data", split, "G*_answer", "*.json"))):
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
            for k, step, conv in answer_file_examples(d):
                text = render(conv)
                tgt = split_target(text)[1]
                rel = "%s/%s#%d" % (split, os.path.relpath(path, os.path.join(ROOT, "demo", "data", split)), k)
                feats = {
                    "demo_first_step": step == 2 and split == "train",
                    "demo_finish": "\nAction: Finish\n" in tgt and "give_answer" in tgt,
                    "demo_give_up": "give_up_and_restart" in tgt,
                    "demo_backtracking_turn": sum(c["from"] == "user" for c in conv) > 1,
                    "demo_truncated_observation": any(c["from"] == "function" and c["value"].endswith("...") for c in conv),
                    "demo_thought_target": not tgt.startswith("\nThought: \nAction:"),
                    "demo_non_ascii": any(ord(ch) > 0x3000 for ch in tgt),
                    "demo_eval_long": split == "eval" and len(text) > 5000,
                }
                for name, ok in feats.items():
                    if ok and name not in picks:
                        picks[name] = (rel, text)
    return [(name + " (" + rel + ")", text) for name, (rel, text) in sorted(picks.items())]


def build_corpus():
    return [{"name": n, "text": t} for n, t in STRINGS + demo_examples()]


def pieces(text):
    """Pre-tokenization split mapped back to the original text, special tokens split out first."""
    import re
    from tokenizers.pre_tokenizers import ByteLevel
    pt = ByteLevel(add_prefix_space=False, use_regex=True)
    out = []
    for part in re.split("(</s>|<pad>)", text):  # train_demo_tokenizer.TEXT_SPECIALS
        if part in ("</s>", "<pad>"):
            out.append(part)
        elif part:
            for sym, (a, b) in pt.pre_tokenize_str(part):
                out.append(part[a:b])
    return out


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def ids_digest(ids):
    """sha256 of the ids written as ASCII decimal, comma-separated, no spaces, no BOS: "2,345,17"."""
    return sha256(",".join(map(str, ids)).encode("ascii"))


def file_sha(path):
    with open(path, "rb") as f:
        return sha256(f.read())


def real_hashes(tk):
    files = sorted(glob.glob(os.path.join(REAL, "G*_answer", "*.json")))
    if not files:
        raise SystemExit("real ToolBench data not found at %s" % REAL)
    out, chars, toks = [], 0, 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        rel = os.path.relpath(path, REAL)
        for k, step, conv in answer_file_examples(d):
            text = render(conv)
            ctx, tgt = split_target(text)
            enc = tk.encode(text)
            ids = enc.ids
            n_ctx = sum(1 for (a, b) in enc.offsets if a < len(ctx))
            # The target starts with "\n" after "Assistant: ", so the token boundary falls exactly
            # at the character boundary: context and target tokenize independently.
            assert tk.encode(ctx).ids + tk.encode(tgt).ids == ids, rel
            chars += len(text)
            toks += len(ids)
            out.append({"file": rel, "entry": k, "step": step, "turns": len(conv),
                        "chars": len(text), "utf8_bytes": len(text.encode("utf-8")),
                        "sha256": sha256(text.encode("utf-8")),
                        "context_chars": len(ctx), "context_sha256": sha256(ctx.encode("utf-8")),
                        "target_chars": len(tgt),
                        "tokens": len(ids), "context_tokens": n_ctx, "target_tokens": len(ids) - n_ctx,
                        "tokens_sha256": ids_digest(ids)})
    return out, chars, toks, len(files)


def main():
    from train_demo_tokenizer import ReferenceBPE, hf_tokenizer, verify
    corpus = build_corpus()
    texts = [c["text"] for c in corpus]
    assert len(set(c["name"] for c in corpus)) == len(corpus)
    ids = verify(texts, TOK)
    ref = ReferenceBPE(os.path.join(TOK, "vocab.json"), os.path.join(TOK, "merges.txt"))
    cases = []
    for c, i in zip(corpus, ids):
        p = pieces(c["text"])
        assert "".join(p) == c["text"], c["name"]
        assert p == ref.pieces(c["text"]), "regex split differs (tokenizers vs regex) on " + c["name"]
        cases.append({"name": c["name"], "ids": i, "ids_with_bos": [2] + i, "pieces": p})
    tk = hf_tokenizer(TOK)
    real, rchars, rtoks, nfiles = real_hashes(tk)
    demo_chars = sum(len(c["text"]) for c in corpus if c["name"].startswith("demo_"))
    demo_toks = sum(len(x["ids"]) for x in cases if x["name"].startswith("demo_"))
    tok_info = {"vocab_json_sha256": file_sha(os.path.join(TOK, "vocab.json")),
                "merges_txt_sha256": file_sha(os.path.join(TOK, "merges.txt")),
                "vocab_size": len(json.load(open(os.path.join(TOK, "vocab.json"), encoding="utf-8"))),
                "special_ids": {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}, "bos_id": 2, "eos_id": 2,
                "pad_id": 1}
    os.makedirs(OUT, exist_ok=True)

    def dump(name, obj):
        with open(os.path.join(OUT, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(json.dumps(obj, ensure_ascii=False, indent=1) + "\n")

    dump("corpus.json", corpus)
    dump("demo_ids.json", {
        "about": "Ids of each corpus.json string (same order, same name) with demo/tokenizer. ids: no BOS; "
                 "ids_with_bos: OPT prepends </s> (2). '</s>' and '<pad>' written in the text (OPT's declared "
                 "special tokens) are matched literally before the regex split and map to 2 and 1; '<s>' and "
                 "'<unk>' in a text are ordinary characters. pieces: the GPT-2 regex split as substrings of "
                 "the original text (concatenation == text), '</s>'/'<pad>' as single pieces.",
        "tokenizer": tok_info, "cases": cases})
    dump("real_toolbench_hashes.json", {
        "about": "ToolBench data_example answer files (../shared/toolbench/ToolBench-data_example/answer) "
                 "rendered like preprocess_toolllama_data.py (method DFS_woFilter_w2; valid_data=false files "
                 "and train_messages entries ending in a content-only assistant message give no example) + "
                 "template tool-llama-single-round (Role: value\\n ..., last turn + '</s>'). One record per "
                 "step example in file order (sorted paths), entry = index in train_messages. chars = Unicode "
                 "scalars (Python len); sha256 over UTF-8. context = text up to and including the last "
                 "'\\nAssistant: '; target = the rest (incl. '</s>'). tokens: demo tokenizer, no BOS, the "
                 "trailing '</s>' is the special token 2; tokens_sha256 = sha256 of the ids as ASCII decimal "
                 "joined by ',' (no spaces).",
        "tokenizer": tok_info, "files": nfiles, "examples": len(real),
        "total_chars": rchars, "total_tokens": rtoks, "records": real})
    print("corpus: %d strings (%d rendered demo examples); real ToolBench: %d files -> %d examples"
          % (len(corpus), sum(c["name"].startswith("demo_") for c in corpus), nfiles, len(real)))
    print("chars/token: demo examples %.2f, real ToolBench examples %.2f; real tokens min/median/max %d / %d / %d"
          % (demo_chars / demo_toks, rchars / rtoks, min(r["tokens"] for r in real),
             statistics.median(r["tokens"] for r in real), max(r["tokens"] for r in real)))
    for n in ("corpus.json", "demo_ids.json", "real_toolbench_hashes.json"):
        print("  %s %.1f KB" % (n, os.path.getsize(os.path.join(OUT, n)) / 1e3))


if __name__ == "__main__":
    main()
