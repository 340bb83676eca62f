"""Weight interpolation between two models of one architecture (WiSE-FT, Wortsman et al. 2022): a model
fine-tuned from another keeps much of both when their weights are averaged, e.g. the scene-text stage and the
model it started from. Writes a model folder with the first model's config.

    python -m textrec.training.soup BASE TUNED --alpha 0.5 --out runs/soup/model

With `--base-data` and `--tuned-data`, a Fisher-weighted average instead (Matena and Raffel 2022): each weight
leans to the model whose loss on its own data depends on it more (the squared gradients, summed over batches), so
a base that reads receipts can keep the weights receipts need while the tuned model brings the rest. A data
spec is a path or a JSON object as in a config's data list (`{"path": ..., "caseless": true}`).

    python -m textrec.training.soup BASE TUNED --base-data '{"path": "runs/data/receipts.lmdb", "caseless": true}' \
        --tuned-data ../shared/data/svt-train --out runs/fisher/model
"""
from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textrec.errors import TextrecError
from textrec.modelfile import CONFIG, LM_NAME, WEIGHTS


def interpolate(base: Path, tuned: Path, alpha: float, out: Path,
                importance: tuple[dict[str, Any], dict[str, Any]] | None = None) -> Path:
    """out = (1 - alpha) * base + alpha * tuned, tensor by tensor; counters (integer tensors) from `tuned`.
    `importance`: (base's, tuned's) per-weight Fisher information (`fisher_information`); where given, a weight's
    share of `tuned` is alpha * F_tuned / ((1 - alpha) * F_base + alpha * F_tuned) instead (each model's
    information scaled to mean 1 first, so alpha weighs the two models, not their losses' scales)."""
    from safetensors.torch import load_file, save_file

    if not 0.0 <= alpha <= 1.0:
        raise TextrecError(f"--alpha must be between 0 and 1, got {alpha}")
    first, second = load_file(str(base / WEIGHTS)), load_file(str(tuned / WEIGHTS))
    if set(first) != set(second) or any(first[k].shape != second[k].shape for k in first):
        raise TextrecError(f"{base} and {tuned} are not the same architecture: their weights differ in name or shape")
    shares = fisher_shares(*importance, alpha) if importance is not None else {}
    mixed = {k: ((1 - shares.get(k, alpha)) * first[k].float() + shares.get(k, alpha) * second[k].float()
                 ).to(first[k].dtype) if first[k].is_floating_point() else second[k] for k in first}
    out.mkdir(parents=True, exist_ok=True)
    save_file(mixed, str(out / WEIGHTS))
    config = json.loads((tuned / CONFIG).read_text())
    config.setdefault("training", {})["soup"] = {"base": str(base), "tuned": str(tuned), "alpha": alpha,
                                                 **({"weighted_by": "fisher"} if importance is not None else {})}
    (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    for extra in (LM_NAME,):  # the base's language model goes with it (the model file names it)
        if (base / extra).is_file() and not (out / extra).is_file():
            shutil.copy(base / extra, out / extra)
    return out


FISHER_FLOOR = 1e-3  # of the mean information: a weight neither loss uses is averaged by alpha, not by noise


def fisher_shares(base: dict[str, Any], tuned: dict[str, Any], alpha: float) -> dict[str, Any]:
    """Per weight, the share of the tuned model: alpha * F_t / ((1 - alpha) * F_b + alpha * F_t)."""
    def normalized(information: dict[str, Any]) -> dict[str, Any]:
        mean = sum(float(f.sum()) for f in information.values()) / max(1, sum(f.numel() for f in information.values()))
        return {k: f / max(mean, 1e-30) + FISHER_FLOOR for k, f in information.items()}

    b, t = normalized(base), normalized(tuned)
    return {k: alpha * t[k] / ((1 - alpha) * b[k] + alpha * t[k]) for k in b.keys() & t.keys()}


def data_spec(spec: str | dict[str, Any]) -> str | dict[str, Any]:
    """A path, or a data entry given as a JSON object on the command line."""
    if not (isinstance(spec, str) and spec.lstrip().startswith("{")):
        return spec
    try:
        return dict(json.loads(spec))
    except ValueError as exc:
        raise TextrecError(f"data {spec!r} is not a JSON object: {exc}") from None


def fisher_information(model: Path, data: Sequence[str | dict[str, Any]], limit: int = 512,
                       batch_size: int = 16) -> dict[str, Any]:
    """The diagonal empirical Fisher of a model folder's CTC loss on up to `limit` labelled samples of `data`
    (spread evenly over the sources): the squared gradient of each batch's loss, summed, in eval mode (the
    statistics the merged model reads with). Keys are weight names as saved."""
    import torch

    from textrec.data.dataset import Collate, TextDataset
    from textrec.data.sources import open_source
    from textrec.model_io import load_model
    from textrec.preprocess import PreprocessConfig
    from textrec.training.system import RecognitionSystem

    network, config = load_model(model)
    system = RecognitionSystem(config["network"], config["charset"])
    system.network.load_state_dict(network.state_dict())
    system.eval()
    preprocess = PreprocessConfig.from_dict(config["preprocess"])
    if not data:
        raise TextrecError(f"Fisher information of {model} needs labelled data")
    specs = [data_spec(spec) for spec in data]
    datasets = [TextDataset(open_source(spec), system.charset, preprocess, system.network.width_stride,
                            on_unknown="drop", caseless=bool(isinstance(spec, dict) and spec.get("caseless")))
                for spec in specs]
    collate, each = Collate(preprocess), -(-limit // len(datasets))
    samples = [d[i * len(d) // min(len(d), each)] for d in datasets for i in range(min(len(d), each))]
    information = {name: torch.zeros_like(p) for name, p in system.network.named_parameters()}
    for start in range(0, len(samples), batch_size):
        batch = collate(samples[start:start + batch_size])
        if batch["images"] is None:
            continue
        system.zero_grad()
        system.training_loss(batch).backward()
        for name, p in system.network.named_parameters():
            if p.grad is not None:
                information[name] += p.grad.detach() ** 2
    return information


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", type=Path)
    parser.add_argument("tuned", type=Path)
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of TUNED (0: BASE, 1: TUNED)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--base-data", action="append", default=[],
                        help="data the base must keep reading (Fisher weighting; repeat for more sources)")
    parser.add_argument("--tuned-data", action="append", default=[],
                        help="data the tuned model was trained for (Fisher weighting)")
    parser.add_argument("--limit", type=int, default=512, help="samples per model for its Fisher information")
    args = parser.parse_args()
    importance = None
    if args.base_data or args.tuned_data:
        if not (args.base_data and args.tuned_data):
            raise SystemExit("error: Fisher weighting needs both --base-data and --tuned-data")
        importance = (fisher_information(args.base, args.base_data, args.limit),
                      fisher_information(args.tuned, args.tuned_data, args.limit))
    print(interpolate(args.base, args.tuned, args.alpha, args.out, importance))


if __name__ == "__main__":
    main()
