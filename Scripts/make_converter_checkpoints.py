#!/usr/bin/env python3
"""Writes the small checkpoints that Scripts/make_gguf_fixtures.sh converts to GGUF and
Scripts/make_onnx_fixtures.py exports to ONNX, saved by transformers (fixed seeds), each with the
76-word WordPiece vocabulary of goldens/models/tiny-bert:

  tiny-bert-h256/  BertModel, hidden 256 (so every matrix row is a whole number of the 256-element
                   K-quant super-blocks), 1 layer, 4 heads, intermediate 512 (ffn_down rows hold two
                   super-blocks), 64 positions. Every bias and LayerNorm is random, so a swapped or
                   dropped bias is visible.
  tiny-bert-cls/   BertForSequenceClassification with 3 labels (negative/neutral/positive), hidden 32,
                   2 layers: llama.cpp keeps its classifier as cls.output.* with the labels in
                   bert.classifier.output_labels.
  tiny-bert-distinct/  BertModel, hidden 32, 3 layers, intermediate 48 (tiny-bert's shape) with
                   every parameter distinct: exporters merge initializers holding equal values
                   (tiny-bert's zero biases and unit LayerNorms all become one initializer).

Each directory gets model.safetensors, config.json, the tokenizer files BertTokenizer saves and
expected.json (names and shapes of BertModel.named_parameters(), make_tiny_checkpoints.write_expected).

Usage: $(Scripts/reference-venv.sh) Scripts/make_converter_checkpoints.py [goldens/checkpoints]
"""
import json
import os
import shutil
import sys

import torch
from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizer

from make_tiny_checkpoints import fresh, write_expected

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = os.path.join(HERE, "..", "goldens", "models", "tiny-bert", "vocab.txt")


def randomize_biases_and_norms(model):
    """transformers starts biases at 0 and LayerNorm at 1/0; random values make each one distinct."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name:
                p.copy_(torch.randn_like(p) * 0.1 + (1.0 if name.endswith("weight") else 0.0))
            elif name.endswith("bias"):
                p.copy_(torch.randn_like(p) * 0.02)


def save(model, path, max_positions):
    model.save_pretrained(path, safe_serialization=True)
    shutil.copyfile(VOCAB, os.path.join(path, "vocab.txt"))
    # All the tokenizer files transformers writes: the converter takes the special token ids
    # (tokenizer.ggml.*_token_id) from tokenizer.json / special_tokens_map.json.
    BertTokenizer(os.path.join(path, "vocab.txt"), do_lower_case=True, model_max_length=max_positions).save_pretrained(path)
    write_expected(path, model)


def main(out_root):
    vocab_size = sum(1 for line in open(VOCAB, encoding="utf-8") if line.strip())

    torch.manual_seed(20261129)
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=256, num_hidden_layers=1, num_attention_heads=4,
        intermediate_size=512, max_position_embeddings=64, type_vocab_size=2, initializer_range=0.05,
        hidden_act="gelu",
    )
    model = BertModel(config).eval()
    randomize_biases_and_norms(model)
    path = fresh(os.path.join(out_root, "tiny-bert-h256"))
    save(model, path, 64)
    # The sentence-transformers files from which the converter writes bert.pooling_type (1 = mean).
    os.makedirs(os.path.join(path, "1_Pooling"))
    with open(os.path.join(path, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}], f, indent=1)
    with open(os.path.join(path, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": 256, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
                   "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}, f, indent=1)

    torch.manual_seed(20261130)
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=48, type_vocab_size=2, initializer_range=0.2,
        hidden_act="gelu", id2label={0: "negative", 1: "neutral", 2: "positive"},
        label2id={"negative": 0, "neutral": 1, "positive": 2},
    )
    model = BertForSequenceClassification(config).eval()
    randomize_biases_and_norms(model)
    with torch.no_grad():  # the head too: transformers starts the classifier bias at 0
        model.classifier.weight.copy_(torch.randn_like(model.classifier.weight) * 0.2)
        model.classifier.bias.copy_(torch.randn_like(model.classifier.bias) * 0.2)
    save(model, fresh(os.path.join(out_root, "tiny-bert-cls")), 48)

    torch.manual_seed(20261131)
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
        intermediate_size=48, max_position_embeddings=40, type_vocab_size=2, initializer_range=0.2,
        hidden_act="gelu",
    )
    model = BertModel(config).eval()
    randomize_biases_and_norms(model)
    save(model, fresh(os.path.join(out_root, "tiny-bert-distinct")), 40)

    for name in ("tiny-bert-h256", "tiny-bert-cls", "tiny-bert-distinct"):
        d = os.path.join(out_root, name)
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if os.path.isfile(os.path.join(d, f)))
        print(f"{name}: {sorted(os.listdir(d))} {size} bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "goldens", "checkpoints"))
