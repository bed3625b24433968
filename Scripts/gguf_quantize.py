#!/usr/bin/env python3
"""Quantizes a GGUF with llama.cpp's own quantizer (llama_model_quantize, through llama-cpp-python
0.3.36, which builds llama.cpp; what the llama-quantize tool calls).

    python Scripts/gguf_quantize.py IN.gguf OUT.gguf FTYPE [--pure]

FTYPE is a llama_ftype name without its LLAMA_FTYPE_MOSTLY_ prefix: Q4_0, Q4_1, Q5_0, Q5_1, Q2_K,
Q3_K_M, Q4_K_M, Q5_K_M, Q6_K, Q8_0, ... --pure gives every quantizable tensor the ftype's default
type (Q3_K_M -> Q3_K, Q4_K_M -> Q4_K, ...) instead of llama.cpp's per-tensor mix. Either way
llama.cpp leaves 1-D tensors, *_norm.weight, position_embd and token_types as they are, and falls
back to another type for a tensor whose rows are not a whole number of the type's blocks.
"""
import ctypes
import sys

import llama_cpp


def quantize(source: str, target: str, ftype_name: str, pure: bool) -> None:
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, "LLAMA_FTYPE_MOSTLY_" + ftype_name)
    params.pure = pure
    params.nthread = 2
    status = llama_cpp.llama_model_quantize(source.encode(), target.encode(), ctypes.byref(params))
    if status != 0:
        sys.exit(f"llama_model_quantize {source} -> {target} ({ftype_name}) failed with {status}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--pure"]
    if len(args) != 3:
        sys.exit(__doc__)
    quantize(args[0], args[1], args[2], "--pure" in sys.argv[1:])
