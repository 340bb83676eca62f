"""Plain helpers the tests import (`from tests.helpers import render`): words rendered with Pillow's bundled
font, small datasets on disk, the tiny network the training tests use. Fixtures live in conftest.py."""
from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

TINY_NETWORK = {"name": "crnn", "channels": [16, 32, 48, 64], "depth": [1, 1, 1, 1], "rnn_hidden": 48,
                "rnn_layers": 1, "dropout": 0.0}


def render(text: str, height: int = 32, font_size: int = 22, pad: int = 4, seed: int | None = None) -> Image.Image:
    """Dark text on a light background, with a little jitter when seeded."""
    rng = random.Random(seed)
    font = ImageFont.load_default(size=font_size + (rng.randint(-2, 2) if seed is not None else 0))
    left, top, right, bottom = font.getbbox(text)
    width = right - left + 2 * pad
    image = Image.new("L", (max(width, 8), height), 230 + (rng.randint(-20, 20) if seed is not None else 0))
    draw = ImageDraw.Draw(image)
    y = (height - (bottom - top)) // 2 - top + (rng.randint(-2, 2) if seed is not None else 0)
    draw.text((pad - left, y), text, fill=20 + (rng.randint(0, 40) if seed is not None else 0), font=font)
    return image


def random_digits(rng: random.Random, low: int = 3, high: int = 6) -> str:
    return "".join(rng.choice("0123456789") for _ in range(rng.randint(low, high)))


def write_dataset(folder: Path, labels: list[str], seed: int = 0, separator: str = "\t") -> Path:
    """Rendered images plus an annotation file `labels.tsv`; returns the annotation file."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, label in enumerate(labels):
        render(label, seed=seed * 100000 + i).save(folder / "images" / f"{i:05d}.png")
        lines.append(f"images/{i:05d}.png{separator}{label}")
    path = folder / "labels.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path


def bundled_onnx_agreement(model: str | None) -> tuple[float, float, tuple[list[str], list[str]]]:
    """A bundled model's ONNX file (int8 convolutions) against its safetensors weights, on rendered words and the
    example images: on frames where either reads a character (most frames are blank, and any two English models
    agree on those), the share with the same best class and the mean total-variation distance between the two
    probability rows; and both backends' readings."""
    import numpy as np

    from textrec.decoding import softmax
    from textrec.preprocess import pad_batch, prepare
    from textrec.recognizer import load_recognizer
    from textrec.runtime import OnnxRecognizer

    onnx_model, torch_model = load_recognizer(model), load_recognizer(model, backend="torch")
    assert isinstance(onnx_model, OnnxRecognizer) and type(torch_model).__name__ == "Recognizer"
    assert onnx_model.config["charset"] == torch_model.config["charset"]
    assert onnx_model.config["quantized"]["convolutions"] == "int8"
    examples = Path(__file__).resolve().parents[1] / "examples"
    images: list = [render(word, seed=i)
                    for i, word in enumerate(["Station", "TOTAL 12.50", "Hello world", "ab", "2026-11-21"])]
    images += [str(p) for p in sorted(examples.glob("*.png"))]
    batch, widths = pad_batch([prepare(image, torch_model.preprocess) for image in images], torch_model.preprocess)
    onnx_logits, torch_logits = onnx_model.logits(batch, widths)[0], torch_model.logits(batch, widths)[0]
    letters = (onnx_logits.argmax(-1) != 0) | (torch_logits.argmax(-1) != 0)
    agree = float((onnx_logits.argmax(-1) == torch_logits.argmax(-1))[letters].mean())
    onnx_probs, torch_probs = softmax(onnx_logits.astype(np.float64)), softmax(torch_logits.astype(np.float64))
    apart = float((abs(onnx_probs - torch_probs).sum(-1) / 2)[letters].mean())
    return agree, apart, ([p.text for p in onnx_model.read(images)], [p.text for p in torch_model.read(images)])
