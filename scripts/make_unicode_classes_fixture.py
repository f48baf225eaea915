#!/usr/bin/env python3
"""The character classes of the GPT-2 pre-tokenizer regex, as Hugging Face `tokenizers` applies them.

    python3 scripts/make_unicode_classes_fixture.py     # ~1 minute; needs `tokenizers` (0.23.3 used)

Writes Tests/Fixtures/tokenizer/unicode_classes.json. The GPT-2 pattern
    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
sorts every scalar into one of four classes: L (\\p{L}), N (\\p{N}), S (\\s) or O (everything else).
`tokenizers` runs it with Oniguruma, whose Unicode tables are its own (not Python's, not Swift's), so the
class of each scalar is measured through `tokenizers` itself: ByteLevel(use_regex=True) keeps "a"+c in one
piece exactly when c is L, "1"+c when c is N, "!"+c when c is O; otherwise c is S. The script also checks
that exactly one of the three holds for every scalar.

Output: {"runs": [[first_code_point, class], ...]}: each run lasts until the next one starts; the last
run ends at U+10FFFF. Surrogates (U+D800-U+DFFF, not scalars) are given class O.
"""

import json
import os

import tokenizers
from tokenizers.pre_tokenizers import ByteLevel

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "tokenizer", "unicode_classes.json")


def main():
    pt = ByteLevel(add_prefix_space=False, use_regex=True)
    runs = []
    counts = {}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            cls = "O"
        else:
            c = chr(cp)
            joined = [name for base, name in (("a", "L"), ("1", "N"), ("!", "O"))
                      if len(pt.pre_tokenize_str(base + c)) == 1]
            assert len(joined) <= 1, (hex(cp), joined)
            cls = joined[0] if joined else "S"
            counts[cls] = counts.get(cls, 0) + 1
        if not runs or runs[-1][1] != cls:
            runs.append([cp, cls])
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        json.dump({"about": "GPT-2 regex class (L, N, S = \\s, O = other) of every Unicode scalar as Hugging Face "
                            "`tokenizers` splits text; runs of [first code point, class], each lasting until the "
                            "next; surrogates are O. Made by scripts/make_unicode_classes_fixture.py.",
                   "tokenizers_version": tokenizers.__version__, "counts": counts, "runs": runs},
                  f, separators=(",", ":"))
        f.write("\n")
    print("%d runs; scalars per class %s; wrote %s (%.1f KB)" % (len(runs), counts, OUT, os.path.getsize(OUT) / 1e3))


if __name__ == "__main__":
    main()
