"""Maintainer tool: add display/sign/logo faces (scene text: street and shop signs, logos, jerseys) and
handwriting faces to the bundled font set, leaving the existing manifest entries as they are.

Sources: npm @fontsource/<name> packages (the 'latin' subset .woff of one weight, unpacked to a plain .ttf/.otf
with fontTools: the outlines are not touched) and Debian fonts-* packages. Each face's license file is written
to fonts/licenses/ (fontsource-<name>.txt: the package's LICENSE under a header naming the source and the
font's own copyright line; fonts-<pkg>.txt: the Debian copyright file). Coverage is computed by
fontinfo.glyph_coverage over the same candidate set tools/build_font_manifest.py uses; a face must draw every
ASCII capital and digit, and every lower-case letter unless it is an all-caps face (whose lower case
glyph_coverage leaves out), or it is skipped.

    python tools/add_fonts.py [--work DIR]   # downloads with `npm pack` and `apt-get download` into DIR
"""
import argparse
import json
import string
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from fontTools.ttLib import TTFont

sys.path.insert(0, str(Path(__file__).parent))
from build_font_manifest import CANDIDATES, names  # noqa: E402  (one candidate set for every entry)

from textrec.synth.fontinfo import FONTS_DIR, FontInfo, bundled_fonts, glyph_coverage, write_manifest  # noqa: E402

FONTSOURCE_VERSION = "5.3.0"

# (source, package, weight) -> category. source 'npm': @fontsource/<package>, latin subset, normal style;
# source 'deb': Debian package, `weight` is the font file's name inside it.
# Left out after a look at the rendering: Permanent Marker (@fontsource/permanent-marker, Apache-2.0) draws its
# lower case as small capitals (a = small A, o = small O) that caps_only's height test does not catch (they are
# under 0.88 of the capital height), so labels would teach that small capitals are lower-case letters.
FACES = [
    ("npm", "abril-fatface", 400, "display"),
    ("npm", "alfa-slab-one", 400, "display"),
    ("npm", "anton", 400, "display"),
    ("npm", "archivo-black", 400, "display"),
    ("npm", "bangers", 400, "display"),
    ("npm", "barlow-condensed", 700, "condensed"),
    ("npm", "bebas-neue", 400, "display"),
    ("npm", "black-ops-one", 400, "display"),
    ("npm", "bungee", 400, "display"),
    ("npm", "fjalla-one", 400, "condensed"),
    ("npm", "fredoka", 600, "display"),
    ("npm", "lobster", 400, "display"),
    ("npm", "montserrat", 900, "display"),
    ("npm", "oswald", 700, "condensed"),
    ("npm", "overpass", 700, "sans"),
    ("npm", "pacifico", 400, "display"),
    ("npm", "playfair-display", 900, "display"),
    ("npm", "poppins", 700, "sans"),
    ("npm", "righteous", 400, "display"),
    ("npm", "roboto-slab", 700, "serif"),
    ("npm", "russo-one", 400, "display"),
    ("npm", "staatliches", 400, "display"),
    ("npm", "teko", 600, "condensed"),
    ("npm", "ultra", 400, "display"),
    ("deb", "fonts-bajaderka", "Bajaderka-Regular.otf", "display"),
    # Handwriting: print, script and marker hands (all-caps ones too: glyph_coverage leaves their lower case out).
    # Left out after a look at the rendering: Rock Salt (draws its lower case as capitals), Walter Turncoat (lower
    # case as small capitals), Give You Glory (lower-case n and r drawn as capitals N, R), Over the Rainbow (x and X
    # drawn like a P: 'Fox' reads 'Fop'), Dawning of a New Day (thin, capitals run into one scribble), Mr Dafoe
    # (capitals overlap into an unreadable scribble in an all-caps word). Left out to keep the set to ~40 faces
    # (near-typeface rounded hands, close to Comic Neue/Humor Sans): Delius, Mali, Short Stack; Kristi comes from
    # npm (latin subset) rather than fonts-kristi, klee/femkeklaver/sjfonts/tomsontalks not taken (size, licenses).
    ("npm", "annie-use-your-telescope", 400, "handwriting"),
    ("npm", "architects-daughter", 400, "handwriting"),
    ("npm", "bad-script", 400, "handwriting"),
    ("npm", "calligraffitti", 400, "handwriting"),
    ("npm", "caveat", 400, "handwriting"),
    ("npm", "caveat-brush", 400, "handwriting"),
    ("npm", "cedarville-cursive", 400, "handwriting"),
    ("npm", "coming-soon", 400, "handwriting"),
    ("npm", "covered-by-your-grace", 400, "handwriting"),
    ("npm", "crafty-girls", 400, "handwriting"),
    ("npm", "dekko", 400, "handwriting"),
    ("npm", "gloria-hallelujah", 400, "handwriting"),
    ("npm", "gochi-hand", 400, "handwriting"),
    ("npm", "handlee", 400, "handwriting"),
    ("npm", "homemade-apple", 400, "handwriting"),
    ("npm", "indie-flower", 400, "handwriting"),
    ("npm", "just-another-hand", 400, "handwriting"),
    ("npm", "kalam", 400, "handwriting"),
    ("npm", "kalam", 700, "handwriting"),
    ("npm", "kristi", 400, "handwriting"),
    ("npm", "la-belle-aurore", 400, "handwriting"),
    ("npm", "loved-by-the-king", 400, "handwriting"),
    ("npm", "marck-script", 400, "handwriting"),
    ("npm", "nanum-brush-script", 400, "handwriting"),
    ("npm", "nanum-pen-script", 400, "handwriting"),
    ("npm", "neucha", 400, "handwriting"),
    ("npm", "nothing-you-could-do", 400, "handwriting"),
    ("npm", "patrick-hand", 400, "handwriting"),
    ("npm", "reenie-beanie", 400, "handwriting"),
    ("npm", "satisfy", 400, "handwriting"),
    ("npm", "schoolbell", 400, "handwriting"),
    ("npm", "shadows-into-light", 400, "handwriting"),
    ("npm", "sue-ellen-francisco", 400, "handwriting"),
    ("npm", "swanky-and-moo-moo", 400, "handwriting"),
    ("npm", "the-girl-next-door", 400, "handwriting"),
    ("npm", "waiting-for-the-sunrise", 400, "handwriting"),
    ("npm", "yellowtail", 400, "handwriting"),
    ("npm", "zeyada", 400, "handwriting"),
    ("deb", "fonts-kaushanscript", "KaushanScript-Regular.otf", "handwriting"),
    ("deb", "fonts-rufscript", "Rufscript010.ttf", "handwriting"),
    ("deb", "fonts-bwht", "BecauseWeBuild-Regular.otf", "handwriting"),
    ("deb", "fonts-bwht", "BecauseWeConnect-Regular.otf", "handwriting"),
    ("deb", "fonts-bwht", "BecauseWeLearn-Regular.otf", "handwriting"),
]
# Debian packages' font licenses, checked by hand in each package's copyright file (fonts-bwht says 'SIL-1.1':
# the text is the SIL Open Font License 1.1).
DEB_LICENSES = {
    "fonts-bajaderka": "OFL-1.1",
    "fonts-kaushanscript": "OFL-1.1",
    "fonts-bwht": "OFL-1.1",
    "fonts-rufscript": "GPL-3+ with font exception",
}


def fetch_npm(package: str, work: Path) -> Path:
    out = work / "npm" / package
    if not out.is_dir():
        out.mkdir(parents=True)
        name = subprocess.run(["npm", "pack", "--silent", f"@fontsource/{package}@{FONTSOURCE_VERSION}"],
                              cwd=out, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        with tarfile.open(out / name) as tar:
            tar.extractall(out, filter="data")
    return out / "package"


def fetch_deb(package: str, work: Path) -> Path:
    out = work / "deb" / package
    if not out.is_dir():
        out.mkdir(parents=True)
        subprocess.run(["apt-get", "download", package], cwd=out, check=True, capture_output=True)
        deb = next(out.glob("*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(out / "root")], check=True)
    return out / "root"


def unwrap(source: Path) -> tuple[str, bytes]:
    """The font as a plain sfnt (woff unpacked) and its file name: PostScript name + .ttf/.otf."""
    font = TTFont(str(source))
    font.flavor = None
    ps_name = str(font["name"].getDebugName(6) or source.stem).replace(" ", "")
    suffix = ".otf" if "CFF " in font else ".ttf"
    tmp = Path(tempfile.mkstemp(suffix=suffix)[1])
    font.save(str(tmp))
    data = tmp.read_bytes()
    tmp.unlink()
    return ps_name + suffix, data


def usable(coverage: str) -> str | None:
    """Why a face with this coverage cannot be used, or None."""
    missing = [c for c in string.ascii_uppercase + string.digits if c not in coverage]
    lower = [c for c in string.ascii_lowercase if c in coverage]
    if missing:
        return f"does not draw {''.join(missing)}"
    if lower and len(lower) < 26:
        return f"draws only part of the lower case ({''.join(lower)})"
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "textrec-add-fonts")
    args = parser.parse_args()
    existing = bundled_fonts()
    have = {Path(f.path).name for f in existing}
    added, skipped = [], []
    for source, package, weight, category in FACES:
        if source == "npm":
            root = fetch_npm(package, args.work)
            font_file = root / "files" / f"{package}-latin-{weight}-normal.woff"
            license_name = json.loads((root / "package.json").read_text())["license"]
            license_file = f"fontsource-{package}.txt"
            origin = (f"npm @fontsource/{package} {FONTSOURCE_VERSION}, files/{font_file.name} "
                      f"(Google Fonts 'latin' subset), unpacked from WOFF to a plain sfnt with fontTools")
            license_text = (root / "LICENSE").read_text()
        else:
            root = fetch_deb(package, args.work)
            font_file = next(root.rglob(weight))
            license_name = DEB_LICENSES[package]
            license_file = f"{package}.txt"
            origin = None
            license_text = (root / "usr/share/doc" / package / "copyright").read_text()
        file_name, data = unwrap(font_file)
        if file_name in have:
            skipped.append((file_name, "already bundled"))
            continue
        target = FONTS_DIR / file_name
        target.write_bytes(data)
        coverage = glyph_coverage(target, CANDIDATES)
        problem = usable(coverage)
        if problem:
            target.unlink()
            skipped.append((file_name, problem))
            continue
        if origin:
            copyright_line = str(TTFont(str(target), lazy=True)["name"].getDebugName(0) or "")
            license_text = (f"Upstream-Name: {package}\nSource: {origin}\nFont copyright: {copyright_line}\n"
                            f"License: {license_name}\n\n{license_text}")
        (FONTS_DIR / "licenses" / license_file).write_text(license_text.rstrip() + "\n")
        family, style = names(target)
        added.append(FontInfo(file_name, family, style, category, f"{license_name} (licenses/{license_file})",
                              coverage))
        have.add(file_name)
    # Existing entries unchanged (paths relative to fonts/), all sorted by file name as build_font_manifest does.
    rows = [FontInfo(**dict(vars(f), path=Path(f.path).name)) for f in existing] + added
    write_manifest(sorted(rows, key=lambda f: f.path))
    size = sum((FONTS_DIR / f.path).stat().st_size for f in added)
    for f in added:
        caps = "caps only" if not any(c in f.coverage for c in string.ascii_lowercase) else ""
        print(f"{f.path:32s} {f.family:22s} {f.style:9s} {f.category:11s} {f.license:45s} "
              f"{(FONTS_DIR / f.path).stat().st_size:7d} B  {len(f.coverage)} chars {caps}")
    for name, why in skipped:
        print(f"skipped {name}: {why}")
    print(f"{len(added)} faces added, {size} bytes; {len(rows)} fonts in the manifest")


if __name__ == "__main__":
    main()
