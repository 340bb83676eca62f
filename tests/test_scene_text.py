"""Scene-text synthesis (colour, textures, effects, arcs, vertical signs), the colour-to-gray conversion that
keeps hue contrast, and tall crops read turned."""
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.helpers import render
from textrec.errors import TextrecError
from textrec.preprocess import colour_to_gray, load_image, to_grayscale, turns
from textrec.synth.render import Renderer, SynthConfig
from textrec.synth.scene import arc, gray_gap, make_textures, pick_colours

SCENE = Path(__file__).resolve().parents[1] / "configs" / "synth" / "en-scene.yaml"


def sign(background, text_colour, size=(160, 48)) -> Image.Image:
    image = Image.new("RGB", size, background)
    ImageDraw.Draw(image).rectangle((40, 14, 120, 34), fill=text_colour)  # a thick bar stands in for letters
    return image


def test_hue_only_contrast_survives_the_conversion_to_gray():
    red_on_green = sign((40, 130, 40), (200, 40, 40))  # almost the same luma: Pillow's 'L' erases the bar
    luma = np.asarray(red_on_green.convert("L"), np.float32)
    ours = np.asarray(to_grayscale(red_on_green), np.float32)
    assert abs(luma[24, 80] - luma[5, 5]) < 10
    assert abs(ours[24, 80] - ours[5, 5]) > 60


def test_ordinary_images_keep_plain_luma():
    black_on_white = sign((250, 250, 250), (10, 10, 10))
    photo = Image.fromarray((np.random.default_rng(0).random((40, 90, 3)) * 255).astype(np.uint8))
    for image in (black_on_white, photo):
        assert np.array_equal(np.asarray(colour_to_gray(image)), np.asarray(image.convert("L")))


def test_scene_mix_renders_colour_samples_that_differ_and_stay_readable():
    renderer = Renderer(SynthConfig.from_file(SCENE))
    assert renderer.textures, "the scene mix builds its texture bank"
    first = renderer.render("Market", random.Random(1))
    second = renderer.render("Market", random.Random(2))
    assert first.mode == "L" and first.height == 32
    assert first.size != second.size or not np.array_equal(np.asarray(first), np.asarray(second))
    spreads = [np.asarray(renderer.sample(3, i)[0], np.float32).std() for i in range(60)]
    assert np.median(spreads) > 12, "most scene samples keep visible contrast after the gray conversion"


def test_picked_colours_always_leave_gray_contrast():
    rng = random.Random(0)
    for _ in range(300):
        background, text = pick_colours(rng, hue_contrast=0.5)
        assert gray_gap(background, text) > 40


def test_texture_bank_covers_every_kind_in_range():
    bank = make_textures(per_kind=1, h=32, w=64)
    assert set(bank) == {"cloud", "bricks", "wood", "fabric", "bokeh"}
    for fields in bank.values():
        assert fields[0].shape == (32, 64) and np.abs(fields[0]).max() <= 1.0 + 1e-5 and fields[0].std() > 0.05


@pytest.mark.parametrize("concave", [False, True])
def test_arc_bends_the_text_band(concave):
    strip = Image.new("L", (200, 30), 255)
    ImageDraw.Draw(strip).rectangle((0, 12, 199, 17), fill=0)  # a straight line through the middle
    bent = np.asarray(arc(strip, 0.8, 255, concave))
    assert bent.shape[0] > 45, "a 0.8 half-circle arc is much taller than the strip"
    columns = np.nonzero((bent < 128).any(axis=0))[0]
    assert columns[-1] - columns[0] > 0.8 * bent.shape[1], "the line runs across the whole arc"
    rows_left = np.nonzero(bent[:, columns[0] + 2] < 128)[0]
    rows_middle = np.nonzero(bent[:, bent.shape[1] // 2] < 128)[0]
    # the ends of the line sit lower than its middle on the top of a circle, higher on the bottom
    assert (rows_left.mean() < rows_middle.mean()) == concave


def test_vertical_samples_are_laid_on_their_side():
    config = SynthConfig.from_dict({"effects": {"vertical": {"p": 1.0}}})
    image = Renderer(config).render("OPEN", random.Random(0))
    assert image.height == 32 and image.width > 32


def test_tall_crop_of_vertical_text_is_read_turned():
    import textrec
    from textrec.recognizer import load_recognizer

    word = render("MARKET", height=40, font_size=30)
    tall = word.rotate(270, expand=True)  # reads top to bottom once turned back a quarter counter-clockwise
    assert turns(tall) == (0, 90, 270)
    recognizer = load_recognizer(None, "auto")
    upright_only = recognizer.read_arrays([textrec.preprocess.prepare(tall, recognizer.preprocess)])[0]
    reading = recognizer.read_images([load_image(tall)])[0]
    assert reading.text == "MARKET" and reading.turned == 90
    assert upright_only.text != "MARKET"


def test_a_tall_single_character_is_not_turned_into_junk():
    from textrec.recognizer import load_recognizer

    one = render("1", height=64, font_size=50, pad=2)
    assert len(turns(one)) == 3
    assert load_recognizer(None, "auto").read_images([one])[0].turned == 0


def test_bundled_background_photos_are_all_licensed_and_loaded():
    import json

    from textrec.synth.render import BUNDLED_BACKGROUNDS

    manifest = json.loads((BUNDLED_BACKGROUNDS / "manifest.json").read_text())["backgrounds"]
    files = sorted(p.name for p in BUNDLED_BACKGROUNDS.glob("*.jpg"))
    assert files and sorted(item["file"] for item in manifest) == files
    assert all(item["license"] in ("CC0-1.0", "public domain") and item["source"] for item in manifest)
    renderer = Renderer(SynthConfig(backgrounds="bundled"))
    assert len(renderer.background_photos) == len(files)
    assert all(photo.mode == "RGB" and max(photo.size) <= 512 for photo in renderer.background_photos)


def test_photo_surfaces_change_scene_samples_only_when_photos_are_given():
    """effects.color.photo cuts scene surfaces from the background photos; without photos the same seed renders
    exactly what it did before the setting existed (the recipes' data stays reproducible)."""
    def samples(**settings) -> list[np.ndarray]:
        config = SynthConfig.from_file(SCENE, {"effects": {"color": {"p": 1.0, "photo": 1.0}}, **settings})
        renderer = Renderer(config)
        return [np.asarray(renderer.sample(5, i)[0]) for i in range(12)]

    plain, with_photos = samples(), samples(backgrounds="bundled")
    off = SynthConfig.from_file(SCENE, {"effects": {"color": {"p": 1.0, "photo": 0.0}}})
    assert all(np.array_equal(a, np.asarray(Renderer(off).sample(5, i)[0])) for i, a in enumerate(plain))
    assert sum(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(plain, with_photos)) >= 10


def test_unreadable_background_images_are_skipped_and_counted(tmp_path, capsys):
    Image.new("RGB", (64, 48), (30, 120, 200)).save(tmp_path / "good.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    renderer = Renderer(SynthConfig(backgrounds=str(tmp_path)))
    assert len(renderer.background_photos) == 1 and "skipped 1 unreadable" in capsys.readouterr().out
    (tmp_path / "good.png").unlink()
    with pytest.raises(TextrecError, match="no usable background images"):
        Renderer(SynthConfig(backgrounds=str(tmp_path)))
