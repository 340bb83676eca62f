"""Weight interpolation between two models of one architecture (WiSE-FT, Wortsman et al. 2022): a model
fine-tuned from another keeps much of both when their weights are averaged, e.g. the scene-text stage and the
model it started from. Writes a model folder with the first model's config.

    python -m textrec.training.soup BASE TUNED --alpha 0.5 --out runs/soup/model
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from textrec.errors import TextrecError
from textrec.modelfile import CONFIG, LM_NAME, WEIGHTS


def interpolate(base: Path, tuned: Path, alpha: float, out: Path) -> Path:
    """out = (1 - alpha) * base + alpha * tuned, tensor by tensor; counters (integer tensors) from `tuned`."""
    from safetensors.torch import load_file, save_file

    if not 0.0 <= alpha <= 1.0:
        raise TextrecError(f"--alpha must be between 0 and 1, got {alpha}")
    first, second = load_file(str(base / WEIGHTS)), load_file(str(tuned / WEIGHTS))
    if set(first) != set(second) or any(first[k].shape != second[k].shape for k in first):
        raise TextrecError(f"{base} and {tuned} are not the same architecture: their weights differ in name or shape")
    mixed = {k: ((1 - alpha) * first[k].float() + alpha * second[k].float()).to(first[k].dtype)
             if first[k].is_floating_point() else second[k] for k in first}
    out.mkdir(parents=True, exist_ok=True)
    save_file(mixed, str(out / WEIGHTS))
    config = json.loads((tuned / CONFIG).read_text())
    config.setdefault("training", {})["soup"] = {"base": str(base), "tuned": str(tuned), "alpha": alpha}
    (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    for extra in (LM_NAME,):  # the base's language model goes with it (the model file names it)
        if (base / extra).is_file() and not (out / extra).is_file():
            shutil.copy(base / extra, out / extra)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", type=Path)
    parser.add_argument("tuned", type=Path)
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of TUNED (0: BASE, 1: TUNED)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(interpolate(args.base, args.tuned, args.alpha, args.out))


if __name__ == "__main__":
    main()
