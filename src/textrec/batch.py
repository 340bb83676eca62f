"""`textrec batch`: OCR over many inputs into a JSON-lines file, in this process or on a Ray cluster.

One line per input, as `textrec read --json` prints it (textrec.reading decides and reads): {"input", "mode":
"line", "text", "confidence", "chars", "boxes"} (a box per character) for a word or line image; {"input", "mode":
"page", "text", "lines": [{"quad", "text", "confidence", "words", ...}], ...} for a page; or {"input", "error"}. \
The output file is the job's
state: a re-run skips every input already in it, so a crash or kill costs only the chunks in flight, and
the file is valid JSON lines at every moment (whole lines are appended with one write each; a line torn by
a power cut is cut off on the next run). Ray does the distribution (scheduling, retries, the cluster);
textrec only adds actors that hold a recognizer each."""
from __future__ import annotations

import glob
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from textrec.errors import TextrecError
from textrec.files import expand_glob, walk_files

MANIFEST_SUFFIXES = {".txt", ".lst", ".list", ".manifest"}


def expand_images(inputs: Sequence[str]) -> list[str]:
    """Files, directories (their images and PDFs, sorted) and globs, in the order given; missing ones kept to
    report."""
    from textrec.data.sources import IMAGE_SUFFIXES
    from textrec.reading.pdf import PDF_SUFFIX

    found: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += [p for p in walk_files(item) if Path(p).suffix.lower() in IMAGE_SUFFIXES | {PDF_SUFFIX}]
        elif not path.exists() and glob.has_magic(item):
            found += expand_glob(item) or [item]
        else:
            found.append(item)
    return found


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Folders (their images, recursively), globs, manifests (one path per line, relative to the manifest)
    and image files, as absolute paths in the order given, each once."""
    found: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
            from textrec.data.sources import read_lines  # names the line of a non-UTF-8 byte

            found += [str(path.parent / line.strip()) for line in read_lines(path)
                      if line.strip() and not line.startswith("#")]
        else:
            found += expand_images([item])
    return list(dict.fromkeys(os.path.abspath(p) for p in found))


RESULT_START = b'{"input": '  # how every line textrec batch writes begins


def finished_inputs(out: Path) -> set[str]:
    """Inputs already in the output file. The file must be one textrec batch wrote: anything else (a directory,
    a device, a pipe, a file of other content) is refused before a byte of it is changed, and errors never
    quote its content. A last line without its newline (the write was cut short) is then removed so that
    appending continues a valid file."""
    if not out.exists() and not out.is_symlink():
        return set()
    if not out.is_file():
        kind = "a directory" if out.is_dir() else "not a regular file" if out.exists() else "a broken link"
        raise TextrecError(f"--out {out} is {kind}; give a results file (.jsonl) to write or to resume")
    with open(out, "rb") as handle:
        head = handle.read(len(RESULT_START))
        if head and head != RESULT_START:
            raise TextrecError(f"--out {out} is not a textrec batch result file (it does not begin with a result "
                               "line); it was left as it is: give a new file name")
        data = head + handle.read()
    complete = data[: data.rfind(b"\n") + 1]
    done = set()
    try:
        text = complete.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TextrecError(f"--out {out} is not a textrec batch result file (not UTF-8 at byte {exc.start}); "
                           "it was left as it is") from None
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            done.add(json.loads(line)["input"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise TextrecError(f"--out {out}: line {number} is not a textrec batch result line; the file was left "
                               "as it is") from None
    if len(complete) < len(data):  # a torn last line of our own: cut it so the next write starts a clean line
        with open(out, "r+b") as handle:
            handle.truncate(len(complete))
    return done


class ResultWriter:
    """Appends whole result lines with one write() per chunk on an O_APPEND descriptor, fsynced, so a kill at
    any moment leaves complete lines only."""

    def __init__(self, out: Path):
        out.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, results: Iterable[dict]) -> None:
        payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results).encode("utf-8")
        if payload:
            os.write(self.fd, payload)
            os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


class ChunkReader:
    """Reads chunks of files through one Reader (word and line images in one batch; page images, by mode, line
    by line with the detector loaded at the first page). An unreadable file becomes an error line; the rest are
    read. (`run_batch` checks the mode once, before any model is loaded here or on a Ray actor.)"""

    def __init__(self, recognizer: Any, mode: str = "line", detector: str | None = None,
                 threads: int | None = None):
        from textrec.reading import Reader

        self.recognizer = recognizer
        self.reader = Reader(recognizer, mode, detector, threads=threads)

    def read(self, paths: Sequence[str]) -> list[dict]:
        from textrec.reading.reader import result_dict

        return [{"input": path, "error": str(result)} if isinstance(result, TextrecError)
                else {"input": path, **result_dict(result)} for path, result in zip(paths, self.reader.read(paths))]


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def run_batch(inputs: Sequence[str], out: str | Path, model: str | None = None, backend: str = "auto",
              ray_address: str | None = None, workers: int | None = None, chunk_size: int = 64,
              progress: bool = True, mode: str = "auto", detector: str | None = None) -> dict[str, Any]:
    """Read every input not yet in `out`; returns counts and the throughput of this run. `mode`: auto (page for
    page-sized images, as every front end), line or word (every input is one line of text), page (detect the
    lines first)."""
    from textrec.reading.reader import check_mode

    check_mode(mode)
    out = Path(out)
    paths = expand_inputs(inputs)
    if not paths:
        raise TextrecError(f"no inputs found in {', '.join(inputs)}")
    done = finished_inputs(out)
    todo = [p for p in paths if p not in done]
    start = time.perf_counter()
    writer = ResultWriter(out)
    try:
        with _ProgressBar(len(todo), progress) as advance:
            if ray_address is None:
                ready = _run_local(todo, writer, advance, model, backend, chunk_size, mode, detector)
            else:
                ready = _run_ray(todo, writer, advance, model, backend, ray_address, workers, chunk_size, mode,
                                 detector)
    finally:
        writer.close()
    reading = time.perf_counter() - ready
    return {"inputs": len(paths), "already_done": len(paths) - len(todo), "read": len(todo),
            "startup_seconds": round(ready - start, 2), "reading_seconds": round(reading, 2),
            "images_per_second": round(len(todo) / reading, 1) if todo and reading > 0 else None}


def _run_local(todo: list[str], writer: ResultWriter, advance, model: str | None, backend: str,
               chunk_size: int, mode: str, detector: str | None) -> float:
    """Returns when the model was loaded and reading began (for the throughput figure)."""
    from textrec.recognizer import load_recognizer

    reader = ChunkReader(load_recognizer(model, backend), mode, detector)
    ready = time.perf_counter()
    for chunk in chunks(todo, chunk_size):
        writer.write(reader.read(chunk))
        advance(len(chunk))
    return ready


def _run_ray(todo: list[str], writer: ResultWriter, advance, model: str | None, backend: str, address: str,
             workers: int | None, chunk_size: int, mode: str, detector: str | None) -> float:
    ray = _import_ray()
    _connect(ray, address)
    count = workers or max(int(ray.cluster_resources().get("CPU", 1)), 1)
    reader = ray.remote(num_cpus=1)(_Reader)
    actors = [reader.remote(model, backend, mode, detector) for _ in range(count)]
    ray.get([actor.ready.remote() for actor in actors])  # model loaded everywhere: the reading clock starts
    ready = time.perf_counter()
    pending: dict[Any, Any] = {}  # result ref -> actor
    queue = iter(chunks(todo, chunk_size))

    def submit(actor) -> None:
        chunk = next(queue, None)
        if chunk is not None:
            pending[actor.read.remote(chunk)] = actor

    for actor in actors:  # two chunks in flight per actor: it never waits for the driver
        submit(actor)
        submit(actor)
    try:
        while pending:
            finished, _ = ray.wait(list(pending), num_returns=1)
            actor = pending.pop(finished[0])
            results = ray.get(finished[0])
            writer.write(results)
            advance(len(results))
            submit(actor)
    finally:
        for actor in actors:
            ray.kill(actor)
    return ready


class _Reader:
    """A Ray actor: one recognizer (ONNX where there is one), one thread, loaded once, reused per chunk."""

    def __init__(self, model: str | None, backend: str, mode: str = "line", detector: str | None = None):
        from textrec.recognizer import load_recognizer

        recognizer = load_recognizer(model, backend, threads=1)  # both backends take a thread count
        self.reader = ChunkReader(recognizer, mode, detector, threads=1)

    def ready(self) -> bool:
        return True

    def read(self, paths: list[str]) -> list[dict]:
        return self.reader.read(paths)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise TextrecError("--ray needs Ray: pip install 'textrec[cluster]'") from None
    return ray


def _connect(ray, address: str) -> None:
    """`local`: a Ray instance on this machine, started for this job; `auto`: the cluster this machine
    belongs to (`ray start`), else a local one; anything else: a cluster address (host:6379, ray://host:10001)."""
    if ray.is_initialized():
        return
    quiet = {"log_to_driver": False, "include_dashboard": False}
    if address == "local":
        ray.init(**quiet)
    elif address == "auto":
        try:
            ray.init(address="auto", log_to_driver=False)
        except ConnectionError:
            ray.init(**quiet)
    else:
        try:
            ray.init(address=address, log_to_driver=False)
        except ConnectionError as exc:
            raise TextrecError(f"cannot reach the Ray cluster at {address}: {exc}") from None


class _ProgressBar:
    """A rich progress bar with ETA (or nothing), as a context giving an `advance(n)` function."""

    def __init__(self, total: int, show: bool):
        self.total, self.show = total, show

    def __enter__(self):
        if not self.show:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("reading"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            transient=False)
        self.bar.start()
        task = self.bar.add_task("read", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self.show:
            self.bar.stop()
