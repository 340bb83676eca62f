"""The code is ruff-clean (lint rules and import order from pyproject.toml), checked in the test run CI makes."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is installed by the dev extra")
def test_ruff_finds_nothing():
    result = subprocess.run(["ruff", "check", "src", "tests", "benchmarks", "recipes", "tools"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
