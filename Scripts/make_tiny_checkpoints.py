"""Writes the tiny BERT checkpoints committed under goldens/checkpoints/, with the reference
(transformers + torch, Scripts/requirements.txt) doing the saving, so bertcheck's readers are
tested on files real tools wrote:

  tiny-bert/          BertModel, model.safetensors + config.json (the base the others derive from)
  tiny-bert-sharded/  the same, save_pretrained(max_shard_size=...) -> index.json + 3 shards
  tiny-bert-bf16/     the same in bfloat16
  tiny-bert-bin/      the same as pytorch_model.bin (torch.save zip)
  tiny-bert-legacy/   BertForPreTraining with TF-era names: bert. prefix, LayerNorm.gamma/beta,
                      cls.* heads, position_ids/token_type_ids buffers (safetensors and .bin)
  tiny-bert-mlm/      BertForMaskedLM: no pooler (add_pooling_layer=False), cls.* head

Each directory gets expected.json: what transformers' BertModel.named_parameters() gives for it
(names, shapes, counts), which the Swift tests compare with `bertcheck params`.

Usage: $(Scripts/reference-venv.sh) Scripts/make_tiny_checkpoints.py [goldens/checkpoints]
"""
import copy
import json
import os
import shutil
import sys

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertForMaskedLM, BertForPreTraining, BertModel

out_root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "goldens", "checkpoints")

def make_config():
    # A fresh object each time: converting a model's dtype rewrites its config in place.
    return BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=48,
        max_position_embeddings=40, type_vocab_size=2, hidden_act="gelu",
    )


config = make_config()


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def write_expected(path, model):
    """The reference figures: BertModel.named_parameters() of the model as transformers loads it."""
    bert = model.bert if hasattr(model, "bert") else model
    named = [(n, list(p.shape)) for n, p in bert.named_parameters()]
    expected = {
        "named_parameters": len(named),
        "total_parameters": sum(p.numel() for _, p in bert.named_parameters()),
        "matrix_parameters": sum(p.numel() for _, p in bert.named_parameters() if p.dim() == 2),
        "parameters": [{"name": n, "shape": s} for n, s in named],
        "pooler": bert.pooler is not None,
        "transformers": __import__("transformers").__version__,
        "torch": torch.__version__,
    }
    with open(os.path.join(path, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


def legacy_names(state):
    """TF-era names as old BERT checkpoints carry them."""
    renamed = {}
    for name, tensor in state.items():
        name = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        renamed[name] = tensor.clone().contiguous()
    return renamed


def main():
    torch.manual_seed(0)
    base = BertModel(config)
    base.eval()

    path = fresh(os.path.join(out_root, "tiny-bert"))
    base.save_pretrained(path)
    write_expected(path, base)

    path = fresh(os.path.join(out_root, "tiny-bert-sharded"))
    base.save_pretrained(path, max_shard_size="20KB")
    write_expected(path, base)

    path = fresh(os.path.join(out_root, "tiny-bert-bf16"))
    copy.deepcopy(base).to(torch.bfloat16).save_pretrained(path)
    write_expected(path, base)

    path = fresh(os.path.join(out_root, "tiny-bert-bin"))
    torch.save(base.state_dict(), os.path.join(path, "pytorch_model.bin"))
    base.config.save_pretrained(path)
    write_expected(path, base)

    torch.manual_seed(1)
    pretraining = BertForPreTraining(make_config())
    pretraining.eval()
    state = pretraining.state_dict()
    state["bert.embeddings.position_ids"] = torch.arange(config.max_position_embeddings).unsqueeze(0)
    state["bert.embeddings.token_type_ids"] = torch.zeros(1, config.max_position_embeddings, dtype=torch.long)
    legacy = legacy_names(state)
    path = fresh(os.path.join(out_root, "tiny-bert-legacy"))
    save_file(legacy, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    torch.save(legacy, os.path.join(path, "pytorch_model.bin"))
    pretraining.config.save_pretrained(path)
    # The reference: transformers loads the legacy file (mapping gamma/beta) into the same weights.
    reloaded = BertForPreTraining.from_pretrained(path)
    for name, tensor in pretraining.state_dict().items():
        assert torch.equal(reloaded.state_dict()[name], tensor), name
    write_expected(path, reloaded)

    torch.manual_seed(2)
    mlm = BertForMaskedLM(make_config())
    path = fresh(os.path.join(out_root, "tiny-bert-mlm"))
    mlm.save_pretrained(path)
    write_expected(path, mlm)

    for name in sorted(os.listdir(out_root)):
        d = os.path.join(out_root, name)
        if os.path.isdir(d):
            size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
            print(f"{name}: {sorted(os.listdir(d))} {size} bytes")


if __name__ == "__main__":
    main()
