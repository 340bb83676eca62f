"""Maintainer tool: rebuild src/textrec/synth/fonts/manifest.json from the font files there.
Family/style come from each font's name table; category and license from the table below (checked by hand
against the Debian copyright files copied into fonts/licenses/)."""
import string

from fontTools.ttLib import TTFont

from textrec.synth.fontinfo import FONT_SUFFIXES, FONTS_DIR, FontInfo, bundled_fonts, glyph_coverage, write_manifest

# file-name prefix -> (category, license, license file)
KNOWN = {
    "DejaVuSerifCondensed": ("condensed", "Bitstream Vera", "fonts-dejavu-core"),
    "DejaVuSansMono": ("mono", "Bitstream Vera", "fonts-dejavu-core"),
    "DejaVuSerif": ("serif", "Bitstream Vera", "fonts-dejavu-core"),
    "LiberationMono": ("mono", "OFL-1.1", "fonts-liberation2"),
    "LiberationSans": ("sans", "OFL-1.1", "fonts-liberation2"),
    "LiberationSerif": ("serif", "OFL-1.1", "fonts-liberation2"),
    "OpenSans-Cond": ("condensed", "Apache-2.0", "fonts-open-sans"),
    "OpenSans": ("sans", "Apache-2.0", "fonts-open-sans"),
    "RobotoCondensed": ("condensed", "Apache-2.0", "fonts-roboto-unhinted"),
    "Cabin": ("sans", "OFL-1.1", "fonts-cabin"),
    "Cantarell": ("sans", "OFL-1.1", "fonts-cantarell"),
    "ComicNeue": ("handwriting", "OFL-1.1", "fonts-comic-neue"),
    "LeagueSpartan": ("display", "OFL-1.1", "fonts-league-spartan"),
    "YanoneKaffeesatz": ("condensed", "OFL-1.1", "fonts-yanone-kaffeesatz"),
    "Go-Mono": ("mono", "BSD-3-Clause", "fonts-go"),
    "Go-": ("sans", "BSD-3-Clause", "fonts-go"),
    "Caladea": ("serif", "OFL-1.1", "fonts-crosextra-caladea"),
    "EBGaramond": ("serif", "OFL-1.1", "fonts-ebgaramond"),
    "Quattrocento": ("serif", "OFL-1.1", "fonts-quattrocento"),
    "AveriaGWF": ("display", "OFL-1.1", "fonts-averia-gwf"),
    "DancingScript": ("handwriting", "OFL-1.1", "fonts-dancingscript"),
    "dkg": ("handwriting", "OFL-1.1", "fonts-dkg-handwriting"),
    "Breip": ("handwriting", "OFL-1.0", "fonts-breip"),
    "Humor-Sans": ("handwriting", "OFL-1.1", "fonts-humor-sans"),
    "CourierPrime": ("typewriter", "OFL-1.1", "fonts-courier-prime"),
    "Inconsolata": ("mono", "OFL-1.0", "fonts-inconsolata"),
    "Hack": ("mono", "MIT + Bitstream Vera", "fonts-hack"),
    "FantasqueSansMono": ("mono", "OFL-1.1", "fonts-fantasque-sans"),
    "JetBrainsMono": ("mono", "OFL-1.1", "fonts-jetbrains-mono"),
    "FreeMono": ("typewriter", "GPL-3+ with font exception", "fonts-freefont-ttf"),
    "FreeSans": ("sans", "GPL-3+ with font exception", "fonts-freefont-ttf"),
    "AnonymousPro": ("mono", "OFL-1.1", "fonts-anonymous-pro"),
}
CANDIDATES = (string.printable.replace("\t", "").replace("\n", "").replace("\r", "")
              .replace("\x0b", "").replace("\x0c", ""))
CANDIDATES += "€£¥°±×÷§©®™•·–—‘’“”…áàâäãåçéèêëíìîïñóòôöõúùûüýÿÁÀÂÄÇÉÈÊËÍÎÏÑÓÔÖÚÙÛÜßæøÆØœŒ"


def names(path):
    table = TTFont(str(path), lazy=True)["name"]
    return str(table.getDebugName(1) or path.stem), str(table.getDebugName(2) or "Regular")


def main():
    # faces added by tools/add_fonts.py keep the category and license recorded when they were added
    recorded = {e.path.rsplit("/", 1)[-1]: e for e in bundled_fonts()}
    entries = []
    for path in sorted(p for p in FONTS_DIR.iterdir() if p.suffix.lower() in FONT_SUFFIXES):
        prefix = next((k for k in KNOWN if path.name.startswith(k)), None)
        if prefix is not None:
            category, license_name, license_file = KNOWN[prefix]
            license_text = f"{license_name} (licenses/{license_file}.txt)"
        elif path.name in recorded:
            category, license_text = recorded[path.name].category, recorded[path.name].license
        else:
            raise SystemExit(f"no category/license known for {path.name}: add it to KNOWN")
        family, style = names(path)
        if "Italic" in path.name and "italic" not in style.lower():
            style += " Italic"
        entries.append(FontInfo(path.name, family, style, category, license_text, glyph_coverage(path, CANDIDATES)))
    write_manifest(entries)
    print(f"{len(entries)} fonts; lowest ASCII coverage:",
          sorted((sum(c in e.coverage for c in string.printable[:95]), e.path) for e in entries)[:5])


if __name__ == "__main__":
    main()
