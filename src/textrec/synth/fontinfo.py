"""Fonts for the generator: the bundled set (with a manifest of family, style, license and coverage) or a
user's folder. Coverage is what a face really draws: a cmap entry whose glyph has an outline, so a label
never names a character that came out as an empty box."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from textrec.errors import TextrecError

FONTS_DIR = Path(__file__).parent / "fonts"
MANIFEST = FONTS_DIR / "manifest.json"
FONT_SUFFIXES = {".ttf", ".otf", ".ttc"}


@dataclass(frozen=True)
class FontInfo:
    path: str
    family: str
    style: str
    category: str  # sans, serif, mono, condensed, display, handwriting, typewriter
    license: str
    coverage: str  # every character (of the ones we checked) with a drawn glyph; space counts if mapped

    def covers(self, text: str) -> bool:
        return all(c in self.coverage for c in text)


def glyph_coverage(path: Path, candidates: str) -> str:
    """The characters of `candidates` the font maps to a glyph with an outline (space: mapped is enough)."""
    from fontTools.pens.boundsPen import BoundsPen
    from fontTools.ttLib import TTFont

    try:
        font = TTFont(str(path), fontNumber=0, lazy=True)
        cmap = font.getBestCmap() or {}
        glyphs = font.getGlyphSet()
    except Exception as exc:
        raise TextrecError(f"not a usable font file: {path} ({exc})") from None
    covered = []
    for char in candidates:
        name = cmap.get(ord(char))
        if name is None or name == ".notdef":
            continue
        if char.isspace():
            covered.append(char)
            continue
        pen = BoundsPen(glyphs)
        try:
            glyphs[name].draw(pen)
        except Exception:
            continue
        if pen.bounds is not None:
            covered.append(char)
    return "".join(covered)


def font_from_file(path: str | Path, candidates: str) -> FontInfo:
    path = Path(path)
    if not path.is_file():
        raise TextrecError(f"font file not found: {path}")
    coverage = glyph_coverage(path, candidates)
    if not coverage.strip():
        raise TextrecError(f"font {path} draws none of the characters needed")
    return FontInfo(str(path), path.stem, "", "user", "user-supplied", coverage)


def bundled_fonts() -> list[FontInfo]:
    entries = json.loads(MANIFEST.read_text())["fonts"]
    return [FontInfo(**dict(entry, path=str(FONTS_DIR / entry["path"]))) for entry in entries]


def user_fonts(folder: str | Path, candidates: str) -> list[FontInfo]:
    folder = Path(folder)
    if not folder.is_dir():
        raise TextrecError(f"font folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in FONT_SUFFIXES)
    if not files:
        raise TextrecError(f"no .ttf/.otf fonts in {folder}")
    return [font_from_file(p, candidates) for p in files]


def write_manifest(entries: list[FontInfo]) -> None:
    rows = [dict(asdict(e), path=Path(e.path).name) for e in entries]
    MANIFEST.write_text(json.dumps({"fonts": rows}, indent=1, ensure_ascii=False) + "\n")
