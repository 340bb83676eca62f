"""Maintainer tool: render examples/note.png, the handwritten note `textrec read examples/` reads as a page
(issue 19), and examples/note.txt, its lines. Deterministic: the same files every run.

    python tools/make_note.py
"""
import random
from pathlib import Path

from textrec.synth.pages import PageRenderer, render_note

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
LINES = ["Dear Anna,", "thanks for the lovely dinner", "on Saturday. The garden", "looked wonderful and the",
         "cake was perfect. Call me", "next week about the trip", "to Lisbon on 14 May.", "Love, Tom"]


def main() -> None:
    page, lines = render_note(LINES, random.Random(7), width=820, family="Caveat")
    page, lines = PageRenderer(0)._effects(page, lines, random.Random(11))  # paper, ink, light and a little blur
    page.save(EXAMPLES / "note.png", optimize=True)
    (EXAMPLES / "note.txt").write_text("\n".join(line.text for line in lines) + "\n")
    print(f"examples/note.png {page.size}, {len(lines)} lines")


if __name__ == "__main__":
    main()
