#!/usr/bin/env python3
"""Writes the tiny BERT model committed under goldens/models/tiny-bert/ (random weights, fixed
seed, a 96-word vocabulary): small enough to commit, real enough that transformers records goldens
for it. Run with the reference venv:  $(Scripts/reference-venv.sh) Scripts/make_tiny_model.py
"""
import os
import sys

import torch
from transformers import BertConfig, BertModel, BertTokenizer

WORDS = """the a an is was are of to and in on for with that this it he she they we you
cat dog bird fish sat ran flew swam mat tree sky sea model check verify golden layer token
hello world bert tiny small big quick brown fox jumps over lazy day night time
test pass fail""".split()
PIECES = ["##s", "##ed", "##ing", "##er", "##ly", "##y"]
PUNCT = list(".,!?'-:;")
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def main(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    vocab = SPECIAL + PUNCT + WORDS + PIECES
    vocab_path = os.path.join(out_dir, "vocab.txt")
    with open(vocab_path, "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    torch.manual_seed(20261127)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=48, type_vocab_size=2,
        initializer_range=0.2, hidden_act="gelu",
    )
    model = BertModel(config).eval()
    # LayerNorm starts at weight 1 / bias 0; give it values so a wrong LayerNorm is visible.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name:
                p.copy_(torch.randn_like(p) * 0.1 + (1.0 if name.endswith("weight") else 0.0))
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer = BertTokenizer(vocab_path, do_lower_case=True, model_max_length=48)
    tokenizer.save_pretrained(out_dir)
    for extra in ("tokenizer.json", "special_tokens_map.json"):
        path = os.path.join(out_dir, extra)
        if os.path.exists(path) and extra == "tokenizer.json":
            os.remove(path)  # vocab.txt + tokenizer_config.json are what BertTokenizer needs
    print(out_dir)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "goldens", "models", "tiny-bert"))
