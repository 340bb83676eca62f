"""A picture of what the generator makes, for a person to check it: `textrec synth --preview`.

Apart from dataset.py (the torch Dataset classes) so a preview needs only Pillow and the renderer, not torch."""
from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from textrec.synth.render import Renderer


def preview_grid(renderer: Renderer, path: str, count: int = 48, seed: int = 0, columns: int = 3) -> None:
    """A PNG of samples with their labels under each, for a person to check the generator."""
    cell_w, cell_h = 330, 58
    rows = -(-count // columns)
    grid = Image.new("RGB", (columns * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default(size=12)
    for i in range(count):
        image, label = renderer.sample(seed, i)
        x, y = (i % columns) * cell_w, (i // columns) * cell_h
        thumb = image.copy()
        thumb.thumbnail((cell_w - 10, 32))
        grid.paste(thumb.convert("RGB"), (x + 5, y + 3))
        draw.text((x + 5, y + 38), label if len(label) < 48 else label[:45] + "...", fill=(0, 0, 160), font=font)
    grid.save(path)
