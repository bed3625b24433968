"""Writes the tiny task-head checkpoints committed under goldens/checkpoints/heads/, built by
transformers on the encoder of goldens/models/tiny-bert (same vocabulary), with seeded heads:

  seqcls/          BertForSequenceClassification, 3 labels with id2label
  regression/      BertForSequenceClassification, num_labels=1 (regression, cross-encoder style)
  tokcls/          BertForTokenClassification, 4 labels (no pooler)
  qa/              BertForQuestionAnswering (no pooler)
  mlm/             BertForMaskedLM (no pooler; decoder tied to the word embeddings)
  pretraining/     BertForPreTraining (MLM + next-sentence heads)
  nsp/             BertForNextSentencePrediction
  seqcls-f16/      seqcls saved in float16 (verifies against seqcls's golden with the fp16 profile)
  seqcls-swapped/  seqcls with classifier rows 0 and 1 swapped (a broken conversion: must fail `labels`)

Goldens: Scripts/record_goldens.py on each (see Scripts/record_head_goldens.sh).

Usage: $(Scripts/reference-venv.sh) Scripts/make_head_checkpoints.py
"""
import os
import shutil

import torch
import transformers

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, "..")
base_dir = os.path.join(root, "goldens", "models", "tiny-bert")
out_root = os.path.join(root, "goldens", "checkpoints", "heads")


def seed_head(model, seed):
    """Every parameter outside the encoder gets seeded random values (biases too), so a head
    bertcheck computes wrongly cannot pass by being zero."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("bert.") or name.endswith("decoder.weight"):
                continue
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)


def save(model, name, dtype=None):
    path = os.path.join(out_root, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(path)
    for f in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(os.path.join(base_dir, f), path)
    return path


def build(cls, seed, **config):
    model = getattr(transformers, cls).from_pretrained(base_dir, **config).eval()
    seed_head(model, seed)
    return model


labels3 = {"id2label": {0: "negative", 1: "neutral", 2: "positive"},
           "label2id": {"negative": 0, "neutral": 1, "positive": 2}}
# Seed 20 predicts labels 0, 1, 1, 2, 0 for goldens/texts/heads.json: swapping rows 0 and 1 flips four rows.
seqcls = build("BertForSequenceClassification", 20, num_labels=3, **labels3)
save(seqcls, "seqcls")
save(build("BertForSequenceClassification", 11, num_labels=1), "regression")
tags = {"id2label": {0: "O", 1: "B-ANIMAL", 2: "I-ANIMAL", 3: "B-PLACE"},
        "label2id": {"O": 0, "B-ANIMAL": 1, "I-ANIMAL": 2, "B-PLACE": 3}}
save(build("BertForTokenClassification", 12, num_labels=4, **tags), "tokcls")
save(build("BertForQuestionAnswering", 13), "qa")
save(build("BertForMaskedLM", 14), "mlm")
save(build("BertForPreTraining", 15), "pretraining")
save(build("BertForNextSentencePrediction", 16), "nsp")

import copy
save(copy.deepcopy(seqcls), "seqcls-f16", dtype=torch.float16)
swapped = copy.deepcopy(seqcls)
with torch.no_grad():
    swapped.classifier.weight[[0, 1]] = swapped.classifier.weight[[1, 0]].clone()
    swapped.classifier.bias[[0, 1]] = swapped.classifier.bias[[1, 0]].clone()
save(swapped, "seqcls-swapped")

for name in sorted(os.listdir(out_root)):
    d = os.path.join(out_root, name)
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print(f"{name}: {sorted(os.listdir(d))} {size} bytes")
