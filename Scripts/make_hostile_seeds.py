#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into Tests/BertCheckTests/Fixtures/hostile/TARGET/.

Each file has exactly the shape its fuzz target (Tests/Fuzz/Fuzz<Target>.swift) consumes, so
Scripts/fuzz.sh seeds libFuzzer with it and `fuzzFindingsNeverCrash` replays it:
  safetensors  raw safetensors bytes
  zip          raw zip bytes (torch.save .bin or numpy .npz)
  pickle       a raw pickle stream (a torch data.pkl)
  tokenizer    byte 0 picks the mode (mod 8: bit 0 cased, bit 1 pair split at 0xFF, bit 2 truncate;
               6 a texts file, 7 a vocab.txt), byte 1 the max length (4 + b mod 64), then the bytes
  golden       raw golden bytes (bertcheck-golden/1 safetensors), also read as a texts list
  config       byte 0 picks the file (mod 4: 0 model config.json; 1, 2 tokenizer_config.json or
               config.json beside a vocabulary, by byte mod 3 == 1; 3 model.safetensors.index.json)
  onnx         a raw ONNX ModelProto (protobuf wire format), read beside a `weights.bin`
Valid files and files with one rule broken, all small. Deterministic: rerunning rewrites the
same bytes (but the recorded golden, whose floats follow the forward pass's kernels). Fuzz findings are added beside these by hand, under the name libFuzzer gave them.

Usage: python3 Scripts/make_hostile_seeds.py   (standard library only)
"""
import io
import json
import os
import pickle
import struct
import subprocess
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "BertCheckTests", "Fixtures", "hostile")


def write(target, name, data):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    with open(os.path.join(OUT, target, name), "wb") as f:
        f.write(data)


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


# --- safetensors -------------------------------------------------------------------------------

def safetensors(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape, bytes), laid out in order."""
    header, data, offset = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        data += raw
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def raw_safetensors(header, data=b""):
    """A header written as given (to break a rule the writer above would not)."""
    return struct.pack("<Q", len(header)) + header + data


def floats(values, fmt="<f"):
    return b"".join(struct.pack(fmt, v) for v in values)


two = safetensors([("a", "F32", [2, 3], floats([0, 1, -2.5, 3e38, 1e-45, -0.0])),
                   ("b", "BF16", [4], bytes.fromhex("803f00c0807f0000")),
                   ("c", "I64", [2], struct.pack("<qq", 7, -1))], metadata={"format": "pt"})
write("safetensors", "valid-three-tensors.safetensors", two)
write("safetensors", "valid-every-dtype.safetensors", safetensors([
    ("f64", "F64", [2], floats([1.5, float("inf")], "<d")), ("f16", "F16", [3], bytes.fromhex("003c00c0007c")),
    ("i32", "I32", [1], struct.pack("<i", -5)), ("i16", "I16", [1], struct.pack("<h", 3)), ("i8", "I8", [2], b"\x01\xff"),
    ("u8", "U8", [2], b"\x00\xff"), ("bool", "BOOL", [2], b"\x00\x01"), ("scalar", "F32", [], floats([2.0])),
    ("empty", "F32", [0, 4], b""), ("nan", "F32", [1], bytes.fromhex("0000c07f"))]))
write("safetensors", "valid-empty-header.safetensors", safetensors([]))
write("safetensors", "valid-unpadded-unicode-names.safetensors",
      safetensors([("wörd.ημ", "F32", [1], floats([1])), ("日本", "F16", [1], b"\x00\x3c")], pad=False))
write("safetensors", "truncated-data.safetensors", two[:-5])
write("safetensors", "header-length-past-end.safetensors", struct.pack("<Q", 4096) + two[8:])
write("safetensors", "overlapping-tensors.safetensors", raw_safetensors(
    b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', b"\x00" * 12))
write("safetensors", "offsets-overflow.safetensors", raw_safetensors(
    b'{"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,18446744073709551615]}}'))
write("safetensors", "deep-nesting.safetensors", raw_safetensors(b"[" * 300))

# --- zip (torch.save and numpy) ----------------------------------------------------------------

dtypes_bin = read("goldens/checkpoints/pytorch/dtypes/pytorch_model.bin")
write("zip", "torch-dtypes.bin", dtypes_bin)
protocol4 = read("goldens/checkpoints/pytorch/protocol4/pytorch_model.bin")
if len(protocol4) <= 16384:
    write("zip", "torch-protocol4.bin", protocol4)


def deflated(zip_bytes):
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(zipfile.ZipInfo(info.filename, (1980, 1, 1, 0, 0, 0)), src.read(info.filename),
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


write("zip", "torch-dtypes-deflated.bin", deflated(dtypes_bin))


def npy(descr, shape, raw, fortran=False):
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, repr(tuple(shape)))
    header = header.encode("latin1")
    header += b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + raw


def npz(members, compression=zipfile.ZIP_STORED):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, compress_type=compression)
    return out.getvalue()


arrays = [("embeddings.word_embeddings.weight.npy", npy("<f4", [3, 2], floats([1, 2, 3, 4, 5, 6]))),
          ("pooler.dense.bias.npy", npy("<f2", [2], bytes.fromhex("003c00c0"))),
          ("ids.npy", npy("<i8", [2], struct.pack("<qq", 1, 2)))]
write("zip", "numpy-stored.npz", npz(arrays))
write("zip", "numpy-deflated.npz", npz(arrays, zipfile.ZIP_DEFLATED))
write("zip", "numpy-fortran-order.npz", npz([("w.npy", npy("<f4", [2, 2], floats([1, 2, 3, 4]), fortran=True))]))
write("zip", "torch-truncated.bin", dtypes_bin[: len(dtypes_bin) * 2 // 3])
flipped = bytearray(dtypes_bin)
flipped[len(flipped) // 2] ^= 0x55  # inside a storage or the pickle: a CRC mismatch
write("zip", "torch-one-byte-flipped.bin", bytes(flipped))
end = dtypes_bin.rfind(b"PK\x05\x06")
write("zip", "torch-central-directory-moved.bin", dtypes_bin[: end + 16] + struct.pack("<I", 0x7FFFFFF0) + dtypes_bin[end + 20:])

# --- pickle -------------------------------------------------------------------------------------


def data_pkl(zip_bytes):
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as z:
        return z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))


write("pickle", "torch-dtypes-data.pkl", data_pkl(dtypes_bin))
write("pickle", "torch-protocol4-data.pkl", data_pkl(protocol4))
write("pickle", "plain-containers.pkl", pickle.dumps({"a": [1, 2.5, "x", (1, 2), None, True], "b": {"c": b"\x00\xff"}}, protocol=2))
write("pickle", "plain-containers-protocol4.pkl", pickle.dumps({"a": [1, -(1 << 70), "é" * 3], "t": (1,)}, protocol=4))
write("pickle", "truncated.pkl", data_pkl(dtypes_bin)[:40])
write("pickle", "os-system-global.pkl", b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.")
write("pickle", "memo-reference-unset.pkl", b"\x80\x02h\x07.")
write("pickle", "deep-lists.pkl", b"\x80\x02" + b"]" * 2000 + b"a" * 1999 + b".")

# --- tokenizer ------------------------------------------------------------------------------------


def tok(mode, length, text):
    return bytes([mode, length]) + (text.encode() if isinstance(text, str) else text)


write("tokenizer", "uncased-text", tok(0, 0, "Agney really loves Pokemon, Lucario is his favorite."))
write("tokenizer", "cased-text", tok(1, 0, "Hello, Wörld! naïve café 日本語 [CLS] [MASK] unaffable"))
write("tokenizer", "uncased-pair", tok(2, 0, b"first text here\xffand the second one"))
write("tokenizer", "cased-pair", tok(3, 0, b"\xe2\x80\x8bZero width\xff\xe3\x80\x80ideographic space"))
write("tokenizer", "uncased-truncated", tok(4, 3, "a sentence that is long enough to be cut at seven tokens"))
write("tokenizer", "cased-truncated", tok(5, 60, "Ünïcödé àccents\u0301\u0316 and controls \x07\x1b[0m"))
write("tokenizer", "invalid-utf8", tok(0, 0, b"ok \xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf end"))
write("tokenizer", "texts-file", tok(6, 0, b"hello\n\nworld\r\n" + "Agney loves Pokemon".encode() + b"\n"))
write("tokenizer", "texts-file-invalid-line", tok(6, 0, b"fine\n\xc3\x28\n"))
write("tokenizer", "vocab", tok(7, 0, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##s\n,\n!\nw\n##ö\n"))
write("tokenizer", "vocab-without-specials", tok(7, 0, "hello\nworld\n##s\n"))
write("tokenizer", "vocab-crlf-duplicates", tok(7, 0, b"[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[UNK]\r\n\r\n x\nlast"))

# --- golden ---------------------------------------------------------------------------------------


def golden(ids, hidden=32, metadata=None, extra=(), drop=()):
    seq = len(ids)
    parts = [("input_ids", "I64", [1, seq], b"".join(struct.pack("<q", i) for i in ids)),
             ("attention_mask", "I64", [1, seq], struct.pack("<q", 1) * seq),
             ("token_type_ids", "I64", [1, seq], struct.pack("<q", 0) * seq),
             ("last_hidden_state", "F32", [1, seq, hidden], floats([0.25] * (seq * hidden)))]
    parts = [p for p in parts if p[0] not in drop] + list(extra)
    return safetensors(parts, metadata={"format": "bertcheck-golden/1", **(metadata or {})})


write("golden", "wrong-values.safetensors", golden([2, 5, 6, 3], metadata={"texts": json.dumps(["a tiny text"])}))
write("golden", "hidden-states.safetensors", golden([2, 7, 3], extra=[
    ("hidden_states.%d" % n, "F32", [1, 3, 32], floats([0.5] * 96)) for n in range(4)], metadata={"max_abs": "0.01"}))
write("golden", "id-outside-vocabulary.safetensors", golden([2, 500, 3]))
write("golden", "no-last-hidden-state.safetensors", golden([2, 3], drop=["last_hidden_state"]))
write("golden", "texts-list.json", json.dumps(["a tiny text", ["a pair", "of texts"], "", "日本"]).encode())
write("golden", "texts-list-bad-item.json", b'["fine", 42, ["only one"]]')
# A golden `bertcheck record` writes for goldens/models/tiny-bert (it passes verify), from the
# debug build when there is one (swift build).
bertcheck = os.path.join(ROOT, ".build", "debug", "bertcheck")
if os.path.exists(bertcheck):
    with tempfile.TemporaryDirectory() as scratch:
        texts = os.path.join(scratch, "texts.json")
        with open(texts, "w") as f:
            json.dump(["a tiny text", ["a pair", "of texts"]], f)
        out = os.path.join(scratch, "golden.safetensors")
        subprocess.run([bertcheck, "record", os.path.join(ROOT, "goldens/models/tiny-bert"), "--texts-file", texts,
                        "--out", out], check=True, stdout=subprocess.DEVNULL)
        with open(out, "rb") as f:
            write("golden", "recorded-tiny-bert.safetensors", f.read())

# --- config ---------------------------------------------------------------------------------------


def cfg(selector, text):
    return bytes([selector]) + (text.encode() if isinstance(text, str) else text)


write("config", "model-config", cfg(0, read("goldens/models/tiny-bert/config.json")))
write("config", "model-config-heads-do-not-divide", cfg(0, '{"hidden_size": 32, "num_attention_heads": 5}'))
write("config", "model-config-huge-numbers", cfg(0, '{"vocab_size": 1e400, "num_hidden_layers": 9223372036854775807}'))
write("config", "model-config-duplicate-keys", cfg(0, '{"hidden_size": 32, "hidden_size": 64}'))
write("config", "tokenizer-config", cfg(1, read("goldens/models/tiny-bert/tokenizer_config.json")))
write("config", "tokenizer-config-odd-types", cfg(1, '{"do_lower_case": "yes", "model_max_length": -3, "unk_token": {"content": 1}}'))
write("config", "config-for-tokenizer", cfg(2, '{"max_position_embeddings": 3}'))
write("config", "sharded-index", cfg(3, read("goldens/checkpoints/tiny-bert-sharded/model.safetensors.index.json")))
write("config", "sharded-index-escaping-path", cfg(3, '{"weight_map": {"pooler.dense.bias": "../../etc/passwd"}}'))
write("config", "sharded-index-not-object", cfg(3, '{"weight_map": [1, 2]}'))

# --- onnx -----------------------------------------------------------------------------------------
# Protobuf wire format by hand: field keys are (number << 3) | wire type (0 varint, 2 length).


def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def field(number, value):
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def tensor(name, dims, data_type, raw=None, floats=None, external=None):
    """TensorProto: dims 1, data_type 2, float_data 4 (packed), name 8, raw_data 9, external_data 13, data_location 14."""
    out = b"".join(field(1, d) for d in dims) + field(2, data_type) + field(8, name)
    if floats is not None:
        out += field(4, b"".join(struct.pack("<f", v) for v in floats))
    if raw is not None:
        out += field(9, raw)
    if external is not None:
        for key, value in external:
            out += field(13, field(1, key) + field(2, value))
        out += field(14, 1)
    return out


def model(initializers, nodes=b"", opset=17):
    """ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8; GraphProto: node 1, name 2, initializer 5."""
    graph = nodes + field(2, "main_graph") + b"".join(field(5, t) for t in initializers)
    return field(1, 8) + field(2, "pytorch") + field(7, graph) + field(8, field(2, opset))


FLOAT, INT8, INT64, FLOAT16 = 1, 3, 7, 10
embeddings = tensor("embeddings.word_embeddings.weight", [3, 2], FLOAT, raw=floats([1, 2, 3, 4, 5, 6]))
matmul = tensor("onnx::MatMul_442", [2, 2], FLOAT, floats=[0.5, -0.5, 0.25, 2])
node = field(1, field(1, "input") + field(1, "onnx::MatMul_442") + field(2, "out") + field(3, "/encoder/MatMul") + field(4, "MatMul"))
valid = model([embeddings, matmul], nodes=node)
write("onnx", "valid-raw-and-float-data.onnx", valid)
write("onnx", "valid-fp16-int8-int64.onnx", model([
    tensor("pooler.dense.bias", [2], FLOAT16, raw=bytes.fromhex("003c00c0")),
    tensor("encoder.layer.0.attention.self.query.weight_quantized", [2, 2], INT8, raw=b"\x01\xff\x7f\x80"),
    tensor("position_ids", [1, 2], INT64, raw=struct.pack("<qq", 0, 1))]))
write("onnx", "external-data.onnx", model([tensor("w", [4], FLOAT, external=[("location", "weights.bin"), ("offset", "8"), ("length", "16")])]))
write("onnx", "external-data-escaping.onnx", model([tensor("w", [4], FLOAT, external=[("location", "../../etc/passwd"), ("length", "16")])]))
write("onnx", "raw-data-shorter-than-shape.onnx", model([tensor("w", [4, 4], FLOAT, raw=floats([1, 2]))]))
write("onnx", "dims-overflow.onnx", model([tensor("w", [1 << 62, 1 << 62], FLOAT, raw=b"")]))
write("onnx", "truncated.onnx", valid[: len(valid) * 2 // 3])
write("onnx", "length-past-end.onnx", field(1, 8) + varint(7 << 3 | 2) + varint(1 << 40) + b"\x00" * 8)
write("onnx", "no-graph.onnx", field(1, 8) + field(2, "pytorch"))
