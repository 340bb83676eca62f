"""Synthetic data for training: a map-style source (sample i of a seed, so it mixes with real sources and
shards under any sampler) and an IterableDataset that renders an endless stream in data-loader workers.
The torch-free parts of synth (render.py, write.py, preview.py) never import this module."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from PIL import Image
from torch.utils.data import IterableDataset, get_worker_info

from textrec.data.sources import Source
from textrec.synth.preview import preview_grid  # noqa: F401  (its old home: callers that import it from here)
from textrec.synth.render import Renderer, SynthConfig


class SynthSource(Source):
    """`size` virtual samples rendered on demand; labels are drawn with the image, never stored.

    Every label uses only characters of the renderer's charset, so no label check is needed up front."""

    generated = True

    def __init__(self, size: int = 100_000, seed: int = 0, config: dict[str, Any] | SynthConfig | None = None,
                 renderer: Renderer | None = None):
        self.size, self.seed = int(size), int(seed)
        self.config = config if isinstance(config, SynthConfig) else SynthConfig.from_dict(config)
        self._renderer = renderer

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:  # built lazily: cheap to pickle into workers, fonts loaded once per process
            self._renderer = Renderer(self.config)
        return self._renderer

    def __len__(self) -> int:
        return self.size

    def sample(self, index: int) -> tuple[Image.Image, str]:
        return self.renderer.sample(self.seed, index)

    def name(self, index: int) -> str:
        return f"synth(seed={self.seed})#{index}"

    @property
    def labels(self):  # type: ignore[override]
        raise AttributeError("synthetic labels are drawn with their images; use sample(i)")

    def describe(self) -> str:
        return f"SynthSource({self.size} samples, seed {self.seed})"

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_renderer"] = None
        return state


class SynthStream(IterableDataset):
    """An endless stream of (image, label). Worker w of W on rank r of R renders indices
    offset + (r * W + w) + k * R * W: reproducible from the seed, never the same sample twice."""

    def __init__(self, config: SynthConfig | None = None, seed: int = 0, rank: int = 0, world_size: int = 1,
                 limit: int | None = None):
        (self.config, self.seed, self.rank,
         self.world_size, self.limit) = config or SynthConfig(), seed, rank, world_size, limit

    def __iter__(self) -> Iterator[tuple[Image.Image, str]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        renderer = Renderer(self.config)
        stride = self.world_size * workers
        index = self.rank * workers + worker
        while self.limit is None or index < self.limit:
            yield renderer.sample(self.seed, index)
            index += stride

