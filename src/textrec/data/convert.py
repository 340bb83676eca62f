"""`textrec dataset`: any sources into one LMDB, unreadable images skipped and listed."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from textrec.data.lmdb_store import encode_png, write_lmdb
from textrec.data.sources import Source, open_source
from textrec.errors import TextrecError


def _records(sources: list[Source], skipped: list[str]) -> Iterator[tuple[bytes, str]]:
    from rich.progress import Progress

    total = sum(len(s) for s in sources)
    with Progress(transient=True) as progress:
        task = progress.add_task("converting", total=total)
        for source in sources:
            files = getattr(source, "files", None)
            for i, label in enumerate(source.labels):
                progress.advance(task)
                try:
                    image = source.load(i)  # decoding checks the file even when we keep its own bytes
                except TextrecError as exc:
                    skipped.append(f"{source.names[i]}: {exc}")
                    continue
                yield (Path(files[i]).read_bytes() if files is not None else encode_png(image)), label


def convert_to_lmdb(specs: list[str], out: Path, split: str | None = None,
                    pages: tuple[int, int] | None = None) -> tuple[int, list[str]]:
    """`pages` (first, last), counted in sorted order, keeps those pages of ICDAR page folders."""
    from textrec.data.sources import guess_kind

    def spec_for(path: str) -> dict:
        spec: dict = {"path": path, "split": split}
        if pages is not None and guess_kind(Path(path)) == "icdar":
            spec["pages_range"] = list(pages)
        return spec

    sources = [open_source(spec_for(spec)) for spec in specs]
    skipped: list[str] = []
    written = write_lmdb(out, _records(sources, skipped))
    return written, skipped
