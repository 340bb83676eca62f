"""Page-level scores: line detection precision/recall/F1 at an IoU threshold (one-to-one matching, best
overlaps first), word precision/recall/F1 over per-page word multisets, and line CER in matched boxes."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from textrec.pages.geometry import Quad, iou


def match(truth: list[Quad], predicted: list[Quad], threshold: float = 0.5) -> list[tuple[int, int]]:
    """Pairs (truth index, predicted index), each used once, greedily by IoU, keeping IoU >= threshold."""
    pairs = []
    for i, t in enumerate(truth):
        tx, ty = t[0::2], t[1::2]
        for j, p in enumerate(predicted):
            px, py = p[0::2], p[1::2]
            if max(tx) < min(px) or max(px) < min(tx) or max(ty) < min(py) or max(py) < min(ty):
                continue  # no overlap of bounding boxes: skip the exact clipping
            score = iou(t, p)
            if score >= threshold:
                pairs.append((score, i, j))
    used_t: set[int] = set()
    used_p: set[int] = set()
    result: list[tuple[int, int]] = []
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used_t and j not in used_p:
            used_t.add(i)
            used_p.add(j)
            result.append((i, j))
    return result


def normalize(text: str) -> str:
    """SROIE comparison: upper case, runs of whitespace collapsed."""
    return re.sub(r"\s+", " ", text.upper()).strip()


@dataclass
class PageScores:
    """Sums over pages; `report()` turns them into the benchmark's numbers."""

    matched: int = 0
    truth_lines: int = 0
    predicted_lines: int = 0
    word_hits: int = 0
    truth_words: int = 0
    predicted_words: int = 0
    line_edits: float = 0.0
    line_chars: int = 0
    pages: int = 0
    seconds: list[float] = field(default_factory=list)

    def add(self, truth: list[tuple[Quad, str]], predicted: list[tuple[Quad, str]],
            seconds: float | None = None) -> None:
        from rapidfuzz.distance import Levenshtein

        pairs = match([q for q, _ in truth], [q for q, _ in predicted])
        self.matched += len(pairs)
        self.truth_lines += len(truth)
        self.predicted_lines += len(predicted)
        truth_words = Counter(w for _, text in truth for w in normalize(text).split())
        predicted_words = Counter(w for _, text in predicted for w in normalize(text).split())
        self.word_hits += sum((truth_words & predicted_words).values())
        self.truth_words += sum(truth_words.values())
        self.predicted_words += sum(predicted_words.values())
        read = {i: normalize(predicted[j][1]) for i, j in pairs}
        for i, (_, text) in enumerate(truth):
            reference = normalize(text)
            self.line_chars += len(reference)
            # an unmatched line counts as fully wrong: every character of it is an error
            self.line_edits += Levenshtein.distance(reference, read[i]) if i in read else len(reference)
        self.pages += 1
        if seconds is not None:
            self.seconds.append(seconds)

    def report(self) -> dict[str, float]:
        def f1(p: float, r: float) -> float:
            return 2 * p * r / (p + r) if p + r else 0.0

        det_p = self.matched / max(1, self.predicted_lines)
        det_r = self.matched / max(1, self.truth_lines)
        word_p = self.word_hits / max(1, self.predicted_words)
        word_r = self.word_hits / max(1, self.truth_words)
        return {
            "det_precision": det_p, "det_recall": det_r, "det_f1": f1(det_p, det_r),
            "word_precision": word_p, "word_recall": word_r, "word_f1": f1(word_p, word_r),
            "line_cer": self.line_edits / max(1, self.line_chars),
            "seconds_per_page": sum(self.seconds) / len(self.seconds) if self.seconds else float("nan"),
            "pages": self.pages,
        }
