import numpy as np
import pytest
from PIL import Image

from tests.helpers import render, write_dataset
from textrec.data.lmdb_store import LmdbSource, encode_png, write_lmdb
from textrec.data.sources import AnnotationFile, IcdarQuads, LabelFolder, MJSynth, crop_quad, md5_split, open_source
from textrec.errors import TextrecError


def test_annotation_tab_and_space(tmp_path):
    tab = write_dataset(tmp_path / "tab", ["hello world", "x"])
    source = AnnotationFile(tab)
    assert source.labels == ["hello world", "x"]  # a tab keeps spaces in the label
    assert source.load(0).mode == "L"
    space = write_dataset(tmp_path / "space", ["abc", "de f"], separator=" ")
    assert AnnotationFile(space).labels == ["abc", "de f"]


def test_annotation_bad_line_names_file_and_line(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("a.png\tok\njustonefield\n")
    with pytest.raises(TextrecError, match=r"labels.txt:2: expected"):
        AnnotationFile(path)


def test_label_folder(tmp_path):
    for label in ("2b827", "x9y"):
        render(label).save(tmp_path / f"{label}.png")
    (tmp_path / "notes.txt").write_text("ignored")
    assert LabelFolder(tmp_path).labels == ["2b827", "x9y"]


def test_mjsynth_layout(tmp_path):
    (tmp_path / "1" / "2").mkdir(parents=True)
    render("Word").save(tmp_path / "1" / "2" / "123_Word_456.jpg")
    render("under_score").save(tmp_path / "1" / "2" / "7_under_score_8.jpg")
    (tmp_path / "annotation.txt").write_text("./1/2/123_Word_456.jpg 456\n./1/2/7_under_score_8.jpg 8\n")
    source = open_source(str(tmp_path))
    assert isinstance(source, MJSynth) and source.labels == ["Word", "under_score"]
    assert source.load(1).size[1] == 32


def test_icdar_quads_are_cropped_upright(tmp_path):
    page = Image.new("L", (300, 200), 255)
    page.paste(render("TOTAL 9.99"), (40, 60))
    (tmp_path / "pages").mkdir(), (tmp_path / "boxes").mkdir()
    page.save(tmp_path / "pages" / "000.jpg")
    width = render("TOTAL 9.99").width
    (tmp_path / "boxes" / "000.csv").write_text(
        f"40,60,{40 + width},60,{40 + width},92,40,92,TOTAL 9.99\n1,1,2,1,2,2,1,2,###\n")
    source = open_source(str(tmp_path))
    assert isinstance(source, IcdarQuads) and source.labels == ["TOTAL 9.99"]
    crop = source.load(0)
    assert crop.size == (width, 32)
    assert np.asarray(crop).min() < 100  # the text is inside the crop


def test_icdar_text_with_commas(tmp_path):
    (tmp_path / "p.csv").write_text("0,0,10,0,10,5,0,5,1,234.00\n")
    Image.new("L", (20, 10), 255).save(tmp_path / "p.png")
    assert IcdarQuads(tmp_path).labels == ["1,234.00"]


def test_crop_quad_rectifies_a_rotated_box():
    page = Image.new("L", (100, 100), 255)
    crop = crop_quad(page, (10, 20, 60, 10, 62, 30, 12, 40))  # slanted quad
    assert crop.size == (51, 20)


def test_lmdb_round_trip(tmp_path):
    images = [render(t) for t in ("one", "two", "three")]
    count = write_lmdb(tmp_path / "d.lmdb", [(encode_png(im), t) for im, t in zip(images, ["one", "two", "three"])])
    assert count == 3
    source = open_source(str(tmp_path / "d.lmdb"))
    assert isinstance(source, LmdbSource) and source.labels == ["one", "two", "three"]
    assert np.array_equal(np.asarray(source.load(2)), np.asarray(images[2]))


def test_md5_split_is_disjoint_complete_and_not_by_name(tmp_path):
    labels = [f"{c}{i}" for c in "abcdefghijklmnopqrstuvwxyz" for i in range(4)]
    for label in labels:
        render(label).save(tmp_path / f"{label}.png")
    source = LabelFolder(tmp_path)
    train, test = md5_split(source, "train"), md5_split(source, "test")
    assert len(train) == round(0.8 * len(labels)) and set(train.labels) | set(test.labels) == set(labels)
    assert not set(train.labels) & set(test.labels)
    assert any(label[0] in "tuvwxyz" for label in train.labels)  # a split by name would hold these out
    val = md5_split(source, range=(0.7, 0.8))
    assert set(val.labels) <= set(train.labels)


def test_unknown_source_errors(tmp_path):
    with pytest.raises(TextrecError, match="data not found"):
        open_source(str(tmp_path / "nope"))
    with pytest.raises(TextrecError, match="unknown data source type"):
        open_source({"type": "csv", "path": str(tmp_path)})


def test_md5_split_by_group_keeps_each_group_on_one_side(tmp_path):
    """split.group: crops cut from one photo (IIIT5K names them PHOTO_WORD) never straddle train and val."""
    lines = [f"{photo}_{word}.png\tw{photo}x{word}" for photo in range(40) for word in range(1, 4)]
    (tmp_path / "labels.tsv").write_text("\n".join(lines) + "\n")
    for line in lines:
        render(line.split("\t")[1]).save(tmp_path / line.split("\t")[0])
    def photo(names) -> set[str]:  # names read 'labels.tsv:7 (2_1.png)'
        return {n.rsplit("(", 1)[1].split("_")[0] for n in names}

    spec = {"path": str(tmp_path / "labels.tsv")}
    train = open_source({**spec, "split": {"range": [0.2, 1.0], "group": "^[^_]+"}})
    val = open_source({**spec, "split": {"range": [0.0, 0.2], "group": "^[^_]+"}})
    assert len(train) + len(val) == len(lines) and len(photo(val.names)) == 8  # a fifth of 40 photos
    assert not photo(train.names) & photo(val.names)
    by_word = open_source({**spec, "split": {"range": [0.0, 0.2]}})
    assert photo(by_word.names) & photo(open_source({**spec, "split": {"range": [0.2, 1.0]}}).names)
    with pytest.raises(TextrecError, match="not a regular expression"):
        open_source({**spec, "split": {"range": [0.0, 0.2], "group": "("}})
