import pytest

from tests.helpers import render, write_dataset
from textrec.charset import Charset
from textrec.data.augment import AugmentConfig, Augmenter
from textrec.data.dataset import Collate, TextDataset
from textrec.data.sources import AnnotationFile
from textrec.errors import TextrecError
from textrec.preprocess import PreprocessConfig

CONFIG = PreprocessConfig()


def test_unknown_character_error_names_file_line_and_char(tmp_path):
    path = write_dataset(tmp_path, ["123", "12x"])
    with pytest.raises(TextrecError, match=r"labels.tsv:2 .*'12x'.*'x'"):
        TextDataset(AnnotationFile(path), Charset.from_spec("digits"), CONFIG, 4)


def test_unknown_character_can_be_dropped_and_counted(tmp_path):
    path = write_dataset(tmp_path, ["123", "12x", "4"])
    dataset = TextDataset(AnnotationFile(path), Charset.from_spec("digits"), CONFIG, 4, on_unknown="drop")
    assert len(dataset) == 2 and len(dataset.label_report.dropped) == 1


def test_corrupt_image_is_skipped_and_reported(tmp_path):
    path = write_dataset(tmp_path, ["12", "34"])
    (tmp_path / "images" / "00001.png").write_bytes(b"\x89PNG broken")
    dataset = TextDataset(AnnotationFile(path), Charset.from_spec("digits"), CONFIG, 4)
    batch = Collate(CONFIG)([dataset[0], dataset[1]])
    assert batch["labels"] == ["12"] and len(batch["skipped"]) == 1
    assert "00001.png" in batch["skipped"][0] and "corrupt" in batch["skipped"][0]


def test_label_too_long_for_the_image_is_rejected_with_its_name(tmp_path):
    path = tmp_path / "labels.tsv"
    render("1").save(tmp_path / "narrow.png")  # ~20 px wide -> 5 columns at stride 4
    path.write_text("narrow.png\t1111111111\n")
    dataset = TextDataset(AnnotationFile(path), Charset.from_spec("digits"), CONFIG, 4)
    item = dataset[0]
    assert "skip" in item and "narrow.png" in item["skip"] and "'1111111111'" in item["skip"]
    assert "needs 19 output columns" in item["skip"]


def test_collate_shapes(tmp_path):
    path = write_dataset(tmp_path, ["1", "22222"])
    dataset = TextDataset(AnnotationFile(path), Charset.from_spec("digits"), CONFIG, 4)
    batch = Collate(CONFIG)([dataset[0], dataset[1]])
    assert batch["images"].shape[:3] == (2, 1, 32)
    assert batch["target_lengths"].tolist() == [1, 5] and batch["targets"].tolist() == [2, 3, 3, 3, 3, 3]


def test_every_augmentation_at_its_extreme_keeps_a_valid_image():
    extreme = AugmentConfig(p_affine=1, rotate=15, shear=0.8, p_crop=1, crop=0.3, p_stretch=1, stretch=0.6,
                            p_blur=1, blur=3, p_contrast=1, contrast=1, p_noise=1, noise=0.5, p_invert=1,
                            p_perspective=1, perspective=0.45, p_low_res=1, low_res=0.05, p_jpeg=1, jpeg=1)
    augmenter = Augmenter(extreme)
    for seed in range(30):
        augmenter.rng.seed(seed)
        image = augmenter(render("augment me", seed=seed))
        assert image.mode == "L" and image.width > 0 and image.height > 0


def test_perspective_keeps_the_whole_word_and_low_res_loses_detail():
    """Perspective moves the corners inwards and cuts out the box around them: marks in all four corners of the
    crop survive (zooming into an inner quadrilateral would cut them off). Low resolution keeps the size and
    blurs away a 1-pixel pattern."""
    import numpy as np
    from PIL import Image

    marked = np.full((50, 200), 255, np.uint8)
    for rows in (slice(0, 8), slice(-8, None)):
        for cols in (slice(0, 8), slice(-8, None)):
            marked[rows, cols] = 0
    augmenter = Augmenter(AugmentConfig(perspective=0.3))
    for seed in range(20):
        augmenter.rng.seed(seed)
        seen = np.asarray(augmenter._perspective(Image.fromarray(marked)))
        h, w = seen.shape
        assert w < 200 or h < 50
        quadrants = [seen[rows, cols] for rows in (slice(0, h // 2), slice(h // 2, None))
                     for cols in (slice(0, w // 2), slice(w // 2, None))]
        assert all((q < 128).any() for q in quadrants), seed
    checks = (np.indices((40, 120)).sum(axis=0) % 2 * 255).astype(np.uint8)
    small = Augmenter(AugmentConfig(low_res=0.3))
    small.rng.seed(1)
    blurred = small._low_res(Image.fromarray(checks))
    assert blurred.size == (120, 40) and np.asarray(blurred).std() < 0.5 * checks.std()


def test_mixed_sources_are_drawn_by_weight(tmp_path):
    from textrec.data.dataset import mixed

    small = TextDataset(AnnotationFile(write_dataset(tmp_path / "a", ["1"] * 10)), Charset.from_spec("digits"),
                        CONFIG, 4)
    large = TextDataset(AnnotationFile(write_dataset(tmp_path / "b", ["2"] * 100)), Charset.from_spec("digits"),
                        CONFIG, 4)
    combined, sampler = mixed([small, large], [3.0, 1.0], epoch_size=4000)
    drawn = list(sampler)
    share_small = sum(i < 10 for i in drawn) / len(drawn)
    assert len(drawn) == 4000 and 0.70 < share_small < 0.80  # 3:1 by weight, not 1:10 by size


def test_bucketed_batches_come_from_one_source_with_similar_widths(tmp_path):
    from textrec.data.dataset import BucketedBatches

    short = write_dataset(tmp_path / "short", ["1", "12", "123", "1234"] * 8)
    long = write_dataset(tmp_path / "long", ["1234567890123", "123456789012345678"] * 8)
    charset = Charset.from_spec("digits")
    sets = [TextDataset(AnnotationFile(p), charset, CONFIG, 4) for p in (short, long)]
    batches = list(BucketedBatches(sets, [1.0, 1.0], num_batches=40, batch_size=4, collate=Collate(CONFIG)))
    assert len(batches) == 40
    kinds = {len(label) > 10 for b in batches for label in b["labels"]}
    assert kinds == {True, False}  # both sources used...
    for batch in batches:  # ...but never mixed in one batch
        assert len({len(label) > 10 for label in batch["labels"]}) == 1
    # neighbours by width: a short-source batch spans less than the source's whole width range
    spans = [int(b["widths"].max() - b["widths"].min()) for b in batches if len(b["labels"][0]) <= 4]
    full = max(int(b["widths"].max()) for b in batches if len(b["labels"][0]) <= 4) - \
        min(int(b["widths"].min()) for b in batches if len(b["labels"][0]) <= 4)
    assert sum(spans) / len(spans) < 0.6 * full


def test_caseless_sample_upper_cases_its_label(tmp_path):
    path = write_dataset(tmp_path, ["12"])
    path.write_text("images/00000.png\tTotal\n")
    dataset = TextDataset(AnnotationFile(path), Charset.from_spec("alnum"), CONFIG, 4, caseless=True)
    item = dataset[0]
    assert item["label"] == "TOTAL" and item["caseless"] is True


def test_bucketed_batches_carry_their_pools_into_the_next_epoch(tmp_path, monkeypatch):
    """A pool holds several batches of prepared samples; a persistent worker goes on with it next epoch instead
    of preparing a new one (with short epochs of large batches, most of the rendering was thrown away)."""
    from textrec.data.dataset import BucketedBatches

    path = write_dataset(tmp_path, [str(1000 + i) for i in range(64)])
    dataset = TextDataset(AnnotationFile(path), Charset.from_spec("digits"), CONFIG, 4)
    prepared = []
    original = TextDataset.__getitem__
    monkeypatch.setattr(TextDataset, "__getitem__", lambda self, i: prepared.append(i) or original(self, i))
    batches = BucketedBatches([dataset], [1.0], num_batches=2, batch_size=4, collate=Collate(CONFIG), pool_batches=4)
    used = sum(len(batch["labels"]) for _ in range(3) for batch in batches)  # three epochs of two batches
    assert used == 3 * 2 * 4
    assert len(prepared) == used + 3 * 4  # one pool filled once (less the batch it gave), then topped up
