"""DDP on CPU with the gloo backend: two processes split the data and end with the same weights."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import TINY_NETWORK
from textrec.charset import Charset
from textrec.data.dataset import BucketedBatches, Collate, TextDataset, mixed
from textrec.data.sources import AnnotationFile
from textrec.errors import TextrecError
from textrec.preprocess import PreprocessConfig

SCRIPT = Path(__file__).parent / "scripts" / "ddp_train.py"


def test_two_ddp_processes_see_disjoint_data_and_end_with_identical_weights(digits_data, tmp_path):
    overrides = [f"out_dir={tmp_path / 'runs'}", "name=ddp", "model.charset=digits", f"model.network={TINY_NETWORK}",
                 f"data.train=[{{path: {digits_data['train']}}}]", f"data.val=[{{path: {digits_data['val']}}}]",
                 "data.batch_size=16", "data.num_workers=1", "train.max_epochs=2", "train.lr=0.002",
                 "train.accelerator=cpu", "train.devices=2", "train.strategy=ddp", "train.logger=csv",
                 "train.samples_to_print=0"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent), MASTER_PORT=str(_free_port()))
    env.pop("TEXTREC_RUN_DIR", None)
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), *overrides], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 for r in ranks)
    per_epoch = 600 // 2 // 16 * 16  # each rank: half the samples, whole batches
    first, second = ([set(r["names"][:per_epoch]) for r in ranks], [set(r["names"][per_epoch:]) for r in ranks])
    for epoch in (first, second):
        assert len(epoch[0]) == len(epoch[1]) == per_epoch  # no sample twice on one rank in an epoch...
        assert not epoch[0] & epoch[1]  # ...nor on both ranks
    assert first[0] != second[0]  # a new order each epoch
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert ranks[0]["steps"] == ranks[1]["steps"] == 2 * (600 // 2 // 16)
    assert ranks[0]["lr"] == 2 * 0.002  # linear scaling with the global batch
    # one run folder, written by rank 0 only
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert runs == ["ddp"], runs
    assert (tmp_path / "runs" / "ddp" / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "runs" / "ddp" / "model" / "weights.safetensors").is_file()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG = PreprocessConfig()


def _dataset(digits_data) -> TextDataset:
    return TextDataset(AnnotationFile(digits_data["val"]), Charset.from_spec("digits"), CONFIG, 4)


def test_sampler_shards_are_disjoint_equal_and_resumable(digits_data):
    dataset = _dataset(digits_data)
    _, sampler = mixed([dataset, dataset], [1.0, 1.0], epoch_size=150, seed=3)
    shards = []
    for rank in range(3):
        sampler.shard(rank, 3)
        shards.append(list(sampler))
    assert [len(s) for s in shards] == [50, 50, 50]
    flat = [i for s in shards for i in s]
    assert len(flat) == len(set(flat))  # ~75 draws from each 100-sample source: none twice in the epoch
    assert 0.35 < sum(i < 100 for i in flat) / 150 < 0.65
    sampler.shard(1, 3)
    sampler.resume(0, 20)
    assert list(sampler) == shards[1][20:]  # a resumed epoch skips what was consumed
    assert list(sampler) == shards[1]  # ...once
    sampler.set_epoch(1)
    assert list(sampler) != shards[1]


def test_bucketed_batches_shard_by_rank_and_worker(digits_data):
    dataset = _dataset(digits_data)
    names = []
    for rank in range(2):
        bucketed = BucketedBatches([dataset], [1.0], num_batches=10, batch_size=4, collate=Collate(CONFIG),
                                   pool_batches=1)
        bucketed.shard(rank, 2)
        names.append([n for batch in bucketed for n in batch["names"]])
    assert len(names[0]) == len(names[1]) == 5 * 4
    assert not set(names[0]) & set(names[1])
    assert len(set(names[0])) == len(names[0])


def test_validation_metrics_are_summed_across_ranks():
    """CER over two ranks is total edits / total characters, not the mean of the two ranks' CERs."""
    from types import SimpleNamespace

    from textrec.training.system import RecognitionSystem

    system = RecognitionSystem(TINY_NETWORK, "0123456789")
    other_rank = torch.tensor([0.0, 10.0, 1.0, 1.0], dtype=torch.float64)  # edits, chars, right, count
    strategy = SimpleNamespace(reduce=lambda t, reduce_op: t + other_rank)
    system._trainer = SimpleNamespace(world_size=2, strategy=strategy, sanity_checking=True)
    system._val_predictions = [("a", "12", "13")]  # this rank: 1 edit in 2 characters
    logged = {}
    system.log = lambda name, value, **kw: logged.__setitem__(name, value)
    system.on_validation_epoch_end()
    assert logged["val/cer"] == 1 / 12 and logged["val/acc"] == 1 / 2


def test_detector_data_differs_by_rank_and_its_validation_pages_split():
    """The detector's crops (every rank starts from one seed) differ per rank; its held-out pages are shared
    out, each scored once, and the counts summed as for the recognizer (DetectionSystem._sum_over_ranks)."""
    import random

    import numpy as np

    from textrec.pages.detect import DetectorInput
    from textrec.training.config import load_config
    from textrec.training.detector import PageCrops, WholePages

    config, detector_input = load_config(None, ["task=detect", "data.crop=64"]), DetectorInput(target_pixels=60_000)
    crops = []
    for rank in range(2):
        random.seed(0)
        stream = PageCrops(config, [], detector_input)
        stream.shard(rank, 2)
        crops.append(next(iter(stream))["images"])
    assert crops[0].shape == (1, 64, 64) and not np.array_equal(*crops)
    pages = [(Path(f"{i:03d}.png"), []) for i in range(5)]
    shares = []
    for rank in range(2):
        held_out = WholePages(pages, detector_input)
        held_out.shard(rank, 2)
        shares.append([held_out._share()[i][0].name for i in range(len(held_out))])
    assert sorted(shares[0] + shares[1]) == [p.name for p, _ in pages] and len(shares[0]) == 3
    with pytest.raises(TextrecError, match="1 held-out page.*for 2 processes"):
        WholePages(pages[:1], detector_input).shard(1, 2)
