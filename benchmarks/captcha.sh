#!/usr/bin/env bash
# Train and test the captcha models from configs/ on ../shared/data; prints wall time and test metrics.
# Usage: bash benchmarks/captcha.sh [captcha-6char|captcha-v2 ...]   (run from the repository root)
set -euo pipefail
for name in "${@:-captcha-6char captcha-v2}"; do
  for set in $name; do
    start=$(date +%s)
    textrec train --config "configs/$set.yaml" --set "name=bench-$set" --set train.samples_to_print=0 > "/tmp/train-$set.log" 2>&1
    folder=$(ls -d runs/bench-$set* | sort -V | tail -1)
    echo "$set: trained in $(( $(date +%s) - start )) s -> $folder"
    textrec test --model "$folder/model" --data "../shared/data/$set/labels.tsv" --split test --report "$folder/test-report"
  done
done
