"""Is the handwriting fallback's (or, with --feature retry, the retry's) effect on printed text beyond noise? The
bundled default model reads every SROIE test line (all lines of pages 240-299) and every IIIT5K test word twice:
as shipped (its config's `fallback`: crops under calibrated confidence `below` re-read by the handwriting
model, whose reading is kept when surer by `margin`; `retry`: such crops read again on other looks) and with
the one feature switched off; default decoder, ONNX backend (as `textrec read` and the earlier test numbers). A
paired bootstrap of the difference (with - without) gives a 95% interval: receipt pages are resampled (lines
of one page share a printer, a scan and a layout), IIIT5K words one by one.

    python benchmarks/fallback_noise.py --out benchmarks/FALLBACK_NOISE.md
    python benchmarks/fallback_noise.py --feature retry --out benchmarks/RETRY_NOISE.md
    python benchmarks/fallback_noise.py --feature blend [--model CANDIDATE] --out benchmarks/BLEND_NOISE.md

Receipt lines: upper-cased, whitespace runs collapsed, CER (total edits / total label characters); IIIT5K:
the community protocol (lower-cased, [0-9a-z] only), word accuracy. Reading is deterministic, so the only
noise is which pages and words the test sets happen to hold: that is what the bootstrap measures.
"""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from math import comb
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from accuracy import DATA, iiit5k, sroie  # noqa: E402
from report import publish  # noqa: E402

from textrec.data.sources import IcdarQuads  # noqa: E402
from textrec.evaluation import edit_distance, normalize  # noqa: E402

FEATURES = {"fallback": ("the fallback", "re-read by the handwriting model"),
            "retry": ("the retry", "read again on other looks"),
            "blend": ("the blended fallback", "re-read by the handwriting model, the two networks' columns mixed")}
BEFORE_BLEND = {"below": 0.3, "agree": 2.0}  # the fallback rule `blend` replaced (HANDWRITING_FALLBACK.md)


def read_both(reader, images: list, feature: str) -> tuple[list, list]:
    """Each image read with `feature` (the reader's fallback or retry setting) switched off and as shipped;
    `blend`: with the fallback rule it replaced."""
    attribute = "fallback" if feature == "blend" else feature
    setting = getattr(reader, attribute)
    if feature == "blend":
        setattr(reader, attribute, {**{k: v for k, v in setting.items() if k != "blend"}, **BEFORE_BLEND})
    else:
        setattr(reader, attribute, None)
    try:
        without = reader.read(images)
    finally:
        setattr(reader, attribute, setting)
    return without, reader.read(images)


def paired_bootstrap(groups: np.ndarray, without: np.ndarray, with_: np.ndarray, weight: np.ndarray,
                     resamples: int, seed: int) -> np.ndarray:
    """Differences sum(with)/sum(weight) - sum(without)/sum(weight), in points, over `resamples` draws of the
    groups (pages or single items) with replacement; both arms always see the same draw."""
    ids, inverse = np.unique(groups, return_inverse=True)
    a = np.bincount(inverse, weights=without, minlength=len(ids))
    b = np.bincount(inverse, weights=with_, minlength=len(ids))
    w = np.bincount(inverse, weights=weight, minlength=len(ids))
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, resamples, 500):
        draw = rng.integers(0, len(ids), size=(min(500, resamples - start), len(ids)))
        out.append(100 * (b[draw].sum(1) - a[draw].sum(1)) / w[draw].sum(1))
    return np.concatenate(out)


def interval(diffs: np.ndarray, point: float, unit: str) -> str:
    low, high = np.percentile(diffs, [2.5, 97.5])
    verdict = "within noise (the interval holds 0)" if low <= 0 <= high else "beyond noise (the interval excludes 0)"
    return (f"**{point:+.2f} {unit}**, 95% interval [{low:+.2f}, {high:+.2f}] (bootstrap SE {diffs.std():.2f}; "
            f"{(diffs > 0).mean():.1%} of resamples above 0, {(diffs < 0).mean():.1%} below): {verdict}")


def sign_test(worse: int, better: int) -> float:
    """Two-sided exact sign test: the chance of a split at least this uneven if either way were a coin toss."""
    n = worse + better
    return min(1.0, 2 * sum(comb(n, k) for k in range(max(worse, better), n + 1)) / 2**n) if n else 1.0


def cell(text: str) -> str:
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`" if text else "(empty)"


def receipts(reader, resamples: int, seed: int, below: float, feature: str) -> list[str]:
    name, routed_how = FEATURES[feature]
    images, labels, _ = sroie(0, seed)
    source = IcdarQuads(DATA / "sroie" / "pages", DATA / "sroie" / "boxes", pages_range=(240, 299))
    assert list(source.labels) == labels, "accuracy.sroie no longer reads every test line in source order"
    pages = np.array([int(page.stem) for page, _ in source.items])
    start = time.perf_counter()
    without, with_ = read_both(reader, images, feature)
    seconds = time.perf_counter() - start
    gold = [normalize(g, "upper") for g in labels]
    e0 = np.array([edit_distance(normalize(p.text, "upper"), g) for p, g in zip(without, gold)], dtype=float)
    e1 = np.array([edit_distance(normalize(p.text, "upper"), g) for p, g in zip(with_, gold)], dtype=float)
    chars = np.array([len(g) for g in gold], dtype=float)
    cer0, cer1 = 100 * e0.sum() / chars.sum(), 100 * e1.sum() / chars.sum()
    diffs = paired_bootstrap(pages, e0, e1, chars, resamples, seed)
    routed = [i for i, p in enumerate(without) if p.confidence < below]
    changed = [i for i in range(len(images)) if without[i].text != with_[i].text]
    better, worse = sum(e1[i] < e0[i] for i in changed), sum(e1[i] > e0[i] for i in changed)
    net = {page: int(e1[pages == page].sum() - e0[pages == page].sum()) for page in sorted(set(pages))}
    pages_worse, pages_better = sum(v > 0 for v in net.values()), sum(v < 0 for v in net.values())
    exact_before = sum(e1[i] > e0[i] and e0[i] == 0 for i in changed)
    case_only = sum(normalize(without[i].text, "upper") == normalize(with_[i].text, "upper") for i in changed)
    lines = [f"## SROIE test lines: {len(images)} lines of {len(set(pages))} pages (240-299), CER", "",
             f"- without {name}: {cer0:.2f}% CER ({int(e0.sum())} edits / {int(chars.sum())} characters); "
             f"with it: {cer1:.2f}% ({int(e1.sum())} edits); line accuracy {np.mean(e0 == 0):.2%} -> "
             f"{np.mean(e1 == 0):.2%}",
             f"- difference (with - without), pages resampled: {interval(diffs, cer1 - cer0, 'points of CER')}",
             f"- {len(routed)} lines under confidence {below} {routed_how} ("
             f"{sum(e0[i] == 0 for i in routed)} of them read right by the default model); {len(changed)} changed "
             f"their reading: {better} got better, {worse} worse ({exact_before} of them read right without it), "
             f"{len(changed) - better - worse} changed with the same edit count ({case_only} only in letter case, "
             f"which the protocol ignores); net {int(e1.sum() - e0.sum()):+d} edits (line sign test on better vs "
             f"worse, ignoring pages: p = {sign_test(worse, better):.3f})",
             "- by page, net edits (with - without) where not 0: "
             + ", ".join(f"{page}: {v:+d}" for page, v in net.items() if v)
             + f"; {pages_worse} pages worse, {pages_better} better (page sign test: p = "
             f"{sign_test(pages_worse, pages_better):.3f})",
             f"- both readings of all lines: {seconds:.0f} s", "",
             f"The 10 worst changes (edits with {name} minus without; confidences calibrated):",
             "", "| page:line | crop (w x h) | label | without (conf) | with (conf) | edits without -> with |",
             "| --- | --- | --- | --- | --- | --- |"]
    for i in sorted(changed, key=lambda i: (e0[i] - e1[i], i))[:10]:
        if e1[i] <= e0[i]:
            break
        line = source.names[i].rsplit(":", 1)[1]
        lines.append(f"| {pages[i]}:{line} | {images[i].width} x {images[i].height} | {cell(labels[i])} | "
                     f"{cell(without[i].text)} ({without[i].confidence:.2f}) | {cell(with_[i].text)} "
                     f"({with_[i].confidence:.2f}) | {int(e0[i])} -> {int(e1[i])} |")
    for i in sorted(changed, key=lambda i: (e1[i] - e0[i], i)):  # every change, for reading, not for the file
        print(f"{e1[i] - e0[i]:+3.0f} {pages[i]} {images[i].size} {labels[i]!r} | {without[i].text!r} "
              f"{without[i].confidence:.2f} | {with_[i].text!r} {with_[i].confidence:.2f}", file=sys.stderr)
    return lines


def words(reader, resamples: int, seed: int, below: float, feature: str) -> list[str]:
    name, routed_how = FEATURES[feature]
    images, labels, _ = iiit5k(0, seed)
    start = time.perf_counter()
    without, with_ = read_both(reader, images, feature)
    seconds = time.perf_counter() - start
    gold = [normalize(g, "alnum") for g in labels]
    c0 = np.array([normalize(p.text, "alnum") == g for p, g in zip(without, gold)], dtype=float)
    c1 = np.array([normalize(p.text, "alnum") == g for p, g in zip(with_, gold)], dtype=float)
    diffs = paired_bootstrap(np.arange(len(images)), c0, c1, np.ones(len(images)), resamples, seed)
    point = 100 * (c1.mean() - c0.mean())
    routed = sum(p.confidence < below for p in without)
    changed = sum(a.text != b.text for a, b in zip(without, with_))
    fixed, broken = int(((c1 == 1) & (c0 == 0)).sum()), int(((c1 == 0) & (c0 == 1)).sum())
    return [f"## IIIT5K test: {len(images)} words, community protocol, word accuracy", "",
            f"- without {name}: {c0.mean():.2%}; with it: {c1.mean():.2%}",
            f"- difference (with - without), words resampled: {interval(diffs, point, 'points')}",
            f"- {routed} words under confidence {below} {routed_how}; {changed} changed their "
            f"reading: {fixed} wrong -> right, {broken} right -> wrong (sign test: p = {sign_test(fixed, broken):.2g})",
            f"- both readings of all words: {seconds:.0f} s"]


def main() -> None:
    from textrec.recognizer import default_model_path, load_recognizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="what else the machine was doing, for the report's header")
    parser.add_argument("--feature", choices=sorted(FEATURES), default="fallback",
                        help="what is switched off for the comparison: the handwriting fallback or the retry; "
                        "blend: the fallback's blend against the rule before it")
    parser.add_argument("--model", type=Path, help="a model folder instead of the bundled default (a candidate)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"data not found: {DATA}")
    model = args.model or default_model_path()
    reader = load_recognizer(model, "onnx", batch_size=64)
    setting = getattr(reader, "fallback" if args.feature == "blend" else args.feature)
    if args.feature == "blend" and setting and "blend" not in setting:
        sys.exit("the model's fallback has no blend: nothing to compare")
    if not setting:
        sys.exit(f"the default model's config has no {args.feature}: nothing to compare")
    below, margin = float(setting["below"]), float(setting["margin"])
    when = subprocess.run(["date"], capture_output=True, text=True).stdout.strip()
    lines = [f"# {FEATURES[args.feature][0].capitalize()} on printed test sets: beyond noise?", "",
             f"`{shlex.join(['python', *sys.argv])}` on {platform.node()} ({len(os.sched_getaffinity(0))} CPU cores"
             f"{', ' + args.note if args.note else ''}), {when}. Default model `{model}`, "
             f"{type(reader).__name__}, decoder {reader.decoder}; {args.feature} {setting} (below {below}, margin "
             f"{margin}), everything else as shipped. Paired bootstrap: {args.resamples} resamples, seed {args.seed}.",
             ""]
    lines += receipts(reader, args.resamples, args.seed, below, args.feature) + [""]
    print("\n".join(lines), file=sys.stderr, flush=True)
    lines += words(reader, args.resamples, args.seed, below, args.feature)
    publish(lines, args.out)


if __name__ == "__main__":
    main()
