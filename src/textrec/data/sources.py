"""Readers for labeled text images. A source is a list of (name, label) with a lazy image loader:
labels are known up front (for charsets and checks), pixels are read only when a sample is used."""
from __future__ import annotations

import builtins
import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from textrec.errors import TextrecError
from textrec.pages.geometry import Quad, crop_quad
from textrec.preprocess import load_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


class Source:
    """Base class: subclasses fill `names` and `labels` and implement `load`."""

    names: list[str]
    labels: list[str]
    generated: bool = False  # True for a source that makes each sample on demand (textrec.synth's SynthSource)

    def __len__(self) -> int:
        return len(self.labels)

    def load(self, index: int) -> Image.Image:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:
        return f"{type(self).__name__}({len(self)} samples)"


class AnnotationFile(Source):
    """Lines of `path<TAB>label` or `path label`; paths are relative to the annotation file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise TextrecError(f"annotation file not found: {self.path}")
        self.root = self.path.parent
        self.files: list[Path] = []
        self.names, self.labels = [], []
        for number, line in enumerate(read_lines(self.path), start=1):
            if not line.strip() or line.startswith("#"):
                continue
            image, label = _split_annotation(line, self.path, number)
            self.files.append(self.root / image)
            self.names.append(f"{self.path}:{number} ({image})")
            self.labels.append(label)

    def load(self, index: int) -> Image.Image:
        return load_image(self.files[index])


def read_lines(path: Path) -> list[str]:
    """A UTF-8 text file's lines; bytes that are not UTF-8 are an error naming the line and column."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise TextrecError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column})") from None
    return text.splitlines()


def _split_annotation(line: str, path: Path, number: int) -> tuple[str, str]:
    line = line.rstrip("\r\n")
    if "\t" in line:
        image, label = line.split("\t", 1)
    else:
        parts = line.split(" ", 1)
        if len(parts) != 2:
            raise TextrecError(f"{path}:{number}: expected 'path<TAB>label' or 'path label', got {line[:80]!r}")
        image, label = parts
    if not image.strip() or not label:
        raise TextrecError(f"{path}:{number}: empty image path or label in {line[:80]!r}")
    return image.strip(), label


class LabelFolder(Source):
    """A folder of images named by their label (captchas: `2b827.png` reads '2b827')."""

    def __init__(self, path: str | Path):
        self.root = Path(path)
        if not self.root.is_dir():
            raise TextrecError(f"image folder not found: {self.root}")
        self.files = sorted(p for p in self.root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise TextrecError(f"no images in folder {self.root}")
        self.names = [str(p) for p in self.files]
        self.labels = [p.stem for p in self.files]

    def load(self, index: int) -> Image.Image:
        return load_image(self.files[index])


MJSYNTH_NAME = re.compile(r"^\d+_(.+)_\d+$")


class MJSynth(Source):
    """The MJSynth layout: `annotation.txt` lists `./1/2/123_word_456.jpg 456`; the word is in the file name."""

    def __init__(self, path: str | Path, annotation: str = "annotation.txt"):
        self.root = Path(path)
        index = self.root / annotation if self.root.is_dir() else self.root
        if not index.is_file():
            raise TextrecError(f"MJSynth annotation file not found: {index}")
        self.root = index.parent
        self.files, self.names, self.labels = [], [], []
        for number, line in enumerate(read_lines(index), start=1):
            if not line.strip():
                continue
            relative = line.split()[0]
            match = MJSYNTH_NAME.match(Path(relative).stem)
            if not match:
                raise TextrecError(f"{index}:{number}: file name {relative!r} is not NUM_word_NUM")
            self.files.append(self.root / relative)
            self.names.append(f"{index}:{number} ({relative})")
            self.labels.append(match.group(1))

    def load(self, index: int) -> Image.Image:
        return load_image(self.files[index])


class IcdarQuads(Source):
    """Page images beside ICDAR 2015 quad files (`x1,y1,...,x4,y4,text`); each line is cropped on the fly,
    perspective-rectified. Boxes live in `boxes` (default: the pages folder) as STEM.csv, STEM.txt or gt_STEM.txt."""

    def __init__(self, pages: str | Path, boxes: str | Path | None = None, pages_range: Sequence[int] | None = None,
                 skip_text: Sequence[str] = ("###",)):
        self.pages_dir = Path(pages)
        self.boxes_dir = Path(boxes) if boxes else self.pages_dir
        if not self.pages_dir.is_dir():
            raise TextrecError(f"page folder not found: {self.pages_dir}")
        pages_list = sorted(p for p in self.pages_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if pages_range is not None:
            first, last = pages_range
            pages_list = pages_list[first : last + 1]
        self.items: list[tuple[Path, Quad]] = []
        self.names, self.labels = [], []
        self._page_cache: tuple[Path, Image.Image] | None = None
        for page in pages_list:
            box_file = self._box_file(page)
            if box_file is None:
                continue
            for number, (quad, text) in enumerate(read_quads(box_file), start=1):
                if text in skip_text or not text.strip():
                    continue
                self.items.append((page, quad))
                self.names.append(f"{box_file}:{number}")
                self.labels.append(text)

    def _box_file(self, page: Path) -> Path | None:
        for name in (f"{page.stem}.csv", f"{page.stem}.txt", f"gt_{page.stem}.txt"):
            if (self.boxes_dir / name).is_file():
                return self.boxes_dir / name
        return None

    def load(self, index: int) -> Image.Image:
        page_path, quad = self.items[index]
        if self._page_cache is None or self._page_cache[0] != page_path:
            self._page_cache = (page_path, load_image(page_path))  # lines of one page come in a row
        return crop_quad(self._page_cache[1], quad)


def read_quads(path: Path) -> list[tuple[Quad, str]]:
    """Parse an ICDAR 2015 file; the text may itself contain commas."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(",", 8)
        try:
            coords = tuple(float(v) for v in parts[:8])
        except ValueError:
            raise TextrecError(f"{path}:{number}: expected 8 numbers then text, got {line[:80]!r}") from None
        if len(parts) < 9 or len(coords) != 8:
            raise TextrecError(f"{path}:{number}: expected 8 numbers then text, got {line[:80]!r}")
        rows.append((coords, parts[8]))  # type: ignore[arg-type]
    return rows


class Subset(Source):
    """Some samples of another source, in a given order."""

    def __init__(self, source: Source, indices: Sequence[int]):
        self.source, self.indices = source, list(indices)
        self.names = [source.names[i] for i in self.indices]
        self.labels = [source.labels[i] for i in self.indices]

    def load(self, index: int) -> Image.Image:
        return self.source.load(self.indices[index])


def md5_split(source: Source, part: str | None = None, fraction: float = 0.8,
              range: Sequence[float] | None = None, group: str | None = None) -> Subset:
    """Sort samples by the MD5 of their file name and keep a slice of that order: `part='train'` the first
    `fraction`, `'test'` the rest, or `range=[a, b]` any slice (e.g. a validation slice out of train).
    Hashing (rather than sorting names) matters when names are labels: no first letter is held out.
    `group`: a regular expression whose first match in a file name (its first group, if it has one) names the
    sample's group, e.g. the photo several word crops were cut from (IIIT5K's `2171_2.png`: `^[^_]+`); a group
    is kept whole on one side, and the fractions count groups instead of samples."""
    if range is None:
        if part not in ("train", "test"):
            raise TextrecError(f"split part must be 'train' or 'test', got {part!r}")
        range = (0.0, fraction) if part == "train" else (fraction, 1.0)
    names = {i: _basename(source.names[i]) for i in _indices(source)}
    order = sorted(names, key=lambda i: hashlib.md5(names[i].encode()).hexdigest())
    if group is None:
        start, stop = (int(round(len(order) * f)) for f in range)
        return Subset(source, order[start:stop])
    keys = {i: _group_key(name, group) for i, name in names.items()}
    groups = sorted(set(keys.values()), key=lambda key: hashlib.md5(key.encode()).hexdigest())
    start, stop = (int(round(len(groups) * f)) for f in range)
    kept = set(groups[start:stop])
    return Subset(source, [i for i in order if keys[i] in kept])


def _group_key(name: str, pattern: str) -> str:
    try:
        match = re.search(pattern, name)
    except re.error as exc:
        raise TextrecError(f"split group {pattern!r} is not a regular expression: {exc}") from None
    if match is None:
        return name  # a name the pattern does not fit is a group of its own
    return match.group(1) if match.groups() else match.group(0)


def _indices(source: Source) -> list[int]:
    return list(builtins.range(len(source)))


def _basename(name: str) -> str:
    match = re.search(r"\(([^)]*)\)$", name)  # annotation names look like 'file.tsv:3 (images/x.png)'
    return Path(match.group(1) if match else name).name


def open_source(spec: str | dict[str, Any]) -> Source:
    """A source from a path (its kind guessed from what is there) or a dict {type, path, ...options}."""
    from textrec.data.lmdb_store import LmdbSource

    if isinstance(spec, str):
        spec = {"path": spec}
    options = dict(spec)
    kind = options.pop("type", None)
    split = options.pop("split", None)
    for key in ("weight", "caseless", "augment", "distill"):  # used by the data loader and the loss, not by the reader
        options.pop(key, None)
    path = options.pop("path", None)
    if path is None and kind not in ("icdar", "synth"):  # icdar may name `pages` and `boxes`; synth needs none
        raise TextrecError(f"data source needs a path: {spec}")
    kind = kind or guess_kind(Path(path))
    path = _resolve_path(kind, Path(path)) if path is not None else None
    builders: dict[str, Callable[..., Source]] = {
        "annotation": AnnotationFile, "folder": LabelFolder, "mjsynth": MJSynth, "lmdb": LmdbSource,
        "icdar": _icdar, "synth": _synth}
    if kind not in builders:
        raise TextrecError(f"unknown data source type {kind!r}; choose from {', '.join(sorted(builders))}")
    try:
        source = builders[kind](path, **options)
    except TypeError as exc:
        raise TextrecError(f"bad options for {kind} source {path}: {exc}") from None
    if split:
        split = {"part": split} if isinstance(split, str) else split
        source = md5_split(source, **split)
    return source


ANNOTATION_NAMES = ("labels.tsv", "labels.txt", "gt.txt")
SHARED_HINT = ("; this config trains on the project's shared datasets, a folder `shared/data` beside the checkout "
               "(IIIT5K, SVT, SROIE, the captcha sets: labeled images that are not in the package). To train on "
               "your own images, set data.train and data.val to your annotation files or folders (or render data "
               "with textrec synth)")


def _synth(path: Path | None = None, word_list: str | None = None, synth: dict[str, Any] | None = None,
           **options: Any) -> Source:
    """A synthetic source; `synth` overrides settings of the synth file (`{effects: {handwriting: {jitter: 0}}}`);
    `word_list` (a `word<TAB>frequency` file) replaces wordfreq's list, for machines without wordfreq (the GPU
    recipe)."""
    from textrec.synth.dataset import SynthSource
    from textrec.synth.render import SynthConfig

    config = SynthConfig.from_file(path, synth)
    if word_list:
        config.text = dict(config.text, word_list=word_list)
    return SynthSource(config=config, **options)


def _icdar(path: Path | None = None, pages: str | None = None, boxes: str | None = None, **options: Any) -> IcdarQuads:
    if pages is None and path is not None and (path / "pages").is_dir():
        pages, boxes = str(path / "pages"), boxes or str(path / "boxes")
    folder = pages or path
    if folder is None:
        raise TextrecError("an icdar data source needs a path (or pages and boxes)")
    return IcdarQuads(folder, boxes, **options)


def _resolve_path(kind: str, path: Path) -> Path:
    """A folder given for an annotation source means the labels file inside it."""
    if kind == "annotation" and path.is_dir():
        for name in ANNOTATION_NAMES:
            if (path / name).is_file():
                return path / name
    return path


def guess_kind(path: Path) -> str:
    if not path.exists():
        raise TextrecError(f"data not found: {path}" + (SHARED_HINT if "shared/data" in path.as_posix() else ""))
    if path.is_file():
        return "lmdb" if path.name == "data.mdb" else "annotation"
    if (path / "data.mdb").is_file():
        return "lmdb"
    if (path / "annotation.txt").is_file():
        return "mjsynth"
    if (path / "pages").is_dir() and (path / "boxes").is_dir():
        return "icdar"
    for name in ANNOTATION_NAMES:
        if (path / name).is_file():
            return "annotation"
    return "folder"
