"""Records the tokenizer parity corpus: goldens/tokenizer/corpus.jsonl.

Each line is one case, {"config", "text", "pair"?, "max_length"?, "input_ids"}, with the ids that
transformers' BertTokenizer.from_pretrained(...) gives for
tokenizer(text, pair, truncation=True, max_length=max_length) (no max_length: the model's own
limit, none for a bare vocabulary). Configurations (goldens/tokenizer/configs.json):

- uncased: the real all-MiniLM-L6-v2 directory (Scripts/fetch-model.sh), lower-casing;
- cased: a case-keeping vocabulary (cased-vocab.txt: MiniLM's plus capitalized words and capital
  letters, made here) with do_lower_case=false;
- cased_strip: the same with strip_accents=true, tokenize_chinese_chars=false, model_max_length=64;
- lower_keep_accents: the same vocabulary with do_lower_case=true, strip_accents=false;
- bare_vocab: cased-vocab.txt alone (BertTokenizer's defaults, no length limit).

Run: $(Scripts/reference-venv.sh) Scripts/record_tokenizer_goldens.py [MINILM_DIR]
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata

import pydoc_data.topics
from transformers import BertTokenizer
from transformers.utils import logging

logging.set_verbosity_error()
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "goldens", "tokenizer")
MINILM = sys.argv[1] if len(sys.argv) > 1 else subprocess.check_output([os.path.join(ROOT, "Scripts", "fetch-model.sh")], text=True).strip()
rng = random.Random(20261127)

CONFIGS = {
    "uncased": {"vocab": "minilm", "tokenizer_config": None},
    "cased": {"vocab": "cased-vocab.txt", "tokenizer_config": {"do_lower_case": False}},
    "cased_strip": {"vocab": "cased-vocab.txt", "tokenizer_config": {
        "do_lower_case": False, "strip_accents": True, "tokenize_chinese_chars": False, "model_max_length": 64}},
    "lower_keep_accents": {"vocab": "cased-vocab.txt", "tokenizer_config": {"do_lower_case": True, "strip_accents": False}},
    "bare_vocab": {"vocab": "cased-vocab.txt", "tokenizer_config": None, "bare": True},
}


def make_cased_vocab():
    """MiniLM's vocabulary (ids unchanged) plus case-keeping entries appended after it."""
    with open(os.path.join(MINILM, "vocab.txt"), encoding="utf-8") as f:
        base = f.read().split("\n")
    if base and base[-1] == "":
        base.pop()
    seen = set(base)
    extra = []

    def add(token):
        if token not in seen:
            seen.add(token)
            extra.append(token)

    for token in base[1996:9000]:
        if token.isalpha() and len(token) > 1:
            add(token.capitalize())
            if len(token) <= 4:
                add(token.upper())
    for letters in ["ABCDEFGHIJKLMNOPQRSTUVWXYZ", "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝ", "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ",
                    "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЫЭЮЯ", "éèêëàâäôöûüùçñíóúß"]:
        for letter in letters:
            add(letter)
            add("##" + letter)
    for word in ["café", "Café", "naïve", "résumé", "Zürich", "São", "Paulo", "Ångström", "Ελλάδα", "Москва", "Éclair",
                 "İstanbul", "DNA", "NASA", "iPhone", "McDonald", "##ñ", "##ö", "##é"]:
        add(word)
    with open(os.path.join(OUT, "cased-vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(base + extra) + "\n")


def sentences():
    text = " ".join(pydoc_data.topics.topics.values())
    text = re.sub(r"\s+", " ", text)
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+", text)]
    parts = [p for p in parts if 20 < len(p) < 400]
    rng.shuffle(parts)
    return parts


HANDWRITTEN = [
    "Agney really loves Pokemon, Lucario is his favorite.",
    "", " ", "\t\n\r", "hello", "Hello, World!", "HELLO WORLD", "don't can't won't", "U.S.A. e.g. i.e. etc.",
    "The quick brown fox jumps over the lazy dog.", "3.14159 2,718 1e-5 -42 +7 100% $5.00 €9,99 ¥100 £3",
    "email: someone@example.com, url: https://www.example.org/path?q=1&x=2#frag",
    "Café naïve résumé Zürich São Paulo Ångström façade coöperate", "CAFÉ NAÏVE RÉSUMÉ",
    "Ελλάδα είναι όμορφη. ΟΔΟΣ ΟΔΌΣ οδός", "Москва — столица России. Ёжик в тумане.", "İstanbul ıstanbul IİıI",
    "straße STRASSE Straße ﬁne ﬂow ǅungla Ǳ ǆ", "Ǆemal Łódź Kraków Dvořák Škoda Čapek",
    "Tiếng Việt có dấu: Nguyễn, Trần, Phạm, Huỳnh, Đặng.", "Türkçe: çalışkan öğrenci ğüşiöç",
    "日本語のテキストです。東京は大きい都市です。", "中文测试：我爱北京天安门，天安门上太阳升。", "漢字かな交じり文、ｶﾀｶﾅ、ひらがな",
    "한국어 문장입니다. 안녕하세요! 서울특별시", "ᄀᄁᄂ ᅡᅢ ᆨᆩ 가각갂", "ภาษาไทย ไม่มีช่องว่าง", "العربية: مرحبا بالعالم! ١٢٣",
    "עברית: שלום עולם", "हिन्दी: नमस्ते दुनिया", "বাংলা ভাষা", "தமிழ் மொழி", "ქართული ენა", "Հայերեն", "አማርኛ",
    "emoji: 😀 😃 😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷 🏳️‍🌈 ❤️ ✨ 🥰 🫠 🦀", "😀😀😀hello😀world", "I ❤ NY ☃ ☂ ★ ♠ ♣ ♥ ♦ ✓ ✗",
    "Ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ　１２３！？（）［］", "ｈｅｌｌｏ，ｗｏｒｌｄ．", "half-width ｶﾞｷﾞｸﾞ",
    "zero\u200bwidth\u200cjoin\u200dner\ufeffbom\u2060wj", "soft\u00adhyphen", "rtl\u200fmark\u200eltr \u202aembed\u202c",
    "nul\x00here", "bell\x07tab\tnew\nline\rret", "del\x7fc1\x80\x85\x9f", "vt\x0bff\x0cfs\x1cgs\x1drs\x1eus\x1f",
    "replacement \ufffd char", "line\u2028sep\u2029para", "nbsp\u00a0space\u2003em\u3000ideo\u202fnarrow\u205fmath\u1680ogham",
    "private \ue000\uf8ff \U000f0000 use", "unassigned \u0378\u0379 \U000e0001 tag\U000e0041\U000e007f",
    "e\u0301 e\u0300\u0301 a\u0328\u0301 o\u0308\u0304 q\u0307\u0323 \u1e9b\u0323", "combining only \u0301\u0302\u0303",
    "a\u0315\u0300\u05ae\u0300b Hebrew points \u05d1\u05bc\u05b7", "\u0f71\u0f72 \u0f73 \u0f75 \u0f81 tibetan",
    "\U0001d15e\U0001d15f \U0001d165\U0001d16e music", "\u0344 \u0340 \u0341 \u0343 \u0374 \u037e \u0387 singletons",
    "\u1fef\u1fee\u1fed\u0385 greek varia", "\u2126 \u212a \u212b ohm kelvin angstrom", "\uf900\uf901\ufa10 \U0002f800 compat ideographs",
    "!!!???...,,,;;;:::", "--- ___ *** ### @@@ $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}} <<< >>> ||| \\\\\\ /// ~~~ ``` '''",
    "“quoted” ‘single’ «guillemets» ‹single› „low“ ‚low‘ 「brackets」 『double』 【black】 〈angle〉",
    "dashes – — ― ‐ ‑ ‒ ⁓ 〜 ～ ellipsis … bullets • ‣ ⁃ § ¶ † ‡ ※ ⁂", "¡Hola! ¿Qué tal?", "math: ∀x∈ℝ, ∃y: x²+y²≤1 ∑∏∫√∞≠≈",
    "currency: $ ¢ £ ¤ ¥ ₩ ₪ ₫ € ₹ ₽ ₿", "arrows ← ↑ → ↓ ↔ ⇒ ⇔", "box ─│┌┐└┘├┤┬┴┼", "superscripts ¹²³ ⁴⁵ ₀₁₂ ½ ¼ ¾ ⅓",
    "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "[CLS] hello [SEP] world [SEP]", "x[MASK]y", "[UNK][PAD][CLS][SEP]",
    "[cls] [sep] [Sep] [ SEP ] [[SEP]] [SEP [SEP]] [SEP]] [[CLS]", "##ing ##s ## # ##", "[unused0] [unused1]",
    "a" * 99, "a" * 100, "a" * 101, "b" * 250, "é" * 100, "é" * 101, "e\u0301" * 60, "x" + "\u0301" * 120,
    "日" * 150, "😀" * 101, "ab" * 50 + " " + "cd" * 51, "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 2, "tokenization tokenizer tokenizing untokenizable",
    "word" + "\u200b" * 200 + "word", ".".join(["a"] * 120), "- " * 80,
]


def random_text(pools, length):
    out = []
    for _ in range(length):
        pool = rng.choice(pools)
        out.append(pool() if callable(pool) else rng.choice(pool))
    return "".join(out)


def scalar_pools():
    ascii_letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    words = ["the", "of", "and", "token", "bert", "model", "play", "ing", "un", "able", "##", "run", "the"]

    def any_scalar():
        while True:
            cp = rng.randrange(0x110000)
            if not 0xD800 <= cp <= 0xDFFF:
                return chr(cp)

    def bmp():
        while True:
            cp = rng.randrange(0x10000)
            if not 0xD800 <= cp <= 0xDFFF:
                return chr(cp)

    return [
        ascii_letters, ascii_letters, " ", " ", lambda: rng.choice(words), "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
        "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿÀÉÎÕÜßœŒ", [chr(c) for c in range(0x300, 0x370)], "\t\n\r\x0b\x0c\x85\u2028\u3000\u00a0",
        [chr(c) for c in range(0, 0x20)] + ["\x7f", "\u200b", "\ufeff", "\u00ad", "\ufffd"],
        [chr(c) for c in range(0x4E00, 0x4E80)] + [chr(c) for c in range(0x3040, 0x30FF)], [chr(c) for c in range(0xAC00, 0xAD00)],
        [chr(c) for c in range(0x1F600, 0x1F650)] + ["\u200d", "\ufe0f", "\U0001F3FD"], [chr(c) for c in range(0xFF01, 0xFF5F)],
        [chr(c) for c in range(0x370, 0x400)] + [chr(c) for c in range(0x400, 0x460)], any_scalar, bmp,
        ["[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]", "[", "]"],
    ]


def build_corpus():
    real = sentences()
    pools = scalar_pools()
    singles = list(HANDWRITTEN)
    singles += real[:1500]
    singles += [random_text(pools, rng.randrange(1, 80)) for _ in range(700)]
    # Every scalar below U+3400 (and samples above), each inside a word: a{c}b, 32 to a line.
    sweep = [cp for cp in range(0x3400) if not 0xD800 <= cp <= 0xDFFF]
    sweep += sorted(rng.sample([cp for cp in range(0x3400, 0x110000) if not 0xD800 <= cp <= 0xDFFF], 4000))
    for i in range(0, len(sweep), 32):
        singles.append(" ".join("a" + chr(cp) + "b" for cp in sweep[i:i + 32]))
    long_text = " ".join(real[1500:1560])
    cases = []
    for text in singles:
        cases.append({"text": text})
    cases.append({"text": long_text})  # beyond 512 tokens: the model's default limit applies
    cases.append({"text": long_text, "pair": real[1600]})
    for i in range(300):
        a, b = rng.choice(real + singles[:len(HANDWRITTEN)]), rng.choice(real)
        if i % 2:
            a, b = b, a
        case = {"text": a, "pair": b}
        if i % 3 == 0:
            case["max_length"] = rng.choice([2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 17, 24, 32, 48, 64])
        cases.append(case)
    for i in range(200):
        case = {"text": rng.choice(real)}
        case["max_length"] = rng.choice([1, 2, 3, 4, 5, 8, 11, 16, 32])
        cases.append(case)
    # Equal, nearly equal and very unequal pair lengths around the limits.
    for la, lb in [(10, 10), (11, 10), (10, 11), (1, 30), (30, 1), (0, 20), (20, 0), (5, 5), (50, 3)]:
        a = " ".join(["word"] * la)
        b = " ".join(["thing"] * lb)
        for ml in [3, 4, 5, 6, 7, 8, 13, 20, 23, 24, 25, 40]:
            cases.append({"text": a, "pair": b, "max_length": ml})
    return cases


def tokenizer_for(name, config, tmp):
    spec = CONFIGS[name]
    if spec["vocab"] == "minilm":
        return BertTokenizer.from_pretrained(MINILM)
    directory = os.path.join(tmp, name)
    os.makedirs(directory)
    shutil.copy(os.path.join(OUT, spec["vocab"]), os.path.join(directory, "vocab.txt"))
    if spec["tokenizer_config"] is not None:
        with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
            json.dump(spec["tokenizer_config"], f)
    return BertTokenizer.from_pretrained(directory)


def main():
    os.makedirs(OUT, exist_ok=True)
    make_cased_vocab()
    cases = build_corpus()
    subsets = {
        "uncased": cases,
        "cased": [c for i, c in enumerate(cases) if i % 2 == 0 or i < len(HANDWRITTEN)],
        "cased_strip": [c for i, c in enumerate(cases) if i % 4 == 1 or i < len(HANDWRITTEN)],
        "lower_keep_accents": [c for i, c in enumerate(cases) if i % 4 == 3 or i < len(HANDWRITTEN)],
        "bare_vocab": [c for i, c in enumerate(cases) if i % 8 == 5 or i < len(HANDWRITTEN)],
    }
    lines = 0
    with tempfile.TemporaryDirectory() as tmp, open(os.path.join(OUT, "corpus.jsonl"), "w", encoding="utf-8") as out:
        for name, subset in subsets.items():
            tok = tokenizer_for(name, CONFIGS[name], tmp)
            for case in subset:
                args = [case["text"]] + ([case["pair"]] if "pair" in case else [])
                kwargs = {"truncation": True}
                if "max_length" in case:
                    kwargs["max_length"] = case["max_length"]
                ids = tok(*args, **kwargs)["input_ids"]
                out.write(json.dumps({"config": name, **case, "input_ids": ids}, ensure_ascii=True) + "\n")
                lines += 1
    with open(os.path.join(OUT, "configs.json"), "w") as f:
        json.dump(CONFIGS, f, indent=1)
        f.write("\n")
    print(f"wrote {lines} cases to {OUT}/corpus.jsonl")


main()
