"""Other looks at a crop the model is unsure of (issue 18): the looks themselves, the rule that picks one, and
character columns mapped back to the crop (page mode boxes words with them)."""
import numpy as np

from textrec.calibration import Calibration
from textrec.decoding import Prediction
from textrec.inference import BatchReader
from textrec.preprocess import RETRY_LOOKS, PreprocessConfig, retry_variants
from textrec.recognizer import load_recognizer

CONFIG = PreprocessConfig()


def crop(width: int = 80) -> np.ndarray:
    array = np.full((32, width), 1.0, np.float32)  # paper (normalized white)
    array[10:22, 20:30] = -1.0  # a dark letter at x 20-29
    return array


def arc(width: int = 160) -> np.ndarray:
    """Dark letters 6 px tall whose centres follow a parabola sagging 8 px (text on an arc), on paper."""
    array = np.full((32, width), 1.0, np.float32)
    for left in range(10, width - 10, 12):
        centre = 10 + 8 * (1 - ((left + 4 - width / 2) / (width / 2)) ** 2)
        array[round(centre) - 3 : round(centre) + 3, left : left + 8] = -1.0
    return array


def test_every_look_is_the_models_height_and_within_its_widths():
    looks = retry_variants(crop(), CONFIG)
    assert [look.name for look in looks] == [name for name in RETRY_LOOKS if name != "straightened"]
    assert all(look.array.shape[0] == 32 and CONFIG.min_width <= look.array.shape[1] <= CONFIG.max_width
               for look in looks)
    widths = {look.name: look.array.shape[1] for look in looks}
    assert widths["wider"] > 80 > widths["narrower"] and widths["contrast"] == 80
    faint = crop() * 0.2
    stretched = next(look for look in retry_variants(faint, CONFIG) if look.name == "contrast").array
    assert stretched.max() - stretched.min() > 3 * (faint.max() - faint.min())
    assert [look.name for look in retry_variants(crop(), PreprocessConfig(fixed_width=80))] == ["contrast"]


def test_text_on_an_arc_gets_a_straightened_look_and_straight_text_does_not():
    from scipy import ndimage

    looks = {look.name: look for look in retry_variants(arc(), CONFIG)}
    assert "straightened" in looks and "straightened" not in {look.name for look in retry_variants(crop(), CONFIG)}
    flat = looks["straightened"]
    ink = flat.array < 0
    labels, letters = ndimage.label(ink)
    rows = [row for row, _ in ndimage.center_of_mass(ink, labels, range(1, letters + 1))]
    assert letters == 12  # every letter kept, none cut in two
    assert (max(rows) - min(rows)) * flat.scale < 2  # in crop pixels: the letters' centres were 5 px apart
    assert ink.any(axis=1).sum() > 16  # the band the letters fill, brought to the height (was 6 px of 32)
    columns = np.flatnonzero(ink.any(axis=0))
    assert abs(columns.min() * flat.scale + flat.shift - 10) <= 3  # x maps back onto the crop
    assert abs((columns.max() + 1) * flat.scale + flat.shift - 150) <= 3  # the last letter ends at x 150


def test_each_look_maps_its_x_back_onto_the_crop():
    for look in retry_variants(crop(), CONFIG):
        letter = np.nonzero(look.array.min(axis=0) < 0)[0]  # columns of the dark letter in this look
        left, right = letter.min() * look.scale + look.shift, (letter.max() + 1) * look.scale + look.shift
        assert abs(left - 20) <= 2 and abs(right - 30) <= 2, look.name


def test_an_unsure_reading_takes_the_surest_look_if_surer_by_the_margin_and_columns_come_back():
    class Fixed(BatchReader):
        """Reads 'sure' on crops of width 80, and 'look' with confidence by width on the others."""

        def _predict(self, batch, widths):
            return [Prediction("crop", 0.1, [0.1], [8]) if w == 80 else Prediction(f"look{w}", w / 1000, [0.5], [8])
                    for w in widths]

    reader = Fixed.__new__(Fixed)
    reader.preprocess, reader.batch_size, reader.width_stride = CONFIG, 8, 4
    reader.retry, reader.attention = {"below": 0.7, "margin": 0.005}, False
    reader._retry_curve = None
    sure = Prediction("sure", 0.95)
    readings = reader.read_again([crop(), crop()], [Prediction("crop", 0.1, [0.1], [8]), sure])
    wider = round(80 * 1.35)
    assert readings[0].text == f"look{wider}" and readings[1] is sure  # the widest look is surest here
    assert readings[0].columns == [int((8.5 * 4 / 1.35) // 4)]  # frame 8 of the wider look, in the crop's frames
    reader._retry_curve = Calibration(0.5, 0.0)  # a replaced reading's confidence goes through its own curve
    again = reader.read_again([crop()], [Prediction("crop", 0.1, [0.1], [8])])[0]
    assert again.text == f"look{wider}" and abs(again.confidence - Calibration(0.5, 0.0)(wider / 1000)) < 1e-9
    reader.retry["margin"] = 0.5
    assert reader.read_again([crop()], [Prediction("crop", 0.1, [0.1], [8])])[0].text == "crop"


def test_the_default_model_retries_what_it_is_unsure_of():
    retry = load_recognizer().retry
    assert (retry["below"], retry["margin"]) == (0.7, 0.2) and retry["calibration"][0] < 1  # damped confidences
