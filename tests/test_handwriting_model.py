"""The bundled handwriting model (issue 19): `--model handwriting` by name, in the CLI and the Python API, reads the
rendered handwritten note in examples/ far better than the default model does."""
import json
from pathlib import Path

from typer.testing import CliRunner

from textrec.cli import app
from textrec.evaluation import character_error_rate
from textrec.recognizer import bundled_models, load_recognizer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTE_CER = 0.10  # the shipped handwriting model: 4.3% (the default model: 23.9%), with margin


def test_the_handwriting_model_is_bundled_with_an_onnx_copy_and_a_language_model():
    assert "handwriting" in bundled_models()
    recognizer = load_recognizer("handwriting")
    assert type(recognizer).__name__ == "OnnxRecognizer" and recognizer.decoder == "lm"
    assert recognizer.calibration is not None


def test_the_handwriting_models_onnx_copy_agrees_with_its_weights():
    from tests.helpers import bundled_onnx_agreement

    letters_agree, letters_apart, _ = bundled_onnx_agreement("handwriting")
    assert letters_agree > 0.95 and letters_apart < 0.02


def test_read_model_handwriting_reads_the_note_line_by_line():
    result = CliRunner().invoke(app, ["read", str(EXAMPLES / "note.png"), "--model", "handwriting", "--json"])
    assert result.exit_code == 0, result.output
    note = json.loads(result.output)
    truth = (EXAMPLES / "note.txt").read_text().splitlines()
    lines = [line["text"] for line in note["lines"]]
    assert note["mode"] == "page" and len(lines) == len(truth)
    assert character_error_rate(lines, truth) < NOTE_CER, list(zip(lines, truth))


def test_the_fallback_reads_only_what_the_model_is_unsure_of_and_keeps_only_surer_readings():
    """The default model's config names the handwriting model as its fallback: a reading under `below` is read
    again by it, and replaced only where the fallback is surer by `margin` (benchmarks/HANDWRITING.md)."""
    import numpy as np

    from textrec.decoding import Prediction
    from textrec.inference import BatchReader

    class Fixed(BatchReader):
        def __init__(self, readings: dict[int, Prediction]):
            self.readings, self.asked = readings, []

        def read_arrays(self, arrays):
            self.asked += [int(a[0, 0]) for a in arrays]
            return [self.readings[int(a[0, 0])] for a in arrays]

    main = BatchReader.__new__(BatchReader)
    main.fallback = {"model": "handwriting", "below": 0.3, "margin": 0.2}
    main._fallback_reader = Fixed({1: Prediction("hand", 0.5), 2: Prediction("junk", 0.4)})
    arrays = [np.full((32, 40), i, np.float32) for i in range(3)]
    readings = main.second_opinion(arrays, [Prediction("sure", 0.9), Prediction("b", 0.1), Prediction("c", 0.25)])
    assert [p.text for p in readings] == ["sure", "hand", "c"]  # 0.4 is not 0.2 surer than 0.25
    assert main._fallback_reader.asked == [1, 2]  # the sure reading was never read again
    # fold_case: doubt about letter case alone (confidence low, case-folded confidence high) is not sent on
    main.fallback, main._fallback_reader.asked = dict(main.fallback, fold_case=True), []
    case_only = Prediction("b", 0.1, case_folded=0.9)
    doubtful = Prediction("c", 0.25, case_folded=0.26)
    readings = main.second_opinion(arrays, [Prediction("sure", 0.9), case_only, doubtful])
    assert readings[1] is case_only and main._fallback_reader.asked == [2]


def test_a_page_the_fallback_mostly_took_is_read_by_it_whole_except_lines_this_model_is_sure_of():
    """`page_share`: on the lines of one page (read_arrays(page=True)), where the fallback took that share of the
    lines or more, it reads the rest too; this model keeps a line only where it is at least `page_keep` sure and
    surer than the fallback. Crops read one at a time, and pages under the share, are left as they were."""
    import numpy as np

    from textrec.decoding import Prediction
    from textrec.inference import BatchReader

    class Fixed(BatchReader):
        def __init__(self, readings: dict[int, Prediction]):
            self.readings = readings

        def read_arrays(self, arrays):
            return [self.readings[int(a[0, 0])] for a in arrays]

    def page(share: float | None, as_page: bool = True) -> list[str]:
        main = BatchReader.__new__(BatchReader)
        main.preprocess, main.batch_size, main.attention, main.retry = load_recognizer().preprocess, 8, False, None
        main.fallback = {"model": "handwriting", "below": 0.3, "margin": 0.2, "page_keep": 0.9}
        if share is not None:
            main.fallback["page_share"] = share
        own = [Prediction("x", 0.1), Prediction("heading", 0.95), Prediction("lme", 0.6), Prediction("vord", 0.5)]
        main._predict = lambda batch, widths: [own[int(a[0, 0])] for a in batch[:, 0]]
        main._fallback_reader = Fixed({0: Prediction("hand", 0.8), 1: Prediction("HEADING", 0.7),
                                       2: Prediction("line", 0.5), 3: Prediction("word", 0.4)})
        arrays = [np.full((32, 40), i, np.float32) for i in range(4)]
        return [p.text for p in main.read_arrays(arrays, page=as_page)]

    assert page(None) == ["hand", "heading", "lme", "vord"]  # no page rule: line by line only
    assert page(0.25) == ["hand", "heading", "line", "word"]  # 1 of 4 taken: the note is read by the fallback
    assert page(0.5) == ["hand", "heading", "lme", "vord"]  # under the share
    assert page(0.25, as_page=False) == ["hand", "heading", "lme", "vord"]  # crops, not a page


def test_the_fallback_reading_is_kept_only_where_this_model_finds_it_plausible():
    """With `agree`, a surer second reading replaces this model's only if this model's own CTC likelihood of it
    is within `agree` nats per character of its own reading: a confident print reading that differs only in
    letter case keeps it; a doubtful one (flat frames: handwriting it cannot read) takes the other."""
    import numpy as np

    from textrec.charset import Charset
    from textrec.decoding import Prediction, log_softmax
    from textrec.inference import BatchReader

    main = BatchReader.__new__(BatchReader)
    main.charset, main.batch_size = Charset("abAB"), 8
    frames = {0: np.full((6, 5), 0.0), 1: np.full((6, 5), 0.0)}  # crop 0: peaked on "ab"; crop 1: flat
    frames[0][:, 0], frames[0][1, 1], frames[0][4, 2] = 3.0, 9.0, 9.0
    main._log_probs = lambda batch, widths: [log_softmax(frames[int(a[0, 0])]) for a in batch[:, 0]]
    main.preprocess = load_recognizer().preprocess
    arrays = [np.full((32, 40), i, np.float32) for i in range(2)]
    mine = [Prediction("ab", 0.2), Prediction("ab", 0.1)]
    surer = [(0, Prediction("AB", 0.6)), (1, Prediction("AB", 0.6))]
    assert [i for i, _ in main.plausible(arrays, mine, surer, agree=1.0)] == [1]
    assert [i for i, _ in main.plausible(arrays, mine, surer, agree=100.0)] == [0, 1]


def test_blend_reads_what_the_fallback_took_from_both_networks_mixed_and_leaves_it_to_the_retry():
    """With `blend`, a crop the fallback reads surer is decoded from both networks' per-column probabilities mixed
    (the fallback's share `blend`): a letter both lean to wins, one only the fallback claims against this model's
    certainty does not. The blended reading is this model's own, so the retry may still look at it again."""
    import numpy as np

    from textrec.charset import Charset
    from textrec.decoding import Prediction, log_softmax
    from textrec.inference import BatchReader

    def frames(*rows: tuple[float, float, float]) -> np.ndarray:  # per column: blank, a, b
        return log_softmax(np.log(np.array(rows, np.float64)))

    own = {0: frames((0.1, 0.5, 0.4), (0.9, 0.05, 0.05)), 1: frames((0.02, 0.96, 0.02), (0.9, 0.05, 0.05))}
    other = {0: frames((0.1, 0.1, 0.8), (0.9, 0.05, 0.05)), 1: frames((0.1, 0.3, 0.6), (0.9, 0.05, 0.05))}

    def bare(frames: dict[int, np.ndarray]) -> BatchReader:
        reader = BatchReader.__new__(BatchReader)
        reader.charset, reader.batch_size, reader.preprocess = Charset("ab"), 8, load_recognizer().preprocess
        reader.decoder, reader.beam_width, reader.fusion, reader.calibration = "greedy", 10, None, None
        reader.lexicon, reader.fallback, reader.retry, reader.attention = None, None, None, False
        reader._log_probs = lambda batch, widths: [frames[int(a[0, 0])] for a in batch[:, 0]]
        return reader

    main = bare(own)
    main._fallback_reader = bare(other)
    arrays = [np.full((32, 8), i, np.float32) for i in range(2)]
    main.fallback = {"model": "handwriting", "below": 0.3, "margin": 0.2, "blend": 0.5}
    readings = main.second_opinion(arrays, [Prediction("a", 0.1), Prediction("a", 0.1)])
    assert [p.text for p in readings] == ["b", "a"]
    assert 0.5 < readings[1].confidence < 0.8  # this model's greedy decode of the mix, not the fallback's 0.8

    asked = []
    main.retry, main.attention = {"below": 0.7, "margin": 0.2}, False
    main._predict = lambda batch, widths: [Prediction("a", 0.1) for _ in batch]
    main.read_again = lambda arrays, predictions, among=None: asked.append(among) or predictions
    main.read_arrays(arrays)
    assert asked == [[0, 1]]  # blended readings are retried like this model's own
    main.fallback = {"model": "handwriting", "below": 0.3, "margin": 0.2}
    main._fallback_reader._predict = lambda batch, widths: [Prediction("b", 0.8) for _ in batch]
    main.read_arrays(arrays)
    assert asked[-1] == []  # without blend, what the fallback model read itself is left alone


def test_the_default_model_names_its_fallback_and_a_path_is_refused():
    import pytest

    from textrec.errors import TextrecError
    from textrec.modelfile import check_model_config

    default = load_recognizer()
    assert default.fallback == {"model": "handwriting", "below": 0.5, "margin": 0.2, "blend": 0.85,
                                "page_share": 0.15, "page_keep": 0.9}
    assert type(default.fallback_reader()).__name__ == "OnnxRecognizer"
    default.fallback, default._fallback_reader = {"model": "../../elsewhere", "below": 0.3, "margin": 0.2}, None
    with pytest.raises(TextrecError, match="must name a bundled model"):
        default.fallback_reader()
    good = {"charset": "abc", "network": {"name": "crnn"}, "preprocess": {"height": 32}}
    with pytest.raises(TextrecError, match="fallback.below"):
        check_model_config({**good, "fallback": {"model": "handwriting", "below": 3, "margin": 0.2}}, "m")
    with pytest.raises(TextrecError, match="fallback.page_share"):
        check_model_config({**good, "fallback": {"model": "handwriting", "below": 0.3, "margin": 0.2,
                                                 "page_share": 1.5}}, "m")
    with pytest.raises(TextrecError, match="fallback.blend"):
        check_model_config({**good, "fallback": {"model": "handwriting", "below": 0.3, "margin": 0.2,
                                                 "blend": -0.5}}, "m")
