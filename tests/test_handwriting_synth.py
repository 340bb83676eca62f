"""Handwriting synthesis: handwriting faces only, every rendering of a word different, labels drawable,
the ingredients (glyph variation, elastic strokes, paper) each doing something."""
import random
from pathlib import Path

import numpy as np
import pytest

from textrec.errors import TextrecError
from textrec.synth.fontinfo import bundled_fonts
from textrec.synth.handwriting import elastic, handwritten_mask, on_paper
from textrec.synth.render import Renderer, SynthConfig, _glyph_cache

HANDWRITING = Path(__file__).resolve().parents[1] / "configs" / "synth" / "en-handwriting.yaml"


@pytest.fixture(scope="module")
def renderer():
    return Renderer(SynthConfig.from_file(HANDWRITING))


def test_only_handwriting_faces_and_every_label_is_drawable(renderer):
    assert renderer.fonts and all(f.category == "handwriting" for f in renderer.fonts)
    drawable = set().union(*renderer.coverage)
    for i in range(200):
        _, label = renderer.sample(1, i)
        assert set(label) <= drawable, label


def test_two_renderings_of_one_word_differ(renderer):
    font = renderer.fonts[0]
    images = [np.asarray(renderer.render("minimum", random.Random(seed))) for seed in range(6)]
    assert len({image.tobytes() for image in images}) == 6
    glyphs = _glyph_cache(font.path, 28, 0)
    settings = {"jitter": 1.0}
    first = handwritten_mask(glyphs, "minimum", 28, random.Random(1), settings)
    second = handwritten_mask(glyphs, "minimum", 28, random.Random(2), settings)
    assert first.shape != second.shape or not np.array_equal(first, second), "glyphs are varied per rendering"
    steady = handwritten_mask(glyphs, "mm", 28, random.Random(1), {"jitter": 0.0})
    half = steady.shape[1] // 2
    assert steady.any() and (steady[:, :half] > 0).sum() > 0 and (steady[:, half:] > 0).sum() > 0


def test_elastic_distortion_moves_strokes_but_keeps_ink():
    mask = np.zeros((40, 120), np.uint8)
    mask[18:22, 10:110] = 255
    bent = elastic(mask, random.Random(0), amplitude=3.0, smoothness=4.0)
    assert not np.array_equal(bent, mask)
    assert 0.7 < bent.astype(float).sum() / mask.astype(float).sum() < 1.3


def test_ruled_paper_has_lines_and_ink_stays_darker():
    mask = np.zeros((60, 200), np.uint8)
    mask[20:40, 50:150] = 255
    page = np.asarray(on_paper(mask, 28, random.Random(3), {"ruled": 1.0, "squared": 0.0, "pencil": 0.0},
                               lambda w, h, r: np.zeros((h, w), np.float32)), np.float32)
    blank_rows = np.r_[0:18, 42:60]
    row_means = page[blank_rows][:, :40].mean(axis=1)
    assert row_means.max() - row_means.min() > 15, "ruled lines cross the paper"
    assert page[25:35, 60:140].mean() < page[blank_rows].mean() - 60


def test_unknown_font_category_is_refused():
    with pytest.raises(TextrecError, match="categories"):
        Renderer(SynthConfig.from_dict({"font_categories": ["gothic-blackletter"]}))


def test_every_bundled_face_has_a_recorded_license_file():
    from textrec.synth.fontinfo import FONTS_DIR

    for font in bundled_fonts():
        assert "licenses/" in font.license, font.path
        name = font.license.split("(", 1)[1].rstrip(")")
        assert (FONTS_DIR / name).is_file(), f"{font.path}: {name} missing"


def test_face_split_holds_writers_out_and_is_the_same_every_time():
    """font_split [0, 0.7) and [0.7, 1) share no face, cover all of them, and pick the same faces each time:
    a validation set written by hands training never saw (configs/ablation/)."""
    def families(split):
        return {f.family for f in Renderer(SynthConfig.from_file(HANDWRITING, {"font_split": split})).fonts}

    train, held_out = families([0.0, 0.7]), families([0.7, 1.0])
    every = {f.family for f in Renderer(SynthConfig.from_file(HANDWRITING)).fonts}
    assert held_out and train and not train & held_out and train | held_out == every
    assert families([0.7, 1.0]) == held_out
    with pytest.raises(TextrecError, match="font_split"):
        Renderer(SynthConfig.from_file(HANDWRITING, {"font_split": [0.9, 0.2]}))


def test_a_data_source_overrides_one_effect_of_a_synth_file():
    """`{type: synth, path: ..., synth: {...}}` merges into the file's settings key by key: one ingredient off,
    the rest as the file has them (how the ablation variants differ from the full generator)."""
    from textrec.data.sources import open_source

    source = open_source({"type": "synth", "path": str(HANDWRITING), "size": 10,
                          "synth": {"effects": {"handwriting": {"jitter": 0.0, "broad": 0.0}}}})
    settings = source.config.effects["handwriting"]
    assert settings["jitter"] == 0.0 and settings["broad"] == 0.0 and settings["p"] == 1.0  # p from the file
    assert source.config.font_categories == ["handwriting"]
    with pytest.raises(TextrecError, match="unknown synth effect"):
        open_source({"type": "synth", "path": str(HANDWRITING), "synth": {"effects": {"sparkle": {"p": 1}}}})


def test_broad_pen_share_is_a_setting():
    mask = np.zeros((20, 40), np.uint8)
    mask[8:12, 5:35] = 255
    from textrec.synth.handwriting import pen_weight

    never = [pen_weight(mask, 24, random.Random(i), broad=0.0).sum() for i in range(20)]
    always = [pen_weight(mask, 24, random.Random(i), broad=1.0).sum() for i in range(20)]
    assert all(n == mask.sum() for n in never) and all(a > mask.sum() for a in always)
