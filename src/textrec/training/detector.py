"""`textrec train` for the line detector (a config with `task: detect`): random crops of synthetic pages and
of annotated page scans (ICDAR quads), at the scale the runtime uses, to kernel maps; BCE + Dice loss;
validation = line detection F1 on whole held-out pages; the result exported as safetensors + ONNX."""
from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import yaml
from PIL import Image
from torch.nn import functional as F
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from textrec.data.sources import read_quads
from textrec.errors import TextrecError
from textrec.model_io import atomic_write
from textrec.modelfile import CONFIG, METADATA_KEY, ONNX_NAME, WEIGHTS
from textrec.networks.detector import build_detector
from textrec.pages.detect import DETECTOR_FORMAT, DetectorInput, page_input, sigmoid
from textrec.pages.evaluate import match
from textrec.pages.kernels import boxes_from_map, kernel_map
from textrec.preprocess import load_image
from textrec.synth.pages import PageRenderer
from textrec.training.config import apply_override, merge

DETECTOR_DEFAULTS: dict[str, Any] = {
    "task": "detect",
    "name": "detector",
    "seed": 0,
    "out_dir": "runs",
    "model": {"network": {"name": "unet"}, "input": {}},
    "data": {
        "synthetic": 0.5,  # share of crops from synthetic pages (the rest from `pages`)
        "pages": [],  # [{pages: DIR, boxes: DIR, range: "0-239"}]
        "val": [],  # same form: whole pages scored by detection F1
        "crop": 384,
        "crops_per_page": 4,
        "scale_jitter": [0.7, 1.4],
        "batch_size": 16,
        "num_workers": 1,
    },
    "train": {"max_steps": 2000, "max_time": None, "lr": 2e-3, "weight_decay": 1e-4, "precision": "32-true",
              "threads": None, "val_every": 500, "accelerator": "auto"},
}


def load_detector_config(path: str | Path | None, overrides: list[str] | None = None) -> dict[str, Any]:
    config = copy.deepcopy(DETECTOR_DEFAULTS)
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        for spec in loaded.get("data", {}).get("pages", []) + loaded.get("data", {}).get("val", []):
            for key in ("pages", "boxes"):
                if key in spec and not Path(spec[key]).is_absolute():
                    spec[key] = str((Path(path).parent / spec[key]).resolve())
        config = merge(config, loaded)
    for assignment in overrides or []:
        apply_override(config, assignment)
    for section in ("model", "data", "train"):
        extra = set(config[section]) - set(DETECTOR_DEFAULTS[section])
        if extra:
            raise TextrecError(f"unknown key(s) in detector config section {section!r}: {', '.join(sorted(extra))}")
    return config


def annotated_pages(specs: list[dict[str, Any]]) -> list[tuple[Path, list]]:
    """(page image, [(quad, text)]) for every page with a box file, in the given page-number ranges."""
    pages = []
    for spec in specs:
        folder, boxes = Path(spec["pages"]), Path(spec.get("boxes") or Path(spec["pages"]).parent / "boxes")
        low, high = (int(v) for v in str(spec.get("range", "0-999999")).split("-"))
        for image in sorted(folder.iterdir()):
            if image.stem.isdigit() and low <= int(image.stem) <= high and (boxes / f"{image.stem}.csv").is_file():
                pages.append((image, read_quads(boxes / f"{image.stem}.csv")))
    return pages


class PageCrops(IterableDataset):
    """Endless (crop, kernel map) pairs; each worker draws its own stream."""

    def __init__(self, config: dict[str, Any], pages: list[tuple[Path, list]], detector_input: DetectorInput):
        self.data, self.pages, self.input = config["data"], pages, detector_input
        self.seed = int(config["seed"])

    def __iter__(self):
        worker = get_worker_info()
        wid = worker.id if worker else 0
        rng = random.Random(self.seed * 7919 + wid + random.getrandbits(16))
        renderer = PageRenderer(seed=self.seed * 100 + wid)
        while True:
            if not self.pages or rng.random() < float(self.data["synthetic"]):
                page, lines = renderer.sample(rng.getrandbits(30))
                quads = [line.quad for line in lines]
            else:
                path, rows = rng.choice(self.pages)
                page, quads = load_image(path), [q for q, _ in rows]
            for _ in range(int(self.data["crops_per_page"])):  # rendering/decoding a page costs more than a crop
                yield self.crop(page, quads, rng)

    def crop(self, page: Image.Image, quads: list, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
        size = int(self.data["crop"])
        scale = self.input.scale_for(page.width, page.height) * rng.uniform(*self.data["scale_jitter"])
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
        return out[None], target[None].astype(np.float32)


class DetectorSystem(L.LightningModule):
    def __init__(self, network: dict, detector_input: dict, lr: float, weight_decay: float, max_steps: int):
        super().__init__()
        self.save_hyperparameters()
        self.network = build_detector(network)
        self.input = DetectorInput.from_dict(detector_input)
        self.scores: list[tuple[int, int, int]] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)

    def training_step(self, batch, _):
        images, targets = batch
        logits = self.network(images).float()
        bce = F.binary_cross_entropy_with_logits(logits, targets)
        probability = torch.sigmoid(logits)
        dice = 1 - (2 * (probability * targets).sum() + 1) / (probability.sum() + targets.sum() + 1)
        loss = bce + dice
        self.log_dict({"train/loss": loss, "train/dice": dice}, prog_bar=True)
        return loss

    def validation_step(self, batch, _):
        image, quads = batch
        logits = self.network(image[None, None].to(self.device)).float()
        boxes = boxes_from_map(sigmoid(logits[0, 0].cpu().numpy()), self.input.stride)
        predicted = [box.quad() for box, _ in boxes]
        self.scores.append((len(match(quads, predicted)), len(quads), len(predicted)))

    def on_validation_epoch_end(self):
        hits, truth, predicted = (sum(s[i] for s in self.scores) for i in range(3))
        self.scores = []
        precision, recall = hits / max(1, predicted), hits / max(1, truth)
        f1 = 2 * precision * recall / max(1e-9, precision + recall)
        self.log_dict({"val/precision": precision, "val/recall": recall, "val/f1": f1}, prog_bar=True)
        print(f"\nstep {self.global_step}: detection P {precision:.3f} R {recall:.3f} F1 {f1:.3f}")

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, self.hparams.lr, total_steps=self.hparams.max_steps,
                                                       pct_start=0.1)
        return [optimizer], [{"scheduler": schedule, "interval": "step"}]


def val_pages(pages: list[tuple[Path, list]], detector_input: DetectorInput) -> list:
    """Whole pages at inference scale, quads scaled with them."""
    items = []
    for path, rows in pages:
        array, sx, sy = page_input(load_image(path), detector_input)
        quads = [tuple(v * (sx if i % 2 == 0 else sy) for i, v in enumerate(q)) for q, _ in rows]
        items.append((torch.from_numpy(array), quads))
    return items


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
        torch.onnx.export(network, dummy, str(tmp), input_names=["page"], output_names=["kernels"],
                          dynamic_axes={"page": {0: "batch", 2: "height", 3: "width"},
                                        "kernels": {0: "batch", 2: "map_height", 3: "map_width"}},
                          opset_version=17, dynamo=False)
        graph = onnx.load(str(tmp))
        graph.metadata_props.add(key=METADATA_KEY, value=json.dumps(config))
        onnx.save(graph, str(tmp))

    atomic_write(out, write)


def detector_config(config: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    return {"format": DETECTOR_FORMAT, "format_version": 1, "network": config["model"]["network"],
            "input": DetectorInput.from_dict(config["model"]["input"]).to_dict(), "training": summary}


def train_detector(config: dict[str, Any]) -> Path:
    from lightning.pytorch.callbacks import TQDMProgressBar

    t, data = config["train"], config["data"]
    L.seed_everything(int(config["seed"]), workers=True, verbose=False)
    if t["threads"]:
        torch.set_num_threads(int(t["threads"]))
    detector_input = DetectorInput.from_dict(config["model"]["input"])
    train_pages = annotated_pages(data["pages"])
    held_out = annotated_pages(data["val"])
    folder = Path(config["out_dir"]) / config["name"]
    folder = next(c for c in [folder] + [folder.with_name(f"{folder.name}-{i}") for i in range(2, 1000)]
                  if not c.exists())
    folder.mkdir(parents=True)
    (folder / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    loader = DataLoader(PageCrops(config, train_pages, detector_input), batch_size=int(data["batch_size"]),
                        num_workers=int(data["num_workers"]), persistent_workers=int(data["num_workers"]) > 0)
    val_loader = (DataLoader(val_pages(held_out, detector_input), batch_size=None, collate_fn=lambda x: x)
                  if held_out else None)
    system = DetectorSystem(config["model"]["network"], detector_input.to_dict(), float(t["lr"]),
                            float(t["weight_decay"]), int(t["max_steps"]))
    trainer = L.Trainer(max_steps=int(t["max_steps"]), max_time=t["max_time"], precision=t["precision"],
                        accelerator=t["accelerator"], devices=1, default_root_dir=str(folder), logger=False,
                        enable_checkpointing=False, callbacks=[TQDMProgressBar(refresh_rate=10)],
                        val_check_interval=int(t["val_every"]) if val_loader else None, check_val_every_n_epoch=None,
                        limit_val_batches=len(held_out) if held_out else 0, num_sanity_val_steps=0,
                        enable_model_summary=False, gradient_clip_val=5.0)
    trainer.fit(system, loader, val_loader)
    summary = {"steps": trainer.global_step, "train_pages": len(train_pages), "synthetic_share": data["synthetic"],
               "val": {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}}
    save_detector(folder / "model", system.network, detector_config(config, summary))
    print(f"detector written to {folder / 'model'} (weights.safetensors, config.json, model.onnx)")
    return folder
