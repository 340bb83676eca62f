"""The notebook walkthrough (examples/walkthrough.ipynb) runs end to end: render, train, evaluate with
pictures, read, export and the runtime (issue 21)."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_walkthrough_runs_end_to_end(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(ROOT / "examples" / "walkthrough.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "examples")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # samples, curves, the sample grid and the confusion matrix, inline
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "accuracy" in text and "read" in text
