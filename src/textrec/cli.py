"""The `textrec` command: read, batch, train, test, dataset, export, serve, synth, lm."""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from textrec.batch import expand_images
from textrec.errors import TextrecError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="textrec: read, train, evaluate and convert text recognition models.")
STDIN_LIMIT = 256 * 2**20  # bytes read from `-` at most: an image, not a stream without end


def _version(show: bool) -> None:
    if show:
        from textrec import __version__

        typer.echo(f"textrec {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                              help="Print the version and exit.")) -> None:
    """textrec: read, train, evaluate and convert text recognition models."""


def _stdin_image() -> bytes:
    data = sys.stdin.buffer.read(STDIN_LIMIT + 1)
    if len(data) > STDIN_LIMIT:
        raise TextrecError(f"standard input is over {STDIN_LIMIT:,} bytes; save the image to a file")
    return data


EXTRAS = {  # top-level module -> the extra that installs it
    **dict.fromkeys(("torch", "lightning", "safetensors", "rapidfuzz", "lmdb", "yaml", "matplotlib", "tensorboard",
                     "wordfreq", "fontTools", "onnx"), "train"),
    **dict.fromkeys(("fastapi", "uvicorn", "multipart", "python_multipart", "prometheus_client", "starlette"), "serve"),
    "ray": "cluster",
}


def missing_extra(module: str) -> str | None:
    return EXTRAS.get(module.split(".")[0])


def friendly(command: Callable) -> Callable:
    """Turn our errors (and a missing optional dependency) into one line on stderr and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except TextrecError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except ModuleNotFoundError as exc:
            extra = missing_extra(exc.name or "")
            if extra is None:
                raise
            name = command.__name__.replace("_", " ")  # lm_build is `textrec lm build`
            typer.echo(f"error: textrec {name} needs {exc.name}, which is not installed: "
                       f"pip install 'textrec[{extra}]'", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


@app.command()
@friendly
def read(
    images: List[str] = typer.Argument(..., help="Image or PDF files, folders or globs; - reads an image from stdin."),
    model: Optional[Path] = typer.Option(None, "--model", "-m",
                                         help="Model folder, .safetensors or exported .onnx file, or a bundled "
                                              "model's name: default, handwriting."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    decoder: str = typer.Option("auto", help="greedy, beam, lm (beam search with the model's language model), or "
                                "auto: lm when the model comes with one (the bundled model does), else greedy."),
    beam_width: int = typer.Option(10, help="Beams for --decoder beam/lm."),
    lexicon: Optional[Path] = typer.Option(None, help="Word list, one per line: readings are constrained to it."),
    batch_size: int = typer.Option(32, help="Images per forward pass."),
    backend: str = typer.Option("auto", help="auto (ONNX when the model has an exported copy), onnx or torch."),
    mode: str = typer.Option("auto", help="word, line, page, or auto: page for page-sized images "
                             "(at least 200x200 and not a strip), else word/line."),
    dpi: int = typer.Option(200, help="PDF pages are rendered at this resolution (36-1200)."),
    pdf: Optional[Path] = typer.Option(None, "--pdf", help="Write a searchable PDF of every page read here: the "
                                       "images with the text read laid over them invisibly."),
    detector: Optional[Path] = typer.Option(None, help="Page mode: line detector (.onnx or folder; default: bundled)."),
    hocr: Optional[Path] = typer.Option(None, help="Page mode: write hOCR here (a .hocr/.html file for one page, "
                                        "else a folder: NAME.hocr per page)."),
    alto: Optional[Path] = typer.Option(None, help="Page mode: write ALTO XML here (an .xml file for one page, "
                                        "else a folder: NAME.alto.xml per page)."),
    tsv: Optional[Path] = typer.Option(None, help="Page mode: write Tesseract-style TSV here (a .tsv file for one "
                                       "page, else a folder: NAME.tsv per page)."),
    draw: Optional[Path] = typer.Option(None, help="Page mode: write the page with boxes and text drawn (a .png file "
                                        "for one page, else a folder: NAME.boxes.png per page)."),
) -> None:
    """Print the text (and confidence) of each image, in the order given; pages are read line by line."""
    from textrec.pages.pipeline import PageResult
    from textrec.reading import Reader
    from textrec.reading.reader import check_mode
    from textrec.recognizer import load_recognizer

    check_mode(mode)
    words = _read_lexicon(lexicon) if lexicon else None
    recognizer = load_recognizer(model, backend, decoder=decoder if not words else "beam", beam_width=beam_width,
                                 lexicon=words, batch_size=batch_size)
    reader = Reader(recognizer, mode, str(detector) if detector else None, dpi=dpi, progress=_page_progress)
    paths = expand_images(images)
    failures, pages, searchable = 0, 0, []
    chunk = max(4 * batch_size, 64)  # images in memory at once; results still come out in input order
    for start in range(0, len(paths), chunk):
        names = paths[start : start + chunk]
        inputs = [_stdin_image() if name == "-" else name for name in names]  # `-`: an image on standard input
        for path, result in zip(names, reader.read(inputs, names)):
            if isinstance(result, TextrecError):
                failures += 1
                typer.echo(json.dumps({"input": path, "error": str(result)}) if as_json else f"error: {result}",
                           err=not as_json)
                continue
            _print_result(path, result, as_json, several=len(paths) > 1)
            if isinstance(result, PageResult):
                pages += 1
                _page_outputs(reader, path, result, {"hocr": hocr, "alto": alto, "tsv": tsv, "draw": draw}, pages)
            if pdf:
                searchable.append((path, result))
    if pdf:
        from textrec.reading.searchable_pdf import write_searchable_pdf

        if not searchable:
            raise TextrecError("--pdf: no input was read")
        write_searchable_pdf(_pdf_pages(reader, searchable), pdf, dpi)
        typer.echo(f"searchable PDF: {pdf}", err=True)
    if (hocr or alto or tsv or draw) and not pages:
        raise TextrecError("--hocr, --alto, --tsv and --draw are for pages; no input was read in page mode "
                           "(try --mode page)")
    if failures:
        raise typer.Exit(1)


def _pdf_pages(reader, results: list):
    """(page image, page reading) for every page read, images loaded again one at a time; a word or line
    image becomes a page of one line."""
    from textrec.pages.pipeline import Line, PageResult
    from textrec.preprocess import load_image
    from textrec.reading.pdf import is_pdf, pdf_pages
    from textrec.reading.reader import CropResult, DocumentResult

    def as_page(result, width: int, height: int) -> PageResult:
        if isinstance(result, CropResult):
            quad = (0.0, 0.0, float(width), 0.0, float(width), float(height), 0.0, float(height))
            return PageResult(width, height, [Line(quad, result.text, result.confidence, 1.0, 0)])
        return result

    for path, result in results:
        if isinstance(result, DocumentResult) and is_pdf(path):
            for (_, image), page in zip(pdf_pages(path, path, reader.dpi, reader.max_pixels), result.pages):
                yield image, as_page(page, image.width, image.height)
        elif isinstance(result, DocumentResult):  # a multi-page TIFF
            for number, page in enumerate(result.pages):
                image = load_image(path, reader.max_pixels, frame=number)
                yield image, as_page(page, image.width, image.height)
        else:
            image = reader.load(path)
            yield image, as_page(result, image.width, image.height)


def _page_progress(name: str, page: int, pages: int) -> None:
    typer.echo(f"{name}: page {page}/{pages}", err=True)


def _print_result(path: str, result, as_json: bool, several: bool) -> None:
    from textrec.reading.reader import CropResult, DocumentResult, result_dict

    if as_json:
        typer.echo(json.dumps({"input": path, **result_dict(result)}))
    elif isinstance(result, DocumentResult):
        for number, page in enumerate(result.pages, start=1):
            typer.echo(f"== {path} page {number} ==\n{page.text}")
    elif isinstance(result, CropResult):
        typer.echo(f"{path}\t{result.text}\t{result.confidence:.3f}" if several
                   else f"{result.text}\t{result.confidence:.3f}")
    else:
        for warning in result.warnings:
            typer.echo(f"warning: {warning}", err=True)
        typer.echo(f"== {path} ==\n{result.text}" if several else result.text)


def _page_outputs(reader, path: str, result, targets: dict[str, Optional[Path]], number: int) -> None:
    from textrec.pages.outputs import draw_page, to_alto, to_hocr, to_tsv

    name = Path(path).name
    writers = {"hocr": (".hocr", lambda: to_hocr(result, name)), "alto": (".alto.xml", lambda: to_alto(result, name)),
               "tsv": (".tsv", lambda: to_tsv(result))}
    for kind, (suffix, render) in writers.items():
        target = targets.get(kind)
        if target:
            _output_path(target, path, suffix, number).write_text(render(), encoding="utf-8")
    draw = targets.get("draw")
    if draw:
        draw_page(reader.load(path), result).save(_output_path(draw, path, ".boxes.png", number))


def _output_path(target: Path, source: str, suffix: str, number: int) -> Path:
    """A file when the target names one (and this is the first page), else NAME+suffix in the target folder."""
    if target.suffix.lower() in (".png", ".hocr", ".html", ".jpg", ".xml", ".tsv"):
        if number > 1:
            raise TextrecError(f"{target} is one file, but more than one page was read: give a folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        return target
    target.mkdir(parents=True, exist_ok=True)
    return target / (Path(source).stem + suffix)


@app.command()
@friendly
def batch(
    inputs: List[str] = typer.Argument(
        ..., help="Image files, folders, globs, or manifests (.txt: one path per line)."),
    out: Path = typer.Option(..., "--out", "-o", help="JSON-lines results; inputs already in it are skipped."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model (default: bundled)."),
    ray: Optional[str] = typer.Option(None, "--ray", help="local (a Ray instance here), auto (this machine's "
                                      "cluster, else local) or a cluster ADDRESS; without it: this process."),
    workers: Optional[int] = typer.Option(None, help="Ray actors (default: one per CPU in the cluster)."),
    chunk_size: int = typer.Option(64, help="Images per task."),
    backend: str = typer.Option("auto", help="auto, onnx or torch."),
    mode: str = typer.Option("auto", help="auto (as textrec read: page for page-sized images), line or word "
                             "(each input is one line of text), or page (find the lines first: each result has its "
                             "lines with boxes)."),
    detector: Optional[str] = typer.Option(None, help="Page mode: line detector (.onnx or folder; default: bundled)."),
) -> None:
    """OCR many images into a JSON-lines file, here or on a Ray cluster; re-run to resume after a stop."""
    from textrec.batch import run_batch

    summary = run_batch(inputs, out, model=model, backend=backend, ray_address=ray, workers=workers,
                        chunk_size=chunk_size, progress=sys.stderr.isatty(), mode=mode, detector=detector)
    typer.echo(json.dumps(summary))


def _read_lexicon(path: Path) -> list[str]:
    if not path.is_file():
        raise TextrecError(f"lexicon file not found: {path}")
    return [w.strip() for w in path.read_text(encoding="utf-8").splitlines() if w.strip()]


@app.command()
@friendly
def train(
    config: Path = typer.Option(..., "--config", "-c", help="Experiment YAML (see configs/)."),
    overrides: Optional[List[str]] = typer.Option(None, "--set", "-s", help="Override: key.sub=value (repeatable)."),
    resume: bool = typer.Option(False, "--resume",
                                help="Continue the newest run of this name from its last checkpoint."),
) -> None:
    """Train a model; the run folder gets checkpoints, logs, curves.png and model/ (the best by validation score).
    The config's `task` says what: recognize (default) or detect, a text-line detector (configs/detector-en.yaml)."""
    from textrec.training.config import load_config
    from textrec.training.run import train as run_training

    folder = run_training(load_config(config, overrides), resume=resume)
    typer.echo(f"run folder: {folder}\nbest model: {folder / 'model'}")


@app.command()
@friendly
def test(
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="Model to evaluate (default: bundled)."),
    data: List[str] = typer.Option(..., "--data", "-d",
                                   help="Labeled data: annotation file, folder, MJSynth, ICDAR or LMDB."),
    split: Optional[str] = typer.Option(None, help="train or test: take that part of an MD5 split of the data."),
    protocol: str = typer.Option(
        "exact", help="exact, alnum (lower-case [0-9a-z]) or upper (upper-cased, spaces collapsed)."),
    report: Optional[Path] = typer.Option(None, help="Folder for report.json, confusions.png and samples.png."),
    decoder: str = typer.Option("auto", help="greedy, beam, lm or auto (lm when the model has a language model)."),
    limit: Optional[int] = typer.Option(None, help="Evaluate only the first N samples."),
    batch_size: int = typer.Option(64),
    visualize: Optional[Path] = typer.Option(None, help="Attention models: write each sample with the attention of "
                                             "each decoded character drawn over it, into DIR/correct and "
                                             "DIR/incorrect."),
    backend: str = typer.Option("auto", help="auto (ONNX when the model folder has model.onnx, as textrec read "
                                "does), onnx, or torch."),
) -> None:
    """Evaluate a model: CER, word accuracy, character BLEU; optional report with pictures."""
    from textrec.testing import evaluate

    if split not in (None, "train", "test"):
        raise TextrecError(f"--split must be train or test, got {split!r}")
    result = evaluate(model, data, split=split, protocol=protocol, report=report, decoder=decoder, limit=limit,
                      batch_size=batch_size, visualize=visualize, backend=backend)
    m = result["metrics"]
    typer.echo(f"samples {m['samples']}  accuracy {m['accuracy']:.4f}  CER {m['cer']:.4f}  "
               f"char-BLEU {m['char_bleu']:.4f}  skipped {result['skipped_count']}  ({m['ms_per_image']:.2f} ms/image)")
    if report:
        typer.echo(f"report: {report}")
    if visualize:
        typer.echo(f"attention maps: {visualize}/correct, {visualize}/incorrect")


@app.command()
@friendly
def dataset(
    sources: List[str] = typer.Argument(..., help="Annotation files, label folders, MJSynth, ICDAR folders or LMDBs."),
    out: Path = typer.Option(..., "--out", "-o", help="Output LMDB folder (e.g. train.lmdb)."),
    split: Optional[str] = typer.Option(None, help="train or test: keep that part of an MD5 split of each source."),
    pages: Optional[str] = typer.Option(None, help="FIRST-LAST: only these pages (0-based, sorted by name) of "
                                                   "ICDAR page folders, e.g. 0-239."),
) -> None:
    """Convert labeled images into one LMDB dataset (num-samples, image-%09d, label-%09d)."""
    from textrec.data.convert import convert_to_lmdb

    page_range = None
    if pages is not None:
        try:
            first, last = (int(v) for v in pages.split("-"))
        except ValueError:
            raise TextrecError(f"--pages must be FIRST-LAST, e.g. 0-239; got {pages!r}") from None
        page_range = (first, last)
    written, skipped = convert_to_lmdb(sources, out, split=split, pages=page_range)
    typer.echo(f"wrote {written} samples to {out}" + (f"; skipped {len(skipped)} unreadable" if skipped else ""))
    for reason in skipped[:20]:
        typer.echo(f"  skipped: {reason}", err=True)


@app.command()
@friendly
def export(
    model: Optional[Path] = typer.Option(None, "--model", "-m",
                                         help="Model folder or .safetensors (default: bundled)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file, e.g. model.onnx."),
    fmt: str = typer.Option("onnx", "--format", help="onnx or torchscript."),
    quantize: bool = typer.Option(False, help="int8 convolutions, ReLU and pooling (onnxruntime's int8 kernels; "
                                              "the LSTM stays float), their activation ranges measured on "
                                              "rendered words and the --calibration images."),
    calibration: list[str] = typer.Option([], help="Images like the ones the model will read (annotation file, "
                                                   "folder, LMDB, ICDAR pages) to calibrate --quantize; repeatable."),
    calibration_limit: int = typer.Option(256, min=1, help="At most this many images from each --calibration "
                                                           "source (drawn at random, seed 0)."),
    check: Optional[str] = typer.Option(None, help="Images (annotation file, folder) for the parity check; "
                                                   "default: 32 rendered words."),
    check_limit: int = typer.Option(200, help="At most this many images from --check."),
) -> None:
    """Export a model to ONNX or TorchScript (dynamic batch and width, config inside) and check it against PyTorch."""
    from textrec.export import (
        calibration_images,
        check_format,
        export_onnx,
        export_torchscript,
        parity,
        sample_images,
        torchscript_parity,
    )
    from textrec.recognizer import model_path

    check_format(fmt, quantize, calibration)
    model = model_path(model)
    if fmt == "onnx":
        images, skipped = calibration_images(calibration, calibration_limit)
        for reason in skipped[:5]:
            typer.echo(f"calibration: skipped {reason}", err=True)
        export_onnx(model, out, quantize=quantize, calibration=images)
        if quantize:
            typer.echo(f"int8 convolutions calibrated on {len(images)} of your images ({len(skipped)} unreadable "
                       "skipped) and rendered words")
    else:
        export_torchscript(model, out)
    if check:
        from textrec.data.sources import open_source

        source = open_source(check)
        images = [source.load(i) for i in range(min(len(source), check_limit))]
    else:
        from textrec.model_io import read_config

        config = read_config(model)
        images = sample_images(config["charset"], config["preprocess"].get("height", 32))
    report = (parity if fmt == "onnx" else torchscript_parity)(model, out, images)
    typer.echo(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); parity on {report['images']} images: "
               f"{report['identical_text']:.1%} identical text, max |logit difference| {report['max_abs_diff']:.2e}")


@app.command()
@friendly
def serve(
    model: Optional[Path] = typer.Option(None, "--model", "-m", envvar="TEXTREC_MODEL",
                                         help="Model folder or .onnx file, or a bundled model's name (default: "
                                              "default; also TEXTREC_MODEL)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 for all interfaces)."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, help="Worker processes, each with its own copy of the model."),
    backend: Optional[str] = typer.Option(None, help="auto, onnx or torch (default: auto)."),
    detector: Optional[Path] = typer.Option(None, help="Line detector for mode=page (default: bundled)."),
    api_key: Optional[str] = typer.Option(None, envvar="TEXTREC_API_KEY",
                                          help="Require this key in the X-API-Key header (also from TEXTREC_API_KEY)."),
    batch_size: Optional[int] = typer.Option(None, help="Most images per forward pass (micro-batching; default 32)."),
    batch_wait_ms: Optional[float] = typer.Option(None, help="How long the first image of a batch waits for company "
                                                             "(default 1.0)."),
    max_upload_mb: Optional[float] = typer.Option(None, help="Largest image upload, in MiB (default 10)."),
    max_pixels: Optional[int] = typer.Option(None, help="Largest image, in pixels, checked before decoding "
                                                        "(default 60,000,000)."),
    max_batch_images: Optional[int] = typer.Option(None, help="Most images in one request (default 64)."),
    threads: Optional[int] = typer.Option(None, help="Inference threads per worker (default: cores / workers)."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Serve the model over HTTP: POST /predict, /predict/batch, /v1/models/NAME:predict; web page at /.
    Each setting comes from its option, else from TEXTREC_<NAME> (TEXTREC_MAX_PIXELS, TEXTREC_MAX_REQUEST_BYTES...)."""
    import dataclasses
    import os

    import uvicorn

    from textrec.recognizer import resolve_backend
    from textrec.serve.app import create_app
    from textrec.serve.protocol import HEADER_TIMEOUT_ENV, PROTOCOL
    from textrec.serve.settings import ServeSettings

    if workers < 1:
        raise TextrecError(f"--workers must be at least 1, got {workers}")
    given: dict[str, Any] = dict(model=str(model) if model else None, backend=backend, api_key=api_key,
                                 detector=str(detector) if detector else None, batch_size=batch_size,
                                 batch_wait_ms=batch_wait_ms, max_pixels=max_pixels, threads=threads,
                                 max_upload_bytes=int(max_upload_mb * 2**20) if max_upload_mb is not None else None,
                                 max_batch_images=max_batch_images)
    settings = dataclasses.replace(ServeSettings.from_env(), **{k: v for k, v in given.items() if v is not None})
    settings.threads = settings.threads or max(1, (os.cpu_count() or 1) // workers)
    resolve_backend(settings.model, settings.backend)  # a missing or unusable model is named now, not in a worker
    os.environ[HEADER_TIMEOUT_ENV] = str(settings.header_timeout_s)
    typer.echo(f"textrec serving on http://{host}:{port}/ (API docs at /docs)", err=True)
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, http=PROTOCOL)
    else:  # worker processes build their app from the environment
        os.environ.update(settings.to_env())
        uvicorn.run("textrec.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, http=PROTOCOL)


@app.command()
@friendly
def synth(
    n: int = typer.Option(1000, "--n", help="Number of samples to write."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder (images + labels.tsv) or NAME.lmdb."),
    config: Optional[Path] = typer.Option(None, "--config", "-c",
                                          help="Synth YAML: charset, text mix, fonts, effects."),
    seed: int = typer.Option(0, help="Same seed, same samples."),
    workers: Optional[int] = typer.Option(None, help="Processes (default: all cores)."),
    preview: Optional[Path] = typer.Option(None, help="Write a PNG grid of samples with labels instead."),
) -> None:
    """Render synthetic text images with labels (fonts, text mix and effects from --config)."""
    from textrec.synth.render import Renderer, SynthConfig

    settings = SynthConfig.from_file(config)
    if preview is not None:
        from textrec.synth.preview import preview_grid  # torch-free, like rendering and writing

        preview_grid(Renderer(settings), str(preview), seed=seed)
        typer.echo(f"preview: {preview}")
        return
    if out is None:
        raise TextrecError("give --out DIR or --out NAME.lmdb (or --preview grid.png)")
    if n < 1:
        raise TextrecError(f"--n must be at least 1, got {n}")
    from textrec.synth.write import write_synth

    written = write_synth(settings, n, out, seed=seed, workers=workers)
    typer.echo(f"wrote {written} samples to {out}")


WORD_BONUS = 1.0  # per known word, chosen on validation (benchmarks/RESULTS.md, "The language model in the decoder")
lm_app = typer.Typer(no_args_is_help=True, help="The character language model the beam search weighs in: "
                     "build it from English word frequencies and attach it to a model.")
app.add_typer(lm_app, name="lm")


@lm_app.command("build")
@friendly
def lm_build(
    attach: Optional[Path] = typer.Option(None, "--attach", help="Model folder: write lm.npz there and name it, "
                                          "with --weight, --bonus and --word-bonus, in its config.json."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Only write the language model to this .npz file."),
    weight: float = typer.Option(0.5, help="LM weight in the beam search (with --attach)."),
    bonus: float = typer.Option(0.5, help="Score bonus per letter (with --attach)."),
    word_bonus: float = typer.Option(WORD_BONUS, help="Score bonus per known word (with --attach)."),
    words: int = typer.Option(100_000, help="Most frequent English words to count."),
    order: int = typer.Option(6, help="n: letters of context + 1."),
    power: float = typer.Option(0.5, help="Word weight = frequency ** power (0: every word once)."),
    min_count: float = typer.Option(2.0, help="Drop contexts seen less often than this."),
) -> None:
    """Build the character n-gram from wordfreq's English words (needs the train extra)."""
    from textrec.training.language_model import build_file, build_into

    if attach is not None and out is None:
        written = build_into(attach, weight, bonus, words, order, power, min_count, word_bonus)
        typer.echo(f"wrote {written} ({written.stat().st_size / 1e6:.2f} MB)")
        _lm_attached(attach, weight, bonus, word_bonus)
    elif out is not None and attach is None:
        lm = build_file(out, words, order, power, min_count)
        typer.echo(f"{len(lm.rows)} contexts, order {order}, {out.stat().st_size / 1e6:.2f} MB: {out}")
    else:
        raise TextrecError("give one of --attach MODEL or --out FILE.npz")


@lm_app.command("attach")
@friendly
def lm_attach(
    model: Path = typer.Argument(..., help="Model folder."),
    lm: Optional[Path] = typer.Option(None, "--lm", help="A language model built with `textrec lm build --out`, "
                                      "copied into the folder; without it the folder's own lm.npz is re-weighed."),
    weight: float = typer.Option(0.5, help="LM weight in the beam search."),
    bonus: float = typer.Option(0.5, help="Score bonus per letter."),
    word_bonus: float = typer.Option(WORD_BONUS, help="Score bonus per known word (a file built before word "
                                     "lists were kept has none, and gets no bonus)."),
) -> None:
    """Attach a built language model to a model folder, or change the fusion weights of the one it has."""
    from textrec.training.language_model import attach_file

    attach_file(model, weight, bonus, lm, word_bonus)
    _lm_attached(model, weight, bonus, word_bonus)


def _lm_attached(model: Path, weight: float, bonus: float, word_bonus: float) -> None:
    typer.echo(f"attached to {model} (weight {weight}, bonus {bonus}, word bonus {word_bonus}); re-export the "
               "model's ONNX copy so it carries the same config")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
