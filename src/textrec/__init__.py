"""textrec: train, evaluate and run text recognizers for words and lines.

    import textrec
    textrec.read("word.png").text
    textrec.read_page("receipt.jpg").text
"""
from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textrec.recognizer import Recognizer


def __getattr__(name: str) -> Any:
    # Lazy, so `import textrec` (and the torch-free runtime) does not pull in torch.
    if name in ("Recognizer", "read", "default_model_path"):
        from textrec import recognizer

        return getattr(recognizer, name)
    if name in ("read_page", "PageReader"):
        from textrec.pages import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)


__all__ = ["Recognizer", "read", "read_page", "PageReader", "__version__"]
