"""Shared fixtures: small datasets on disk, a tiny trained model; the test tiers. Plain helpers are in
tests/helpers.py."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.helpers import TINY_NETWORK, random_digits, write_dataset


@pytest.fixture(scope="session")
def digits_data(tmp_path_factory) -> dict[str, Path]:
    """A train and a validation set of rendered digit strings."""
    root = tmp_path_factory.mktemp("digits")
    rng = random.Random(7)
    train = write_dataset(root / "train", [random_digits(rng) for _ in range(600)], seed=1)
    val = write_dataset(root / "val", [random_digits(rng) for _ in range(100)], seed=2)
    return {"train": train, "val": val, "root": root}


@pytest.fixture(scope="session")
def trained_model(digits_data, tmp_path_factory) -> Path:
    """A small digit reader trained for a few hundred steps; shared by the CLI and API tests."""
    from textrec.training.config import load_config
    from textrec.training.run import train

    out = tmp_path_factory.mktemp("runs")
    config = load_config(None, [
        f"out_dir={out}", "name=digits", "model.charset=digits", f"model.network={TINY_NETWORK}",
        f"data.train=[{{path: {digits_data['train']}}}]", f"data.val=[{{path: {digits_data['val']}}}]",
        "data.batch_size=16", "data.num_workers=0", "data.cache=true", "train.max_epochs=10", "train.lr=0.003",
        "train.logger=csv", "train.samples_to_print=0",
    ])
    folder = train(config)
    return folder / "model"


# Test tiers, by file: what each file does decides its tier, so a new test lands in the right one by where it is.
TIERS = {
    "slow": {"test_architectures.py", "test_crash_safety.py", "test_distributed.py", "test_fuzz_readers.py",
             "test_fuzz_images.py", "test_gpu_recipe.py", "test_training.py", "test_pages.py", "test_batch.py",
             "test_cli.py", "test_export.py", "test_default_model.py", "test_shared_data.py", "test_quickstart.py",
             "test_notebook.py", "test_detector_training.py"},
    "integration": {"test_serve.py", "test_serve_isolation.py", "test_serve_limits.py", "test_lambda.py",
                    "test_front_ends.py", "test_extras.py", "test_reader.py"},
    "browser": {"test_web_page.py"},
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for tier, files in TIERS.items():
            if item.path.name in files:
                item.add_marker(getattr(pytest.mark, tier))
