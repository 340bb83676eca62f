"""One reader for every front end (issue 20): the mode decision, the order of results, the defaults and limits
of the CLI, the server, batch jobs and the Python API."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw, ImageFont
from test_pages import LEFT, RIGHT, two_column_page
from typer.testing import CliRunner

import textrec
from tests.serving import running_server
from textrec.cli import app
from textrec.pages.pipeline import PageResult
from textrec.reading import CropResult, Reader
from textrec.recognizer import load_recognizer
from textrec.serve.app import create_app
from textrec.serve.settings import ServeSettings

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def big_word(text: str = "door", size: tuple[int, int] = (558, 237)) -> Image.Image:
    """A word photo enlarged past the page-size threshold (at least 200x200): one line of big letters."""
    image = Image.new("L", size, 225)
    font = ImageFont.load_default(size=int(size[1] * 0.55))
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((size[0] - right + left) / 2 - left, (size[1] - bottom + top) / 2 - top), text, fill=30, font=font)
    return image


@pytest.fixture(scope="module")
def reader():
    return Reader(load_recognizer(None), "auto")


def test_a_big_word_photo_is_read_as_a_line_in_auto_mode(reader):
    photo = big_word()
    assert photo.width >= 200 and photo.height >= 200
    result = reader.read([photo])[0]
    assert isinstance(result, CropResult) and result.text == "door"
    assert isinstance(reader.read([two_column_page()])[0], PageResult), "pages still read as pages"


def test_auto_mode_detects_each_turn_of_a_one_row_photo_once(reader, monkeypatch):
    """A small sign in a big photo is looked at as a page of two rows, then as one row cut out: the second look
    reuses the detections of the first, so no turn of the photo goes through the detector twice."""
    photo = Image.new("L", (640, 420), 225)
    ImageDraw.Draw(photo).text((380, 250), "Exit 12", fill=30, font=ImageFont.load_default(size=34))
    detector = reader.page_reader().detector
    seen: list[str] = []
    detect = detector.detect

    def counting(page, *args, **kwargs):
        seen.append(hashlib.md5(page.tobytes()).hexdigest() + str(page.size))
        return detect(page, *args, **kwargs)

    monkeypatch.setattr(detector, "detect", counting)
    result = reader.read([photo])[0]
    assert isinstance(result, PageResult) and "12" in result.text
    assert len(seen) >= 2 and len(seen) == len(set(seen)), seen


def test_a_blank_image_reads_as_nothing_surely_among_others(reader):
    """A crop or page with no ink gives an empty reading (the network reads junk there), in its place."""
    faint = Image.new("RGB", (300, 80), (200, 220, 255))
    faint.putpixel((10, 10), (196, 216, 251))  # scanner noise under the spread, not ink
    results = reader.read([faint, big_word(), Image.new("L", (3000, 2000), 255)])
    assert [r.text for r in results] == ["", "door", ""]
    assert results[0].confidence == 1.0 and results[0].boxes == []
    assert isinstance(results[2], CropResult), "a blank page needs no line detector"


def test_character_boxes_are_a_pixel_wide_at_least_in_a_crop_narrower_than_its_columns():
    from textrec.reading.reader import char_boxes

    boxes = char_boxes([0, 5, 40, 159], stride=4, resized_width=640, size=(60, 3))
    assert all(0 <= x0 < x1 <= 60 and (y0, y1) == (0, 3) for x0, y0, x1, y1 in boxes)
    assert char_boxes([2], stride=4, resized_width=100, size=(100, 32)) == [[8, 0, 12, 32]]


def test_results_come_back_in_the_order_given(tmp_path):
    two_column_page().save(tmp_path / "b-page.png")
    words = [tmp_path / "a.png", tmp_path / "c.png"]
    for path, name in zip(words, ["hello.png", "station.png"]):
        path.write_bytes((EXAMPLES / name).read_bytes())
    runner = CliRunner()
    args = ["read", str(words[0]), str(tmp_path / "b-page.png"), str(words[1])]
    printed = [json.loads(line) for line in runner.invoke(app, [*args, "--json"]).output.splitlines()]
    assert [Path(p["input"]).name for p in printed] == ["a.png", "b-page.png", "c.png"]
    assert [p["mode"] for p in printed] == ["line", "page", "line"]
    text = runner.invoke(app, args).output
    assert text.index("a.png") < text.index("== ") < text.index("c.png")


def test_python_read_defaults_to_auto():
    assert isinstance(textrec.read(two_column_page()), PageResult)
    assert textrec.read(EXAMPLES / "hello.png").text == "Hello"
    assert isinstance(textrec.read(two_column_page(), mode="line"), textrec.read(big_word()).__class__)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_server_defaults_to_auto_and_honours_mode_in_the_url_and_in_batches():
    page, word = png(two_column_page()), png(big_word())
    with running_server(create_app(ServeSettings())) as url, httpx.Client(base_url=url, timeout=60) as client:
        plain = client.post("/predict", files={"file": ("page.png", page)}).json()
        assert plain["mode"] == "page" and len(plain["lines"]) == len(LEFT + RIGHT)
        as_line = client.post("/predict?mode=line", files={"file": ("page.png", page)}).json()
        assert as_line["mode"] == "line" and "\n" not in as_line["text"]
        bad = client.post("/predict?mode=poster", files={"file": ("page.png", page)})
        assert bad.status_code == 422
        assert client.post("/predict", files={"file": ("door.png", word)}).json()["text"] == "door"
        batch = client.post("/predict/batch", files=[("files", ("page.png", page)), ("files", ("door.png", word))])
        results = batch.json()["results"]
        assert [r["mode"] for r in results] == ["page", "line"] and results[1]["text"] == "door"
        forced = client.post("/predict/batch", data={"mode": "line"}, files=[("files", ("page.png", page))])
        assert forced.json()["results"][0]["mode"] == "line"


def test_one_pixel_limit_for_every_entry_point_naming_the_file(tmp_path):
    from textrec.preprocess import MAX_PIXELS
    from textrec.serve.settings import ServeSettings as Settings

    assert Settings().max_pixels == MAX_PIXELS == 60_000_000
    from test_serve import png_claiming

    huge = tmp_path / "huge.png"
    huge.write_bytes(png_claiming(30_000, 30_000))  # past Pillow's own bomb limit too
    result = CliRunner().invoke(app, ["read", str(huge)])
    assert result.exit_code == 1
    assert f"{huge} is 30000x30000 = 900,000,000 pixels; the limit is 60,000,000" in result.output


def test_version_and_an_image_on_standard_input():
    runner = CliRunner()
    assert runner.invoke(app, ["--version"]).output.strip() == f"textrec {textrec.__version__}"
    result = runner.invoke(app, ["read", "-", "--json"], input=(EXAMPLES / "hello.png").read_bytes())
    assert result.exit_code == 0, result.output
    reading = json.loads(result.output)
    assert reading["input"] == "-" and reading["text"] == "Hello"


SIDEWAYS_RECEIPT = Path(__file__).resolve().parents[2] / "shared" / "data" / "sroie" / "pages" / "241.jpg"


@pytest.mark.skipif(not SIDEWAYS_RECEIPT.is_file(), reason="needs ../shared/data/sroie (see ../shared/README.md)")
def test_a_sideways_receipt_whose_scraps_read_confidently_is_still_turned(reader):
    """SROIE page 241 on its side reads as scraps with a mean confidence above the 'sure' level: few confident
    characters now send it to the other turns too (benchmarks/ORIENTATION.md)."""
    from PIL import Image as PILImage

    page = reader.read([PILImage.open(SIDEWAYS_RECEIPT).convert("L").rotate(270, expand=True)])[0]
    assert isinstance(page, PageResult) and page.turned == 90 and len(page.lines) > 20


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_a_turned_page_is_found_turned_and_read_upright(reader, angle):
    from rapidfuzz.distance import Levenshtein

    given = two_column_page().rotate(angle, expand=True)
    page = reader.read([given])[0]
    assert isinstance(page, PageResult) and page.turned == (360 - angle) % 360
    assert len(page.lines) == len(LEFT + RIGHT) and page.to_dict()["turned"] == page.turned
    assert Levenshtein.normalized_distance(page.lines[0].text.lower(), LEFT[0]) < 0.25, page.lines[0].text
    for line in page.lines:  # boxes in the pixels of the image as given
        xs, ys = line.quad[0::2], line.quad[1::2]
        assert 0 <= min(xs) < max(xs) <= given.width + 2 and 0 <= min(ys) < max(ys) <= given.height + 2


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_a_reading_does_not_depend_on_its_batch_mates(backend):
    from tests.helpers import render

    recognizer = load_recognizer(None, backend)
    word = Image.open(EXAMPLES / "hello.png").convert("L")
    alone = recognizer.read_images([word])[0]
    mates = [render(text, font_size=size) for text, size in [("x", 20), ("a much longer line of text", 22),
                                                             ("Hellos", 24), ("market street 12", 18)]]
    together = recognizer.read_images([*mates, word, *mates])[len(mates)]
    assert (together.text, round(together.confidence, 4)) == (alone.text, round(alone.confidence, 4))
    assert [round(c, 4) for c in together.chars] == [round(c, 4) for c in alone.chars]


def test_a_ten_page_pdf_is_read_page_by_page_with_progress(tmp_path):
    from tests.helpers import render

    pages = [two_column_page().convert("RGB") if i % 3 == 0 else render(f"page {i}", height=48).convert("RGB")
             for i in range(10)]
    pdf = tmp_path / "doc" / "ten.pdf"
    pdf.parent.mkdir()
    pages[0].save(pdf, save_all=True, append_images=pages[1:], resolution=100)
    result = CliRunner().invoke(app, ["read", str(pdf.parent), "--json", "--dpi", "100"])  # a folder finds the PDF
    assert result.exit_code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if "page" in line]
    assert progress == [f"{pdf}: page {n}/10" for n in range(1, 11)]
    document = json.loads(result.stdout)
    assert document["mode"] == "document" and [p["page"] for p in document["pages"]] == list(range(1, 11))
    assert document["pages"][0]["mode"] == "page" and len(document["pages"][0]["lines"]) == len(LEFT + RIGHT)
    assert "page" in document["pages"][1]["text"] and document["text"].count("\f") == 9


def test_a_broken_or_oversized_pdf_is_one_line_naming_it(tmp_path):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nnot really")
    result = CliRunner().invoke(app, ["read", str(broken)])
    assert result.exit_code == 1 and "cannot read PDF" in result.stderr and str(broken) in result.stderr
    big = tmp_path / "big.pdf"
    Image.new("RGB", (2000, 2000), "white").save(big, resolution=10)  # 200 x 200 inches
    result = CliRunner().invoke(app, ["read", str(big), "--dpi", "300"])
    assert result.exit_code == 1 and "page 1 is 60000x60000" in result.stderr and "--dpi" in result.stderr


def test_a_searchable_pdf_has_the_text_where_the_words_are(tmp_path):
    import pypdfium2

    page_image = tmp_path / "columns.png"
    two_column_page().save(page_image)
    out = tmp_path / "searchable.pdf"
    result = CliRunner().invoke(app, ["read", str(page_image), str(EXAMPLES / "hello.png"), "--json",
                                      "--pdf", str(out), "--dpi", "100"])
    assert result.exit_code == 0, result.output
    page_result = json.loads(result.stdout.splitlines()[0])
    document = pypdfium2.PdfDocument(str(out))
    assert len(document) == 2
    text_page = document[0].get_textpage()
    assert "quick" in text_page.get_text_range().lower()
    assert "hello" in document[1].get_textpage().get_text_range().lower()
    points = 72 / 100  # image pixels to PDF points at --dpi 100
    height = page_result["height"] * points
    for line in page_result["lines"][:4]:
        for word in line["words"]:
            xs, ys = word["quad"][0::2], word["quad"][1::2]
            found = text_page.get_text_bounded(left=min(xs) * points - 2, right=max(xs) * points + 2,
                                               top=height - min(ys) * points + 2, bottom=height - max(ys) * points - 2)
            assert word["text"] in found, (word["text"], found)


def test_alto_and_tsv_hold_every_word_with_its_box(tmp_path):
    import csv
    import xml.etree.ElementTree as ElementTree

    page_image = tmp_path / "columns.png"
    two_column_page().save(page_image)
    result = CliRunner().invoke(app, ["read", str(page_image), "--json", "--alto", str(tmp_path / "p.xml"),
                                      "--tsv", str(tmp_path / "p.tsv")])
    assert result.exit_code == 0, result.output
    page = json.loads(result.stdout)
    words = [w for line in page["lines"] for w in line["words"]]
    namespace = {"a": "http://www.loc.gov/standards/alto/ns-v4#"}
    strings = ElementTree.parse(tmp_path / "p.xml").getroot().findall(".//a:String", namespace)
    assert [s.get("CONTENT") for s in strings] == [w["text"] for w in words]
    assert len(ElementTree.parse(tmp_path / "p.xml").getroot().findall(".//a:TextLine", namespace)) == 8
    rows = list(csv.DictReader(open(tmp_path / "p.tsv"), delimiter="\t"))
    word_rows = [r for r in rows if r["level"] == "5"]
    assert [r["text"] for r in word_rows] == [w["text"] for w in words]
    first, quad = word_rows[0], words[0]["quad"]
    assert abs(int(first["left"]) - min(quad[0::2])) <= 1 and abs(int(first["top"]) - min(quad[1::2])) <= 1


def test_a_multi_page_tiff_is_read_page_by_page(tmp_path):
    path = tmp_path / "scan.tif"
    two_column_page().save(path, save_all=True, append_images=[Image.open(EXAMPLES / "hello.png").convert("L")])
    result = CliRunner().invoke(app, ["read", str(path), "--json", "--pdf", str(tmp_path / "scan.pdf")])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["mode"] == "document" and [p["mode"] for p in document["pages"]] == ["page", "line"]
    assert document["pages"][1]["text"] == "Hello" and len(document["pages"][0]["lines"]) == len(LEFT + RIGHT)
    import pypdfium2

    assert len(pypdfium2.PdfDocument(str(tmp_path / "scan.pdf"))) == 2
