"""textrec: train, evaluate and run text recognizers for words and lines.

    import textrec
    textrec.read("word.png").text
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
    raise AttributeError(name)


__all__ = ["Recognizer", "read", "__version__"]
