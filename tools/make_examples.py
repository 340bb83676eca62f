"""Render the example images shipped in examples/ (our own: bundled fonts, no third-party images).

    python tools/make_examples.py
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONTS = Path(__file__).resolve().parents[1] / "src" / "textrec" / "synth" / "fonts"
OUT = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = [  # (file, text, font, size, ink, paper, arc: the share of a half circle the text is bent over)
    ("hello.png", "Hello", "LiberationSans-Regular.ttf", 40, 20, 250, 0.0),
    ("receipt-total.png", "TOTAL 12.50", "DejaVuSansMono.ttf", 32, 30, 240, 0.0),
    ("station.png", "Station", "LiberationSerif-Regular.ttf", 44, 240, 40, 0.0),
    ("open-daily.png", "Open daily", "OpenSans-Regular.ttf", 36, 40, 225, 0.0),
    ("curved.png", "FRESH BREAD", "LiberationSans-Bold.ttf", 40, 30, 235, 0.8),  # the top of a round sign
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
    from textrec.synth.scene import arc

    for name, text, font, size, ink, paper, bend in EXAMPLES:
        image = render(text, font, size, ink, paper)
        (arc(image, bend, paper, concave=False) if bend else image).save(OUT / name)
        lines.append(f"{name}\t{text}")
    (OUT / "labels.tsv").write_text("\n".join(lines) + "\n")
    print(f"wrote {len(EXAMPLES)} examples to {OUT}")


if __name__ == "__main__":
    main()
