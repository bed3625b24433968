"""Writes small sentence-transformers folders under goldens/checkpoints/st/, built by
sentence-transformers on the encoder of goldens/models/tiny-bert, and records for each a golden
goldens/st/NAME.golden.safetensors whose `sentence_embedding` is `SentenceTransformer.encode`'s
output for goldens/texts/sentences.json (vocab.txt copied beside tokenizer.json) (inputs tokenized as the model's tokenizer does with its
max_seq_length; last_hidden_state and hidden states from the same model's encoder):

  mean-normalize/   mean pooling + Normalize (as all-MiniLM-L6-v2)
  cls/              CLS pooling, no Normalize
  max-dense/        max pooling + Dense(32 -> 16, tanh) + Normalize
  mean-short/       mean pooling with max_seq_length 8 (below the longer texts' length)
  sqrt-weighted/    mean_sqrt_len_tokens + weightedmean + lasttoken, concatenated

Usage: $(Scripts/reference-venv.sh) Scripts/make_sentence_transformers.py
"""
import json
import os
import shutil

import numpy as np
import safetensors
import sentence_transformers
import torch
import transformers
from safetensors.numpy import save_file
from sentence_transformers import SentenceTransformer, models

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
base_dir = os.path.join(root, "goldens", "models", "tiny-bert")
out_root = os.path.join(root, "goldens", "checkpoints", "st")
golden_root = os.path.join(root, "goldens", "st")
texts = json.load(open(os.path.join(root, "goldens", "texts", "sentences.json")))


def build(name, pooling, normalize=False, dense=None, max_seq_length=48):
    torch.manual_seed(7)
    transformer = models.Transformer(base_dir, max_seq_length=max_seq_length)
    modules = [transformer, models.Pooling(transformer.get_word_embedding_dimension(), **pooling)]
    if dense:
        modules.append(models.Dense(modules[-1].get_sentence_embedding_dimension(), dense, activation_function=torch.nn.Tanh()))
    if normalize:
        modules.append(models.Normalize())
    model = SentenceTransformer(modules=modules, device="cpu").eval()
    path = os.path.join(out_root, name)
    shutil.rmtree(path, ignore_errors=True)
    model.save(path)
    # transformers 5 writes tokenizer.json only; the WordPiece vocabulary is tiny-bert's.
    shutil.copy(os.path.join(base_dir, "vocab.txt"), path)
    record(name, path)


def record(name, path):
    model = SentenceTransformer(path, device="cpu").eval()
    embeddings = model.encode(texts, convert_to_numpy=True, batch_size=len(texts))
    tokenizer = model.tokenizer
    enc = tokenizer(texts, padding=True, truncation=True, max_length=model.max_seq_length, return_tensors="pt")
    bert = model[0].auto_model
    with torch.no_grad():
        out = bert(**enc, output_hidden_states=True)
    tensors = {
        "input_ids": enc["input_ids"].numpy().astype(np.int64),
        "attention_mask": enc["attention_mask"].numpy().astype(np.int64),
        "token_type_ids": enc["token_type_ids"].numpy().astype(np.int64),
        "last_hidden_state": out.last_hidden_state.numpy(),
        "sentence_embedding": embeddings.astype(np.float32),
    }
    if bert.pooler is not None:
        tensors["pooler_output"] = out.pooler_output.numpy()
    for n, h in enumerate(out.hidden_states):
        tensors[f"hidden_states.{n}"] = h.numpy()
    os.makedirs(golden_root, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, os.path.join(golden_root, f"{name}.golden.safetensors"),
              metadata={"format": "bertcheck-golden/1", "texts": json.dumps(texts), "model": f"st/{name}",
                        "architecture": "SentenceTransformer",
                        "producer": f"sentence-transformers {sentence_transformers.__version__} transformers "
                                    f"{transformers.__version__} torch {torch.__version__} (Scripts/make_sentence_transformers.py)"})
    print(name, sorted(os.listdir(path)), embeddings.shape, enc["input_ids"].shape)


build("mean-normalize", {"pooling_mode": "mean"}, normalize=True)
build("cls", {"pooling_mode": "cls"})
build("max-dense", {"pooling_mode": "max"}, normalize=True, dense=16)
build("mean-short", {"pooling_mode": "mean"}, max_seq_length=8)
build("sqrt-weighted", {"pooling_mode_cls_token": False, "pooling_mode_mean_tokens": False, "pooling_mode_mean_sqrt_len_tokens": True,
                        "pooling_mode_weightedmean_tokens": True, "pooling_mode_lasttoken": True})
