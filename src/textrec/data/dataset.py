"""From sources to batches: label checks, augmentation, the shared preprocessing, padding, mixing.
Bad samples never stop a run: they come back as `skipped` entries that training counts and reports."""
from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

import numpy as np
import torch
from PIL import Image
from torch.utils.data import ConcatDataset, Dataset, IterableDataset, Sampler

from textrec.charset import Charset, ctc_min_length
from textrec.data.augment import Augmenter
from textrec.data.sources import Source
from textrec.errors import TextrecError
from textrec.preprocess import PreprocessConfig, normalize, pad_batch, resize


@dataclass
class LabelReport:
    dropped: list[str] = field(default_factory=list)  # 'name: reason' for labels with unknown characters


def check_labels(source: Source, charset: Charset, on_unknown: str = "error") -> tuple[list[int], LabelReport]:
    """Indices of samples whose label the charset can encode; an unknown character is an error naming the
    file, line and character, or (on_unknown='drop') the sample is dropped and counted."""
    if on_unknown not in ("error", "drop"):
        raise TextrecError(f"on_unknown must be 'error' or 'drop', got {on_unknown!r}")
    keep, report = [], LabelReport()
    for i, (name, label) in enumerate(zip(source.names, source.labels)):
        missing = charset.unknown(label)
        if not missing:
            keep.append(i)
            continue
        reason = f"{name}: label {label!r} has character(s) not in the charset: {''.join(missing)!r}"
        if on_unknown == "error":
            raise TextrecError(reason + " (set data.on_unknown: drop to skip such samples)")
        report.dropped.append(reason)
    return keep, report


class GeneratedSource(Protocol):
    """A source marked `generated = True` (textrec.synth's SynthSource): each sample is made on demand, its image
    and label together."""

    def sample(self, index: int) -> tuple[Image.Image, str]: ...

    def name(self, index: int) -> str: ...


class TextDataset(Dataset):
    """Samples of one source as (normalized HxW array, encoded label), or a skip record for a bad one."""

    def __init__(self, source: Source, charset: Charset, preprocess: PreprocessConfig, width_stride: int,
                 augmenter: Augmenter | None = None, on_unknown: str = "error", cache: bool = False,
                 caseless: bool = False, distill: float | None = None):
        self.source, self.charset, self.preprocess = source, charset, preprocess
        self.caseless = caseless  # labels are upper-cased whatever the print: the loss ignores case for these
        self.distill = distill  # this source's teacher share of the loss (train.distill_from); None: the run's
        self.width_stride, self.augmenter = width_stride, augmenter
        self.generated = source.generated
        self.indices: Sequence[int]
        if self.generated:  # labels come from the charset itself: nothing to check
            self.indices, self.label_report = range(len(source)), LabelReport()
        else:
            self.indices, self.label_report = check_labels(source, charset, on_unknown)
        self.cache: dict[int, Image.Image | TextrecError] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.indices)

    def _image(self, index: int) -> Image.Image | TextrecError:
        if self.cache is not None and index in self.cache:
            return self.cache[index]
        image: Image.Image | TextrecError
        try:
            image = self.source.load(index)
        except TextrecError as exc:
            image = exc
        if self.cache is not None:
            self.cache[index] = image
        return image

    def __getitem__(self, i: int) -> dict:
        index = self.indices[i]
        image: Image.Image | TextrecError
        if self.generated:
            generator = cast(GeneratedSource, self.source)
            image, label = generator.sample(index)
            name = generator.name(index)
        else:
            name, label = self.source.names[index], self.source.labels[index]
            image = self._image(index)
        if isinstance(image, TextrecError):
            return {"skip": f"{name}: {image}"}
        if self.augmenter is not None:
            image = self.augmenter(image)
        array = normalize(resize(image, self.preprocess), self.preprocess)
        if self.caseless:
            label = label.upper()
        target = self.charset.encode(label)
        frames = -(-array.shape[1] // self.width_stride)
        if ctc_min_length(target) > frames:
            return {"skip": f"{name}: label {label!r} needs {ctc_min_length(target)} output columns but the "
                            f"image gives {frames} (width {array.shape[1]} at height {self.preprocess.height})"}
        return {"image": array, "target": target, "label": label, "name": name, "caseless": self.caseless,
                "distill": self.distill}


class Collate:
    """Pads a list of samples into a batch; skip records are passed through for counting."""

    def __init__(self, preprocess: PreprocessConfig):
        self.preprocess = preprocess

    def __call__(self, items: Sequence[dict]) -> dict:
        good = [item for item in items if "skip" not in item]
        skipped = [item["skip"] for item in items if "skip" in item]
        if not good:
            return {"images": None, "skipped": skipped}
        images, widths = pad_batch([item["image"] for item in good], self.preprocess)
        return {
            "images": torch.from_numpy(images),
            "widths": torch.from_numpy(widths),
            "targets": torch.tensor([t for item in good for t in item["target"]], dtype=torch.long),
            "target_lengths": torch.tensor([len(item["target"]) for item in good], dtype=torch.long),
            "caseless": torch.tensor([item.get("caseless", False) for item in good], dtype=torch.bool),
            "distill": torch.tensor([math.nan if item.get("distill") is None else item["distill"] for item in good],
                                    dtype=torch.float32),  # NaN: the run's train.distill_weight
            "labels": [item["label"] for item in good],
            "names": [item["name"] for item in good],
            "skipped": skipped,
        }


class IndexOrder:
    """A fresh order of `size` indices per (seed, epoch, stream): a true permutation for sources that fit in
    memory, an affine bijection (a*k + b mod size) for huge virtual ones (10^8 synthetic samples), so every
    index comes once before any comes twice, and shards that take every n-th position never share one."""

    PERMUTE_UP_TO = 1_000_000  # a list of 10^6 ints is ~40 MB

    def __init__(self, size: int, seed: str):
        self.size = size
        rng = random.Random(seed)
        if size <= self.PERMUTE_UP_TO:
            generator = torch.Generator().manual_seed(rng.getrandbits(63))
            self.order: list[int] | None = torch.randperm(size, generator=generator).tolist()
        else:
            self.order, self.b = None, rng.randrange(size)
            self.a = rng.randrange(1, size)
            while math.gcd(self.a, size) != 1:
                self.a += 1

    def __getitem__(self, position: int) -> int:
        position %= self.size  # past the end: a second pass in the same order
        return self.order[position] if self.order is not None else (self.a * position + self.b) % self.size


class Shardable:
    """Data that splits itself across DDP ranks (set by the ShardData callback once the process group exists,
    before any loader worker starts) and can skip what a resumed run already consumed of an epoch."""

    rank, world = 0, 1
    epoch, resume_at = 0, 0

    def shard(self, rank: int, world: int) -> None:
        self.rank, self.world = rank, world

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this on samplers at each epoch start
        self.epoch = epoch

    def resume(self, epoch: int, consumed: int) -> None:
        """The next pass is epoch `epoch` without the first `consumed` units (samples or batches) of this
        rank's share: those were trained on before the run stopped."""
        self.epoch, self.resume_at = epoch, consumed


class MixedSampler(Shardable, Sampler[int]):
    """Per epoch, `num_samples` indices: a source drawn by weight, then the next sample in that source's own
    order for the epoch. Proportions follow the weights, not the sizes, and a source of 10^8 virtual samples
    (synthetic) costs nothing up front. Every rank makes the same draw and takes every world-th index, so ranks
    never read the same sample; each rank gets the same count (DDP needs equal batch counts)."""

    def __init__(self, sizes: Sequence[int], weights: Sequence[float], num_samples: int, seed: int = 0,
                 shuffle: bool = True):
        self.sizes, self.weights = list(sizes), torch.tensor(weights, dtype=torch.double)
        self.starts = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.num_samples, self.seed, self.shuffle = num_samples, seed, shuffle

    def __len__(self) -> int:
        return self.num_samples // self.world if self.shuffle else len(range(self.rank, self.num_samples, self.world))

    def _all_indices(self) -> list[int]:
        if not self.shuffle:  # validation: every sample once, in order
            return list(range(self.num_samples))
        generator = torch.Generator().manual_seed(random.Random(f"{self.seed}-{self.epoch}").getrandbits(63))
        which = torch.multinomial(self.weights, self.num_samples, replacement=True, generator=generator).tolist()
        orders = [IndexOrder(size, f"{self.seed}-{self.epoch}-{i}") for i, size in enumerate(self.sizes)]
        taken = [0] * len(self.sizes)
        indices = []
        for source in which:
            indices.append(self.starts[source] + orders[source][taken[source]])
            taken[source] += 1
        return indices

    def __iter__(self) -> Iterator[int]:
        mine = self._all_indices()[self.rank :: self.world][: len(self)]
        skip, self.resume_at = self.resume_at, 0
        return iter(mine[skip:])


class BucketedBatches(Shardable, IterableDataset):
    """Batches of similar width from one source at a time, the source drawn by weight. Each source keeps a pool
    of a few batches' worth of prepared samples sorted by width; a batch is a random run of neighbours in it,
    then the pool is topped up. Padding a batch to its widest image then costs little: a word batch is not
    stretched to a URL's width, nor a line batch to the longest line (measured: about 2x faster steps).
    Each (rank, worker) reads its own slice of every source's order for the epoch: no sample twice per epoch
    across the whole job until a source is used up (beyond the pools a worker carries over from its last epoch:
    dropping them threw away more than half of what a short epoch of large batches rendered)."""

    def __init__(self, datasets: Sequence[TextDataset], weights: Sequence[float], num_batches: int,
                 batch_size: int, collate: "Collate", pool_batches: int = 4, seed: int = 0,
                 max_failures: int = 1000):
        self.datasets, self.weights = list(datasets), list(weights)
        self.num_batches, self.batch_size, self.collate = num_batches, batch_size, collate
        self.pool_size = pool_batches * batch_size
        self.seed, self.max_failures = seed, max_failures

    def __len__(self) -> int:
        return self.num_batches // self.world  # per rank, equal on every rank

    def __iter__(self) -> Iterator[dict]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        shard, shards = self.rank * workers + worker, self.world * workers
        # batches go round-robin over workers; a resumed epoch leaves out those given before the stop, and
        # moves past the samples they used (the pools they came from are gone, so not an exact replay)
        done = len(range(worker, self.resume_at, workers))
        share = len(range(worker, len(self), workers)) - done
        epoch, self.epoch, self.resume_at = self.epoch, self.epoch + 1, 0  # a persistent worker's copy counts on
        rng = random.Random(f"{self.seed}-{epoch}-{shard}-{done}")
        orders = [IndexOrder(len(d), f"{self.seed}-{epoch}-{i}") for i, d in enumerate(self.datasets)]
        positions = [shard + shards * done * self.batch_size] * len(self.datasets)
        pools = self._carried_pools()
        for _ in range(share):
            which = rng.choices(range(len(self.datasets)), self.weights)[0]
            yield self._batch(pools[which], which, orders[which], positions, shards, rng)

    def _carried_pools(self) -> list[list[dict]]:
        """Each source's pool, kept on this copy of the dataset: a persistent loader worker (or the main process)
        goes on with the samples it prepared but did not use last epoch."""
        if getattr(self, "_pools", None) is None:
            self._pools: list[list[dict]] = [[] for _ in self.datasets]
        return self._pools

    def _batch(self, pool: list[dict], which: int, order: IndexOrder, positions: list[int], shards: int,
               rng: random.Random) -> dict:
        dataset, skipped = self.datasets[which], []
        while len(pool) < max(self.pool_size, self.batch_size):
            item = dataset[order[positions[which]]]
            positions[which] += shards
            if "skip" in item:
                skipped.append(item["skip"])
                if len(skipped) >= self.max_failures:  # e.g. the data went away mid-run: say so, don't spin
                    raise TextrecError(f"{len(skipped)} samples could not be used while making one batch "
                                       f"(has the data gone?); last: {skipped[-1]}")
            else:
                pool.append(item)
        pool.sort(key=lambda item: item["image"].shape[1])
        start = rng.randrange(len(pool) - self.batch_size + 1)
        chosen = pool[start : start + self.batch_size]
        del pool[start : start + self.batch_size]
        batch = self.collate(chosen)
        batch["skipped"] = skipped + batch["skipped"]
        return batch


def mixed(datasets: Sequence[TextDataset], weights: Sequence[float], epoch_size: int | None,
          seed: int = 0, shuffle: bool = True) -> tuple[Dataset, MixedSampler]:
    """One dataset over several, and a sampler that draws from each in proportion to its weight
    (without shuffling: every sample once, in order, as validation wants)."""
    combined: ConcatDataset[dict] = ConcatDataset(datasets)
    sampler = MixedSampler([len(d) for d in datasets], weights, epoch_size or len(combined), seed, shuffle)
    return combined, sampler


def worker_init(worker_id: int) -> None:
    """Each data-loader worker gets its own augmentation stream (numpy and random are not reseeded by torch),
    distinct per DDP rank too: every rank starts from the same seed, so the rank is mixed in."""
    info = torch.utils.data.get_worker_info()
    rank = getattr(info.dataset, "rank", 0) if info is not None else 0
    seed = (torch.initial_seed() + 1_000_003 * rank) % 2**32
    random.seed(seed)
    np.random.seed(seed)
    if info is not None:
        for dataset in getattr(info.dataset, "datasets", [info.dataset]):
            if getattr(dataset, "augmenter", None) is not None:
                dataset.augmenter.rng = random.Random(seed)
