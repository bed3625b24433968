#!/usr/bin/env python3
"""Writes the outputs files the `verify --outputs` tests read, shaped as other runtimes write
them, from the committed transformers golden of the tiny model (numpy + safetensors only):
  tiny-bert.outputs-exporter-names.npz  ONNX-export names: output_0 (last_hidden_state),
                                        output_1 (pooler_output), hidden_states_0..3, an
                                        attentions.0 bertcheck does not know, input_ids
  tiny-bert.outputs-stacked.npz         hidden_states stacked [L+1, B, S, H] beside
                                        last_hidden_state and pooler_output
  tiny-bert.outputs-nonfinite.npz       a NaN in last_hidden_state[1, 2, 3], +Inf in
                                        pooler_output[0, 5]
  tiny-bert.outputs-retokenized.npz     a runtime that tokenized row 2 itself into other ids
                                        (the golden's ids with one word piece replaced by [UNK])
    $(Scripts/reference-venv.sh) Scripts/make_outputs_fixtures.py
"""
import os

import numpy as np
from safetensors.numpy import load_file

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
golden = load_file(os.path.join(root, "goldens", "tiny-bert.golden.safetensors"))
out_dir = os.path.join(root, "Tests", "BertCheckTests", "Fixtures", "goldens")
os.makedirs(out_dir, exist_ok=True)
states = sorted((k for k in golden if k.startswith("hidden_states.")), key=lambda k: int(k.split(".")[1]))
batch, seq = golden["input_ids"].shape

exporter = {"output_0": golden["last_hidden_state"], "output_1": golden["pooler_output"],
            "input_ids": golden["input_ids"],
            "attentions.0": np.zeros((batch, 1, seq, seq), dtype=np.float32)}
for name in states:
    exporter[name.replace(".", "_")] = golden[name]
np.savez_compressed(os.path.join(out_dir, "tiny-bert.outputs-exporter-names.npz"), **exporter)

np.savez_compressed(os.path.join(out_dir, "tiny-bert.outputs-stacked.npz"),
                    hidden_states=np.stack([golden[k] for k in states]),
                    last_hidden_state=golden["last_hidden_state"], pooler_output=golden["pooler_output"])

last = golden["last_hidden_state"].copy()
last[1, 2, 3] = np.nan
pooler = golden["pooler_output"].copy()
pooler[0, 5] = np.inf
np.savez_compressed(os.path.join(out_dir, "tiny-bert.outputs-nonfinite.npz"),
                    last_hidden_state=last, pooler_output=pooler)

ids = golden["input_ids"].copy()
ids[2, 2] = 1  # [UNK] in the tiny vocabulary
np.savez_compressed(os.path.join(out_dir, "tiny-bert.outputs-retokenized.npz"),
                    input_ids=ids, last_hidden_state=golden["last_hidden_state"],
                    pooler_output=golden["pooler_output"])
print(out_dir)
