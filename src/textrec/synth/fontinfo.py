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
    outlines: dict[str, tuple] = {}
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
            outlines[char] = _outline(glyphs, name)
    # A small-caps or all-caps face draws 'a' like 'A': such a letter cannot be labeled lower-case.
    same_case = {c for c in covered if c.islower() and c.upper() in outlines and outlines[c] == outlines[c.upper()]}
    if caps_only(path):
        same_case |= {c for c in covered if c.islower()}
    return "".join(c for c in covered if c not in same_case)


def _outline(glyphs, name: str) -> tuple:
    from fontTools.pens.recordingPen import RecordingPen

    pen = RecordingPen()
    glyphs[name].draw(pen)
    return tuple((op, tuple(tuple(round(v) for v in pt) if isinstance(pt, tuple) else pt for pt in args))
                 for op, args in pen.value)


def caps_only(path: Path, letters: str = "acemnorsuvwxz") -> bool:
    """True for an all-caps face: its x-height letters (a, c, e, ...) are about as tall as their capitals,
    where a real lower case is ~0.7 of the capital height."""
    from PIL import ImageFont

    font = ImageFont.truetype(str(path), 64)

    def height(char: str) -> float:
        box = font.getbbox(char)
        return box[3] - box[1]

    tall = sum(height(c) >= 0.88 * max(height(c.upper()), 1) for c in letters)
    return tall > len(letters) // 2


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
