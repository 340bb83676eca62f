"""What every backend shares after preprocessing: sort images by width, run them in batches that pad little,
decode, and give results back in input order. numpy only, so the torch-free runtime uses it too."""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar, cast

import numpy as np
from PIL import Image

from textrec.calibration import curve, load_calibration
from textrec.charset import Charset
from textrec.decoding import (
    LanguageFusion,
    Prediction,
    attention_search,
    ctc_log_likelihood,
    decode_batch,
    log_softmax,
)
from textrec.errors import TextrecError
from textrec.language import CharLM
from textrec.modelfile import check_model_config, inside  # noqa: F401  (check_model_config re-exported)
from textrec.preprocess import (
    ImageInput,
    PreprocessConfig,
    Variant,
    as_inputs,
    load_image,
    pad_batch,
    padded_width,
    prepare_turns,
    retry_variants,
    turns,
)

MIN_PAGE_LINES = 3  # a page of fewer lines says too little about whether it is handwritten
MIN_TURNED_CHARS = 2  # a turned tall crop of one character reads as confident junk ('1' as '-', 'IN' as '=')
BLANK_SPREAD = 6  # gray levels: an image whose pixels all lie this close together has no ink to read


def is_blank(image: Image.Image) -> bool:
    """No two pixels of the gray image differ by more than BLANK_SPREAD: nothing is written on it. The network
    never saw an empty crop in training and reads junk in one (unsure, but a reading)."""
    gray = image if image.mode == "L" else image.convert("L")  # convert would copy even an 'L' image
    low, high = cast("tuple[int, int]", gray.getextrema())  # one band: one (min, max)
    return high - low <= BLANK_SPREAD


def most_confident(predictions: Sequence[Prediction], angles: Sequence[Sequence[int]]) -> list[Prediction]:
    """Per image, the most confident of its readings (one per angle, in order, the upright one first and kept on
    ties), marked with the angle it was read at. A turned reading counts only with a few letters or digits."""
    results, start = [], 0
    for image_angles in angles:
        options = predictions[start : start + len(image_angles)]
        usable = [k for k, p in enumerate(options)
                  if k == 0 or sum(c.isalnum() for c in p.text) >= MIN_TURNED_CHARS]
        best = max(usable, key=lambda k: options[k].confidence)
        options[best].turned = image_angles[best]
        results.append(options[best])
        start += len(image_angles)
    return results


def output_lengths(widths: np.ndarray, stride: int, frames: int) -> np.ndarray:
    """Valid output columns for images of these unpadded widths."""
    return np.minimum(-(-widths // stride), frames)


Result = TypeVar("Result")


def read_sorted(arrays: Sequence[np.ndarray], preprocess: PreprocessConfig,
                predict: Callable[[np.ndarray, np.ndarray], list[Result]],
                batch_size: int = 32, same_width: bool = True) -> list[Result]:
    """Recognize preprocessed arrays in width-sorted batches; results in input order. `same_width`: a batch
    holds only arrays that pad to the same width, the width each would pad to alone (padding reaches the
    BiLSTM, so a reading would otherwise depend on its batch-mates). Off for attention decoders, which were
    trained on padded batches and read worse without the padding (tests/test_architectures.py)."""
    padded = [padded_width(array.shape[1], preprocess) for array in arrays]
    order = sorted(range(len(arrays)), key=lambda i: padded[i])
    results: list[Result | None] = [None] * len(arrays)
    chunks: list[list[int]] = []
    for i in order:
        if chunks and len(chunks[-1]) < batch_size and (padded[chunks[-1][0]] == padded[i] or not same_width):
            chunks[-1].append(i)
        else:
            chunks.append([i])
    for chunk in chunks:
        batch, widths = pad_batch([arrays[i] for i in chunk], preprocess)
        for i, prediction in zip(chunk, predict(batch, widths)):
            results[i] = prediction
    return results  # type: ignore[return-value]


DECODERS = ("auto", "greedy", "beam", "lm")  # auto: lm when the model comes with a language model, else greedy


def load_language_model(config: dict, folder: Path | None) -> tuple[CharLM, float, float, float]:
    """The model's character language model and its fusion weights, from config["language_model"]:
    {"file": a file name in the model's folder, "weight": ..., "bonus": ..., "word_bonus": ... (0 if absent)}."""
    spec = config.get("language_model")
    if spec is None:
        raise TextrecError("--decoder lm needs a model that comes with a language model; this one has none")
    if not isinstance(spec, dict) or not isinstance(spec.get("file"), str):
        raise TextrecError(f"config 'language_model' must be an object with a 'file' name, got {spec!r:.80}")
    name = spec["file"]
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise TextrecError(f"config 'language_model' file must be a plain file name in the model folder, got {name!r}")
    try:
        weight, bonus = float(spec.get("weight", 0.5)), float(spec.get("bonus", 0.5))
        word_bonus = float(spec.get("word_bonus", 0.0))
    except (TypeError, ValueError):
        raise TextrecError(f"config 'language_model' weight, bonus and word_bonus must be numbers, "
                           f"got {spec!r:.80}") from None
    path = inside(folder or Path("."), name, "config 'language_model' file")  # a stranger's config stays in its folder
    if not path.is_file():
        raise TextrecError(f"language model {path} not found (the model's config names it); "
                           "read with --decoder greedy to go without it")
    return _load_lm(str(path.resolve())), weight, bonus, word_bonus


@functools.lru_cache(maxsize=4)
def _load_lm(path: str) -> CharLM:
    return CharLM.load(path)  # once per process: the server, batch workers and read() share it


class Backend(Protocol):
    """The backend protocol: what a network runtime (ONNX Runtime, PyTorch, TorchScript) adds to BatchReader, and
    what export checks, tests and benchmarks may call. Inputs are preprocessed batches (N, 1, H, W) float32,
    padded on the right, with each image's true width in `widths`."""

    attention: bool  # True: encode + step (attention decoder); False: logits (CTC)

    def logits(self, batch: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CTC: (N, T, classes) log-probabilities and each image's number of valid frames."""
        ...

    def encode(self, batch: np.ndarray) -> np.ndarray:
        """Attention: the encoder's memory (N, T, D)."""
        ...

    def step(self, tokens: np.ndarray, h: np.ndarray, c: np.ndarray, memory: np.ndarray,
             mask: np.ndarray) -> tuple[np.ndarray, ...]:
        """Attention: one decoder step, (log-probabilities, h, c)."""
        ...


class BatchReader:
    """What every recognizer does once its model is loaded: charset and preprocessing from the model's config,
    decoder settings, and `read` for one image or many. Each backend subclass implements `Backend` (`logits`
    for CTC; `encode`, `step`, `layers`, `hidden` and `max_length` for attention) and the decoding here drives it."""

    width_stride: int  # input pixels per output column; set by each backend
    layers: int  # attention decoders only: the decoder's layers, hidden size and longest reading
    hidden: int
    max_length: int

    def _configure(self, config: dict, decoder: str, beam_width: int, lexicon: Iterable[str] | None,
                   batch_size: int, folder: Path | None = None) -> None:
        """`folder` holds the model's files (its language model, if the config names one)."""
        self.config = config
        self.charset = Charset(config["charset"])
        self.preprocess = PreprocessConfig.from_dict(config["preprocess"])
        self.beam_width, self.batch_size = beam_width, batch_size
        self.lexicon = list(lexicon) if lexicon is not None else None
        self.attention = config.get("decoder") == "attention"
        if self.attention and self.lexicon is not None:
            raise TextrecError("a lexicon constrains CTC beam search; this model has an attention decoder")
        if decoder not in DECODERS:
            raise TextrecError(f"unknown decoder {decoder!r}; use one of {', '.join(DECODERS)}")
        wants_lm = decoder == "lm" or (decoder == "auto" and "language_model" in config and not self.attention
                                       and self.lexicon is None)
        if wants_lm and self.attention:
            raise TextrecError("--decoder lm fuses a language model into CTC beam search; this model has an "
                               "attention decoder")
        self.lm: CharLM | None = None
        weight = bonus = word_bonus = 0.0
        if wants_lm:
            self.lm, weight, bonus, word_bonus = load_language_model(config, folder)
        self.fusion = LanguageFusion(self.lm, self.charset, weight, bonus, word_bonus) if self.lm else None
        if wants_lm:
            self.decoder = "lm"
        elif self.lexicon is not None:
            self.decoder = "beam"  # a word list is searched by beam, whatever was asked
        else:
            self.decoder = "greedy" if decoder == "auto" else decoder
        self.calibration = None if self.attention else load_calibration(config, self.decoder)
        self.fallback = config.get("fallback") if self.lexicon is None and not self.attention else None
        self.retry = config.get("retry") if self.lexicon is None and not self.attention else None
        # the surest of five looks is surer than it is right: a reading the retry takes has its own curve
        self._retry_curve = (curve(self.retry["calibration"], "retry.calibration")
                             if self.retry and self.retry.get("calibration") is not None else None)
        self._fallback_reader: BatchReader | None = None
        self._fallback_options = {"decoder": decoder, "beam_width": beam_width, "batch_size": batch_size}

    def read(self, images: ImageInput | Sequence[ImageInput]) -> Prediction | list[Prediction]:
        """One image (path, bytes, PIL image, array) gives one Prediction; a list gives a list."""
        inputs, single = as_inputs(images)
        results = self.read_images([load_image(image) for image in inputs])
        return results[0] if single else results

    def read_images(self, images: Sequence[Image.Image]) -> list[Prediction]:
        """Recognize loaded (PIL, gray) images; a tall crop is also read turned a quarter each way and its most
        confident reading kept (vertical signs), with `turned` saying how it was read. A blank image reads as
        nothing, surely (`is_blank`), without the network."""
        blank = [is_blank(image) for image in images]
        inked = [image for image, empty in zip(images, blank) if not empty]
        arrays = [array for image in inked for array in prepare_turns(image, self.preprocess)]
        readings = iter(most_confident(self.read_arrays(arrays), [turns(image) for image in inked]))
        return [Prediction("", 1.0) if empty else next(readings) for empty in blank]

    def read_arrays(self, arrays: Sequence[np.ndarray], page: bool = False) -> list[Prediction]:
        """Recognize preprocessed arrays; sorted by width so each batch pads little, results in input order.
        `page`: the arrays are the lines of one page, which the fallback model may read whole (`handwritten_page`)."""
        predictions = read_sorted(arrays, self.preprocess, self._predict, self.batch_size,
                                  same_width=not self.attention)
        first = list(predictions)
        foreign: set[int] = set()  # read by the fallback model's own decoder: the retry leaves them alone
        if self.fallback:  # first: a look of this model's that it is surer of must not hide handwriting
            predictions = self.second_opinion(arrays, predictions)
            if self.fallback.get("blend") is None:  # blended readings are this model's decodes, retried as its own
                foreign = {i for i, (before, now) in enumerate(zip(first, predictions)) if before is not now}
            if page:
                taken = list(predictions)
                predictions = self.handwritten_page(arrays, first, predictions)
                foreign |= {i for i, (before, now) in enumerate(zip(taken, predictions)) if before is not now}
        if self.retry:
            predictions = self.read_again(arrays, predictions, [i for i in range(len(arrays)) if i not in foreign])
        return predictions

    def read_again(self, arrays: Sequence[np.ndarray], predictions: list[Prediction],
                   among: list[int] | None = None) -> list[Prediction]:
        """The config's `retry`: a reading under confidence `below` is tried again on other looks at its crop
        (preprocess.retry_variants: a margin, contrast, wider, narrower), and the surest look kept where it is
        surer by `margin`; its character columns mapped back to the crop's. `among`: the crops that may be tried
        (not those the fallback model read with its own decoder). The rule and its numbers: benchmarks/RETRY.md."""
        assert self.retry is not None
        unsure = [i for i in (range(len(predictions)) if among is None else among)
                  if predictions[i].confidence < float(self.retry["below"])]
        tries = [(i, look) for i in unsure for look in retry_variants(arrays[i], self.preprocess)]
        if not tries:
            return predictions
        readings = read_sorted([look.array for _, look in tries], self.preprocess, self._predict, self.batch_size)
        best: dict[int, tuple[Prediction, Variant]] = {}
        for (i, look), reading in zip(tries, readings):
            if reading.confidence > (best[i][0].confidence if i in best else -1.0):
                best[i] = (reading, look)
        for i, (reading, look) in best.items():
            if reading.confidence > predictions[i].confidence + float(self.retry["margin"]):
                if self._retry_curve is not None:
                    reading.confidence = self._retry_curve(reading.confidence)
                predictions[i] = self._in_crop_columns(reading, look, arrays[i].shape[1])
        return predictions

    def _in_crop_columns(self, reading: Prediction, look: Variant, width: int) -> Prediction:
        stride = self.width_stride
        last = max(0, -(-width // stride) - 1)
        reading.columns = [min(last, max(0, int(((c + 0.5) * stride * look.scale + look.shift) // stride)))
                           for c in reading.columns]
        return reading

    def second_opinion(self, arrays: Sequence[np.ndarray], predictions: list[Prediction]) -> list[Prediction]:
        """The config's `fallback` (a bundled model by name, e.g. handwriting) reads what this model is unsure
        of (calibrated confidence under `below`); its reading is kept where it is surer by `margin`. The rule and
        its numbers: benchmarks/HANDWRITING.md."""
        assert self.fallback is not None
        fold = bool(self.fallback.get("fold_case"))  # doubt about letter case alone is not doubt about the text
        unsure = [i for i, p in enumerate(predictions)
                  if (p.case_folded if fold and p.case_folded is not None else p.confidence)
                  < float(self.fallback["below"])]
        if not unsure:
            return predictions
        reader, crops = self.fallback_reader(), [arrays[i] for i in unsure]
        blend = self.fallback.get("blend")
        if blend is not None and not (reader.fallback or reader.retry or reader.attention):
            # its columns are needed for the mix anyway: decoded here instead of run through its network twice
            frames = dict(zip(unsure, read_sorted(crops, reader.preprocess, reader._log_probs, reader.batch_size)))
            other = [reader.decode_frames(frames[i]) for i in unsure]
        else:
            frames, other = {}, reader.read_arrays(crops)
        surer = [(i, reading) for i, reading in zip(unsure, other)
                 if reading.confidence > predictions[i].confidence + float(self.fallback["margin"])]
        if surer and blend is not None:
            surer = self.blended(arrays, surer, float(blend), frames)
        elif surer and self.fallback.get("agree") is not None:
            surer = self.plausible(arrays, predictions, surer, float(self.fallback["agree"]))
        for i, reading in surer:
            predictions[i] = reading
        return predictions

    def handwritten_page(self, arrays: Sequence[np.ndarray], first: list[Prediction],
                         predictions: list[Prediction]) -> list[Prediction]:
        """A page on which the fallback model took `page_share` of the lines or more (a handwritten note): it reads
        the others too, and this model keeps only the lines it reads with confidence `page_keep` or more and
        surer than the fallback (a printed heading). Line by line, a note loses the lines whose writing happens
        to look like print to this model. The rule and its numbers: benchmarks/HANDWRITTEN_PAGES.md."""
        assert self.fallback is not None
        share, keep = self.fallback.get("page_share"), float(self.fallback.get("page_keep", 1.0))
        rest = [i for i, (before, now) in enumerate(zip(first, predictions)) if before is now]  # not taken
        if share is None or len(arrays) < MIN_PAGE_LINES or len(arrays) - len(rest) < float(share) * len(arrays):
            return predictions
        predictions = list(predictions)
        for i, reading in zip(rest, self.fallback_reader().read_arrays([arrays[i] for i in rest])):
            own = predictions[i].confidence
            if not (own >= keep and own > reading.confidence):
                predictions[i] = reading
        return predictions

    def blended(self, arrays: Sequence[np.ndarray], surer: list[tuple[int, Prediction]], share: float,
                frames: dict[int, np.ndarray] | None = None) -> list[tuple[int, Prediction]]:
        """The crops the fallback model reads surer, read again from both networks' per-column probabilities mixed
        (`share`: the fallback's part) by this model's decoder and calibration. Two unsure networks averaged beat
        either alone, and a letter only the fallback saw needs this model's support to survive, which keeps print
        this model merely doubts (benchmarks/HANDWRITING_FALLBACK.md). `frames`: the fallback's log-probabilities
        by crop, where already computed."""
        frames = frames or {}
        crops = [arrays[i] for i, _ in surer]
        own = read_sorted(crops, self.preprocess, self._log_probs, self.batch_size)
        missing = [k for k, (i, _) in enumerate(surer) if i not in frames]
        if missing:
            reader = self.fallback_reader()
            got = read_sorted([crops[k] for k in missing], reader.preprocess, reader._log_probs, reader.batch_size)
            frames = {**frames, **{surer[k][0]: f for k, f in zip(missing, got)}}
        mixed = []
        for (i, reading), mine in zip(surer, own):
            theirs = frames[i]
            if mine.shape != theirs.shape:  # networks of different strides: nothing to mix column by column
                mixed.append((i, reading))
                continue
            probs = (1.0 - share) * np.exp(mine) + share * np.exp(theirs)
            mixed.append((i, self.decode_frames(np.log(probs))))
        return mixed

    def decode_frames(self, log_probs: np.ndarray) -> Prediction:
        """One crop's (T, C) log-probabilities through this model's CTC decoder and calibration."""
        reading = decode_batch(log_probs[None], [len(log_probs)], self.charset, self.decoder, self.beam_width,
                               self.lexicon, self.fusion)[0]
        return self._calibrated(reading)

    def _calibrated(self, reading: Prediction) -> Prediction:
        if self.calibration is not None:
            reading.confidence = self.calibration(reading.confidence)
            if reading.case_folded is not None:
                reading.case_folded = self.calibration(reading.case_folded)
        return reading

    def plausible(self, arrays: Sequence[np.ndarray], predictions: list[Prediction],
                  surer: list[tuple[int, Prediction]], agree: float) -> list[tuple[int, Prediction]]:
        """The second readings this model finds plausible: its own CTC likelihood of the other reading is at
        most `agree` nats per character below that of its own. Printed text this model merely doubts (letter
        case, a smudge) keeps its reading; text it cannot read (handwriting) gives it no strong opinion."""
        frames = read_sorted([arrays[i] for i, _ in surer], self.preprocess, self._log_probs, self.batch_size)
        kept = []
        for (i, reading), log_probs in zip(surer, frames):
            own, other = predictions[i].text, reading.text
            if self.charset.unknown(other):
                continue
            gap = (ctc_log_likelihood(log_probs, self.charset.encode(own))
                   - ctc_log_likelihood(log_probs, self.charset.encode(other)))
            if gap <= agree * max(1, len(own), len(other)):
                kept.append((i, reading))
        return kept

    def _log_probs(self, batch: np.ndarray, widths: np.ndarray) -> list[np.ndarray]:
        logits, lengths = self.logits(batch, widths)
        return [log_softmax(sample[: int(length)].astype(np.float64)) for sample, length in zip(logits, lengths)]

    def fallback_reader(self) -> "BatchReader":
        if self._fallback_reader is None:
            from textrec.recognizer import MODELS_DIR, bundled_models, load_recognizer
            from textrec.runtime import OnnxRecognizer

            assert self.fallback is not None
            name = str(self.fallback.get("model"))
            if name not in bundled_models():  # a name, never a path: a model folder cannot point outside itself
                raise TextrecError(f"model config 'fallback.model' must name a bundled model "
                                   f"({', '.join(bundled_models())}), got {name!r}")
            backend = "onnx" if isinstance(self, OnnxRecognizer) else "auto"  # torch-free stays torch-free
            reader = load_recognizer(MODELS_DIR / name, backend, **self._fallback_options)
            if reader.preprocess != self.preprocess:
                raise TextrecError(f"fallback model {name!r} preprocesses differently from this model")
            self._fallback_reader = reader
        return self._fallback_reader

    def _predict(self, batch: np.ndarray, widths: np.ndarray) -> list[Prediction]:
        if self.attention:
            memory = self.encode(batch)
            lengths = output_lengths(widths, self.width_stride, memory.shape[1])
            mask = (np.arange(memory.shape[1])[None, :] < lengths[:, None]).astype(np.float32)
            beams = self.beam_width if self.decoder == "beam" else 1
            return attention_search(memory, mask, self._initial_state(len(batch)), self.step, self.charset,
                                    self.charset.num_classes, self.max_length, beams)
        logits, lengths = self.logits(batch, widths)
        predictions = decode_batch(logits, lengths, self.charset, self.decoder, self.beam_width, self.lexicon,
                                   self.fusion)
        return [self._calibrated(prediction) for prediction in predictions]

    def _initial_state(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Zero (h, c) of shape (layers, n, hidden) for the attention decoder (c unused by GRU cells)."""
        zeros = np.zeros((self.layers, n, self.hidden), dtype=np.float32)
        return zeros, zeros.copy()

    def logits(self, batch: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def encode(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def step(self, tokens: np.ndarray, h: np.ndarray, c: np.ndarray, memory: np.ndarray,
             mask: np.ndarray) -> tuple[np.ndarray, ...]:
        raise NotImplementedError
