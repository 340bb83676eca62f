"""The line detector's pieces for the shared runner (training/run.py, a config with `task: detect`): random
crops of synthetic pages and of annotated page scans (ICDAR quads), at the scale the runtime uses, to kernel
maps; whole held-out pages for validation (DetectionSystem in training/system.py scores line F1); the model
folder as the runtime loads it (safetensors + config + ONNX with the config in its metadata)."""
from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from textrec.data.dataset import Shardable, worker_init
from textrec.data.sources import read_quads
from textrec.errors import TextrecError
from textrec.model_io import atomic_write
from textrec.modelfile import CONFIG, METADATA_KEY, ONNX_NAME, WEIGHTS
from textrec.pages.detect import DETECTOR_FORMAT, DetectorInput, page_input
from textrec.pages.kernels import kernel_map
from textrec.preprocess import load_image
from textrec.synth.pages import PageRenderer
from textrec.training.config import DetectConfig
from textrec.training.system import BaseSystem, DetectionSystem


class DetectTask:
    """What the runner needs to train the line detector (see training/run.py's Task)."""

    monitor = DetectionSystem.monitor

    def __init__(self, config: DetectConfig):
        self.config, data, t = config, config.data, config.train
        if t.max_steps <= 0 and t.max_epochs <= 0:
            raise TextrecError("detector training needs train.max_steps (or max_epochs): its page crops are an "
                               "endless stream")
        self.input = DetectorInput.from_dict(config.model.input)
        PageRenderer(layouts=data.layouts)  # a bad layout name is named now, not in a loader worker
        train_pages, held_out = annotated_pages(data.pages), annotated_pages(data.val)
        if not train_pages and data.synthetic <= 0:
            raise TextrecError("no training pages: data.pages has no page with a box file and data.synthetic is 0")
        workers = data.num_workers
        self.train_loader = DataLoader(PageCrops(config, train_pages, self.input), batch_size=data.batch_size,
                                       num_workers=workers, persistent_workers=workers > 0, worker_init_fn=worker_init)
        self.val_loader = (DataLoader(WholePages(held_out, self.input), batch_size=None, collate_fn=as_is)
                           if held_out else None)
        self.summary = {"name": config.name, "train_pages": len(train_pages), "synthetic_share": data.synthetic}

    def system(self, lr: float) -> BaseSystem:
        t = self.config.train
        return DetectionSystem(self.config.model.network, self.input.to_dict(), lr=lr, weight_decay=t.weight_decay,
                               warmup=t.warmup, channels_last=t.channels_last, max_nonfinite=t.max_nonfinite)

    def start(self, system: BaseSystem) -> None:
        if self.config.model.init_from:
            warm_start_detector(system.network, self.config.model.init_from, self.config.model.network)

    def save(self, folder: Path, network: torch.nn.Module, summary: dict[str, Any]) -> None:
        save_detector(folder, network, detector_config(self.config, summary))

    def trainer_settings(self) -> dict[str, Any]:
        # the crops never end: an epoch is `val_every` steps, so validation, last.ckpt and every epoch-end hook
        # come at that pace, as they do for the recognizer at the end of each pass over its data
        every = self.config.train.val_every
        return {"limit_train_batches": every, "check_val_every_n_epoch": 1, "log_every_n_steps": min(10, every)}


def as_is(item: Any) -> Any:  # a whole page is its own batch
    return item


def warm_start_detector(network: torch.nn.Module, path: str, network_config: dict[str, Any]) -> None:
    """Start from a saved detector's weights; its network settings must be this config's."""
    from safetensors.torch import load_file

    folder = Path(path)
    if not (folder / WEIGHTS).is_file() or not (folder / CONFIG).is_file():
        raise TextrecError(f"model.init_from {path}: not a saved detector folder ({WEIGHTS} and {CONFIG})")
    saved = json.loads((folder / CONFIG).read_text()).get("network")
    if saved != network_config:
        raise TextrecError(f"model.init_from {path} does not fit this config: network {saved} vs {network_config}")
    network.load_state_dict(load_file(str(folder / WEIGHTS)))


def annotated_pages(specs: list[dict[str, Any]]) -> list[tuple[Path | Image.Image, list]]:
    """(page image, [(quad, text)]) for every page with a box file, in the given page-number ranges; a spec
    `{synthetic: note, count: 30, seed: 5}` gives that many rendered pages of one layout (held-out notes)."""
    pages: list[tuple[Path | Image.Image, list]] = []
    for spec in specs:
        if "synthetic" in spec:
            renderer = PageRenderer(int(spec.get("seed", 0)), {str(spec["synthetic"]): 1.0})
            for index in range(int(spec.get("count", 20))):
                page, lines = renderer.sample(index)
                pages.append((page, [(line.quad, line.text) for line in lines]))
            continue
        folder, boxes = Path(spec["pages"]), Path(spec.get("boxes") or Path(spec["pages"]).parent / "boxes")
        low, high = (int(v) for v in str(spec.get("range", "0-999999")).split("-"))
        if not folder.is_dir():
            raise TextrecError(f"page folder not found: {folder}")
        for image in sorted(folder.iterdir()):
            if image.stem.isdigit() and low <= int(image.stem) <= high and (boxes / f"{image.stem}.csv").is_file():
                pages.append((image, read_quads(boxes / f"{image.stem}.csv")))
    return pages


class PageCrops(Shardable, IterableDataset):
    """Endless {images: crop, targets: kernel map} samples; each worker of each DDP rank draws its own stream."""

    def __init__(self, config: DetectConfig, pages: list[tuple[Path | Image.Image, list]],
                 detector_input: DetectorInput):
        self.data, self.pages, self.input = config.data, pages, detector_input
        self.seed = config.seed

    def __iter__(self):
        worker = get_worker_info()
        wid = worker.id if worker else 0
        # `random` is the checkpoint's after a resume (and each worker's own, see worker_init), so a resumed run
        # draws new crops; the rank is mixed in for loaders without workers, where all ranks share one seed
        rng = random.Random((self.seed * 7919 + self.rank) * 1009 + wid + random.getrandbits(32))
        renderer = PageRenderer(seed=self.seed * 100 + wid, layouts=self.data.layouts)
        while True:
            if not self.pages or rng.random() < self.data.synthetic:
                page, lines = renderer.sample(rng.getrandbits(30))
                quads = [line.quad for line in lines]
            else:
                path, rows = rng.choice(self.pages)
                page = path if isinstance(path, Image.Image) else load_image(path)
                quads = [q for q, _ in rows]
            for _ in range(self.data.crops_per_page):  # rendering/decoding a page costs more than a crop
                yield self.crop(page, quads, rng)

    def crop(self, page: Image.Image, quads: list, rng: random.Random) -> dict[str, np.ndarray]:
        size = self.data.crop
        scale = self.input.scale_for(page.width, page.height) * rng.uniform(*self.data.scale_jitter)
        array, sx, sy = page_input(page, self.input, scale)
        h, w = array.shape
        x0 = rng.randint(0, max(0, w - size))
        y0 = rng.randint(0, max(0, h - size))
        out = np.full((size, size), float(np.median(array)), np.float32)
        part = array[y0 : y0 + size, x0 : x0 + size]
        out[: part.shape[0], : part.shape[1]] = part
        moved = [tuple(v * (sx if i % 2 == 0 else sy) - (x0 if i % 2 == 0 else y0) for i, v in enumerate(q))
                 for q in quads]
        target = kernel_map(moved, (size, size), self.input.stride)
        if rng.random() < 0.1:  # light text on dark ground happens (screens, banners)
            out = -out
        return {"images": out[None], "targets": target[None].astype(np.float32)}


class WholePages(Shardable, Dataset):
    """Held-out pages at the runtime's scale, quads scaled with them; each DDP rank scores its share."""

    def __init__(self, pages: list[tuple[Path | Image.Image, list]], detector_input: DetectorInput):
        self.pages, self.input = pages, detector_input

    def shard(self, rank: int, world: int) -> None:
        if len(self.pages) < world:  # a rank with no page would stop DDP with an unclear error
            raise TextrecError(f"{len(self.pages)} held-out page(s) for {world} processes: each process scores "
                               "its share of data.val, so give at least one page per process")
        super().shard(rank, world)

    def _share(self) -> list[tuple[Path | Image.Image, list]]:
        return self.pages[self.rank :: self.world]

    def __len__(self) -> int:
        return len(self._share())

    def __getitem__(self, index: int) -> dict[str, Any]:
        path, rows = self._share()[index]
        array, sx, sy = page_input(path if isinstance(path, Image.Image) else load_image(path), self.input)
        quads = [tuple(v * (sx if i % 2 == 0 else sy) for i, v in enumerate(q)) for q, _ in rows]
        return {"image": torch.from_numpy(array), "quads": quads}


def save_detector(folder: Path, network: torch.nn.Module, config: dict[str, Any]) -> None:
    """safetensors + config.json + model.onnx (the runtime's file: config in its metadata)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    atomic_write(folder / WEIGHTS, lambda tmp: save_file(state, str(tmp)))
    atomic_write(folder / CONFIG, lambda tmp: tmp.write_text(json.dumps(config, indent=2) + "\n"))
    export_detector_onnx(network, config, folder / ONNX_NAME)


def export_detector_onnx(network: torch.nn.Module, config: dict[str, Any], out: Path) -> None:
    import onnx

    network = copy.deepcopy(network).float().cpu().eval()
    dummy = torch.zeros(1, 1, 64, 96)

    def write(tmp: Path) -> None:
        torch.onnx.export(network, (dummy,), str(tmp), input_names=["page"], output_names=["kernels"],
                          dynamic_axes={"page": {0: "batch", 2: "height", 3: "width"},
                                        "kernels": {0: "batch", 2: "map_height", 3: "map_width"}},
                          opset_version=17, dynamo=False)
        graph = onnx.load(str(tmp))
        graph.metadata_props.add(key=METADATA_KEY, value=json.dumps(config))
        onnx.save(graph, str(tmp))

    atomic_write(out, write)


def detector_config(config: DetectConfig, summary: dict[str, Any]) -> dict[str, Any]:
    return {"format": DETECTOR_FORMAT, "format_version": 1, "network": config.model.network,
            "input": DetectorInput.from_dict(config.model.input).to_dict(), "training": summary}
