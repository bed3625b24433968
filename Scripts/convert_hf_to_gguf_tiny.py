#!/usr/bin/env python3
"""Runs llama.cpp's own convert_hf_to_gguf.py unchanged, except for one thing our tiny vocabularies
need: the converter identifies a tokenizer's pre-tokenizer by hashing how it tokenizes a fixed text
and refuses unknown hashes. A 76-word WordPiece vocabulary turns that text into [UNK]s, so its hash
is unknown; we then answer what the converter answers for bert-base-uncased vocabularies such as
all-MiniLM-L6-v2's ("jina-v2-en"; llama.cpp's WordPiece tokenizer does not depend on it). Known
hashes go through the converter's own table as usual.

Usage: python Scripts/convert_hf_to_gguf_tiny.py LLAMA_CPP_DIR [convert_hf_to_gguf.py arguments...]
"""
import os
import runpy
import sys

llama_cpp = os.path.abspath(sys.argv[1])
converter = os.path.join(llama_cpp, "convert_hf_to_gguf.py")
sys.argv = [converter] + sys.argv[2:]
sys.path.insert(0, llama_cpp)
sys.path.insert(1, os.path.join(llama_cpp, "gguf-py"))

from conversion.base import TextModel  # noqa: E402  (the converter's own module, imported once)

known_pre = TextModel.get_vocab_base_pre


def pre_or_wordpiece(self, tokenizer):
    try:
        return known_pre(self, tokenizer)
    except NotImplementedError:
        print("convert_hf_to_gguf_tiny: pre-tokenizer hash unknown (tiny vocabulary): using jina-v2-en, "
              "as for bert-base-uncased", file=sys.stderr)
        return "jina-v2-en"


TextModel.get_vocab_base_pre = pre_or_wordpiece
runpy.run_path(converter, run_name="__main__")
