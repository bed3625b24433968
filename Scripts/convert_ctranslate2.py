#!/usr/bin/env python3
"""Runs CTranslate2's own converter (ct2-transformers-converter) unchanged, except for one thing
transformers 5 broke: CTranslate2 4.8.5's BERT loader asserts
`config.position_embedding_type == "absolute"`, an attribute transformers 5's BertConfig no longer
has (BERT's position embeddings are always absolute there). We give BertConfig that attribute's old
default, "absolute"; a checkpoint whose config.json sets another value keeps it and is refused by
the converter as before.

Usage: python Scripts/convert_ctranslate2.py --model MODEL_DIR --output_dir OUT [ct2-transformers-converter arguments...]
"""
import sys

import transformers
from ctranslate2.converters import transformers as ct2_transformers

if not hasattr(transformers.BertConfig(), "position_embedding_type"):
    transformers.BertConfig.position_embedding_type = "absolute"
sys.exit(ct2_transformers.main())
