"""Hostile bytes to every dataset reader: annotation files, LMDB records, ICDAR quad files. Whatever the
file holds, reading it (and loading its samples) either works or raises a TextrecError naming the file and
line; nothing else escapes, nothing hangs. TEXTREC_FUZZ_EXAMPLES raises the count (10,000 for issue 8)."""
from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from textrec.data.sources import AnnotationFile, IcdarQuads, crop_quad
from textrec.errors import TextrecError

EXAMPLES = int(os.environ.get("TEXTREC_FUZZ_EXAMPLES", "1500"))
# deadline: one input taking over 5 s counts as a hang; the timeout bounds each whole run
FUZZ = settings(max_examples=EXAMPLES, deadline=5000, suppress_health_check=list(HealthCheck))
pytestmark = pytest.mark.timeout(1800)

WORK = Path(tempfile.mkdtemp(prefix="textrec-fuzz-"))
PAGE = Image.effect_noise((120, 80), 50).convert("L")
PAGE.save(WORK / "page.png")
PNG = io.BytesIO()
Image.effect_noise((30, 12), 60).save(PNG, format="PNG")
PNG = PNG.getvalue()
(WORK / "word.png").write_bytes(PNG)


def _tearing(strategy):
    """Plausible text (paths, tabs, labels, numbers, commas) mixed with raw bytes, in lines."""
    token = st.one_of(st.sampled_from(["word.png", "page.png", "missing.png", "../word.png", "/", "\t", " ", ",",
                                       "\r", "\n", "#", "###", "-1", "1e308", "nan", "inf", "0", "12.5", "\x00",
                                       "\ufeff", "é", "\ud7ff", "0x10"]),
                      st.text(max_size=8), st.integers(-10**6, 10**6).map(str))
    lines = st.lists(st.lists(token, max_size=12).map("".join), max_size=8).map("\n".join)
    return st.one_of(lines.map(lambda s: s.encode("utf-8", "surrogatepass")), strategy)


def _only_textrec_errors(action) -> None:
    try:
        action()
    except TextrecError:
        pass


def _open_and_load(make_source, samples: int = 3) -> None:
    """Open the source, then load a few of its samples: each step may fail only with a TextrecError."""

    def read():
        source = make_source()
        for i in range(min(len(source), samples)):
            _only_textrec_errors(lambda: source.load(i))

    _only_textrec_errors(read)


@FUZZ
@given(_tearing(st.binary(max_size=300)))
def test_annotation_files(data):
    path = WORK / "labels.tsv"
    path.write_bytes(data)
    _open_and_load(lambda: AnnotationFile(path))


@FUZZ
@given(_tearing(st.binary(max_size=300)))
def test_icdar_quad_files(data):
    folder = WORK / "icdar"
    folder.mkdir(exist_ok=True)
    shutil.copy(WORK / "page.png", folder / "page.png")
    (folder / "page.txt").write_bytes(data)
    _open_and_load(lambda: IcdarQuads(folder))


@FUZZ
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**9, 10**9).map(float),
                min_size=8, max_size=8))
def test_crop_quad_with_any_coordinates(coords):
    _only_textrec_errors(lambda: crop_quad(PAGE, tuple(coords)))


lmdb = pytest.importorskip("lmdb")


@FUZZ
@given(count=st.one_of(st.binary(max_size=12), st.integers(-3, 4).map(lambda n: str(n).encode())),
       label=st.binary(max_size=20) | st.none(), image=st.binary(max_size=200) | st.just(PNG) | st.none(),
       flips=st.lists(st.integers(0, len(PNG) - 1), max_size=4))
def test_lmdb_records(count, label, image, flips):
    from textrec.data.lmdb_store import LmdbSource

    folder = WORK / "lmdb"
    shutil.rmtree(folder, ignore_errors=True)
    env = lmdb.open(str(folder), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"num-samples", count)
        if label is not None:
            txn.put(b"label-000000001", label)
        if image is not None:
            data = bytearray(image)
            for at in flips:
                if at < len(data):
                    data[at] ^= 0xFF
            txn.put(b"image-000000001", bytes(data))
    env.close()
    _open_and_load(lambda: LmdbSource(folder), samples=2)
