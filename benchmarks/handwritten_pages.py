"""Handwritten pages read whole (issue 19): the default model's page rule (`fallback.page_share`,
`fallback.page_keep`: the handwriting model reads every line of a page on which it took that share of lines)
against the rule off and against `--model handwriting`, on rendered notes, rendered printed pages and SROIE
receipts. Line CER and word F1 per set (pages/evaluate.py: upper-cased, as the SROIE convention), and how many
pages the rule took.

    python benchmarks/handwritten_pages.py --shares 0.15 --keeps 0.9 --out benchmarks/HANDWRITTEN_PAGES.md

The validation sets choose (notes of seed 12345, printed pages of seed 4242, SROIE pages 200-224); notes of
seed 777 and SROIE pages 225-239 are looked at after the choice.
"""
from __future__ import annotations

import argparse
import datetime
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report import publish  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SROIE = ROOT.parent / "shared" / "data" / "sroie"


def rendered(seed: int, count: int, layouts: dict[str, float] | None) -> list[tuple]:
    from textrec.synth.pages import PageRenderer

    renderer = PageRenderer(seed, layouts)
    return [(page, [(line.quad, line.text) for line in lines])
            for page, lines in (renderer.sample(i) for i in range(count))]


def sroie(span: str) -> list[tuple]:
    from textrec.preprocess import load_image
    from textrec.training.detector import annotated_pages

    return [(load_image(path), rows) for path, rows in
            annotated_pages([{"pages": str(SROIE / "pages"), "boxes": str(SROIE / "boxes"), "range": span}])]


def score(reader, pages: list[tuple]) -> tuple[dict, int]:
    from textrec.pages.evaluate import PageScores

    scores, whole = PageScores(), 0
    calls = reader.recognizer.handwritten_page
    taken = []

    def spy(arrays, first, predictions):  # counts the pages the rule took (it returns new predictions then)
        result = calls(arrays, first, predictions)
        taken.append(result is not predictions)
        return result

    reader.recognizer.handwritten_page = spy
    for page, truth in pages:
        taken.clear()
        result = reader.read(page)
        scores.add(truth, [(line.quad, line.text) for line in result.lines])
        whole += any(taken)
    del reader.recognizer.handwritten_page
    return scores.report(), whole


def main() -> None:
    from textrec.pages.detect import LineDetector
    from textrec.pages.pipeline import PageReader
    from textrec.recognizer import MODELS_DIR
    from textrec.runtime import OnnxRecognizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.15])
    parser.add_argument("--keeps", type=float, nargs="+", default=[0.9])
    parser.add_argument("--unseen", action="store_true", help="also the sets looked at after the choice")
    parser.add_argument("--blend", type=float, nargs=2, metavar=("BELOW", "BLEND"),
                        help="also the first page rule with the crop rule fallback.below BELOW, fallback.blend BLEND")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sets = {"notes, seed 12345 (30)": rendered(12345, 30, {"note": 1.0}),
            "printed pages, seed 4242 (30)": rendered(4242, 30, None)}
    if SROIE.is_dir():
        sets["SROIE pages 200-224"] = sroie("200-224")
    if args.unseen:
        sets["notes, seed 777 (40)"] = rendered(777, 40, {"note": 1.0})
        if SROIE.is_dir():
            sets["SROIE pages 225-239"] = sroie("225-239")
    detector = LineDetector(None, threads=1)
    default = OnnxRecognizer(MODELS_DIR / "default" / "model.onnx", batch_size=32, threads=1)
    shipped = dict(default.fallback or {})
    variants: dict[str, tuple] = {"default model, page rule off": (default, None, None)}  # + (below, blend)
    for share in args.shares:
        for keep in args.keeps:
            variants[f"page rule: share {share}, keep {keep}"] = (default, share, keep)
    if args.blend:
        variants[f"page rule: share {args.shares[0]}, keep {args.keeps[0]}; below {args.blend[0]}, blend "
                 f"{args.blend[1]}"] = (default, args.shares[0], args.keeps[0], *args.blend)
    variants["--model handwriting"] = (OnnxRecognizer(MODELS_DIR / "handwriting" / "model.onnx", batch_size=32,
                                                      threads=1), None, None)
    rows = []
    for name, (recognizer, share, keep, *crop_rule) in variants.items():
        if recognizer is default:
            recognizer.fallback = {k: v for k, v in shipped.items() if k not in ("page_share", "page_keep")}
            if share is not None:
                recognizer.fallback.update(page_share=share, page_keep=keep)
            if crop_rule:
                recognizer.fallback.pop("agree", None)
                recognizer.fallback.update(below=crop_rule[0], blend=crop_rule[1])
        reader = PageReader(recognizer, detector)
        cells = []
        for set_name, pages in sets.items():
            report, whole = score(reader, pages)
            cells.append(f"{100 * report['line_cer']:.2f}% / {report['word_f1']:.3f} / {whole}")
            print(f"{name} | {set_name}: {cells[-1]}", flush=True)
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    default.fallback = shipped
    lines = [f"`python benchmarks/handwritten_pages.py {' '.join(sys.argv[1:])}`; {platform.node()}, "
             f"{platform.machine()}, {datetime.date.today()}. Each cell: line CER / word F1 / pages the rule took "
             "(upper-cased comparison, pages/evaluate.py).", "",
             "| reader | " + " | ".join(sets) + " |", "| --- " * (len(sets) + 1) + "|", *rows]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
