"""On the base install (no torch, no server packages), a command that needs an extra says which one to install,
in one line, instead of a traceback."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

BLOCKER = """
import sys
BLOCKED = {blocked!r}
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Missing())
"""


@pytest.mark.parametrize("args, blocked, extra", [
    (["train", "--config", "configs/captcha-6char.yaml"], ("torch", "lightning"), "train"),
    (["export", "--out", "x.onnx"], ("torch",), "train"),
    (["serve"], ("fastapi", "uvicorn"), "serve"),
])
def test_a_missing_extra_is_named_in_one_line(tmp_path, args, blocked, extra):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER.format(blocked=blocked))
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "textrec.cli", *args], capture_output=True, text=True, env=env,
                            timeout=120, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert result.returncode == 2, result.stderr[-1500:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pip install 'textrec[{extra}]'" in lines[0], result.stderr[-1500:]
