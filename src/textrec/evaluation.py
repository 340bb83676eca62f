"""Metrics (CER, word accuracy, character BLEU), comparison protocols, and report pictures."""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

try:
    from rapidfuzz.distance import Levenshtein
except ImportError:  # the GPU training machine has no rapidfuzz: validation falls back to edit_distance below
    Levenshtein = None  # type: ignore[assignment]  # an optional module: None when absent, checked below

PROTOCOLS = {
    "exact": lambda s: s,
    # Scene-text community protocol: lower-case, keep only [0-9a-z].
    "alnum": lambda s: re.sub(r"[^0-9a-z]", "", s.lower()),
    # SROIE lines: upper-case, runs of whitespace collapsed.
    "upper": lambda s: " ".join(s.upper().split()),
}


def normalize(text: str, protocol: str = "exact") -> str:
    return PROTOCOLS[protocol](text)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: rapidfuzz's, or a plain dynamic programme where rapidfuzz is not installed."""
    if Levenshtein is not None:
        return Levenshtein.distance(a, b)
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


def edit_counts(predictions: Sequence[str], golds: Sequence[str]) -> tuple[int, int]:
    """(total edit distance, total gold characters): what CER divides, and what ranks sum before dividing."""
    return sum(edit_distance(p, g) for p, g in zip(predictions, golds)), sum(len(g) for g in golds)


def character_error_rate(predictions: Sequence[str], golds: Sequence[str]) -> float:
    """Total edit distance over total gold characters (an empty gold costs its prediction's length)."""
    edits, chars = edit_counts(predictions, golds)
    return edits / max(chars, 1)


def word_accuracy(predictions: Sequence[str], golds: Sequence[str]) -> float:
    return sum(p == g for p, g in zip(predictions, golds)) / max(len(golds), 1)


def char_bleu(predictions: Sequence[str], golds: Sequence[str], max_n: int = 4) -> float:
    """Corpus BLEU over characters (uniform weights up to 4-grams, brevity penalty), in [0, 1]."""
    matches, totals = [0] * max_n, [0] * max_n
    pred_len = gold_len = 0
    for pred, gold in zip(predictions, golds):
        pred_len, gold_len = pred_len + len(pred), gold_len + len(gold)
        for n in range(1, max_n + 1):
            p_grams = Counter(pred[i : i + n] for i in range(len(pred) - n + 1))
            g_grams = Counter(gold[i : i + n] for i in range(len(gold) - n + 1))
            matches[n - 1] += sum(min(c, g_grams[k]) for k, c in p_grams.items())
            totals[n - 1] += max(len(pred) - n + 1, 0)
    if pred_len == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = 1.0 if pred_len > gold_len else math.exp(1 - gold_len / pred_len)
    return brevity * math.exp(log_precision)


def confusions(predictions: Sequence[str], golds: Sequence[str]) -> Counter:
    """(gold char, predicted char) counts from the edit alignment; '' stands for an insertion or deletion."""
    counts: Counter = Counter()
    for pred, gold in zip(predictions, golds):
        for edit in Levenshtein.editops(gold, pred):
            op, i, j = edit.tag, edit.src_pos, edit.dest_pos
            if op == "replace":
                counts[(gold[i], pred[j])] += 1
            elif op == "delete":
                counts[(gold[i], "")] += 1
            else:
                counts[("", pred[j])] += 1
    return counts


def summarize(predictions: Sequence[str], golds: Sequence[str]) -> dict[str, float]:
    return {"samples": len(golds), "cer": character_error_rate(predictions, golds),
            "accuracy": word_accuracy(predictions, golds), "char_bleu": char_bleu(predictions, golds)}


def plot_confusions(counts: Counter, path: Path, top: int = 20) -> None:
    """A matrix of the most confused characters (gold rows, predicted columns); '∅' marks a missing char."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    show = lambda c: "∅" if c == "" else ("␣" if c == " " else c)  # noqa: E731
    common = counts.most_common(top)
    rows = sorted({g for (g, _), _ in common}, key=show)
    cols = sorted({p for (_, p), _ in common}, key=show)
    matrix = np.zeros((len(rows), len(cols)))
    for (g, p), n in common:
        matrix[rows.index(g), cols.index(p)] = n
    fig, ax = plt.subplots(figsize=(1 + 0.45 * max(len(cols), 4), 1 + 0.45 * max(len(rows), 4)))
    ax.imshow(matrix, cmap="Reds")
    ax.set_xticks(range(len(cols)), [show(c) for c in cols])
    ax.set_yticks(range(len(rows)), [show(r) for r in rows])
    ax.set_xlabel("predicted"), ax.set_ylabel("gold")
    for (r, c), value in np.ndenumerate(matrix):
        if value:
            ax.text(c, r, str(int(value)), ha="center", va="center", fontsize=8)
    ax.set_title(f"top {len(common)} confusions" if common else "no confusions")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def sample_grid(images: Sequence, golds: Sequence[str], predictions: Sequence[str], path: Path,
                columns: int = 4, limit: int = 48) -> None:
    """A PNG grid of samples with gold and prediction, wrong ones first (red) then right ones (green)."""
    from PIL import Image, ImageDraw, ImageFont

    order = sorted(range(len(golds)), key=lambda i: predictions[i] == golds[i])[:limit]
    cell_w, cell_h, text_h = 240, 56, 30
    rows = max(1, -(-len(order) // columns))
    grid = Image.new("RGB", (columns * cell_w, rows * (cell_h + text_h)), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for slot, i in enumerate(order):
        x, y = (slot % columns) * cell_w, (slot // columns) * (cell_h + text_h)
        thumb = images[i].convert("RGB")
        thumb.thumbnail((cell_w - 8, cell_h - 4))
        grid.paste(thumb, (x + 4, y + 2))
        ok = predictions[i] == golds[i]
        draw.text((x + 4, y + cell_h), f"gold: {golds[i][:34]}", fill="black", font=font)
        draw.text((x + 4, y + cell_h + 13), f"pred: {predictions[i][:34]}", fill=(0, 130, 0) if ok else (200, 0, 0),
                  font=font)
    grid.save(path)


def plot_curves(history: dict[str, list[tuple[int, float]]], path: Path) -> None:
    """Training loss and the validation scores (CER and accuracy; a detector's precision, recall and F1) against
    steps, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    if history.get("train/loss"):
        steps, values = zip(*history["train/loss"])
        left.plot(steps, values, lw=1)
    left.set_yscale("log"), left.set_xlabel("step"), left.set_title("training loss")
    for key in [k for k in history if k.startswith("val/")]:
        if history[key]:
            steps, values = zip(*history[key])
            right.plot(steps, values, marker="o", ms=3, label=key)
            right.legend()
    right.set_xlabel("step"), right.set_ylim(0, 1), right.set_title("validation")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def attention_maps(attention: Sequence[Sequence[float]], resized_width: int, stride: int,
                   size: tuple[int, int]) -> np.ndarray:
    """One map per decoded character, (chars, height, width) in the input image's own size: each encoder
    column covers `stride` pixels of the height-normalized image (`resized_width` wide), stretched back."""
    width, height = size
    columns = max(1, -(-resized_width // stride))
    maps = np.zeros((len(attention), height, width), dtype=np.float32)
    # the encoder column under each pixel of the input's width
    positions = np.minimum((np.arange(width) + 0.5) * resized_width / width / stride, columns - 1).astype(int)
    for i, weights in enumerate(attention):
        row = np.asarray(weights[:columns], dtype=np.float32)
        row = row / row.max() if row.max() > 0 else row
        maps[i] = row[positions][None, :]
    return maps


def draw_attention(image, text: str, maps: np.ndarray, path: Path) -> None:
    """The input on top, then one row per decoded character: the input tinted red where that character looked."""
    from PIL import Image, ImageDraw, ImageFont

    base = np.asarray(image.convert("RGB"), dtype=np.float32)
    label_w, font = 28, ImageFont.load_default()
    rows = [base] + [base * (1 - 0.6 * m[..., None]) + np.array([255.0, 0, 0]) * 0.6 * m[..., None] for m in maps]
    height, width = base.shape[:2]
    sheet = Image.new("RGB", (label_w + width, height * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, pixels in enumerate(rows):
        sheet.paste(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), (label_w, r * height))
        draw.text((4, r * height + height // 2 - 6), "" if r == 0 else text[r - 1], fill="black", font=font)
    sheet.save(path)
