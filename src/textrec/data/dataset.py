"""From sources to batches: label checks, augmentation, the shared preprocessing, padding, mixing.
Bad samples never stop a run: they come back as `skipped` entries that training counts and reports."""
from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
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


class TextDataset(Dataset):
    """Samples of one source as (normalized HxW array, encoded label), or a skip record for a bad one."""

    def __init__(self, source: Source, charset: Charset, preprocess: PreprocessConfig, width_stride: int,
                 augmenter: Augmenter | None = None, on_unknown: str = "error", cache: bool = False,
                 caseless: bool = False):
        self.source, self.charset, self.preprocess = source, charset, preprocess
        self.caseless = caseless  # labels are upper-cased whatever the print: the loss ignores case for these
        self.width_stride, self.augmenter = width_stride, augmenter
        self.generated = getattr(source, "generated", False)
        if self.generated:  # labels come from the charset itself: nothing to check
            self.indices, self.label_report = range(len(source)), LabelReport()
        else:
            self.indices, self.label_report = check_labels(source, charset, on_unknown)
        self.cache: dict[int, object] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.indices)

    def _image(self, index: int):
        if self.cache is not None and index in self.cache:
            return self.cache[index]
        try:
            image = self.source.load(index)
        except TextrecError as exc:
            image = exc
        if self.cache is not None:
            self.cache[index] = image
        return image

    def __getitem__(self, i: int) -> dict:
        index = self.indices[i]
        if self.generated:
            image, label = self.source.sample(index)
            name = self.source.name(index)
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
        return {"image": array, "target": target, "label": label, "name": name, "caseless": self.caseless}


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
            "labels": [item["label"] for item in good],
            "names": [item["name"] for item in good],
            "skipped": skipped,
        }


class MixedSampler(Sampler[int]):
    """Draws a source by weight, then a uniform sample inside it: proportions follow the weights, not the
    sizes, and a source of 10^8 virtual samples (synthetic) costs nothing up front."""

    def __init__(self, sizes: Sequence[int], weights: Sequence[float], num_samples: int, seed: int = 0):
        self.sizes = torch.tensor(sizes, dtype=torch.long)
        self.starts = torch.cumsum(torch.tensor([0, *sizes[:-1]], dtype=torch.long), 0)
        self.weights = torch.tensor(weights, dtype=torch.double)
        self.num_samples = num_samples
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        which = torch.multinomial(self.weights, self.num_samples, replacement=True, generator=self.generator)
        offsets = (torch.rand(self.num_samples, generator=self.generator, dtype=torch.double)
                   * self.sizes[which]).long()
        return iter((self.starts[which] + offsets).tolist())


class BucketedBatches(IterableDataset):
    """Batches of similar width from one source at a time, the source drawn by weight. Each source keeps a pool
    of a few batches' worth of prepared samples sorted by width; a batch is a random run of neighbours in it,
    then the pool is topped up. Padding a batch to its widest image then costs little: a word batch is not
    stretched to a URL's width, nor a line batch to the longest line (measured: about 2x faster steps)."""

    def __init__(self, datasets: Sequence[TextDataset], weights: Sequence[float], num_batches: int,
                 batch_size: int, collate: "Collate", pool_batches: int = 4, seed: int = 0):
        self.datasets, self.weights = list(datasets), list(weights)
        self.num_batches, self.batch_size, self.collate = num_batches, batch_size, collate
        self.pool_size = pool_batches * batch_size
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[dict]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        rng = random.Random(f"{self.seed}-{self.epoch}-{worker}")
        self.epoch += 1
        pools: list[list[dict]] = [[] for _ in self.datasets]
        share = self.num_batches // workers + (1 if worker < self.num_batches % workers else 0)
        for _ in range(share):
            which = rng.choices(range(len(self.datasets)), self.weights)[0]
            yield self._batch(pools[which], self.datasets[which], rng)

    def _batch(self, pool: list[dict], dataset: TextDataset, rng: random.Random) -> dict:
        skipped: list[str] = []
        while len(pool) < max(self.pool_size, self.batch_size):
            item = dataset[rng.randrange(len(dataset))]
            if "skip" in item:
                skipped.append(item["skip"])
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
          seed: int = 0) -> tuple[Dataset, Sampler | None]:
    """One dataset over several, and a sampler that draws from each in proportion to its weight."""
    combined = ConcatDataset(datasets)
    if len(datasets) == 1 and epoch_size is None:
        return combined, None
    sampler = MixedSampler([len(d) for d in datasets], weights, epoch_size or len(combined), seed)
    return combined, sampler


def worker_init(worker_id: int) -> None:
    """Each data-loader worker gets its own augmentation stream (numpy and random are not reseeded by torch)."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
    info = torch.utils.data.get_worker_info()
    if info is not None:
        for dataset in getattr(info.dataset, "datasets", [info.dataset]):
            if getattr(dataset, "augmenter", None) is not None:
                dataset.augmenter.rng = random.Random(seed)
