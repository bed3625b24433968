"""Generates Sources/BertCheck/Tokenizer/UnicodeTables.swift from the reference itself.

transformers 5.x's BertTokenizer is backed by the `tokenizers` library (Rust). Its BertNormalizer
and BertPreTokenizer use Unicode tables of several ages (an old `unicode_categories` crate for
control/punctuation/Mn, an old normalization crate for NFD, Rust's std for lowercase and
whitespace), none of which equals Swift's or Python's unicodedata. So instead of trusting any
Unicode library, this script asks the reference about every scalar value and writes down the
answers:

- removed by clean_text (NUL, U+FFFD, "other" categories but \\t \\n \\r), or turned into a space;
- CJK ideographs that get spaces around them;
- NFD decomposition (Hangul syllables excepted: they decompose by formula) and the nonspacing
  marks that accent stripping drops, with canonical combining classes for reordering;
- the lowercase mapping;
- the punctuation the pre-tokenizer isolates, and the whitespace it (and `trim_end` in the vocab
  reader) splits on.

Run: $(Scripts/reference-venv.sh) Scripts/generate_tokenizer_tables.py
"""
import os
import sys
import unicodedata

from tokenizers import normalizers, pre_tokenizers

Bert = normalizers.BertNormalizer
clean = Bert(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
cjk = Bert(clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False)
strip = Bert(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
lower = Bert(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=True)
nfd = normalizers.NFD()
pre = pre_tokenizers.BertPreTokenizer()

SBASE, LBASE, VBASE, TBASE, LCOUNT, VCOUNT, TCOUNT = 0xAC00, 0x1100, 0x1161, 0x11A7, 19, 21, 28
NCOUNT = VCOUNT * TCOUNT
SCOUNT = LCOUNT * NCOUNT


def hangul(cp):
    index = cp - SBASE
    out = [LBASE + index // NCOUNT, VBASE + (index % NCOUNT) // TCOUNT]
    if index % TCOUNT:
        out.append(TBASE + index % TCOUNT)
    return out


def scalars():
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        yield cp


removed, whitespace, chinese, punct, mn, split_space = set(), set(), set(), set(), set(), set()
decomposition, lowercase = {}, {}
for cp in scalars():
    ch = chr(cp)
    c = clean.normalize_str(ch)
    if c == "":
        removed.add(cp)
    elif c == " ":
        whitespace.add(cp)
    elif c != ch:
        sys.exit(f"clean_text maps U+{cp:04X} to {c!r}: not modelled")
    if cjk.normalize_str(ch) == f" {ch} ":
        chinese.add(cp)
    d = nfd.normalize_str(ch)
    if SBASE <= cp < SBASE + SCOUNT:
        if [ord(x) for x in d] != hangul(cp):
            sys.exit(f"Hangul U+{cp:04X} does not decompose by formula")
    elif d != ch:
        decomposition[cp] = [ord(x) for x in d]
    elif strip.normalize_str(ch) == "":
        mn.add(cp)
    lo = lower.normalize_str(ch)
    if lo != ch:
        lowercase[cp] = [ord(x) for x in lo]
    pieces = [p for p, _ in pre.pre_tokenize_str("a" + ch + "b")]
    if pieces == ["a", ch, "b"]:
        punct.add(cp)
    elif pieces == ["a", "b"]:
        split_space.add(cp)
    elif pieces != ["a" + ch + "b"]:
        sys.exit(f"pre-tokenizer splits U+{cp:04X} as {pieces!r}: not modelled")

# The pre-tokenizer's whitespace (Rust's char::is_whitespace, also what the vocabulary reader's
# trim_end strips) is clean_text's, plus controls that clean_text has already deleted.
if not (whitespace - {9, 10, 13}) <= split_space or not split_space <= whitespace | removed:
    sys.exit("pre-tokenizer whitespace is not clean_text whitespace")

# Accent stripping must equal NFD followed by dropping the marks found above, for every scalar.
for cp in scalars():
    if SBASE <= cp < SBASE + SCOUNT or cp in mn:
        continue
    expected = "".join(chr(x) for x in decomposition.get(cp, [cp]) if x not in mn)
    if strip.normalize_str(chr(cp)) != expected:
        sys.exit(f"accent stripping of U+{cp:04X} is not NFD minus nonspacing marks")

# Canonical combining classes order marks inside NFD. Take Python's and check them against the
# reference's own reordering with one mark of each class.
ccc = {cp: unicodedata.combining(chr(cp)) for cp in scalars()
       if unicodedata.combining(chr(cp)) and cp not in decomposition}
probes = {}
for cp, cls in sorted(ccc.items()):
    probes.setdefault(cls, cp)
for cp, cls in ccc.items():
    for other_cls, other in probes.items():
        got = nfd.normalize_str(chr(cp) + chr(other))
        if cls == other_cls:
            continue
        want = chr(cp) + chr(other) if cls < other_cls else chr(other) + chr(cp)
        if got != want:
            # The reference's table is older: treat the mark as class 0 if it does not move.
            if got == chr(cp) + chr(other) and other_cls < cls and nfd.normalize_str(chr(other) + chr(cp)) == chr(other) + chr(cp):
                ccc[cp] = 0
                break
            sys.exit(f"combining class of U+{cp:04X} disagrees with the reference")
ccc = {cp: cls for cp, cls in ccc.items() if cls}


def ranges(values):
    out, items = [], sorted(values)
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        out.append(f"{items[i]:X}" if i == j else f"{items[i]:X}-{items[j]:X}")
        i = j + 1
    return ",".join(out)


def mapping(table):
    return ",".join(f"{cp:X}:" + " ".join(f"{x:X}" for x in out) for cp, out in sorted(table.items()))


def classes(table):
    by_class = {}
    for cp, cls in table.items():
        by_class.setdefault(cls, []).append(cp)
    return ";".join(f"{cls}=" + ranges(cps) for cls, cps in sorted(by_class.items()))


def literal(name, text, doc):
    lines = [text[i:i + 100] for i in range(0, len(text), 100)] or [""]
    body = "\n".join(lines)
    return f'    /// {doc}\n    static let {name} = """\n{body}\n"""\n'


import tokenizers
out = [
    "// Generated by Scripts/generate_tokenizer_tables.py from tokenizers "
    f"{tokenizers.__version__} (the library behind transformers' BertTokenizer). Do not edit.\n",
    "// Ranges and code points are hexadecimal; multi-line literals are joined without newlines.\n\n",
    "enum TokenizerTables {\n",
    literal("removed", ranges(removed), "Scalars clean_text deletes (NUL, U+FFFD, control/format/private use)."),
    literal("whitespace", ranges(whitespace), "Scalars clean_text turns into a space and the pre-tokenizer splits on."),
    literal("trimmedWhitespace", ranges(split_space), "Rust's White_Space: what the vocabulary reader's trim_end strips."),
    literal("chinese", ranges(chinese), "CJK ideographs that get a space on each side."),
    literal("punctuation", ranges(punct), "Scalars the pre-tokenizer isolates as one-scalar words."),
    literal("nonspacingMarks", ranges(mn), "Nonspacing marks, dropped by accent stripping after NFD."),
    literal("decompositions", mapping(decomposition), "Full canonical decompositions (Hangul syllables by formula)."),
    literal("combiningClasses", classes(ccc), "Canonical combining classes other than 0, as CLASS=ranges;..."),
    literal("lowercase", mapping(lowercase), "Lowercase mappings that differ from the scalar itself."),
    "}\n",
]
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources", "BertCheck", "Tokenizer", "UnicodeTables.swift")
with open(path, "w", encoding="utf-8") as f:
    f.write("".join(out))
print(f"wrote {os.path.normpath(path)}: {len(removed)} removed, {len(whitespace)} whitespace, {len(chinese)} CJK, "
      f"{len(punct)} punctuation, {len(mn)} marks, {len(decomposition)} decompositions, {len(ccc)} classes, {len(lowercase)} lowercase")
