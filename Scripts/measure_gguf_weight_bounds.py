#!/usr/bin/env python3
"""The figures behind BlockQuantizationBound (Sources/BertCheck/Goldens/BlockQuantizedWeights.swift):
for every GGML block-quantized tensor of the GGUFs Scripts/measure_quant_profiles.py made (llama.cpp's
converter and quantizer, cached in ~/.cache/bertcheck/quant-profiles/), its relative error
||b - a|| / ||a|| and gain <a, b>/<a, a> - 1 against the source checkpoint's tensor, dequantized
with gguf-py. Correct conversions and the x1.02-scaled ones side by side, per type.

Usage: MINILM=$(Scripts/fetch-model.sh) $(Scripts/reference-venv.sh --converters) Scripts/measure_gguf_weight_bounds.py
"""
import sys, json, glob, os, numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize
from safetensors.numpy import load_file
C = os.path.expanduser('~/.cache/bertcheck/quant-profiles')
def hfname(n):
    m = {'token_embd.weight':'embeddings.word_embeddings.weight','position_embd.weight':'embeddings.position_embeddings.weight',
         'token_types.weight':'embeddings.token_type_embeddings.weight'}
    if n in m: return m[n]
    if n.startswith('blk.'):
        _, L, rest = n.split('.', 2)
        mod, leaf = rest.rsplit('.', 1)
        t = {'attn_q':'attention.self.query','attn_k':'attention.self.key','attn_v':'attention.self.value','attn_output':'attention.output.dense',
             'ffn_up':'intermediate.dense','ffn_down':'output.dense'}.get(mod)
        if t: return f'encoder.layer.{L}.{t}.{leaf}'
    return None
res = {}
for model, hfdir in [('all-MiniLM-L6-v2', os.environ['MINILM']), ('bert-base-shaped', C + '/bert-base-shaped')]:
    st = {}
    for f in glob.glob(hfdir + '/*.safetensors'):
        for k, v in load_file(f).items():
            st[k[5:] if k.startswith('bert.') else k] = v.astype(np.float64)
    for g in sorted(glob.glob(f'{C}/{model}*.gguf')):
        r = GGUFReader(g)
        tag = os.path.basename(g)[len(model)+1:-5]
        for t in r.tensors:
            if t.tensor_type.name in ('F32','F16','BF16'): continue
            n = hfname(t.name)
            if n is None or n not in st: continue
            b = dequantize(t.data, t.tensor_type).reshape(st[n].shape).astype(np.float64)
            a = st[n]
            rel = np.linalg.norm(b - a) / np.linalg.norm(a)
            gain = (a * b).sum() / (a * a).sum() - 1
            res.setdefault(t.tensor_type.name, []).append((model, tag, n, rel, gain))
json.dump(res, open('/tmp/qm/res.json', 'w'))
for ty, rows in sorted(res.items()):
    corr = [r for r in rows if 'x1.' not in r[1]]
    pert = [r for r in rows if 'x1.02' in r[1] and r[2].startswith('encoder.layer.3.') and r[1].split('-')[0].replace('L3.', 'encoder.layer.3.') in r[2]]
    print(ty, 'correct: n=%d rel max %.4f  |gain| max %.5f' % (len(corr), max(r[3] for r in corr), max(abs(r[4]) for r in corr)),
          ' perturbed(x1.02 tensors): ' + ' '.join('%s rel %.4f gain %.4f' % (r[2].split('.',3)[3], r[3], r[4]) for r in pert))
