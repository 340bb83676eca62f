"""Maintainer tool: after a bundled model's config.json changes (a rule of the reader, not the network), write
it into the metadata of the model.onnx beside it, which is what the torch-free runtime reads. The graph and
its int8 weights stay byte for byte as they were (re-exporting would recalibrate them).

    python tools/sync_onnx_config.py src/textrec/models/default
"""
import json
import sys
from pathlib import Path

import onnx

from textrec.modelfile import CONFIG, METADATA_KEY, ONNX_NAME


def sync(folder: Path) -> list[str]:
    """Copy every config.json key into the ONNX metadata; returns the keys that changed."""
    config = json.loads((folder / CONFIG).read_text())
    graph = onnx.load(str(folder / ONNX_NAME))
    entry = next(p for p in graph.metadata_props if p.key == METADATA_KEY)
    metadata = json.loads(entry.value)
    changed = [key for key in config if metadata.get(key) != config[key]]
    metadata.update(config)
    entry.value = json.dumps(metadata)
    onnx.save(graph, str(folder / ONNX_NAME))
    return changed


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(name, "changed:", ", ".join(sync(Path(name))) or "nothing")
