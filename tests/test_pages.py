"""Whole pages: kernel targets and their inverse, reading order, the bundled detector and recognizer together
on rendered pages (two columns, blank, huge, long lines), outputs (JSON, hOCR, PNG) and the CLI's page mode."""
from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from textrec.cli import app
from textrec.errors import ImageTooLarge
from textrec.pages.detect import DEFAULT_DETECTOR
from textrec.pages.evaluate import PageScores, match
from textrec.pages.geometry import Box, box_from_quad, iou
from textrec.pages.kernels import boxes_from_map, kernel_map
from textrec.pages.order import Extent, reading_order
from textrec.pages.outputs import draw_page, to_hocr
from textrec.pages.pipeline import PageReader, is_page_sized
from textrec.synth.pages import PageRenderer

FONT = Path(__file__).resolve().parents[1] / "src/textrec/synth/fonts/DejaVuSerif.ttf"
LEFT = ["the quick brown fox", "jumps over a lazy", "dog near the river", "every single day"]
RIGHT = ["pack my box with", "five dozen liquor", "jugs before noon", "and then rest"]


def two_column_page() -> Image.Image:
    """Two columns of text, a gutter of about 1.5 line heights between them, rows level across the gutter."""
    page = Image.new("L", (1100, 700), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(FONT), 30)
    right_x = 60 + max(font.getlength(text) for text in LEFT) + 45
    for row, (left, right) in enumerate(zip(LEFT, RIGHT)):
        draw.text((60, 120 + row * 52), left, font=font, fill=0)
        draw.text((right_x, 120 + row * 52), right, font=font, fill=0)
    return page


@pytest.fixture(scope="module")
def reader() -> PageReader:
    return PageReader()


def test_iou_of_known_quads():
    square = (0, 0, 10, 0, 10, 10, 0, 10)
    assert iou(square, square) == pytest.approx(1.0)
    assert iou(square, (5, 0, 15, 0, 15, 10, 5, 10)) == pytest.approx(50 / 150)
    assert iou(square, (20, 20, 30, 20, 30, 30, 20, 30)) == 0.0
    turned = Box(5, 5, 10, 10, np.pi / 4).quad()  # a square on its corner: overlap is an octagon
    assert 0.6 < iou(square, turned) < 0.9


def test_kernel_targets_read_back_to_the_boxes_they_came_from():
    """The detector's target, read by the runtime's post-processing, gives back the lines it was drawn from."""
    page, lines = PageRenderer(seed=3).sample(0)
    quads = [line.quad for line in lines]
    target = kernel_map(quads, page.size, 2).astype(np.float32)
    found = [box.quad() for box, _ in boxes_from_map(target, 2)]
    pairs = match(quads, found)
    assert len(pairs) >= 0.9 * len(quads) and len(found) <= 1.1 * len(quads)
    assert np.median([iou(quads[i], found[j]) for i, j in pairs]) > 0.75


def test_reading_order_reads_columns_down_and_table_rows_across():
    h = 20
    left = [Extent(0, y, 300, y + h) for y in range(0, 200, 30)]
    right = [Extent(340, y, 640, y + h) for y in range(0, 200, 30)]  # gutter of 2 line heights: columns
    order, blocks = reading_order(left + right)
    assert order == list(range(len(left) + len(right)))
    assert blocks[0] != blocks[-1]
    # a receipt: labels, quantities and prices (short runs) are a table, read across, row by row
    labels = [Extent(0, y, 100, y + h) for y in range(0, 100, 25)]
    quantities = [Extent(150, y, 170, y + h) for y in range(0, 100, 25)]
    prices = [Extent(400, y, 450, y + h) for y in range(0, 100, 25)]
    order, _ = reading_order(labels + quantities + prices)
    assert order == [i for row in range(4) for i in (row, row + 4, row + 8)]


def test_page_sized_rule():
    assert is_page_sized(800, 1200) and not is_page_sized(228, 39) and not is_page_sized(2000, 120)


def test_scores_count_an_unmatched_line_as_fully_wrong():
    scores = PageScores()
    truth = [((0, 0, 100, 0, 100, 20, 0, 20), "HELLO WORLD"), ((0, 40, 100, 40, 100, 60, 0, 60), "BYE")]
    scores.add(truth, [((0, 0, 100, 0, 100, 20, 0, 20), "hello world")])
    report = scores.report()
    assert report["det_precision"] == 1.0 and report["det_recall"] == 0.5
    assert report["word_precision"] == 1.0 and report["word_recall"] == pytest.approx(2 / 3)
    assert report["line_cer"] == pytest.approx(3 / 14)


def test_detector_overfits_a_few_synthetic_pages():
    """A fresh detector trained on three whole synthetic pages (at the runtime's scale) finds their lines."""
    import torch

    from textrec.pages.detect import DetectorInput, page_input, sigmoid
    from textrec.training.system import DetectionSystem

    torch.manual_seed(0)
    detector_input = DetectorInput(target_pixels=200_000)
    renderer = PageRenderer(seed=11)
    arrays, scaled = [], []
    for page, lines in (renderer.sample(i) for i in range(3)):
        array, sx, sy = page_input(page, detector_input)
        arrays.append(array)
        scaled.append([tuple(v * (sx if i % 2 == 0 else sy) for i, v in enumerate(line.quad)) for line in lines])
    # one batch of the three pages, padded to a common size (batch-norm statistics then match evaluation's)
    h, w = max(a.shape[0] for a in arrays), max(a.shape[1] for a in arrays)
    images = torch.full((3, 1, h, w), 1.0)
    for i, array in enumerate(arrays):
        images[i, 0, : array.shape[0], : array.shape[1]] = torch.from_numpy(array)
    targets = torch.from_numpy(np.stack([kernel_map(q, (w, h), 2) for q in scaled])[:, None]).float()
    system = DetectionSystem({"name": "unet", "channels": [12, 24, 48, 64]}, detector_input.to_dict())
    optimizer = torch.optim.Adam(system.parameters(), lr=1e-2)
    for step in range(150):
        loss = system.training_loss({"images": images, "targets": targets})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    system.eval()
    with torch.no_grad():
        probability = sigmoid(system(images).numpy()[:, 0])
    hits = truth = found = 0
    for page_map, quads in zip(probability, scaled):
        boxes = [box.quad() for box, _ in boxes_from_map(page_map, 2)]
        hits += len(match(quads, boxes))
        truth, found = truth + len(quads), found + len(boxes)
    assert hits / truth > 0.8 and hits / max(1, found) > 0.8, (hits, truth, found)


TINY_DETECTOR = """task: detect
name: tiny
model:
  network: {name: unet, channels: [8, 12, 16, 24]}
  input: {target_pixels: 60000}
data:
  synthetic: 0.5
  pages: [{pages: pages/pages, boxes: pages/boxes, range: 0-1}]
  val: [{pages: pages/pages, boxes: pages/boxes, range: 2-2}]
  crop: 96
  crops_per_page: 2
  batch_size: 4
  num_workers: 0
train: {max_steps: 7, val_every: 3, checkpoint_every: 2, logger: csv, threads: 1}
"""


def test_detector_trains_through_textrec_train_and_resumes(tmp_path):
    """A `task: detect` config goes through the same runner as the recognizer: run folder, last and best
    checkpoints, model/ as the runtime loads it, and --resume carrying on the step count and the curves."""
    import torch

    from textrec.modelfile import CONFIG, ONNX_NAME, WEIGHTS
    from textrec.pages.detect import DETECTOR_FORMAT, LineDetector

    (tmp_path / "pages" / "pages").mkdir(parents=True)
    (tmp_path / "pages" / "boxes").mkdir()
    for i, (page, lines) in enumerate(PageRenderer(seed=3).sample(i) for i in range(3)):
        page.save(tmp_path / "pages" / "pages" / f"{i:03d}.png")
        (tmp_path / "pages" / "boxes" / f"{i:03d}.csv").write_text(
            "".join(",".join(str(round(v)) for v in line.quad) + f",{line.text}\n" for line in lines))
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_DETECTOR)  # page paths relative to the config file
    command = ["train", "--config", str(config), "--set", f"out_dir={tmp_path / 'runs'}"]
    first = CliRunner().invoke(app, command)
    assert first.exit_code == 0, first.output
    folder = tmp_path / "runs" / "tiny"
    assert (folder / "checkpoints" / "last.ckpt").is_file() and (folder / "checkpoints" / "best.ckpt").is_file()
    assert all((folder / "model" / name).is_file() for name in (WEIGHTS, CONFIG, ONNX_NAME))
    assert (folder / "curves.png").is_file() and (folder / "logs" / "metrics.csv").is_file()
    detector = LineDetector(folder / "model")
    assert detector.config["format"] == DETECTOR_FORMAT and detector.config["network"]["channels"] == [8, 12, 16, 24]
    detector.detect(Image.open(tmp_path / "pages" / "pages" / "002.png"))
    state = torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["global_step"] == 7  # the last step, though not at an epoch's (val_every's) end

    resumed = CliRunner().invoke(app, [*command, "--set", "train.max_steps=12", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["tiny"]
    state = torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["global_step"] == 12
    assert [step for step, _ in state["textrec_history"]["val/f1"]] == [3, 6, 9, 12]
    # the CSV logger starts its file anew: the first invocation's rows are kept beside it
    before = (folder / "logs" / "metrics-before-resume-1.csv").read_text()
    assert before.count("\n") > 2 and (folder / "logs" / "metrics.csv").is_file()


def test_two_column_page_comes_out_in_reading_order(reader):
    from rapidfuzz.distance import Levenshtein

    result = reader.read(two_column_page())
    texts = [line.text for line in result.lines]
    expected = LEFT + RIGHT
    assert len(texts) == len(expected), texts
    for got, want in zip(texts, expected):  # each line where it belongs, read nearly right
        assert Levenshtein.normalized_distance(got.lower(), want) < 0.25, (got, want)
    assert len({line.block for line in result.lines[:4]} & {line.block for line in result.lines[4:]}) == 0


def test_blank_page_gives_no_lines_and_no_error(reader):
    result = reader.read(Image.new("L", (900, 1200), 250))
    assert result.lines == [] and result.text == "" and result.warnings == []


def test_huge_page_is_refused_from_its_header_and_a_large_one_downscaled_with_a_warning(tmp_path, reader):
    huge = tmp_path / "huge.png"
    Image.new("L", (12000, 12000), 255).save(huge)
    with pytest.raises(ImageTooLarge, match="12000x12000"):
        reader.read(huge)
    result = reader.read(Image.new("L", (5000, 7000), 255))
    assert result.lines == [] and "5000x7000" in result.warnings[0] and "may be missed" in result.warnings[0]


def test_a_headline_too_tall_for_the_detectors_first_look_is_read_above_the_body(reader):
    page = Image.new("L", (1600, 1100), 255)
    draw = ImageDraw.Draw(page)
    draw.text((100, 60), "Annual Report", font=ImageFont.truetype(str(FONT), 170), fill=0)  # ~125 px letters
    for row, text in enumerate(LEFT):
        draw.text((100, 420 + row * 70), text, font=ImageFont.truetype(str(FONT), 40), fill=0)
    texts = [line.text.lower() for line in reader.read(page).lines]
    assert texts[0] == "annual report" and len(texts) == 1 + len(LEFT), texts


def test_a_tall_box_over_several_rows_of_small_text_is_not_taken_for_one_line():
    from textrec.pages.detect import with_tall_lines

    rows = [(Box(300, 100 + 30 * i, 400, 24, 0.0), 0.9) for i in range(3)]  # three rows, 30 px apart
    merged = (Box(300, 130, 420, 100, 0.0), 0.9)  # what a look at a third of the scale makes of them
    assert with_tall_lines(rows, [merged]) == rows
    pieces = [(Box(200, 130, 40, 20, 0.0), 0.9), (Box(380, 135, 60, 25, 0.0), 0.9)]  # scraps of big letters
    assert with_tall_lines(pieces, [merged]) == [merged]


def test_an_unsure_tall_line_is_dropped_only_when_the_second_look_alone_found_it(reader):
    """A handwritten line may be tall at the first look and read unsurely: it stays. A barcode found by the second
    look alone and read unsurely goes."""
    from textrec.decoding import Prediction
    from textrec.pages.detect import TallLine

    class Unsure:  # every crop read as "abc" at confidence 0.2
        preprocess, width_stride = reader.recognizer.preprocess, reader.recognizer.width_stride

        def read_arrays(self, arrays, page=False):
            return [Prediction("abc", 0.2, [0.2] * 3, [1, 2, 3]) for _ in arrays]

    page_reader = PageReader(Unsure(), reader.detector)
    first, second = Box(300, 100, 400, 90, 0.0), TallLine(300, 300, 400, 90, 0.0)
    lines = page_reader._recognize(Image.new("L", (600, 400), 255), [(first, 0.9), (second, 0.9)], 0.0)
    assert [box_from_quad(line.quad).cy for line in lines] == [pytest.approx(100)]


@pytest.mark.parametrize("word", ["Midsize", "OK"])  # a short word too: its confidence counts as a long one's
def test_auto_mode_reads_a_word_in_the_middle_of_a_big_photo(word, tmp_path):
    image = Image.new("L", (1200, 900), 255)
    ImageDraw.Draw(image).text((400, 380), word, font=ImageFont.truetype(str(FONT), 120), fill=0)
    path = tmp_path / "word.png"
    image.save(path)
    result = CliRunner().invoke(app, ["read", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["text"] == word, result.output


def test_long_line_of_120_characters_is_read_whole(reader):
    from rapidfuzz.distance import Levenshtein

    text = ("Invoice 2041 total due by March 3rd for services rendered including delivery "
            "installation and support call fees paid")
    assert len(text) >= 110
    font = ImageFont.truetype(str(FONT), 28)
    width = int(font.getlength(text)) + 40
    page = Image.new("L", (width, 400), 255)
    ImageDraw.Draw(page).text((20, 180), text, font=font, fill=0)
    result = reader.read(page)
    read = " ".join(line.text for line in result.lines)
    assert len(read) >= 100 and Levenshtein.normalized_distance(read, text) < 0.1, read


def test_outputs_json_hocr_and_picture(reader, tmp_path):
    page = two_column_page()
    result = reader.read(page)
    data = json.loads(json.dumps(result.to_dict()))
    assert len(data["lines"]) == len(result.lines) and all(len(line["quad"]) == 8 for line in data["lines"])
    assert any(line["words"] for line in data["lines"])
    word = data["lines"][0]["words"][0]
    assert box_from_quad(word["quad"]).width < box_from_quad(data["lines"][0]["quad"]).width
    root = ET.fromstring(to_hocr(result, "page.png").split("\n", 2)[2])
    spans = [e for e in root.iter() if e.get("class") == "ocr_line"]
    assert len(spans) == len(result.lines)
    picture = draw_page(page, result)
    assert picture.size == (2 * page.width, page.height) and picture.mode == "RGB"  # page | text read
    assert np.asarray(picture)[..., 0].astype(int).sum() != np.asarray(picture)[..., 1].astype(int).sum()


def test_cli_reads_page_sized_images_as_pages(tmp_path):
    path = tmp_path / "columns.png"
    two_column_page().save(path)
    runner = CliRunner()
    result = runner.invoke(app, ["read", str(path), "--json", "--hocr", str(tmp_path / "out.hocr"),
                                 "--draw", str(tmp_path / "boxes.png")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.strip().splitlines()[-1])
    assert data["mode"] == "page" and len(data["lines"]) == 8
    assert (tmp_path / "out.hocr").read_text().count('class="ocr_line"') == 8
    assert Image.open(tmp_path / "boxes.png").size == (2200, 700)
    forced = runner.invoke(app, ["read", str(path), "--mode", "line"])
    assert forced.exit_code == 0 and "\n" not in forced.output.strip()  # one reading of the whole image


def test_server_reads_a_page_over_http():
    import httpx

    from tests.serving import running_server
    from textrec.serve.app import create_app
    from textrec.serve.settings import ServeSettings

    buffer = io.BytesIO()
    two_column_page().save(buffer, format="PNG")
    word = (Path(__file__).resolve().parents[1] / "examples" / "receipt-total.png").read_bytes()
    with running_server(create_app(ServeSettings())) as url, httpx.Client(base_url=url, timeout=60) as client:
        page = client.post("/predict", files={"file": ("page.png", buffer.getvalue())}, data={"mode": "page"})
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["mode"] == "page" and len(body["lines"]) == 8 and body["width"] == 1100
        assert all(len(line["quad"]) == 8 for line in body["lines"])
        auto = client.post("/predict", files={"file": ("word.png", word)}, data={"mode": "auto"})
        assert auto.status_code == 200 and auto.json()["mode"] == "line" and auto.json()["text"] == "TOTAL 12.50"
        bad = client.post("/predict", files={"file": ("page.png", buffer.getvalue())}, data={"mode": "poster"})
        assert bad.status_code == 422 and "mode must be" in bad.json()["error"]
        junk = client.post("/predict", files={"file": ("x.png", b"not an image")}, data={"mode": "page"})
        assert junk.status_code == 415


def test_bundled_detector_onnx_matches_its_safetensors_weights():
    import torch
    from safetensors.torch import load_file

    from textrec.networks.detector import build_detector
    from textrec.pages.detect import DEFAULT_DETECTOR, LineDetector, page_input

    config = json.loads((DEFAULT_DETECTOR / "config.json").read_text())
    network = build_detector(config["network"])
    network.load_state_dict(load_file(str(DEFAULT_DETECTOR / "weights.safetensors")))
    runtime = LineDetector()
    array, _, _ = page_input(two_column_page(), runtime.input)
    with torch.no_grad():
        expected = network.eval()(torch.from_numpy(array)[None, None]).numpy()
    got = runtime.session.run(None, {runtime.input_name: array[None, None]})[0]
    assert np.abs(got - expected).max() < 1e-3


def test_detector_starts_from_saved_weights_trains_on_notes_and_scores_rendered_notes(tmp_path):
    """data.layouts puts handwritten notes in the synthetic mix, a `{synthetic: note}` validation entry scores
    rendered notes, model.init_from starts from a saved detector (one of another shape is refused), and a
    bad layout name is refused before any worker starts."""
    import torch
    from safetensors.torch import load_file

    from textrec.modelfile import WEIGHTS

    config = tmp_path / "notes.yaml"
    config.write_text("""task: detect
name: notes
model:
  network: {name: unet, channels: [16, 32, 64, 96]}
  init_from: %s
data:
  synthetic: 1.0
  layouts: {note: 1.0}
  val: [{synthetic: note, count: 2, seed: 5}]
  crop: 96
  crops_per_page: 2
  batch_size: 2
  num_workers: 0
train: {max_steps: 2, val_every: 2, logger: csv, threads: 1, lr: 0.0}
""" % DEFAULT_DETECTOR)
    result = CliRunner().invoke(app, ["train", "--config", str(config), "--set", f"out_dir={tmp_path}",
                                      "--set", "train.warmup=0", "--set", "train.weight_decay=0"])
    assert result.exit_code == 0, result.output
    assert "detection P" in result.output  # the rendered notes were scored
    trained = load_file(str(tmp_path / "notes" / "model" / WEIGHTS))
    shipped = load_file(str(DEFAULT_DETECTOR / WEIGHTS))
    learned = [k for k in shipped if "running" not in k and "num_batches" not in k]  # not batch-norm statistics
    assert all(torch.equal(trained[k], shipped[k]) for k in learned)  # lr 0: the weights it started from
    wrong = CliRunner().invoke(app, ["train", "--config", str(config), "--set", f"out_dir={tmp_path}",
                                     "--set", "model.network.channels=[8,12,16,24]", "--set", "name=wrong"])
    assert wrong.exit_code != 0 and "does not fit" in wrong.output
    bad = CliRunner().invoke(app, ["train", "--config", str(config), "--set", f"out_dir={tmp_path}",
                                   "--set", "data.layouts={poster: 1}", "--set", "name=bad"])
    assert bad.exit_code != 0 and "layouts" in bad.output and "poster" in bad.output
