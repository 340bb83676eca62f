#!/usr/bin/env bash
# The GPU training recipe, one command on the device machine (one H100/H200, 16 CPU cores, PyTorch, nothing
# from the package index), from the repository root, with runs/gpu-pack.tgz carried along:
#   here first:  python recipes/gpu/pack.py          (real crops + word list into runs/gpu-pack and gpu-pack.tgz)
#   device:      bash recipes/gpu.sh [--init runs/some-model] [--minutes 7.5] [--config configs/gpu/X.yaml]
# Configs: default-en.yaml (fine-tune the shipped network), default-en-angled.yaml (the same with real crops
# seen at an angle, small and compressed, as CPU stage 10), default-en-lwf.yaml (the same, held to the shipped
# model by distillation), lstm1-distill.yaml (the one-BiLSTM-layer network taught by the shipped one),
# teacher-l.yaml (a larger network from scratch, continued from session to session, to teach the shipped size),
# deeper.yaml (the shipped network grown by one conv in its last stage, then as default-en.yaml),
# handwriting.yaml (the handwriting fallback model on its own mix).
# Writes $OUT/model/{weights.safetensors (fp16), config.json}, $OUT/train.log, $OUT/summary.json.
# Back here: attach the language model and export (see recipes/default-en.sh), or start a CPU stage from it.
set -euo pipefail
OUT="${OUT:-runs/gpu-out}"
mkdir -p "$OUT"
if [ -f runs/gpu-pack.tgz ] && [ ! -d runs/gpu-pack ]; then
  tar xzf runs/gpu-pack.tgz -C runs  # the pack travels as one archive (recipes/gpu/pack.py says why)
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 recipes/gpu/train.py --out "$OUT" "$@" 2>&1 | tee "$OUT/train.log"
