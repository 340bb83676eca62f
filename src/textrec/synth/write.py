"""`textrec synth`: render N samples in parallel into a folder (images + labels.tsv) or an LMDB."""
from __future__ import annotations

import io
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from textrec.synth.render import Renderer, SynthConfig

_renderer: Renderer | None = None


def _init(config: SynthConfig) -> None:
    global _renderer
    _renderer = Renderer(config)


def _render_chunk(args: tuple[int, int, int]) -> list[tuple[int, bytes, str]]:
    seed, start, stop = args
    out = []
    for index in range(start, stop):
        image, label = _renderer.sample(seed, index)  # type: ignore[union-attr]
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)
        out.append((index, buffer.getvalue(), label))
    return out


def generate(config: SynthConfig, n: int, seed: int, workers: int | None = None,
             chunk: int = 256) -> Iterator[tuple[int, bytes, str]]:
    """(index, PNG bytes, label) for indices 0..n-1 in order; the same output for any number of workers."""
    workers = workers or os.cpu_count() or 1
    chunks = [(seed, start, min(start + chunk, n)) for start in range(0, n, chunk)]
    if workers == 1:
        _init(config)
        for args in chunks:
            yield from _render_chunk(args)
        return
    # Once here first: a bad config or a missing extra is raised as itself, not as a broken process pool
    # (and forked workers inherit the word lists and fonts already loaded).
    Renderer(config)
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(config,)) as pool:
        for rows in pool.map(_render_chunk, chunks):
            yield from rows


def write_synth(config: SynthConfig, n: int, out: Path, seed: int = 0, workers: int | None = None) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from textrec.data.lmdb_store import write_lmdb

    columns = (TextColumn("rendering"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns) as progress:
        task = progress.add_task("synth", total=n)

        def rows() -> Iterator[tuple[bytes, str]]:
            for _, data, label in generate(config, n, seed, workers):
                progress.advance(task)
                yield data, label

        if out.suffix == ".lmdb":
            return write_lmdb(out, rows())
        (out / "images").mkdir(parents=True, exist_ok=True)
        lines = []
        for i, (data, label) in enumerate(rows()):
            name = f"images/{i:08d}.png"
            (out / name).write_bytes(data)
            lines.append(f"{name}\t{label}")
        (out / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return len(lines)
