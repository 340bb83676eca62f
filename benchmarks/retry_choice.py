"""Ways of choosing among the retry's views of an unsure crop (issue 18), on benchmarks/validation.py's sets:
the default network alone (LM decoder), crops under confidence 0.7 read on every look of
preprocess.retry_variants, then one choice per row: the surest look (what the retry does, margin 0.2), each
candidate reading scored by its mean CTC log-likelihood over all views, a vote (the surest reading plus 0.05 per
other view that read the same text), and the oracle (any view right), a bound.

    python benchmarks/retry_choice.py [--out FILE]
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report import publish  # noqa: E402
from validation import DATA, score, sets  # noqa: E402

BELOW, MARGIN, VOTE = 0.7, 0.2, 0.05


def main() -> None:
    from textrec.decoding import ctc_log_likelihood
    from textrec.evaluation import normalize
    from textrec.inference import read_sorted
    from textrec.preprocess import RETRY_LOOKS, prepare_turns, retry_variants
    from textrec.recognizer import load_recognizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"data not found: {DATA}")
    reader = load_recognizer()
    reader.retry = reader.fallback = None
    columns: dict[str, list[str]] = defaultdict(list)
    data = sets()
    for name, (images, labels, protocol) in data.items():
        arrays = [prepare_turns(image, reader.preprocess)[0] for image in images]
        looks = [{v.name: v.array for v in retry_variants(a, reader.preprocess)} for a in arrays]
        views = {"crop": arrays, **{look: [v.get(look) for v in looks] for look in RETRY_LOOKS}}
        readings, frames = {}, {}
        for view, crops in views.items():
            have = [i for i, crop in enumerate(crops) if crop is not None]
            got = reader.read_arrays([crops[i] for i in have])
            probs = read_sorted([crops[i] for i in have], reader.preprocess, reader._log_probs, reader.batch_size)
            readings[view], frames[view] = dict(zip(have, got)), dict(zip(have, probs))
        picks: dict[str, list[str]] = defaultdict(list)
        for i, gold in enumerate(labels):
            own = readings["crop"][i]
            options = [readings[v][i] for v in views if v != "crop" and i in readings[v]]
            if own.confidence >= BELOW or not options:
                for rule in ("the crop alone", "the surest look", "mean CTC likelihood", "vote", "oracle"):
                    picks[rule].append(own.text)
                continue
            best = max(options, key=lambda p: p.confidence)
            candidates = {own.text} | {p.text for p in options}
            probs = [frames[v][i] for v in views if i in frames[v]]

            def likelihood(text: str, probs=probs) -> float:
                return (sum(ctc_log_likelihood(p, reader.charset.encode(text)) for p in probs) / len(probs)
                        if text else -1e9)

            votes: dict[str, list[float]] = defaultdict(list)
            for p in (own, *options):
                votes[p.text].append(p.confidence)
            voted = {text: max(c) + VOTE * (len(c) - 1) for text, c in votes.items()}
            top = max(voted, key=voted.__getitem__)
            right = [c for c in candidates if normalize(c, protocol) == normalize(gold, protocol)]
            picks["the crop alone"].append(own.text)
            picks["the surest look"].append(best.text if best.confidence > own.confidence + MARGIN else own.text)
            picks["mean CTC likelihood"].append(max(candidates, key=likelihood))
            picks["vote"].append(top if voted[top] > voted[own.text] + MARGIN else own.text)
            picks["oracle"].append(right[0] if right else own.text)
        for rule, texts in picks.items():
            columns[rule].append(score(texts, labels, protocol))
        print(name, "done", file=sys.stderr, flush=True)
    names = list(data)
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node()}, {time.strftime('%Y-%m-%d')}", "",
             "| choice among the views | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    lines += [f"| {rule} | " + " | ".join(cells) + " |" for rule, cells in columns.items()]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
