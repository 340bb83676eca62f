#!/usr/bin/env bash
# The bundled default English model since 2026-11-27 (src/textrec/models/default): recipes/default-en.sh's model,
# then 7.5 minutes of the GPU recipe and five CPU stages (benchmarks/GPU.md). Run from the repository root after
# recipes/default-en.sh (its runs/default-en-ship/model is the start) and after the GPU run's weights are back:
#   python recipes/gpu/pack.py --sroie-lines 1000 --sroie-format png  # here (that run's pack)
#   bash recipes/gpu.sh --init runs/default-en-ship/model --minutes 7.5 --set train.ema=0   # on the GPU machine
#   copy the run's model/ to runs/gpu-default-1/model                 # here
#   bash recipes/default-en-gpu.sh                                    # here: about 2 hours on a 2-core CPU
#   stage 6            configs/default-en-stage6.yaml           the GPU weights on the stage-5 mix, all receipt lines
#   stage 6-receipts   configs/default-en-stage6-receipts.yaml  receipt lines at 38% of batches, then once more
#   stage 7            configs/default-en-stage7.yaml           from the 0.5 average of the start and the above
#   stage 13           configs/default-en-stage13.yaml          its convolutions frozen; the last moving average
# then the start's language model, fallback and retry rules, the confidences recalibrated, ONNX with int8
# convolutions. Copy runs/default-en-ship-gpu/model/* to src/textrec/models/default/ to ship it.
set -euo pipefail
start=runs/default-en-ship/model
[ -f runs/gpu-default-1/model/weights.safetensors ] || { echo "runs/gpu-default-1/model: the GPU run's weights are missing (see the top of $0)" >&2; exit 1; }
newest() { { ls -dt runs/"$1"/model runs/"$1"-[0-9]*/model 2>/dev/null || true; } | head -1; }  # the newest run of that name
textrec train --config configs/default-en-stage6.yaml "$@"
textrec train --config configs/default-en-stage6-receipts.yaml --set model.init_from="$PWD/$(newest default-en-stage6)" "$@"
textrec train --config configs/default-en-stage6-receipts.yaml --set name=default-en-stage6-receipts-2 --set seed=11 \
  --set model.init_from="$PWD/$(newest default-en-stage6-receipts)" --set train.max_steps=2000 "$@"
python -m textrec.training.soup "$start" "$(newest default-en-stage6-receipts-2)" --alpha 0.5 --out runs/soup-s6r2/model
textrec train --config configs/default-en-stage7.yaml --set model.init_from="$PWD/runs/soup-s6r2/model" "$@"
textrec train --config configs/default-en-stage13.yaml --set model.init_from="$PWD/$(newest default-en-stage7)" "$@"
python -m textrec.training.checkpoints "$(dirname "$(newest default-en-stage13)")" --out runs/s13-ema  # its last average
ship=runs/default-en-ship-gpu/model
rm -rf "$ship" && mkdir -p "$ship"
cp "$start"/config.json "$start"/lm.npz "$ship"/
cp runs/s13-ema/weights.safetensors "$ship"/
python - "$ship"/config.json <<'PY'
import json, pathlib, sys
path = pathlib.Path(sys.argv[1])
config = json.loads(path.read_text())
config["training"] = {
    "recipe": "recipes/default-en.sh (stages 1, 2 and 4, the weight average), then the GPU recipe and CPU stages 6, 6-receipts, 6-receipts-2 and 7 (benchmarks/GPU.md), then stage 13 (convolutions frozen)",
    "weights": {
        "0.5 x shipped 2026-11-26 + 0.5 x default-en-stage6-receipts-2 (step 2000), then default-en-stage7 (step 1400), then default-en-stage13's moving average at step 2000 (BiLSTM and output layer only)": 1.0
    },
    "chosen_on": "benchmarks/RESULTS.md, Stage 13 (validation sets only; receipts better)"}  # as shipped, less its date
path.write_text(json.dumps(config, indent=2) + "\n")
PY
python benchmarks/calibration.py --model "$ship" --attach
textrec export --model "$ship" --out "$ship"/model.onnx --quantize \
  --calibration ../shared/data/svt-train --calibration runs/data/sroie-lines-0-199.lmdb --calibration-limit 768
python tools/sync_onnx_config.py "$ship"
