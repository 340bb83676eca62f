"""A deeper VGG-CRNN started from a trained shallower one without losing what it reads (Net2DeeperNet, Chen et
al. 2016): each added 3x3 conv starts as the identity, and its batch norm is set from the statistics of what it
will see, so the grown network computes what the trained one did in both train and eval mode. Fine-tuning
then spends its samples on the added capacity instead of relearning from scratch (a larger network from
scratch stays on the CTC plateau for the whole of a CPU budget: benchmarks/SIZES.md).

Used by `model.init_from` when the config's `network.depth` adds convs to the saved model's stages, and on its
own to write the grown model (the start of such a run; the base of a weight average with its result):

    python -m textrec.training.grow src/textrec/models/default --depth 1 1 2 3 --data ../shared/data/svt-train \
        --out runs/default-grown/model
"""
from __future__ import annotations

import argparse
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import torch

from textrec.errors import TextrecError


def grows(saved: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """True when `wanted` is `saved` with more convs in some VGG stages and nothing else changed there."""
    if saved.get("name", "crnn") != "crnn" or wanted.get("name", "crnn") != "crnn":
        return False
    if saved.get("backbone", "vgg") != "vgg" or wanted.get("backbone", "vgg") != "vgg":
        return False
    old, new = list(saved.get("depth", ())), list(wanted.get("depth", ()))
    return len(old) == len(new) > 0 and old != new and all(o <= n for o, n in zip(old, new))


def _layer_positions(depth: Sequence[int]) -> list[list[int]]:
    """Index in VGGBackbone.layers of each stage's convs (each stage: its convs, then a pool)."""
    positions, index = [], 0
    for n_convs in depth:
        positions.append(list(range(index, index + n_convs)))
        index += n_convs + 1
    return positions


def grown_state(state: dict[str, torch.Tensor], old_depth: Sequence[int],
                new_depth: Sequence[int]) -> tuple[dict[str, torch.Tensor], list[int]]:
    """The saved weights renamed to the deeper backbone's layer numbers (a stage's trained convs come first),
    and the layer numbers of the added convs, which the caller starts as identities."""
    old_positions, new_positions = _layer_positions(old_depth), _layer_positions(new_depth)
    renumber = {old: new for olds, news in zip(old_positions, new_positions) for old, new in zip(olds, news)}
    added = [new for olds, news in zip(old_positions, new_positions) for new in news[len(olds):]]
    prefix = "backbone.layers."
    out = {}
    for key, value in state.items():
        if key.startswith(prefix):
            number, rest = key[len(prefix):].split(".", 1)
            key = f"{prefix}{renumber[int(number)]}.{rest}"
        out[key] = value
    return out, added


@torch.no_grad()
def start_as_identity(network: torch.nn.Module, added: list[int], images: Iterable[torch.Tensor]) -> float:
    """Make each added conv + batch norm + ReLU pass its input through: a Dirac kernel, and a batch norm whose
    scale and shift undo the normalization it will apply to this input (its per-channel mean and variance over
    `images`, measured in train mode as training will see it). The grown network is then exactly the trained one
    in eval mode, and in train mode on batches like `images`. Returns the largest change to the network's
    eval-mode logits on those images (near 0)."""
    for number in added:
        conv, norm = _conv(network, number), _norm(network, number)
        if conv.in_channels != conv.out_channels:
            raise TextrecError(f"backbone layer {number}: an added conv must keep its width to start as the identity")
        torch.nn.init.dirac_(conv.weight)
        norm.reset_parameters()  # running mean 0, var 1, scale 1, shift 0: the identity in eval mode until measured
    batches = list(images)
    if not batches:
        raise TextrecError("no training images to measure the added layers' batch norm on")
    was_training = network.training
    network.eval()
    before = [network(batch) for batch in batches]
    for number in added:  # in order: a later added layer sees what the earlier ones (now identities) pass on
        mean, var = _channel_moments(network, network.get_submodule(f"backbone.layers.{number}"), batches)
        norm = _norm(network, number)
        norm.running_mean, norm.running_var = mean.clone(), var.clone()
        norm.bias.copy_(mean)
        norm.weight.copy_(torch.sqrt(var + norm.eps))
    change = max(float((network(batch) - old).abs().max()) for batch, old in zip(batches, before))
    network.train(was_training)
    return change


def _conv(network: torch.nn.Module, number: int) -> torch.nn.Conv2d:
    return cast(torch.nn.Conv2d, network.get_submodule(f"backbone.layers.{number}.0"))


def _norm(network: torch.nn.Module, number: int) -> torch.nn.BatchNorm2d:
    return cast(torch.nn.BatchNorm2d, network.get_submodule(f"backbone.layers.{number}.1"))


def _channel_moments(network: torch.nn.Module, layer: torch.nn.Module,
                     batches: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (biased) variance of the input to `layer` over all batches, with batch norms in train
    mode (their running statistics left as they are) and dropout off."""
    seen: list[torch.Tensor] = []
    hook = layer.register_forward_pre_hook(lambda _module, inputs: seen.append(inputs[0].detach().float()))
    norms = [m for m in network.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    kept = {name: value.clone() for name, value in network.named_buffers()}  # train mode moves running statistics
    try:
        for m in norms:
            m.train()
        for batch in batches:
            network(batch)
    finally:
        hook.remove()
        for m in norms:
            m.eval()
        for name, value in network.named_buffers():
            value.copy_(kept[name])
    values = torch.cat([x.transpose(0, 1).reshape(x.shape[1], -1) for x in seen], dim=1)
    return values.mean(dim=1), values.var(dim=1, unbiased=False)


def grow_model(model: Path, depth: list[int], data: list[str], out: Path, batches: int = 8) -> float:
    """Write `model` grown to `depth` into `out` (its language model and settings kept), the added batch norms
    measured on the first `batches` batches of 32 images of `data`; returns the largest logit change (near 0)."""
    from textrec.charset import Charset
    from textrec.data.dataset import Collate, TextDataset
    from textrec.data.sources import open_source
    from textrec.model_io import read_config, save_model
    from textrec.modelfile import LM_NAME
    from textrec.networks import build_network
    from textrec.preprocess import PreprocessConfig
    from textrec.training.run import warm_start

    config = read_config(model)
    network_config = dict(config["network"], depth=depth)
    if not grows(config["network"], network_config):
        raise TextrecError(f"--depth {depth}: must add convs to the stages of {config['network'].get('depth')}")
    charset, preprocess = Charset(config["charset"]), PreprocessConfig.from_dict(config["preprocess"])
    network = build_network(network_config, charset.num_classes)
    added = warm_start(network, str(model), network_config, charset)
    collate = Collate(preprocess)
    datasets = [TextDataset(open_source(spec), charset, preprocess, network.width_stride, on_unknown="drop")
                for spec in data]
    samples = [d[i] for d in datasets for i in range(min(len(d), batches * 32 // len(datasets) + 1))]
    images = [collate(samples[i:i + 32])["images"] for i in range(0, len(samples), 32)]
    change = start_as_identity(network, added, [x for x in images if x is not None])
    config["network"] = network_config
    config.setdefault("training", {})["grown_from"] = {"model": str(model), "depth": depth, "logit_change": change}
    save_model(out, network, config)  # writes the config beside the weights
    if (model / LM_NAME).is_file():
        shutil.copy(model / LM_NAME, out / LM_NAME)
    return change


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--depth", type=int, nargs="+", required=True, help="convs per backbone stage")
    parser.add_argument("--data", action="append", required=True, help="labelled images to measure batch norm on")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    change = grow_model(args.model, args.depth, args.data, args.out)
    print(f"{args.out}: grown to depth {args.depth}; logits moved by at most {change:.2g}")


if __name__ == "__main__":
    main()
