"""The readers on the real data sets in ../shared (skipped where that folder is absent, as on a user's machine)."""
import pytest

from tests.helpers import SHARED
from textrec.data.sources import IcdarQuads, open_source

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")


def test_iiit5k_and_svt_annotation_files():
    iiit = open_source(str(SHARED / "iiit5k" / "test.tsv"))
    assert len(iiit) == 3000 and iiit.load(0).mode == "L"
    svt = open_source(str(SHARED / "svt-train"))
    assert len(svt) == 257 and svt.load(0).height > 0


def test_captcha_split_sizes():
    train = open_source({"path": str(SHARED / "captcha-6char" / "labels.tsv"), "split": "train"})
    test = open_source({"path": str(SHARED / "captcha-6char" / "labels.tsv"), "split": "test"})
    assert (len(train), len(test)) == (1120, 280) and not set(train.names) & set(test.names)


def test_sroie_pages_are_cut_into_lines():
    source = open_source({"type": "icdar", "path": str(SHARED / "sroie"), "pages_range": [0, 2]})
    assert isinstance(source, IcdarQuads) and len(source) > 20
    crop = source.load(0)
    assert crop.width > crop.height  # a line, cut out upright
