import io

import numpy as np
import pytest
from PIL import Image

from tests.helpers import render
from textrec.errors import TextrecError
from textrec.preprocess import PreprocessConfig, load_image, pad_batch, prepare, target_width


def png_bytes(image: Image.Image, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **kw)
    return buffer.getvalue()


def test_all_input_kinds_give_the_same_array(tmp_path):
    image = render("abc").convert("RGB")
    path = tmp_path / "w.png"
    image.save(path)
    config = PreprocessConfig()
    arrays = [prepare(x, config) for x in (path, str(path), path.read_bytes(), image, np.asarray(image))]
    for array in arrays[1:]:
        np.testing.assert_allclose(array, arrays[0], atol=1e-6)
    assert arrays[0].shape[0] == 32 and arrays[0].dtype == np.float32


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA", "P", "I;16", "1", "CMYK"])
def test_modes_become_grayscale(mode):
    base = render("hi")
    image = base.convert(mode) if mode != "I;16" else Image.fromarray((np.asarray(base).astype(np.uint16) * 257))
    loaded = load_image(png_bytes(image) if mode not in ("CMYK",) else image)
    assert loaded.mode == "L" and loaded.size == base.size
    # text stays dark on light whatever the mode
    assert np.asarray(loaded).min() < 100 and np.median(np.asarray(loaded)) > 150


def test_transparent_background_is_white():
    rgba = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    assert np.asarray(load_image(rgba)).min() == 255


def test_light_letters_on_a_clear_background_go_on_black_and_a_card_with_clear_corners_stays_on_white():
    letters = render("white").convert("L").point(lambda v: 255 - v)  # light ink where the letters are
    clear = Image.merge("RGBA", [Image.new("L", letters.size, 255)] * 3 + [letters])  # white, seen only as ink
    loaded = np.asarray(load_image(clear))
    assert loaded.max() > 200 and np.median(loaded) < 50  # light letters on black, not white on white
    card = render("card").convert("RGBA")
    card.putpixel((0, 0), (0, 0, 0, 0))  # a see-through corner
    loaded = np.asarray(load_image(card))
    assert loaded.min() < 100 and np.median(loaded) > 150


def test_exif_orientation_is_applied():
    image = render("tall").convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    loaded = load_image(buffer.getvalue())
    assert loaded.size == (image.height, image.width)


def test_aspect_ratio_kept_and_fixed_width():
    assert target_width(200, 64, PreprocessConfig(height=32)) == 100
    assert target_width(4, 64, PreprocessConfig(height=32)) == 16  # min width
    assert target_width(200, 80, PreprocessConfig(height=48, fixed_width=120)) == 120


def test_pad_batch_pads_to_widest_with_background():
    config = PreprocessConfig()
    a, b = prepare(render("a"), config), prepare(render("a much longer one"), config)
    batch, widths = pad_batch([a, b], config)
    assert batch.shape == (2, 1, 32, batch.shape[3]) and batch.shape[3] >= b.shape[1] and batch.shape[3] % 4 == 0
    assert list(widths) == [a.shape[1], b.shape[1]]
    assert np.allclose(batch[0, 0, :, a.shape[1]:], np.median(a[0]), atol=0.2)  # pad looks like paper


def test_bad_inputs_give_clear_errors(tmp_path):
    with pytest.raises(TextrecError, match="not found: .*missing.png"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(TextrecError, match="image path is a folder, not a file"):
        load_image(tmp_path)
    with pytest.raises(TextrecError, match="image path is not a regular file: /dev/null"):
        load_image("/dev/null")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(TextrecError, match="empty"):
        load_image(tmp_path / "empty.png")
    with pytest.raises(TextrecError, match="not an image"):
        load_image(b"this is not an image")
    truncated = png_bytes(render("truncated"))[:-60]
    with pytest.raises(TextrecError, match="corrupt image"):
        load_image(truncated)
    with pytest.raises(TextrecError, match="shape"):
        load_image(np.zeros((3, 4, 5, 6)))
