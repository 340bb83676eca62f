"""The character language model and its fusion into CTC beam search: built, saved, loaded without pickle, tips
close calls toward words, leaves confident readings, digits and codes alone, and is found (or refused) through a
model's config."""
import json
import shutil

import numpy as np
import pytest

from textrec.charset import Charset
from textrec.decoding import LanguageFusion, beam_decode, decode_batch, greedy_decode
from textrec.errors import TextrecError
from textrec.inference import load_language_model
from textrec.language import CharLM
from textrec.training.language_model import build

CHARSET = Charset("0123456789abcdefghijklmnopqrstuvwxyz. ")
WORDS = {w: 1.0 for w in ["hello", "help", "yellow", "hollow", "world", "total", "station", "open", "daily"] * 3}


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    """An untrained tiny digit reader: these tests ask which decoder a model folder gets, not how well it reads
    (no training in the fast tier)."""
    from tests.helpers import TINY_NETWORK
    from textrec.model_io import make_config, save_model
    from textrec.networks import build_network
    from textrec.preprocess import PreprocessConfig

    charset = Charset.from_spec("digits")
    folder = tmp_path_factory.mktemp("digits") / "model"
    return save_model(folder, build_network(TINY_NETWORK, charset.num_classes),
                      make_config(TINY_NETWORK, charset, PreprocessConfig()))


@pytest.fixture(scope="module")
def lm() -> CharLM:
    return build(WORDS, order=4, min_count=1.0)


def reading(*columns: dict[str, float]) -> np.ndarray:
    """(T, C) probabilities: each column's letters get the given probability, the blank the rest; a blank
    frame between columns, as a CTC model emits."""
    rows = []
    for column in columns:
        row = np.full(CHARSET.num_classes, 1e-6)
        for char, p in column.items():
            row[CHARSET.encode(char)[0]] = p
        row[0] = max(1.0 - row.sum(), 1e-6)
        blank = np.full(CHARSET.num_classes, 1e-6)
        blank[0] = 1.0
        rows += [row / row.sum(), blank / blank.sum()]
    return np.array(rows)


def test_known_words_score_above_scrambles(lm):
    assert lm.word_logprob("hello") > lm.word_logprob("hcllo") + 2
    assert lm.word_logprob("Hello") == lm.word_logprob("hello")  # case-folded
    with pytest.raises(TextrecError, match="'7'"):
        lm.word_logprob("h7llo")


def test_save_and_load_round_trip_without_pickle(lm, tmp_path):
    lm.save(tmp_path / "lm.npz")
    loaded = CharLM.load(tmp_path / "lm.npz")
    assert loaded.order == lm.order and set(loaded.rows) == set(lm.rows)
    assert abs(loaded.word_logprob("yellow") - lm.word_logprob("yellow")) < 0.05  # stored as float16
    np.savez(tmp_path / "objects.npz", contexts=np.array([{"a": 1}], dtype=object), logprobs=np.zeros((1, 28)),
             order=np.array(3))
    with pytest.raises(TextrecError, match="objects.npz"):
        CharLM.load(tmp_path / "objects.npz")  # object arrays need pickle: refused
    whole = (tmp_path / "lm.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(TextrecError, match="cut.npz"):
        CharLM.load(tmp_path / "cut.npz")  # a file cut short: an error naming it, not a zipfile traceback
    with pytest.raises(TextrecError, match="missing.npz"):
        CharLM.load(tmp_path / "missing.npz")


def test_the_file_keeps_the_words_it_was_counted_from(lm, tmp_path):
    assert lm.words == set(WORDS)
    lm.save(tmp_path / "lm.npz")
    assert CharLM.load(tmp_path / "lm.npz").words == set(WORDS)
    with np.load(tmp_path / "lm.npz") as data:  # a file from before the words were kept: loads, knows no words
        np.savez(tmp_path / "old.npz", **{k: data[k] for k in data.files if k != "words"})
    assert CharLM.load(tmp_path / "old.npz").words == frozenset()
    with pytest.raises(TextrecError, match="'he7lo'"):
        CharLM(list(lm.rows), np.stack(list(lm.rows.values())), lm.order, ["hello", "he7lo"])


def test_word_bonus_prefers_a_known_word_the_letters_alone_do_not(lm):
    # "hellow" is all plausible letter runs to the n-gram (hello, yellow, hollow); only the word list knows
    # it is not a word
    probs = reading({"h": 0.9}, {"e": 0.9}, {"l": 0.9}, {"l": 0.9}, {"o": 0.9}, {"w": 0.5})
    plain = LanguageFusion(lm, CHARSET, 0.5, 0.5)
    assert beam_decode(probs, CHARSET, fusion=plain).text == "hellow"
    assert beam_decode(probs, CHARSET, fusion=LanguageFusion(lm, CHARSET, 0.5, 0.5, 1.0)).text == "hello"
    line = reading(*[{c: 0.9} for c in "hello"], {"w": 0.5}, *[{c: 0.9} for c in " world"])
    assert beam_decode(line, CHARSET, fusion=plain).text == "hellow world"
    # the first word of a line gets its bonus where it ends, so the beam keeps it through the rest of the line
    assert beam_decode(line, CHARSET, fusion=LanguageFusion(lm, CHARSET, 0.5, 0.5, 1.0)).text == "hello world"


def test_fusion_tips_a_close_call_toward_the_word(lm):
    probs = reading({"h": 0.9}, {"c": 0.55, "e": 0.4}, {"l": 0.9}, {"l": 0.9}, {"o": 0.9})
    assert greedy_decode(probs, CHARSET).text == "hcllo"
    assert beam_decode(probs, CHARSET).text == "hcllo"
    assert beam_decode(probs, CHARSET, fusion=LanguageFusion(lm, CHARSET, 0.5, 0.5)).text == "hello"


def test_fusion_leaves_confident_non_words_digits_and_codes(lm):
    fusion = LanguageFusion(lm, CHARSET, 0.5, 0.5)
    for text in ["xqzv", "12.50", "b4x 9"]:
        probs = reading(*[{c: 0.98} for c in text])
        assert beam_decode(probs, CHARSET, fusion=fusion).text == text


def test_fusion_scores_each_word_of_a_line(lm):
    fusion = LanguageFusion(lm, CHARSET, 0.5, 0.5)
    line = "open daily"
    probs = reading(*[{c: 0.9} if c != "d" else {"d": 0.5, "b": 0.45} for c in line])
    assert beam_decode(probs, CHARSET, fusion=fusion).text == line
    swapped = reading(*[{c: 0.9} if c != "d" else {"b": 0.55, "d": 0.4} for c in line])
    assert beam_decode(swapped, CHARSET).text == "open baily"
    assert beam_decode(swapped, CHARSET, fusion=fusion).text == line


def test_decode_batch_searches_only_doubtful_readings_and_bounds_its_cache(lm):
    fusion = LanguageFusion(lm, CHARSET, 0.5, 0.5)
    doubtful = reading({"h": 0.9}, {"c": 0.55, "e": 0.4}, {"l": 0.9}, {"l": 0.9}, {"o": 0.9})
    sure = reading({"h": 0.99}, {"c": 0.96, "e": 0.035}, {"l": 0.99}, {"l": 0.99}, {"o": 0.99})
    assert beam_decode(sure, CHARSET, fusion=fusion).text == "hello"  # what the LM would make of it...
    # ...but every frame is >= 0.95 sure: decode_batch reads it greedily, the network's reading stands
    logits = np.log(np.stack([doubtful, sure]))
    texts = [p.text for p in decode_batch(logits, [len(doubtful)] * 2, CHARSET, "lm", fusion=fusion)]
    assert texts == ["hello", "hcllo"]
    fusion.max_cache = 5
    decode_batch(logits, [len(doubtful)] * 2, CHARSET, "lm", fusion=fusion)
    assert len(fusion.states) == 1  # trimmed after the batch
    with pytest.raises(ValueError, match="LanguageFusion"):
        decode_batch(logits, [4, 4], CHARSET, "lm")


def test_the_config_names_the_file_inside_the_model_folder(lm, tmp_path):
    lm.save(tmp_path / "lm.npz")
    loaded, weight, bonus, word_bonus = load_language_model({"language_model": {"file": "lm.npz", "weight": 0.7}},
                                                            tmp_path)
    assert isinstance(loaded, CharLM) and (weight, bonus, word_bonus) == (0.7, 0.5, 0.0)
    assert load_language_model({"language_model": {"file": "lm.npz", "word_bonus": 1.5}}, tmp_path)[3] == 1.5
    for bad, message in [({"file": "../lm.npz"}, "plain file name"), ({"file": 3}, "'file' name"),
                         ({"file": "lm.npz", "weight": "x"}, "numbers"), ({"file": "other.npz"}, "other.npz"),
                         ({"file": "lm.npz", "word_bonus": [1]}, "numbers")]:
        with pytest.raises(TextrecError, match=message):
            load_language_model({"language_model": bad}, tmp_path)
    with pytest.raises(TextrecError, match="has none"):
        load_language_model({}, tmp_path)


def _with_lm(model, lm, folder):
    """A copy of a trained model folder with a language model attached."""
    shutil.copytree(model, folder)
    lm.save(folder / "lm.npz")
    config = json.loads((folder / "config.json").read_text())
    config["language_model"] = {"file": "lm.npz", "weight": 0.5, "bonus": 0.5}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_decoder_choice_follows_the_model(digits_model, lm, tmp_path):
    from textrec.recognizer import Recognizer

    assert Recognizer(digits_model).decoder == "greedy"  # auto, no language model
    with pytest.raises(TextrecError, match="has none"):
        Recognizer(digits_model, decoder="lm")
    with pytest.raises(TextrecError, match="unknown decoder"):
        Recognizer(digits_model, decoder="bean")
    model = _with_lm(digits_model, lm, tmp_path / "with-lm")
    assert Recognizer(model).decoder == "lm" and Recognizer(model).lm is not None
    assert Recognizer(model, decoder="greedy").lm is None
    assert Recognizer(model, lexicon=["123"]).decoder == "beam"  # a word list wins over the language model
    (model / "lm.npz").unlink()
    with pytest.raises(TextrecError, match="--decoder greedy"):
        Recognizer(model)
    assert Recognizer(model, decoder="greedy").decoder == "greedy"


def test_export_carries_the_language_model_beside_the_onnx_file(digits_model, lm, tmp_path):
    from textrec.export import export_onnx
    from textrec.runtime import OnnxRecognizer

    model = _with_lm(digits_model, lm, tmp_path / "with-lm")
    out = export_onnx(model, tmp_path / "exported" / "digits.onnx")
    assert (tmp_path / "exported" / "digits.lm.npz").read_bytes() == (model / "lm.npz").read_bytes()
    runtime = OnnxRecognizer(out)
    assert runtime.decoder == "lm" and runtime.lm is not None
    inside = export_onnx(model, model / "model.onnx")  # inside the folder: the folder's own file is used
    assert OnnxRecognizer(inside).decoder == "lm" and not (model / "model.lm.npz").exists()


def test_bundled_model_decodes_with_its_language_model():
    import textrec

    recognizer = textrec.Recognizer()
    assert recognizer.decoder == "lm" and recognizer.config["language_model"]["file"] == "lm.npz"
