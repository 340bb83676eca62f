"""Serving an ONNX model never imports the training stack: torch and Lightning are made unimportable, then
a real server on loopback answers a request and the web page; the schema fuzz finds no 500."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BLOCKED_SERVER = r"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "lightning", "pytorch_lightning"):
            raise ImportError(f"serving must not import {name}")
sys.meta_path.insert(0, Block())
import httpx
from textrec.serve.app import create_app
from textrec.serve.settings import ServeSettings
from tests.serving import running_server
with running_server(create_app(ServeSettings())) as url:
    response = httpx.post(url + "/predict", files={"file": ("h.png", open("examples/hello.png", "rb"), "image/png")})
    assert response.status_code == 200, response.text
    print(response.json()["text"])
loaded = [m for m in ("torch", "lightning") if m in sys.modules]
assert not loaded, loaded
"""


def test_serving_runs_without_torch_or_lightning():
    result = subprocess.run([sys.executable, "-c", BLOCKED_SERVER], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "Hello"


def test_pytorch_model_without_torch_is_a_clear_error(tmp_path):
    code = ("import sys; sys.modules['torch'] = None\n"  # as if torch were not installed
            "from textrec.recognizer import load_recognizer\n"
            "from textrec.errors import TextrecError\n"
            "try:\n    load_recognizer(sys.argv[1], backend='torch')\nexcept TextrecError as e:\n    print(e)\n")
    model = ROOT / "src" / "textrec" / "models" / "default"
    result = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=60)
    assert "not installed" in result.stdout and "textrec[train]" in result.stdout, result.stdout + result.stderr


def test_cli_serve_with_worker_processes(tmp_path):
    """`textrec serve --workers 2`: the workers build their app from TEXTREC_* variables (limits included); a
    setting without its option comes from the user's TEXTREC_<NAME>, an option wins over it."""
    import os
    import signal
    import time

    import httpx

    from tests.serving import free_port

    port = free_port()
    env = dict(os.environ, TEXTREC_API_KEY="k", TEXTREC_MAX_PIXELS="5000000", TEXTREC_MAX_BATCH_IMAGES="9")
    server = subprocess.Popen([sys.executable, "-m", "textrec.cli", "serve", "--port", str(port), "--workers", "2",
                               "--max-batch-images", "3", "--log-level", "warning"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "server did not come up"
            time.sleep(0.5)
        image = (ROOT / "examples" / "hello.png").read_bytes()
        ok = httpx.post(f"http://127.0.0.1:{port}/predict", files={"file": ("h.png", image)},
                        headers={"X-API-Key": "k"})
        assert ok.status_code == 200 and ok.json()["text"] == "Hello"
        info = httpx.get(f"http://127.0.0.1:{port}/info", headers={"X-API-Key": "k"}).json()
        assert info["max_batch_images"] == 3 and info["api_key_required"] and info["max_pixels"] == 5_000_000
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_cli_serve_refuses_a_missing_model(tmp_path):
    result = subprocess.run([sys.executable, "-m", "textrec.cli", "serve", "--model", str(tmp_path / "nope.onnx")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "not found" in result.stderr
