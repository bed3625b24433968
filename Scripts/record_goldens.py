#!/usr/bin/env python3
"""Records a `bertcheck-golden/1` file with the Hugging Face reference (transformers + BertTokenizer,
torch, fp32): ids, mask, token types, last_hidden_state, pooler_output (only when the checkpoint
has a pooler) and every hidden state, the task head's outputs under transformers' field names
(logits, start_logits, end_logits, prediction_logits, seq_relationship_logits), for a
sentence-transformers folder (modules.json) `sentence_embedding` from `SentenceTransformer.encode`
with the folder's max_seq_length, plus metadata.
The model class is the checkpoint's own (config.json `architectures`, BertModel when absent), so
a pooler-less checkpoint is never given a randomly initialised pooler. Written with the
`safetensors` package.

    $(Scripts/reference-venv.sh) Scripts/record_goldens.py MODEL_DIR TEXTS.json OUT.safetensors [--name NAME]

TEXTS.json is a JSON array whose items are a text or a [text, pair] array; the items form one batch,
right-padded with the pad id (attention_mask 0, token_type_ids 0 on padding), truncated to the
model's max positions as the tokenizer does. See Docs/golden-format.md.
"""
import argparse
import json
import os
import tempfile

import numpy as np
import safetensors
import torch
import transformers
from safetensors.numpy import save_file
from transformers import AutoConfig, BertModel, BertTokenizer

FORMAT = "bertcheck-golden/1"

# The task classes whose outputs bertcheck computes, and the output fields each returns.
HEAD_OUTPUTS = {
    "BertModel": [],
    "BertForSequenceClassification": ["logits"],
    "BertForTokenClassification": ["logits"],
    "BertForQuestionAnswering": ["start_logits", "end_logits"],
    "BertForMaskedLM": ["logits"],
    "BertForPreTraining": ["prediction_logits", "seq_relationship_logits"],
    "BertForNextSentencePrediction": ["logits"],
}


def load_model(model_dir):
    """The checkpoint's own architecture; its encoder is `.bert` (a BertModel is its own)."""
    config = AutoConfig.from_pretrained(model_dir)
    architecture = (config.architectures or ["BertModel"])[0]
    if architecture not in HEAD_OUTPUTS:
        raise SystemExit(f"{model_dir}: architecture {architecture} is not one bertcheck computes "
                         f"({', '.join(HEAD_OUTPUTS)})")
    cls = getattr(transformers, architecture)
    # Eager attention: the plain softmax(QK^T/sqrt(d) + mask) V of modeling_bert.py.
    model = cls.from_pretrained(model_dir, attn_implementation="eager").eval().float()
    encoder = model if architecture == "BertModel" else model.bert
    return architecture, model, encoder


def load_items(path):
    with open(path, encoding="utf-8") as f:
        items = json.load(f)
    if not isinstance(items, list) or not items:
        raise SystemExit(f"{path}: expected a non-empty JSON array of texts or [text, pair] arrays")
    parsed = []
    for item in items:
        if isinstance(item, str):
            parsed.append((item, None))
        elif isinstance(item, list) and len(item) == 2 and all(isinstance(t, str) for t in item):
            parsed.append((item[0], item[1]))
        else:
            raise SystemExit(f"{path}: item {item!r} is neither a text nor a [text, pair] array")
    return items, parsed


def encode_batch(tokenizer, parsed, max_length):
    # One item at a time (a batch call cannot mix single texts and pairs), then right padding.
    rows = [tokenizer(text, pair, truncation=True, max_length=max_length) for text, pair in parsed]
    seq = max(len(r["input_ids"]) for r in rows)
    ids = np.full((len(rows), seq), tokenizer.pad_token_id, dtype=np.int64)
    mask = np.zeros((len(rows), seq), dtype=np.int64)
    types = np.zeros((len(rows), seq), dtype=np.int64)
    for b, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[b, :n] = r["input_ids"]
        mask[b, :n] = 1
        types[b, :n] = r["token_type_ids"]
    return ids, mask, types


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir")
    parser.add_argument("texts")
    parser.add_argument("out")
    parser.add_argument("--name", help="model name for the metadata (default: the directory name)")
    args = parser.parse_args()

    items, parsed = load_items(args.texts)
    tokenizer = BertTokenizer.from_pretrained(args.model_dir)
    architecture, model, encoder = load_model(args.model_dir)
    max_length = min(tokenizer.model_max_length, model.config.max_position_embeddings)
    # A sentence-transformers folder: its pipeline's max_seq_length, and sentence_embedding from encode().
    sentence_model = None
    if os.path.exists(os.path.join(args.model_dir, "modules.json")):
        from sentence_transformers import SentenceTransformer
        sentence_model = SentenceTransformer(args.model_dir, device="cpu").eval()
        if any(pair is not None for _, pair in parsed):
            raise SystemExit(f"{args.texts}: a sentence-transformers folder encodes single texts, not [text, pair] arrays")
        max_length = min(max_length, sentence_model.max_seq_length)
        if getattr(sentence_model[0], "do_lower_case", False):
            parsed = [(text.lower(), None) for text, _ in parsed]
    ids, mask, types = encode_batch(tokenizer, parsed, max_length)

    inputs = dict(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                  token_type_ids=torch.from_numpy(types))
    with torch.no_grad():
        out = encoder(**inputs, output_hidden_states=True)
        head = model(**inputs) if architecture != "BertModel" else None

    tensors = {
        "input_ids": ids,
        "attention_mask": mask,
        "token_type_ids": types,
        "last_hidden_state": out.last_hidden_state.float().numpy(),
    }
    if encoder.pooler is not None:
        tensors["pooler_output"] = out.pooler_output.float().numpy()
    for n, h in enumerate(out.hidden_states):
        tensors[f"hidden_states.{n}"] = h.float().numpy()
    for field in HEAD_OUTPUTS[architecture]:
        tensors[field] = getattr(head, field).float().numpy()
    if sentence_model is not None:
        with torch.no_grad():
            tensors["sentence_embedding"] = sentence_model.encode([t for t, _ in parsed], convert_to_numpy=True,
                                                                  batch_size=len(parsed)).astype(np.float32)
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    metadata = {
        "format": FORMAT,
        "texts": json.dumps(items, ensure_ascii=False),
        "model": args.name or os.path.basename(os.path.normpath(args.model_dir)),
        "architecture": architecture,
        **({"mask_token_id": str(tokenizer.mask_token_id)} if tokenizer.mask_token_id is not None else {}),
        "producer": f"transformers {transformers.__version__} torch {torch.__version__} "
                    f"safetensors {safetensors.__version__} (Scripts/record_goldens.py)",
    }
    # Atomic: a temp file beside the target, then rename.
    out_dir = os.path.dirname(os.path.abspath(args.out))
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".golden-", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, 0o644)
        os.replace(tmp, args.out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"{args.out}: {ids.shape[0]} rows x {ids.shape[1]} tokens, {len(out.hidden_states)} hidden states")


if __name__ == "__main__":
    main()
