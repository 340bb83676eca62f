#!/usr/bin/env bash
# Reproduce the bundled default English model (see configs/default-en.yaml for the data mix and schedule).
# Needs ../shared/data (IIIT5K, SVT, SROIE). Run from the repository root:  bash recipes/default-en.sh
# The best model by validation CER lands in runs/default-en*/model; copy it to src/textrec/models/default.
set -euo pipefail
if [ ! -f runs/data/sroie-train-lines.lmdb/data.mdb ]; then
  textrec dataset ../shared/data/sroie --pages 0-239 --out runs/data/sroie-train-lines.lmdb
fi
textrec train --config configs/default-en.yaml "$@"
