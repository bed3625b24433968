#!/usr/bin/env python3
"""Dequantization reference vectors for every GGML type bertcheck reads, written by gguf-py.

For each type, 8 rows of 512 elements of random block bytes (every scale, nibble and high bit
pattern occurs; the f16 scale fields are set to random finite halves so no block is NaN), then
what gguf-py's gguf.quants.dequantize makes of them. Written as one GGUF with gguf-py's
GGUFWriter: tensor TYPE holds the quantized bytes, TYPE.expected the float32 result.

Run with the gguf-py venv (outside the repo):
  python3 -m venv /root/.cache/bertcheck/venv-gguf && /root/.cache/bertcheck/venv-gguf/bin/pip install gguf==0.19.0 numpy
  /root/.cache/bertcheck/venv-gguf/bin/python Scripts/make_gguf_dequant_vectors.py goldens/gguf/dequant-vectors.gguf

With --fuzz-seed PATH it writes instead a small BERT GGUF (metadata, a 6-token vocabulary, one
256-element row of every type) that seeds the gguf fuzz target (Scripts/fuzz.sh gguf): goldens/gguf/seed-bert-every-type.gguf.
"""
import sys

import numpy as np
from gguf import GGUFWriter, GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

ROWS, COLUMNS = 8, 512

# Byte offsets of the f16 fields in each block (ggml-common.h).
HALF_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}


def random_halves(rng, count):
    """Finite halves of both signs across the exponent range, subnormals included."""
    bits = rng.integers(0, 0x10000, size=count, dtype=np.uint32).astype(np.uint16)
    exponent = (bits >> 10) & 0x1F
    bits = np.where(exponent == 0x1F, bits & ~np.uint16(0x4000), bits)  # no inf/NaN
    return bits


def raw_bytes(rng, qtype):
    if qtype == T.F32:
        return rng.standard_normal((ROWS, COLUMNS)).astype(np.float32).view(np.uint8)
    if qtype in (T.F16, T.BF16):
        bits = random_halves(rng, ROWS * COLUMNS) if qtype == T.F16 else (
            rng.standard_normal(ROWS * COLUMNS).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
        return bits.reshape(ROWS, COLUMNS).view(np.uint8)
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    blocks = ROWS * COLUMNS // block_size
    data = rng.integers(0, 256, size=(blocks, type_size), dtype=np.uint8)
    for offset in HALF_FIELDS[qtype]:
        data[:, offset:offset + 2] = random_halves(rng, blocks).view(np.uint8).reshape(blocks, 2)
    return data.reshape(ROWS, COLUMNS // block_size * type_size)


def fuzz_seed(path):
    rng = np.random.default_rng(7)
    writer = GGUFWriter(path, "bert")
    writer.add_block_count(1)
    writer.add_context_length(8)
    writer.add_embedding_length(256)
    writer.add_feed_forward_length(256)
    writer.add_head_count(4)
    writer.add_layer_norm_eps(1e-12)
    writer.add_tokenizer_model("bert")
    writer.add_token_list(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "\u2581hello", "lo"])
    writer.add_token_types([3, 3, 3, 3, 1, 1])
    writer.add_pad_token_id(0)
    writer.add_unk_token_id(1)
    types = [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
    names = ["token_embd_norm.weight", "token_embd.weight", "position_embd.weight", "blk.0.attn_q.weight",
             "blk.0.attn_k.weight", "blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.ffn_up.weight",
             "blk.0.ffn_down.weight", "token_types.weight", "blk.0.attn_output_norm.weight",
             "blk.0.layer_output_norm.weight", "cls.output.weight"]
    global ROWS
    ROWS = 1
    for name, qtype in zip(names, types):
        data = raw_bytes(rng, qtype)[:, :GGML_QUANT_SIZES[qtype][1] * (256 // GGML_QUANT_SIZES[qtype][0])]
        writer.add_tensor(name, np.ascontiguousarray(data), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main():
    if sys.argv[1] == "--fuzz-seed":
        return fuzz_seed(sys.argv[2])
    rng = np.random.default_rng(13)
    writer = GGUFWriter(sys.argv[1], "dequant-vectors")
    types = [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
    for qtype in types:
        data = raw_bytes(rng, qtype)
        expected = dequantize(data, qtype).astype(np.float32, copy=False).reshape(ROWS, COLUMNS)
        writer.add_tensor(qtype.name, data, raw_dtype=qtype)
        writer.add_tensor(qtype.name + ".expected", np.ascontiguousarray(expected))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
