"""The code is ruff-clean (lint rules and import order) and mypy-clean (the package), both configured in
pyproject.toml and checked in the test run CI makes. Both run through this interpreter (`python -m ...`), so an
environment with the dev extra needs no activated venv or PATH entry; each is skipped where it is not installed."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.mark.skipif(not _installed("ruff"), reason="ruff is installed by the dev extra")
def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks", "recipes", "tools"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]


@pytest.mark.skipif(not _installed("mypy"), reason="mypy is installed by the dev extra")
def test_mypy_finds_nothing():
    # files, Python version and third-party overrides come from [tool.mypy] in pyproject.toml
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
