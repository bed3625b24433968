"""Writes the tiny PyTorch (.bin) and numpy (.npz) checkpoints committed under
goldens/checkpoints/pytorch/, each beside the same tensors saved as `expected.safetensors` (the
values the Swift readers must reproduce bit for bit).

Run with the reference python: `$(Scripts/reference-venv.sh) Scripts/make-pytorch-checkpoints.py`
(torch 2.13.0+cpu, transformers 5.24.0). Deterministic: fixed seed, fixed tiny config.
"""
import io
import json
import os
import shutil
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertForPreTraining, BertModel

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "goldens", "checkpoints", "pytorch")

CONFIG = BertConfig(
    vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
    intermediate_size=48, max_position_embeddings=24, type_vocab_size=2,
)


def fresh_dir(name):
    path = os.path.join(ROOT, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def write_config(path, config=CONFIG, architectures=("BertModel",)):
    data = config.to_dict()
    data["architectures"] = list(architectures)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")


def save_expected(path, state_dict):
    """The same tensors, contiguous and unshared, as safetensors: the values a reader must give."""
    plain = OrderedDict((k, v.detach().clone().contiguous()) for k, v in state_dict.items())
    save_file(plain, os.path.join(path, "expected.safetensors"), metadata={"format": "pt"})


def save_bin(path, state_dict, archive_name=None, **kwargs):
    """Writes path/pytorch_model.bin. torch.save names the zip folder after the file it writes
    ('NAME/' for NAME.bin) and uses 'archive/' for a file object; both occur in the wild."""
    target = os.path.join(path, "pytorch_model.bin")
    if archive_name is None:
        buffer = io.BytesIO()
        torch.save(state_dict, buffer, **kwargs)
        with open(target, "wb") as f:
            f.write(buffer.getvalue())
    else:
        named = os.path.join(path, archive_name + ".bin")
        torch.save(state_dict, named, **kwargs)
        if named != target:
            os.replace(named, target)


def model_state(cls=BertModel):
    torch.manual_seed(1234)
    model = cls(CONFIG).eval()
    # Non-trivial values everywhere (fresh LayerNorms are all ones/zeros).
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model.state_dict()


def main():
    os.makedirs(ROOT, exist_ok=True)
    base = model_state()

    # 1. The common form: torch.save(state_dict) with the 'archive/' folder.
    path = fresh_dir("tiny-bert")
    write_config(path)
    save_bin(path, base)
    save_expected(path, base)

    # 2. Same tensors, folder named after the file as torch.save(sd, "pytorch_model.bin") does.
    path = fresh_dir("named-prefix")
    write_config(path)
    save_bin(path, base, archive_name="tiny_bert_export")
    save_expected(path, base)

    # 3. BertForPreTraining: 'bert.' prefixes, cls.* heads, and the decoder weight tied to the word
    #    embeddings (one storage, two names).
    pre = model_state(BertForPreTraining)
    assert pre["cls.predictions.decoder.weight"].data_ptr() == pre["bert.embeddings.word_embeddings.weight"].data_ptr()
    path = fresh_dir("pretraining-tied")
    write_config(path, architectures=("BertForPreTraining",))
    save_bin(path, pre)
    save_expected(path, pre)

    # 4. Views: tensors that are slices of one flat storage (non-zero storage offsets) and
    #    transposed (non-contiguous strides), as a converted or hand-built state dict can be.
    views = OrderedDict()
    flat = torch.cat([v.reshape(-1) for v in base.values() if v.dtype == torch.float32])
    offset = 0
    for k, v in base.items():
        if v.dtype != torch.float32:
            views[k] = v
            continue
        n = v.numel()
        piece = flat[offset:offset + n].view(v.shape)
        offset += n
        if v.dim() == 2:
            # Same values, stored transposed: strides (1, rows).
            piece = v.t().contiguous().t()
        views[k] = piece
    assert any(not t.is_contiguous() for t in views.values())
    assert any(t.storage_offset() > 0 for t in views.values())
    path = fresh_dir("views")
    write_config(path)
    save_bin(path, views)
    save_expected(path, views)

    # 5. Every dtype a checkpoint may hold, plus a 0-d scalar and an empty tensor.
    dtypes = OrderedDict()
    g = torch.Generator().manual_seed(7)
    r = torch.randn(3, 5, generator=g)
    dtypes["f32"] = r
    dtypes["f16"] = r.to(torch.float16)
    dtypes["bf16"] = r.to(torch.bfloat16)
    dtypes["f64"] = r.to(torch.float64)
    dtypes["i64"] = torch.arange(-6, 6, dtype=torch.int64).reshape(2, 6)
    dtypes["i32"] = torch.arange(-4, 4, dtype=torch.int32)
    dtypes["i16"] = torch.arange(-3, 3, dtype=torch.int16)
    dtypes["i8"] = torch.tensor([-128, -1, 0, 127], dtype=torch.int8)
    dtypes["u8"] = torch.tensor([0, 1, 200, 255], dtype=torch.uint8)
    dtypes["bool"] = torch.tensor([True, False, True])
    dtypes["scalar"] = torch.tensor(2.5)
    dtypes["empty"] = torch.zeros(0, 3)
    dtypes["half_view"] = dtypes["f16"][1:, ::2]
    # A Parameter pickles through torch._utils._rebuild_parameter.
    dtypes["parameter"] = torch.nn.Parameter(r[:2].clone())
    path = fresh_dir("dtypes")
    save_bin(path, dtypes)
    save_expected(path, dtypes)

    # 5b. The same with pickle protocol 4 (FRAME, SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE), as
    #     torch.save(..., pickle_protocol=4) writes.
    path = fresh_dir("protocol4")
    save_bin(path, dtypes, pickle_protocol=4)
    save_expected(path, dtypes)

    # 6. Deflated entries: the tiny-bert zip rewritten with every entry compressed (torch.load
    #    reads it; some tools re-zip checkpoints this way).
    path = fresh_dir("deflated")
    write_config(path)
    with zipfile.ZipFile(os.path.join(ROOT, "tiny-bert", "pytorch_model.bin")) as src, \
            zipfile.ZipFile(os.path.join(path, "pytorch_model.bin"), "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            # A fixed timestamp keeps the output reproducible.
            member = zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(member, src.read(info.filename))
    assert torch.load(os.path.join(path, "pytorch_model.bin"), weights_only=True).keys() == base.keys()
    save_expected(path, base)

    # 7. The pre-1.6 format (a bare pickle stream): bertcheck refuses it with a re-save hint.
    path = fresh_dir("legacy")
    write_config(path)
    save_bin(path, base, _use_new_zipfile_serialization=False)

    # 8. numpy: np.savez (stored) and np.savez_compressed (deflated) of the same arrays.
    arrays = OrderedDict((k, v.numpy()) for k, v in base.items())
    arrays["extra.f16"] = dtypes["f16"].numpy()
    arrays["extra.f64"] = dtypes["f64"].numpy()
    arrays["extra.i64"] = dtypes["i64"].numpy()
    arrays["extra.i32"] = dtypes["i32"].numpy()
    arrays["extra.i16"] = dtypes["i16"].numpy()
    arrays["extra.i8"] = dtypes["i8"].numpy()
    arrays["extra.u8"] = dtypes["u8"].numpy()
    arrays["extra.bool"] = dtypes["bool"].numpy()
    arrays["extra.scalar"] = np.float32(2.5).reshape(())
    arrays["extra.empty"] = np.zeros((0, 3), dtype=np.float32)
    path = fresh_dir("npz")
    write_config(path)
    np.savez(os.path.join(path, "weights.npz"), **arrays)
    np.savez_compressed(os.path.join(path, "weights-compressed.npz"), **arrays)
    save_file(OrderedDict((k, torch.from_numpy(np.array(v, copy=True))) for k, v in arrays.items()),
              os.path.join(path, "expected.safetensors"))

    print("wrote", os.path.normpath(ROOT), file=sys.stderr)


if __name__ == "__main__":
    main()
