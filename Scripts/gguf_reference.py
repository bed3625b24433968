#!/usr/bin/env python3
"""Writes, for each GGUF given, what gguf-py (the reference; gguf.GGUFReader + gguf.quants.dequantize)
reads in it, for bertcheck's GGUF reader tests:

  NAME.dequant.safetensors  per tensor, keyed by its GGUF name: the first min(16, rows) rows of the
                            dequantized tensor as F32 (numpy order: [ne1, ne0]; 1-D tensors whole),
                            so a test can compare those values bit for bit. Full tensors of every
                            type would weigh 13x the model; the checksum below covers all the rest.
  NAME.json                 version, alignment, tensor data start, every metadata key with its GGUF
                            value type and value, and per tensor: name, ggml type, shape in GGUF order
                            (innermost first), offset (relative to the data start, as stored),
                            absolute file offset, byte size, element count, rows kept, and
                            `dequant_checksum`: sum over i of bits(f32[i]) * (2*i + 1) mod 2^64,
                            i the row-major index over the whole dequantized tensor, as hex.
                            (Any changed value or permutation changes it; easy to compute in Swift.)

Usage: python Scripts/gguf_reference.py FILE.gguf [FILE.gguf ...]   (writes next to each FILE)
"""
import json
import os
import sys

import gguf
import numpy as np
from safetensors.numpy import save_file

ROWS_KEPT = 16


def checksum(values: np.ndarray) -> str:
    bits = np.ascontiguousarray(values, dtype=np.float32).reshape(-1).view(np.uint32).astype(np.uint64)
    weights = np.arange(bits.size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    with np.errstate(over="ignore"):
        return f"{int(np.sum(bits * weights, dtype=np.uint64)):016x}"


def field_value(field):
    value = field.contents()
    if isinstance(value, float):
        return float(np.float32(value))  # as stored: FLOAT32 keys printed at their f32 value
    return value


def describe_types(field):
    return [t.name for t in field.types]


def reference(path: str) -> None:
    reader = gguf.GGUFReader(path)
    stem = path[: -len(".gguf")] if path.endswith(".gguf") else path
    arrays, tensors = {}, []
    for t in reader.tensors:
        values = np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
        values = values.reshape([int(d) for d in reversed(t.shape.tolist())])
        kept = values if values.ndim == 1 else values[:ROWS_KEPT]
        arrays[t.name] = np.ascontiguousarray(kept)
        tensors.append({
            "name": t.name,
            "ggml_type": t.tensor_type.name,
            "ggml_type_id": int(t.tensor_type),
            "shape": [int(d) for d in t.shape.tolist()],
            "offset": int(t.data_offset - reader.data_offset),
            "absolute_offset": int(t.data_offset),
            "n_bytes": int(t.n_bytes),
            "n_elements": int(t.n_elements),
            "rows_kept": int(kept.shape[0]) if values.ndim > 1 else None,
            "dequant_checksum": checksum(values),
        })
    metadata = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        metadata[key] = {"type": describe_types(field), "value": field_value(field)}
    listing = {
        "file": os.path.basename(path),
        "file_bytes": os.path.getsize(path),
        "gguf_version": int(reader.fields["GGUF.version"].contents()),
        "alignment": int(reader.alignment),
        "data_offset": int(reader.data_offset),
        "tensor_count": len(tensors),
        "metadata": metadata,
        "tensors": tensors,
        "reference": f"gguf-py {getattr(gguf, '__version__', None) or 'gguf'}: GGUFReader + gguf.quants.dequantize",
        "dequant_rows_kept": ROWS_KEPT,
    }
    # One metadata key: safetensors writes several in a random order, and the files must not churn.
    save_file(arrays, stem + ".dequant.safetensors",
              metadata={"source": f"{os.path.basename(path)}, gguf-py dequantize, first {ROWS_KEPT} rows"})
    with open(stem + ".json", "w", encoding="utf-8") as f:
        json.dump(listing, f, indent=1, ensure_ascii=False)
        f.write("\n")
    types = sorted({t["ggml_type"] for t in tensors})
    print(f"{path}: {len(tensors)} tensors, types {types}")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        reference(p)
