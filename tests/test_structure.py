"""The package's structure (issues 20 and 22): no import cycle among modules at import time, the page pipeline
and the reader do not import the training side, and the runtime stays torch-free."""
from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def module_imports() -> dict[str, set[str]]:
    """Module -> textrec modules it imports at import time (top-level statements; imports inside functions
    are deliberate lazy ones)."""
    graph = {}
    for path in (SRC / "textrec").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        deps = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("textrec"):
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps |= {alias.name for alias in node.names if alias.name.startswith("textrec")}
        graph[name] = {d for d in deps if d != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep] if dep in path else [node, dep]
            if state.get(dep) is None:
                found = visit(dep, path + [dep])
                if found:
                    return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = visit(node, [node])
            if found:
                return found
    return None


def test_no_import_cycle():
    assert find_cycle(module_imports()) is None, find_cycle(module_imports())


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_reading_pages_without_the_training_side_or_torch():
    """A page (and a word) read end to end loads nothing of training, the data package, torch or Lightning."""
    code = ("import sys; from PIL import Image, ImageDraw; import textrec; "
            "page = Image.new('L', (600, 400), 255); draw = ImageDraw.Draw(page); "
            "[draw.text((40, 40 + 60 * i), 'a line of text here', fill=0, font_size=28) for i in range(5)]; "
            "textrec.read(page); textrec.read(page.crop((30, 30, 400, 80))); "
            "bad = [m for m in sys.modules if m.startswith(('textrec.training', 'textrec.data', 'torch', "
            "'lightning'))]; print(bad)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


def test_synth_preview_and_writing_without_torch(tmp_path):
    """`textrec synth --preview` and `--out` (folder and LMDB) run with torch not importable (issue 22)."""
    code = ("import sys; sys.modules['torch'] = None\n"  # every `import torch...` now fails, as without the extra
            "from textrec.cli import main\n"
            "for args in (['--preview', 'grid.png'], ['--n', '3', '--workers', '1', '--out', 'dir'],\n"
            "             ['--n', '3', '--workers', '1', '--out', 's.lmdb']):\n"
            "    sys.argv = ['textrec', 'synth', *args]\n"
            "    try:\n"
            "        main()\n"
            "    except SystemExit as exc:\n"
            "        assert not exc.code, args\n"
            "print([m for m in sys.modules if m.startswith(('torch', 'lightning', 'textrec.synth.dataset')) "
            "and sys.modules[m] is not None])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip().endswith("[]"), result.stdout + result.stderr
    from PIL import Image

    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.format == "PNG" and grid.size == (990, 928)  # 48 samples, 3 columns of 330 x 58
    assert len((tmp_path / "dir" / "labels.tsv").read_text().splitlines()) == 3
    assert (tmp_path / "s.lmdb" / "data.mdb").stat().st_size > 0


def test_one_module_owns_the_model_file_names():
    """File names and metadata keys are written once, in textrec/modelfile.py."""
    names = ['"weights.safetensors"', '"config.json"', '"model.onnx"', '"textrec_config"', '"lm.npz"',
             '"textrec-model"', '"textrec_config.json"']
    for path in (SRC / "textrec").rglob("*.py"):
        if path.name == "modelfile.py":
            continue
        text = path.read_text()
        assert not [n for n in names if n in text], f"{path.relative_to(SRC)} spells out a model file name"


def test_a_model_folder_file_that_links_outside_is_refused(tmp_path):
    import shutil

    import pytest

    from textrec.errors import TextrecError
    from textrec.recognizer import default_model_path, load_recognizer

    model = tmp_path / "model"
    shutil.copytree(default_model_path(), model, ignore=shutil.ignore_patterns("model.onnx", "lm.npz"))
    outside = tmp_path / "elsewhere.npz"
    shutil.copy(default_model_path() / "lm.npz", outside)
    (model / "lm.npz").symlink_to(outside)
    with pytest.raises(TextrecError, match="outside its model folder"):
        load_recognizer(model, "torch", decoder="lm")


def test_a_strangers_model_config_asking_for_huge_sizes_is_refused_by_key():
    import pytest

    from textrec.errors import TextrecError
    from textrec.modelfile import check_model_config

    good = {"charset": "abc", "network": {"name": "crnn", "channels": [32, 64], "rnn_hidden": 128},
            "preprocess": {"height": 32}}
    assert check_model_config(good, "m") is good
    for section, key, value in [("network", "channels", [32, 10**7]), ("network", "rnn_hidden", 10**9),
                                ("network", "rnn_layers", "8"), ("preprocess", "height", 100_000),
                                ("preprocess", "max_width", 10**12), ("network", "dropout", float("nan"))]:
        bad = {**good, section: {**good[section], key: value}}
        with pytest.raises(TextrecError, match=f"{section}.{key}"):
            check_model_config(bad, "m")
    with pytest.raises(TextrecError, match="charset"):
        check_model_config({**good, "charset": "x" * 100_000}, "m")


def test_backends_are_reached_through_their_public_protocol():
    """Export checks, benchmarks and tests call `logits`/`encode`/`step` (textrec.inference.Backend), not a
    backend's private methods."""
    import re

    from textrec.inference import Backend
    from textrec.recognizer import Recognizer, TorchScriptRecognizer
    from textrec.runtime import OnnxRecognizer

    private = re.compile(r"(?<!self)\.(_run|_encode|_step|_configure)\(")
    offenders = [f"{path.relative_to(ROOT)}:{number}" for folder in ("src", "benchmarks", "tests", "tools")
                 for path in (ROOT / folder).rglob("*.py")
                 for number, line in enumerate(path.read_text().splitlines(), 1) if private.search(line)]
    assert offenders == []
    for backend in (Recognizer, TorchScriptRecognizer, OnnxRecognizer):  # TorchScript exports CTC models only
        names = ("logits",) if backend is TorchScriptRecognizer else ("logits", "encode", "step")
        assert all("NotImplementedError" not in inspect.getsource(getattr(backend, name)) for name in names)
    assert {"logits", "encode", "step"} <= set(dir(Backend))


def test_no_test_imports_conftest():
    """Helpers live in tests/helpers.py (`from tests.helpers import ...`); conftest.py holds fixtures, which pytest
    injects by name, so no test imports it (issue 22)."""
    tests = Path(__file__).resolve().parent
    offenders = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.ImportFrom) and node.module == "conftest"
                    or isinstance(node, ast.Import) and any(a.name == "conftest" for a in node.names)):
                offenders.append(f"{path.relative_to(tests)}:{node.lineno}")
    assert not offenders, offenders
