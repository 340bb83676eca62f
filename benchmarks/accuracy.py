"""textrec vs Tesseract 5 vs RapidOCR on the same images in one run: accuracy, CER and speed.

    python benchmarks/accuracy.py                       # 1000 random IIIT5K test words + 1000 SROIE test lines
    python benchmarks/accuracy.py --cores 1 --sets iiit5k   # one core: batch-1 latency
    python benchmarks/accuracy.py --engines textrec --limit 0  # textrec alone on all images

Needs ../shared/data; Tesseract from Debian (`apt-get install tesseract-ocr`, run as
`--psm 7 --oem 1`), RapidOCR 1.x (`pip install rapidocr-onnxruntime`, recognition only) and RapidOCR 3.10
(`pip install rapidocr==3.10.0`: PP-OCRv6 small, shipped in the wheel; recognition only). An engine that is not
installed is left out with a note. Every engine gets the same images as loaded from the files (colour where the
file is colour: each engine turns colour into what its model reads). Writes a markdown table to stdout (and --out).
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image

from textrec.data.sources import IcdarQuads
from textrec.evaluation import character_error_rate, normalize, word_accuracy

sys.path.insert(0, str(Path(__file__).parent))
from report import cpu  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def iiit5k(limit: int, seed: int) -> tuple[list[Image.Image], list[str], list[str]]:
    """Images, community-protocol labels (test.tsv) and case-sensitive labels (test_cased.tsv)."""
    root = DATA / "iiit5k"
    plain = dict(line.split("\t", 1) for line in (root / "test.tsv").read_text().splitlines() if line)
    cased = dict(line.split("\t", 1) for line in (root / "test_cased.tsv").read_text().splitlines() if line)
    names = sorted(plain)
    if limit:
        names = random.Random(seed).sample(names, min(limit, len(names)))
    return [load_colour(root / n) for n in names], [plain[n] for n in names], [cased.get(n, plain[n]) for n in names]


def load_colour(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def sroie(limit: int, seed: int) -> tuple[list[Image.Image], list[str], list[str]]:
    source = IcdarQuads(DATA / "sroie" / "pages", DATA / "sroie" / "boxes", pages_range=(240, 299))
    indices = list(range(len(source)))
    if limit:
        indices = sorted(random.Random(seed).sample(indices, min(limit, len(indices))))
    labels = [source.labels[i] for i in indices]
    return [source.load(i) for i in indices], labels, labels


class Textrec:
    name = "textrec (default model, PyTorch)"

    def __init__(self, model: str | None):
        from textrec.recognizer import Recognizer

        self.recognizer = Recognizer(model, batch_size=64)

    def read(self, image: Image.Image) -> str:
        return self.recognizer.read(image).text

    def read_batch(self, images: list[Image.Image]) -> list[str]:
        return [p.text for p in self.recognizer.read(images)]


class TextrecOnnx(Textrec):
    name = "textrec (default model, ONNX Runtime)"

    def __init__(self, model: str | None, decoder: str = "auto"):
        """What `textrec read` runs: the model folder's own model.onnx (the bundled one has int8 convolutions)."""
        from textrec.recognizer import resolve_backend
        from textrec.runtime import OnnxRecognizer

        path, _ = resolve_backend(model, "onnx")
        self.recognizer = OnnxRecognizer(path, decoder=decoder, batch_size=64, threads=len(os.sched_getaffinity(0)))


class TextrecOnnxGreedy(TextrecOnnx):
    name = "textrec (default model, ONNX Runtime, greedy: no language model)"

    def __init__(self, model: str | None):
        super().__init__(model, decoder="greedy")


class TextrecOnnxFloat(Textrec):
    name = "textrec (default model, ONNX Runtime, float: exported without --quantize)"

    def __init__(self, model: str | None):
        import tempfile

        from textrec.export import export_onnx
        from textrec.recognizer import default_model_path
        from textrec.runtime import OnnxRecognizer

        self.folder = tempfile.TemporaryDirectory()
        out = export_onnx(model or default_model_path(), Path(self.folder.name) / "model.onnx")
        self.recognizer = OnnxRecognizer(out, batch_size=64, threads=len(os.sched_getaffinity(0)))


class Tesseract:
    name = "Tesseract (--psm 7 --oem 1)"

    def __init__(self, _model: str | None):
        if shutil.which("tesseract") is None:
            raise RuntimeError("tesseract not installed (apt-get install tesseract-ocr)")
        self.version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.split("\n")[0]

    def read(self, image: Image.Image) -> str:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        out = subprocess.run(["tesseract", "stdin", "stdout", "--psm", "7", "--oem", "1"], input=buffer.getvalue(),
                             capture_output=True)
        return out.stdout.decode("utf-8", "replace").strip()


class RapidOcr:
    name = "RapidOCR (rapidocr-onnxruntime, rec only)"

    def __init__(self, _model: str | None):
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError:
            raise RuntimeError("rapidocr-onnxruntime not installed") from None
        threads = len(os.sched_getaffinity(0))  # as for RapidOcr3 below
        self.engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)

    def read(self, image: Image.Image) -> str:
        bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
        result, _ = self.engine(bgr, use_det=False, use_cls=False, use_rec=True)
        return result[0][0] if result else ""


class RapidOcr3:
    name = "RapidOCR 3.10 (PP-OCRv6 small, rec only)"

    def __init__(self, _model: str | None):
        try:
            import logging

            from rapidocr import RapidOCR
        except ImportError:
            raise RuntimeError("rapidocr 3 not installed (pip install rapidocr==3.10.0)") from None
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        # as many onnxruntime threads as cores the process may use, as for textrec: its default (-1) starts one
        # per core of the machine, which under --cores 1 fight over the one core
        threads = len(os.sched_getaffinity(0))
        self.engine = RapidOCR(params={"EngineConfig.onnxruntime.intra_op_num_threads": threads,
                                       "EngineConfig.onnxruntime.inter_op_num_threads": 1})

    def read(self, image: Image.Image) -> str:
        bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
        result = self.engine(bgr, use_det=False, use_cls=False, use_rec=True)
        return result.txts[0] if result.txts else ""


ENGINES: dict[str, Callable] = {"textrec": Textrec, "textrec-onnx": TextrecOnnx, "textrec-greedy": TextrecOnnxGreedy,
                                 "textrec-float": TextrecOnnxFloat,
                                 "tesseract": Tesseract, "rapidocr": RapidOcr, "rapidocr3": RapidOcr3}


def run_engines(engines: dict, images: list[Image.Image]) -> dict[str, tuple[list[str], float, float]]:
    """Per engine: its predictions one image at a time (batch 1), and the median and mean ms per image
    (preprocessing included). Interleaved: each image goes through every engine in turn, the order rotating, so
    a slow spell of a shared machine falls on all engines alike instead of on whichever ran then."""
    for engine in engines.values():
        for image in images[:3]:
            engine.read(image)  # warm-up: lazy loading and first-call allocation are not per-image costs
    keys = list(engines)
    predictions: dict[str, list[str]] = {key: [] for key in keys}
    times: dict[str, list[float]] = {key: [] for key in keys}
    for i, image in enumerate(images):
        for key in keys[i % len(keys):] + keys[: i % len(keys)]:
            start = time.perf_counter()
            predictions[key].append(engines[key].read(image))
            times[key].append((time.perf_counter() - start) * 1000)
    return {key: (predictions[key], float(np.median(times[key])), float(np.mean(times[key]))) for key in keys}


def score(name: str, predictions: list[str], plain: list[str], cased: list[str]) -> dict:
    if name == "sroie":
        p, g = [normalize(x, "upper") for x in predictions], [normalize(x, "upper") for x in plain]
        return {"acc": word_accuracy(p, g), "cased": None, "cer": character_error_rate(p, g)}
    p, g = [normalize(x, "alnum") for x in predictions], [normalize(x, "alnum") for x in plain]
    return {"acc": word_accuracy(p, g), "cased": word_accuracy(predictions, cased), "cer": character_error_rate(p, g)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=["iiit5k", "sroie"], choices=["iiit5k", "sroie"])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    parser.add_argument("--limit", type=int, default=1000, help="random images per set (0 = all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cores", type=int, default=None, help="pin the process (and Tesseract) to this many cores")
    parser.add_argument("--model", default=None, help="textrec model (default: the bundled one)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    if args.cores:
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.cores]))
        import torch

        torch.set_num_threads(args.cores)
    if not DATA.is_dir():
        sys.exit(f"benchmark data not found: {DATA}")
    cores = len(os.sched_getaffinity(0))
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node() or 'this machine'} ({cores} core(s), "
             f"{cpu()}), {date.today()}", ""]
    engines = {}
    for key in args.engines:
        try:
            engines[key] = ENGINES[key](args.model)
        except RuntimeError as exc:
            lines.append(f"- {key} left out: {exc}")
    lines += ["", "| images | engine | word/line accuracy | case-sensitive accuracy | CER | ms per image, batch 1: "
              "median (mean) |", "| --- | --- | --- | --- | --- | --- |"]
    batched = []
    for set_name in args.sets:
        images, plain, cased = (iiit5k if set_name == "iiit5k" else sroie)(args.limit, args.seed)
        label = (f"IIIT5K test, {len(images)} words (community protocol)" if set_name == "iiit5k"
                 else f"SROIE test lines (pages 240-299), {len(images)} lines (upper-cased)")
        results = run_engines(engines, images)
        if "textrec-onnx" in results and "rapidocr3" in results:
            ratio = results["rapidocr3"][1] / results["textrec-onnx"][1]
            batched.append(f"- {label}: textrec's median image {ratio:.1f}x faster than RapidOCR 3.10's (batch 1, "
                           "interleaved)")
        for key, engine in engines.items():
            predictions, median_ms, mean_ms = results[key]
            s = score(set_name, predictions, plain, cased)
            cased_text = f"{s['cased']:.1%}" if s["cased"] is not None else "-"
            lines.append(f"| {label} | {engine.name} | {s['acc']:.1%} | {cased_text} | {s['cer']:.2%} | "
                         f"{median_ms:.1f} ({mean_ms:.1f}) |")
            print(lines[-1], file=sys.stderr, flush=True)
            if key.startswith("textrec"):
                start = time.perf_counter()
                engine.read_batch(images)
                batched.append(f"- {engine.name} batched (64 per batch, sorted by width) on {label}: "
                               f"{len(images) / (time.perf_counter() - start):.0f} images/s")
    text = "\n".join(lines + [""] + batched) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
