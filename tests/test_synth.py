"""The synthetic generator: reproducible, distinct per worker, never a glyph the font lacks, valid at extremes."""
import random

import numpy as np
import pytest
from fontTools.ttLib import TTFont
from torch.utils.data import DataLoader

from textrec.errors import TextrecError
from textrec.synth.dataset import SynthSource, SynthStream
from textrec.synth.fontinfo import FONTS_DIR, bundled_fonts, caps_only
from textrec.synth.render import DEFAULT_EFFECTS, Renderer, SynthConfig


@pytest.fixture(scope="module")
def renderer():
    return Renderer()


def test_same_seed_same_images_and_labels(renderer):
    other = Renderer()
    for i in range(20):
        (a, la), (b, lb) = renderer.sample(5, i), other.sample(5, i)
        assert la == lb and np.array_equal(np.asarray(a), np.asarray(b))
    assert [renderer.sample(6, i)[1] for i in range(20)] != [renderer.sample(5, i)[1] for i in range(20)]


def test_workers_and_ranks_get_distinct_samples():
    def labels(rank, workers):
        stream = SynthStream(seed=3, rank=rank, world_size=2, limit=80)
        loader = DataLoader(stream, batch_size=None, num_workers=workers, collate_fn=lambda x: x)
        return [label for _, label in loader]

    rank0, rank1 = labels(0, 2), labels(1, 2)
    assert len(rank0) == len(rank1) == 40
    all_indices = [Renderer().sample(3, i)[1] for i in range(80)]
    assert sorted(rank0 + rank1) == sorted(all_indices)  # together: every index once, none twice


def test_labels_only_use_characters_the_font_draws(renderer):
    cmaps = {f.path: TTFont(f.path, lazy=True).getBestCmap() for f in renderer.fonts}
    rng = random.Random(0)
    for _ in range(300):
        text = renderer.text(rng)
        font = renderer.pick_font(text, rng)
        assert all(ord(c) in cmaps[font.path] for c in text), (font.path, text)
        assert font.covers(text)


def test_caps_only_face_is_never_given_lowercase():
    humor = next(f for f in bundled_fonts() if f.path.endswith("Humor-Sans.ttf"))
    assert caps_only(FONTS_DIR / "Humor-Sans.ttf") and "A" in humor.coverage and "a" not in humor.coverage
    assert not caps_only(FONTS_DIR / "LiberationSans-Regular.ttf")


def test_zero_probability_effects_never_fire(monkeypatch):
    """A config's p is the effect's probability: with blur at 0 and resampling at 1, blur never runs."""
    from PIL import ImageFilter

    settings = {name: {"p": 0.0} for name, s in DEFAULT_EFFECTS.items() if "p" in s}
    settings["resample"] = {"p": 1.0}
    renderer = Renderer(SynthConfig.from_dict({"effects": settings}))
    blurred = []
    original = ImageFilter.GaussianBlur.__init__
    monkeypatch.setattr(ImageFilter.GaussianBlur, "__init__",
                        lambda self, *a, **k: blurred.append(1) or original(self, *a, **k))
    for i in range(30):
        renderer.sample(0, i)
    assert not blurred


def test_bundled_fonts_manifest():
    fonts = bundled_fonts()
    assert len(fonts) >= 40
    assert {"serif", "sans", "mono", "condensed", "display", "handwriting", "typewriter"} <= {f.category for f in fonts}
    for font in fonts:
        assert font.license and (FONTS_DIR / font.license.split("(")[1].rstrip(")")).is_file()


@pytest.mark.parametrize("effect", [name for name, s in DEFAULT_EFFECTS.items() if "p" in s])
def test_each_effect_at_its_extreme_keeps_the_image_valid(effect):
    settings = {name: {"p": 0.0} for name, s in DEFAULT_EFFECTS.items() if "p" in s}
    extreme = {k: v for k, v in DEFAULT_EFFECTS[effect].items()}
    extreme["p"] = 1.0
    if "range" in extreme:
        lo, hi = extreme["range"]
        extreme["range"] = [hi, hi] if abs(hi) >= abs(lo) else [lo, lo]
    settings[effect] = extreme
    renderer = Renderer(SynthConfig.from_dict({"effects": settings}))
    for i in range(12):
        image, label = renderer.sample(0, i)
        array = np.asarray(image, np.float32)
        assert image.mode == "L" and image.height == 32 and image.width >= 1
        assert np.isfinite(array).all() and label.strip()
        assert array.std() > 2  # something was drawn: the text area is not blank


def test_source_feeds_the_training_dataset():
    from textrec.charset import Charset
    from textrec.data.dataset import TextDataset
    from textrec.preprocess import PreprocessConfig

    dataset = TextDataset(SynthSource(size=50, seed=1), Charset.from_spec("printable"), PreprocessConfig(), 4)
    items = [dataset[i] for i in range(10)]
    usable = [(i, item) for i, item in enumerate(items) if "skip" not in item]
    assert len(usable) >= 8
    reference = SynthSource(50, 1)
    for i, item in usable:
        assert item["image"].shape[0] == 32 and item["label"] == reference.sample(i)[1]


def test_custom_charset_and_text_file(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("0123\n4567\n")
    renderer = Renderer(SynthConfig.from_dict({"charset": "digits",
                                               "text": {"kinds": {"file": 1.0}, "text_file": str(words)}}))
    assert {renderer.sample(0, i)[1] for i in range(20)} == {"0123", "4567"}


def test_user_font_folder_and_bad_font_file(tmp_path):
    (tmp_path / "fonts").mkdir()
    (tmp_path / "fonts" / "Liberation.ttf").write_bytes((FONTS_DIR / "LiberationSans-Regular.ttf").read_bytes())
    renderer = Renderer(SynthConfig.from_dict({"fonts": str(tmp_path / "fonts")}))
    assert len(renderer.fonts) == 1
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.ttf").write_bytes(b"not a font at all")
    with pytest.raises(TextrecError, match="not a usable font file: .*broken.ttf"):
        Renderer(SynthConfig.from_dict({"fonts": str(tmp_path / "bad")}))


def test_unknown_charset_character_and_settings_are_clear():
    with pytest.raises(TextrecError, match="no font draws these charset characters: '☃'"):
        Renderer(SynthConfig.from_dict({"charset": "abc☃"}))
    with pytest.raises(TextrecError, match="unknown synth effect 'sparkle'"):
        SynthConfig.from_dict({"effects": {"sparkle": {"p": 1}}})
    with pytest.raises(TextrecError, match="unknown text kind"):
        Renderer(SynthConfig.from_dict({"text": {"kinds": {"poem": 1.0}}}))


def test_training_config_mixes_synth_with_real_data(digits_data, tmp_path):
    from tests.helpers import TINY_NETWORK
    from textrec.training.config import load_config
    from textrec.training.run import train

    (tmp_path / "synth.yaml").write_text("charset: digits\n")
    config_file = tmp_path / "mix.yaml"
    config_file.write_text(
        "model: {charset: digits}\n"
        "data:\n"
        f"  train: [{{type: synth, path: synth.yaml, size: 1000, seed: 1, weight: 1}}, "
        f"{{path: {digits_data['train']}, weight: 1}}]\n"
        f"  val: [{{path: {digits_data['val']}}}]\n"
        "  epoch_size: 64\n  batch_size: 16\n  num_workers: 0\n")
    folder = train(load_config(config_file, [f"out_dir={tmp_path}", f"model.network={TINY_NETWORK}",
                                             "train.max_epochs=1", "train.logger=none", "train.samples_to_print=0"]))
    assert (folder / "model" / "weights.safetensors").is_file()
    assert "SynthSource(1000 samples, seed 1)" in (folder / "model" / "config.json").read_text()


def test_user_background_images_are_cropped_in(tmp_path):
    from PIL import Image

    (tmp_path / "bg").mkdir()
    stripes = np.tile(np.array([40, 220], np.uint8).repeat(3), (200, 50))[:, :300]
    Image.fromarray(stripes).save(tmp_path / "bg" / "stripes.png")
    only_images = {"background": {"flat": 0, "gradient": 0, "noise": 0, "paper": 0, "image": 1.0}}
    quiet = {name: {"p": 0.0} for name, s in DEFAULT_EFFECTS.items() if "p" in s}
    renderer = Renderer(SynthConfig.from_dict({"backgrounds": str(tmp_path / "bg"),
                                               "effects": {**quiet, **only_images}}))
    image, _ = renderer.sample(0, 0)
    assert np.asarray(image).std() > 20  # the striped photo shows through behind the text
    with pytest.raises(TextrecError, match="no background images"):
        Renderer(SynthConfig.from_dict({"backgrounds": str(tmp_path)  + "/missing"}))


def test_synth_defaults_and_every_config_agree_with_the_charset_they_train():
    """What `textrec synth` writes with no config trains with the default training config's charset, and every
    training config's synthetic sources draw only characters its model has (no "'#' not in the charset")."""
    from pathlib import Path

    from textrec.charset import Charset
    from textrec.synth.render import Renderer, SynthConfig
    from textrec.training.config import DEFAULTS, RecognizeConfig, load_config

    default_chars = set(Charset.from_spec(DEFAULTS["model"]["charset"]).chars)
    renderer = Renderer(SynthConfig())
    assert set(renderer.alphabet) <= default_chars
    assert all(set(renderer.sample(3, i)[1]) <= default_chars for i in range(20))
    for path in sorted((Path(__file__).resolve().parents[1] / "configs").glob("**/*.yaml")):
        if "/synth/" in str(path):  # synth settings, not training configs
            continue
        config = load_config(path)
        if not isinstance(config, RecognizeConfig) or config.model.charset == "auto":  # the line detector
            continue
        model_chars = set(Charset.from_spec(config.model.charset).chars)
        for spec in config.data.train + config.data.val:
            if isinstance(spec, dict) and spec.get("type") == "synth":
                alphabet = set(Renderer(SynthConfig.from_file(spec["path"])).alphabet)
                assert alphabet <= model_chars, (path.name, spec["path"], sorted(alphabet - model_chars)[:10])
