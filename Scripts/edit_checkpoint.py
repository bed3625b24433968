#!/usr/bin/env python3
"""Writes an edited copy of a safetensors checkpoint, with the standard library only (no numpy):
the report material of Scripts/check-report-browser.sh and Scripts/make-report-screenshots.sh.

  edit_checkpoint.py SRC_DIR DST_DIR --scale-layer N [--factor 1.02]   one encoder layer's weights × factor
  edit_checkpoint.py SRC_DIR DST_DIR --fp16                            every F32 tensor stored as F16

config.json, vocab.txt and tokenizer files are copied beside the new model.safetensors."""
import argparse
import array
import json
import os
import shutil
import struct
import sys


def read_safetensors(path):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    metadata = header.pop("__metadata__", None)
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        tensors[name] = (info["dtype"], info["shape"], data[begin:end])
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    header, offset, blobs = {}, 0, []
    for name, (dtype, shape, blob) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    if metadata:
        header["__metadata__"] = metadata
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def floats(blob):
    values = array.array("f")
    values.frombytes(blob)
    if sys.byteorder != "little":
        values.byteswap()
    return values


def to_bytes(values):
    if sys.byteorder != "little":
        values.byteswap()
    return values.tobytes()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--scale-layer", type=int)
    parser.add_argument("--factor", type=float, default=1.02)
    parser.add_argument("--fp16", action="store_true")
    args = parser.parse_args()
    tensors, metadata = read_safetensors(os.path.join(args.src, "model.safetensors"))
    prefixes = (f"encoder.layer.{args.scale_layer}.", f"bert.encoder.layer.{args.scale_layer}.")
    scaled = 0
    for name, (dtype, shape, blob) in list(tensors.items()):
        if dtype != "F32":
            continue
        if args.scale_layer is not None and name.startswith(prefixes) and name.endswith(".weight") and len(shape) == 2:
            values = floats(blob)
            factor = args.factor
            tensors[name] = (dtype, shape, to_bytes(array.array("f", (v * factor for v in values))))
            scaled += 1
        if args.fp16:
            values = floats(tensors[name][2])
            tensors[name] = ("F16", shape, struct.pack(f"<{len(values)}e", *values))
    if args.scale_layer is not None and scaled == 0:
        sys.exit(f"edit_checkpoint.py: no weight matrix of encoder layer {args.scale_layer} in {args.src}")
    os.makedirs(args.dst, exist_ok=True)
    write_safetensors(os.path.join(args.dst, "model.safetensors"), tensors, metadata)
    for extra in ("config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"):
        if os.path.exists(os.path.join(args.src, extra)):
            shutil.copy(os.path.join(args.src, extra), os.path.join(args.dst, extra))


if __name__ == "__main__":
    main()
