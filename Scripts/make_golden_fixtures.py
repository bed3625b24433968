#!/usr/bin/env python3
"""Writes the numpy fixtures the golden tests read, from the committed transformers golden of the
tiny model (numpy + safetensors only):
  tiny-bert.golden.npz        the golden as numpy .npz (np.savez: stored entries)
  tiny-bert.outputs.npz       "another runtime's" outputs (np.savez_compressed: deflated), no ids
  tiny-bert.outputs-f64.npz   the same outputs as float64, hidden states left out
    $(Scripts/reference-venv.sh) Scripts/make_golden_fixtures.py
"""
import os

import numpy as np
from safetensors.numpy import load_file

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
golden = load_file(os.path.join(root, "goldens", "tiny-bert.golden.safetensors"))
out_dir = os.path.join(root, "Tests", "BertCheckTests", "Fixtures", "goldens")
os.makedirs(out_dir, exist_ok=True)

np.savez(os.path.join(out_dir, "tiny-bert.golden.npz"), **golden)
outputs = {k: v for k, v in golden.items() if k not in ("input_ids", "attention_mask", "token_type_ids")}
np.savez_compressed(os.path.join(out_dir, "tiny-bert.outputs.npz"), **outputs)
np.savez_compressed(os.path.join(out_dir, "tiny-bert.outputs-f64.npz"),
                    last_hidden_state=golden["last_hidden_state"].astype(np.float64),
                    pooler_output=golden["pooler_output"].astype(np.float64))
print(out_dir)
