#!/usr/bin/env bash
# Reproduce the bundled default English model in two stages (see configs/default-en.yaml for the data mix,
# configs/default-en-stage2.yaml for what stage 2 changes). Needs ../shared/data (IIIT5K, SVT, SROIE).
# Run from the repository root:  bash recipes/default-en.sh
# Stage 2 starts from runs/default-en/model (stage 1's best); its best model lands in
# runs/default-en-stage2*/model. Then the decoder's character language model is built from wordfreq's English
# word list and attached to it (lm.npz + config.json "language_model"; weights tuned on the validation words).
# Copy that folder to src/textrec/models/default and export model.onnx beside it.
set -euo pipefail
if [ ! -f runs/data/sroie-train-lines.lmdb/data.mdb ]; then
  textrec dataset ../shared/data/sroie --pages 0-239 --out runs/data/sroie-train-lines.lmdb
fi
textrec train --config configs/default-en.yaml "$@"
textrec train --config configs/default-en-stage2.yaml "$@"
model=$(ls -d runs/default-en-stage2*/model | tail -1)
python -m textrec.training.language_model --attach "$model" --weight 0.5 --bonus 0.5
