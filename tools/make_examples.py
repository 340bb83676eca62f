"""Render the example images shipped in examples/ (our own: bundled fonts, no third-party images).

    python tools/make_examples.py
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONTS = Path(__file__).resolve().parents[1] / "src" / "textrec" / "synth" / "fonts"
OUT = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = [  # (file, text, font, size, ink, paper)
    ("hello.png", "Hello", "LiberationSans-Regular.ttf", 40, 20, 250),
    ("receipt-total.png", "TOTAL 12.50", "DejaVuSansMono.ttf", 32, 30, 240),
    ("station.png", "Station", "LiberationSerif-Regular.ttf", 44, 240, 40),
    ("open-daily.png", "Open daily", "OpenSans-Regular.ttf", 36, 40, 225),
]


def render(text: str, font_file: str, size: int, ink: int, paper: int) -> Image.Image:
    font = ImageFont.truetype(str(FONTS / font_file), size)
    left, top, right, bottom = font.getbbox(text)
    margin = size // 4
    image = Image.new("L", (right - left + 2 * margin, bottom - top + 2 * margin), paper)
    ImageDraw.Draw(image).text((margin - left, margin - top), text, font=font, fill=ink)
    return image


def main() -> None:
    OUT.mkdir(exist_ok=True)
    lines = []
    for name, text, font, size, ink, paper in EXAMPLES:
        render(text, font, size, ink, paper).save(OUT / name)
        lines.append(f"{name}\t{text}")
    (OUT / "labels.tsv").write_text("\n".join(lines) + "\n")
    print(f"wrote {len(EXAMPLES)} examples to {OUT}")


if __name__ == "__main__":
    main()
