#!/usr/bin/env python3
"""Train ToolTune's demo tokenizer: a GPT-2/OPT-style byte-level BPE with a 4,096-token vocabulary.

    python3 scripts/train_demo_tokenizer.py     # needs demo/data (scripts/make_demo_data.py) first

Writes demo/tokenizer/{vocab.json, merges.txt, special_tokens_map.json, tokenizer_config.json}, then
checks that four implementations give identical ids on the fixture corpus (make_tokenizer_fixtures.py):
  1. `tokenizers` (Rust) with the written vocab.json + merges.txt,
  2. transformers.GPT2Tokenizer(vocab_file, merges_file) and GPT2TokenizerFast,
  3. transformers.AutoTokenizer.from_pretrained(demo/tokenizer) (OPT behaviour: prepends </s> = id 2),
  4. a small pure-Python GPT-2 BPE written here (the algorithm of OpenAI's encoder.py / the old
     "slow" GPT2Tokenizer, using the `regex` package). Needed because transformers 5 no longer has a
     slow GPT-2 tokenizer: GPT2Tokenizer and GPT2TokenizerFast are the same `tokenizers`-backed class.

The model is what GPT-2 and OPT use: ByteLevel pre-tokenizer with the GPT-2 regex, add_prefix_space
False, no normalizer, ByteLevel decoder, all 256 byte symbols in the vocabulary (so every string is
representable, no <unk> ever), special tokens at OPT's ids: <s>=0, <pad>=1, </s>=2, <unk>=3.
Training data: the rendered demo TRAIN examples (eval examples are held out) plus the small
multilingual corpus below, so the vocabulary is not blind to accents, CJK, emoji and code.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "demo", "tokenizer")
VOCAB_SIZE = 4096
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3, as in OPT's vocab.json
# The special tokens OPT's tokenizer config declares (bos = eos = unk = "</s>", pad = "<pad>"). Only these
# are matched literally in text before the regex split; "<s>" and "<unk>" written in a text are ordinary
# characters, exactly as with facebook/opt-350m in transformers.
TEXT_SPECIALS = ["</s>", "<pad>"]

# Written for this project. A little of everything a tool-calling model may meet; repeated a few times in
# training so its commonest pieces earn merges.
MULTILINGUAL = [
    "The quick brown fox jumps over the lazy dog while the weather stays mild and sunny.",
    "She'll call you when they're ready; we've already booked the hotel, and I'd like a window seat.",
    "Le café est fermé le dimanche, mais la boulangerie ouvre à sept heures et demie.",
    "Où se trouve la gare ? Nous arrivons demain matin avec nos élèves.",
    "Die Straße ist nass, weil es die ganze Nacht geregnet hat. Grüße aus München!",
    "El niño comió una manzana y después jugó en el jardín con su perro pequeño.",
    "¿Cuánto cuesta un billete de ida y vuelta a Sevilla? ¡Qué caro!",
    "A reunião foi adiada para amanhã às três horas; não se esqueça do relatório.",
    "Il treno per Firenze parte dal binario quattro tra dieci minuti. Buon viaggio!",
    "Zażółć gęślą jaźń. Dzień dobry, jak się masz?",
    "Yarın İstanbul'da hava güneşli olacak, sıcaklık yirmi beş derece.",
    "Привет! Сегодня в Москве холодно, но солнечно.",
    "Καλημέρα! Η θάλασσα είναι ήρεμη σήμερα.",
    "مرحبا، كيف حالك اليوم؟ الطقس جميل في القاهرة.",
    "שלום, מה שלומך? היום יום יפה.",
    "नमस्ते, आज मौसम बहुत अच्छा है। धन्यवाद!",
    "今日は天気がいいので、公園で散歩しましょう。東京駅まで十分です。",
    "我们明天早上九点在北京火车站见面。谢谢你的帮助！",
    "오늘 서울 날씨가 아주 좋네요. 내일 다시 연락할게요.",
    "สวัสดีครับ วันนี้อากาศดีมาก",
    "Xin chào! Hôm nay trời đẹp quá.",
    "Emoji: 😀 🎉 👍🏽 ❤️ 🇫🇷 🇯🇵 👩‍💻 👨‍👩‍👧‍👦 ☕ 🚆 ✈️ 🌧️",
    "Numbers: 0 1 12 123 1234 12345 3.14159 -42 1e-5 2,048 1_000_000 ½ ² ٣ ৪",
    "Dates and times: 2024-05-14T09:30:00Z, 14/05/2024, 9:30 a.m., UTC+05:30.",
    "def convert(value: float, rate: float) -> float:\n    return round(value * rate, 2)\n",
    "let total = items.reduce(0) { $0 + $1.price } // Swift\nprint(\"Total: \\(total)\")",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    "{\"city\": \"Zürich\", \"temp\": 21.5, \"ok\": true, \"tags\": [\"a\", \"b\"], \"note\": null}",
    "{'name': 'weather_for_demo', 'required': ['city'], 'optional': [], 'flag': True, 'x': None}",
    "<html><body><p class=\"note\">Hello &amp; welcome</p></body></html>",
    "SELECT name, price FROM products WHERE price > 10 ORDER BY price DESC;",
    "Path: /usr/local/bin/tooltune --config jobs/demo.yaml --ranks 2\tdone\r\n",
    "Tabs\tand  double  spaces,   trailing spaces   \n\nand blank lines.",
]


def rendered_train_texts():
    """Rendered demo training examples, without the final "</s>" (a special token, not text to learn)."""
    import glob
    from toolbench_format import answer_file_examples, render
    texts = []
    for path in sorted(glob.glob(os.path.join(ROOT, "demo", "data", "train", "G*_answer", "*.json"))):
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        for _, _, conv in answer_file_examples(d):
            t = render(conv)
            assert t.endswith("</s>")
            texts.append(t[:-len("</s>")])
    if not texts:
        sys.exit("no demo training data: run scripts/make_demo_data.py first")
    return texts


def train():
    from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
    from tokenizers.models import BPE
    tk = Tokenizer(BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    texts = rendered_train_texts()
    tk.train_from_iterator(texts + MULTILINGUAL * 20, trainer)
    os.makedirs(OUT, exist_ok=True)
    tk.model.save(OUT)  # vocab.json + merges.txt ("#version: 0.2" header), the GPT-2 file formats
    # Rewrite vocab.json sorted by id, compact, like the hub files (tokenizers already does; be explicit).
    with open(os.path.join(OUT, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(OUT, "vocab.json"), "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(dict(sorted(vocab.items(), key=lambda kv: kv[1])), ensure_ascii=False,
                           separators=(",", ":")))
    write_configs()
    return len(texts)


def added(content):
    """An AddedToken entry as OPT's hub files spell it."""
    return {"content": content, "single_word": False, "lstrip": False, "rstrip": False, "normalized": True,
            "__type": "AddedToken"}


def write_configs():
    """Like facebook/opt-350m's files. From memory of the hub, confirmed for tokenizer_config.json by a
    copy quoted in a public repository's test: bos = eos = unk = "</s>", pad = "<pad>",
    add_bos_token true, add_prefix_space false, errors "replace". Additions of ours: tokenizer_class (so
    AutoTokenizer needs no config.json) and model_max_length 2048 (OPT's positions; the hub file has
    none, so transformers reports its 1e30 sentinel)."""
    stm = {k: {kk: vv for kk, vv in added(v).items() if kk != "__type"}
           for k, v in (("bos_token", "</s>"), ("eos_token", "</s>"), ("unk_token", "</s>"), ("pad_token", "<pad>"))}
    cfg = {"errors": "replace", "unk_token": added("</s>"), "bos_token": added("</s>"), "eos_token": added("</s>"),
           "pad_token": added("<pad>"), "add_prefix_space": False, "add_bos_token": True,
           "model_max_length": 2048, "special_tokens_map_file": None, "tokenizer_class": "GPT2Tokenizer"}
    for name, obj in (("special_tokens_map.json", stm), ("tokenizer_config.json", cfg)):
        with open(os.path.join(OUT, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(json.dumps(obj, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------- reference

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode map (printable Latin-1 bytes map to themselves,
    the other 68 bytes to U+0100.. in byte order)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class ReferenceBPE:
    """Pure-Python GPT-2 BPE (the classic algorithm): regex split, bytes -> symbols, then repeatedly merge
    the adjacent pair with the lowest merge rank. Special tokens are split out of the text first."""

    def __init__(self, vocab_path, merges_path, specials=TEXT_SPECIALS):
        import regex
        with open(vocab_path, encoding="utf-8") as f:
            self.vocab = json.load(f)
        with open(merges_path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        assert lines[0].startswith("#version")
        merges = [tuple(l.split(" ")) for l in lines[1:] if l]
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.b2u = bytes_to_unicode()
        self.pat = regex.compile(GPT2_PATTERN)
        self.specials = list(specials)
        self.special = regex.compile("(" + "|".join(regex.escape(s) for s in specials) + ")")
        self.cache = {}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token)
        while len(word) > 1:
            pairs = [(self.ranks.get(p, 1 << 60), i, p) for i, p in enumerate(zip(word, word[1:]))]
            rank, _, best = min(pairs)
            if rank == 1 << 60:
                break
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        self.cache[token] = word
        return word

    def pieces(self, text):
        """Pre-tokenization: the regex pieces (original text), special tokens as single pieces."""
        out = []
        for part in self.special.split(text):
            if part in self.specials:
                out.append(part)
            elif part:
                out.extend(self.pat.findall(part))
        return out

    def encode(self, text):
        ids = []
        for piece in self.pieces(text):
            if piece in self.specials:
                ids.append(self.vocab[piece])
                continue
            sym = "".join(self.b2u[b] for b in piece.encode("utf-8"))
            ids.extend(self.vocab[s] for s in self.bpe(sym))
        return ids


def hf_tokenizer(tok_dir=OUT):
    """The `tokenizers` pipeline the fixtures call "the HF tokenizer": vocab.json + merges.txt, ByteLevel."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import BPE
    tk = Tokenizer(BPE.from_file(os.path.join(tok_dir, "vocab.json"), os.path.join(tok_dir, "merges.txt")))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens(TEXT_SPECIALS)
    return tk


def verify(strings, tok_dir=OUT, quiet=False):
    """Identical ids from all implementations; OPT BOS; decode round trip. Returns the `tokenizers` ids."""
    import transformers
    from transformers import AutoTokenizer, GPT2Tokenizer, GPT2TokenizerFast
    transformers.logging.set_verbosity_error()
    vf, mf = os.path.join(tok_dir, "vocab.json"), os.path.join(tok_dir, "merges.txt")
    tk = hf_tokenizer(tok_dir)
    ref = ReferenceBPE(vf, mf)
    # Positional (vocab, merges) paths: in transformers 5 the keywords vocab_file=/merges_file= are
    # silently ignored (empty vocabulary, every string encodes to []).
    slow = GPT2Tokenizer(vf, mf, unk_token="</s>", bos_token="</s>", eos_token="</s>", pad_token="<pad>")
    fast = GPT2TokenizerFast(vf, mf, unk_token="</s>", bos_token="</s>", eos_token="</s>", pad_token="<pad>")
    assert len(slow.get_vocab()) == len(fast.get_vocab()) == len(json.load(open(vf, encoding="utf-8")))
    auto = AutoTokenizer.from_pretrained(tok_dir)
    assert auto.bos_token_id == 2 and auto.eos_token_id == 2 and auto.pad_token_id == 1, "special ids"
    out = []
    for s in strings:
        ids = tk.encode(s).ids
        for name, other in (("reference", ref.encode(s)),
                            ("GPT2Tokenizer", slow(s, add_special_tokens=False)["input_ids"]),
                            ("GPT2TokenizerFast", fast(s, add_special_tokens=False)["input_ids"])):
            if other != ids:
                raise SystemExit("MISMATCH %s on %r" % (name, s[:80]))
        if auto(s)["input_ids"] != [2] + ids:
            raise SystemExit("OPT BOS behaviour differs on %r" % s[:80])
        if tk.decode(ids, skip_special_tokens=False) != s:
            raise SystemExit("decode round trip failed on %r" % s[:80])
        out.append(ids)
    if not quiet:
        print("parity OK on %d strings: tokenizers == reference BPE (regex) == GPT2Tokenizer == "
              "GPT2TokenizerFast; AutoTokenizer prepends </s> (id 2)" % len(strings))
    return out


def main():
    n = train()
    with open(os.path.join(OUT, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    from tokenizers.pre_tokenizers import ByteLevel
    alphabet = ByteLevel.alphabet()
    assert all(c in vocab for c in alphabet) and len(alphabet) == 256, "byte alphabet incomplete"
    assert [vocab[s] for s in SPECIALS] == [0, 1, 2, 3], "special token ids"
    with open(os.path.join(OUT, "merges.txt"), encoding="utf-8") as f:
        n_merges = len([l for l in f.read().split("\n")[1:] if l])
    print("trained on %d rendered demo examples + %d multilingual lines: vocab %d (4 specials, 256 bytes, "
          "%d merges)" % (n, len(MULTILINGUAL), len(vocab), n_merges))
    from make_tokenizer_fixtures import build_corpus
    verify([c["text"] for c in build_corpus()])


if __name__ == "__main__":
    main()
