"""The end of every benchmark script: its markdown printed, and written to --out when given."""
from __future__ import annotations

from pathlib import Path


def publish(lines: list[str], out: Path | None) -> str:
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        out.write_text(text)
    return text
