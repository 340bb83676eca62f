import pytest

from textrec.charset import PRESETS, Charset, ctc_min_length
from textrec.errors import TextrecError


def test_presets_and_round_trip():
    charset = Charset.from_spec("printable")
    assert " " in charset and "~" in charset and len(charset) == len(PRESETS["printable"])
    text = "Hello, World 42!"
    assert charset.decode(charset.encode(text)) == text
    assert charset.num_classes == len(charset) + 1
    assert 0 not in charset.encode(text)  # 0 is the blank


def test_custom_and_from_labels():
    assert Charset.from_spec("abc").chars == "abc"
    assert Charset.from_labels(["cab", "bad"]).chars == "abcd"


def test_unknown_character_is_named():
    with pytest.raises(TextrecError, match=r"not in the charset: 'é'"):
        Charset.from_spec("lower").encode("café")


def test_duplicates_and_empty_are_refused():
    with pytest.raises(TextrecError, match="duplicate"):
        Charset("aba")
    with pytest.raises(TextrecError, match="empty"):
        Charset("")


def test_ctc_min_length_counts_repeats():
    assert ctc_min_length([1, 2, 3]) == 3
    assert ctc_min_length([1, 1, 2, 2, 2]) == 5 + 3
