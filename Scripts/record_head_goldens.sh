#!/usr/bin/env bash
# Records the goldens of the tiny task-head checkpoints (Scripts/make_head_checkpoints.py) with the
# reference: goldens/heads/NAME.golden.safetensors for each checkpoint that has its own golden
# (seqcls-f16 and seqcls-swapped are verified against seqcls's).
set -euo pipefail
cd "$(dirname "$0")/.."
py="$(Scripts/reference-venv.sh)"
for name in seqcls regression tokcls qa mlm pretraining nsp; do
  "$py" Scripts/record_goldens.py "goldens/checkpoints/heads/$name" goldens/texts/heads.json \
    "goldens/heads/$name.golden.safetensors" --name "heads/$name"
done
