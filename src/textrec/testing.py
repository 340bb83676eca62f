"""`textrec test`: run a model over labeled data and measure it; optionally write a report with pictures."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textrec.data.sources import open_source
from textrec.errors import TextrecError
from textrec.evaluation import (
    PROTOCOLS,
    attention_maps,
    confusions,
    draw_attention,
    normalize,
    plot_confusions,
    sample_grid,
    summarize,
)
from textrec.preprocess import normalize as normalize_pixels
from textrec.preprocess import resize

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


def evaluate(model: str | Path | None, data: list[str], split: str | None = None, protocol: str = "exact",
             report: Path | None = None, decoder: str = "auto", limit: int | None = None,
             batch_size: int = 64, visualize: Path | None = None, backend: str = "auto") -> dict[str, Any]:
    """Metrics of `model` on labeled `data`, read by `backend` (auto, onnx, torch: as `textrec read` loads it);
    `report` adds pictures and per-sample results, `visualize` (attention models, PyTorch) writes each sample
    with its per-character attention maps into correct/ and incorrect/."""
    from textrec.recognizer import load_recognizer

    if protocol not in PROTOCOLS:
        raise TextrecError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    if visualize and backend == "onnx":
        raise TextrecError("--visualize draws attention maps from the PyTorch network: use --backend torch")
    recognizer = load_recognizer(model, "torch" if visualize else backend, decoder=decoder,
                                 batch_size=batch_size)
    if visualize and not recognizer.attention:
        raise TextrecError("--visualize draws attention maps: it needs an attention model (network name attn)")
    keep_images = bool(report or visualize)
    sources = [open_source({"path": d, "split": split} if split else d) for d in data]
    images: list[Image.Image | None] = []
    crops: list[Image.Image] = []
    arrays: list[np.ndarray] = []
    golds: list[str] = []
    names: list[str] = []
    skipped: list[str] = []
    for source in sources:
        for i in range(len(source)):
            if limit is not None and len(golds) >= limit:
                break
            try:
                image = source.load(i)
            except TextrecError as exc:
                skipped.append(f"{source.names[i]}: {exc}")
                continue
            if visualize:
                arrays.append(normalize_pixels(resize(image, recognizer.preprocess), recognizer.preprocess))
            crops.append(image)
            images.append(image if keep_images else None)
            golds.append(source.labels[i])
            names.append(source.names[i])
    if not golds:
        raise TextrecError("no readable samples in the data given")
    start = time.perf_counter()
    readings = recognizer.read_images(crops)
    predictions = [p.text for p in readings]
    elapsed = time.perf_counter() - start
    pred_n = [normalize(p, protocol) for p in predictions]
    gold_n = [normalize(g, protocol) for g in golds]
    metrics = dict(summarize(pred_n, gold_n), protocol=protocol, ms_per_image=1000 * elapsed / len(golds))
    result = {"model": str(recognizer.path), "backend": type(recognizer).__name__, "data": data, "split": split,
              "metrics": metrics, "skipped_count": len(skipped), "skipped": skipped}
    if report:
        report.mkdir(parents=True, exist_ok=True)
        samples = [{"name": n, "gold": g, "prediction": p, "correct": pn == gn}
                   for n, g, p, pn, gn in zip(names, golds, predictions, pred_n, gold_n)]
        (report / "report.json").write_text(json.dumps(dict(result, samples=samples), indent=2) + "\n")
        plot_confusions(confusions(pred_n, gold_n), report / "confusions.png")
        sample_grid(images, gold_n, pred_n, report / "samples.png")
    if visualize:
        write_attention(visualize, images, arrays, golds, readings, pred_n, gold_n, recognizer.width_stride)
    return result


def write_attention(folder: Path, images, arrays, golds, readings, pred_n, gold_n, stride: int) -> None:
    for part in ("correct", "incorrect"):
        (folder / part).mkdir(parents=True, exist_ok=True)
    for i, (image, array, gold, reading) in enumerate(zip(images, arrays, golds, readings)):
        maps = attention_maps(reading.attention or [], array.shape[1], stride, image.size)
        part = "correct" if pred_n[i] == gold_n[i] else "incorrect"
        name = "".join(c if c.isalnum() else "_" for c in f"{gold}__{reading.text}")[:60]
        draw_attention(image, reading.text, maps, folder / part / f"{i:05d}_{name}.png")
