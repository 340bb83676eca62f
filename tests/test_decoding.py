import numpy as np

from textrec.charset import Charset
from textrec.decoding import beam_decode, decode_batch, greedy_decode

CHARSET = Charset("ab")  # classes: 0 blank, 1 a, 2 b


def frames(*rows):
    return np.array(rows, dtype=np.float64)


def test_greedy_merges_repeats_and_drops_blanks():
    probs = frames([0.1, 0.8, 0.1], [0.1, 0.7, 0.2], [0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.2, 0.1, 0.7])
    prediction = greedy_decode(probs, CHARSET)
    assert prediction.text == "aab"
    assert np.allclose(prediction.chars, [0.8, 0.8, 0.7])
    assert np.isclose(prediction.confidence, 0.8 * 0.8 * 0.7)
    assert prediction.columns == [0, 3, 4]


def test_beam_finds_the_likelier_label_greedy_misses():
    # Greedy path is blank,blank ('') but 'a' summed over its alignments is likelier (0.64 vs 0.36).
    probs = frames([0.6, 0.4, 0.0], [0.6, 0.4, 0.0])
    assert greedy_decode(probs, CHARSET).text == ""
    assert beam_decode(probs, CHARSET, beam_width=5).text == "a"


def test_beam_agrees_with_greedy_on_peaked_output():
    rng = np.random.default_rng(0)
    for _ in range(20):
        best = rng.integers(0, 3, size=12)
        probs = np.full((12, 3), 0.01)
        probs[np.arange(12), best] = 0.98
        assert beam_decode(probs, CHARSET).text == greedy_decode(probs, CHARSET).text


def test_lexicon_constrains_the_reading():
    probs = frames([0.1, 0.8, 0.1], [0.9, 0.05, 0.05], [0.1, 0.45, 0.45])
    assert greedy_decode(probs, CHARSET).text == "aa"
    assert beam_decode(probs, CHARSET, lexicon=["ab", "bb"]).text == "ab"


def test_decode_batch_respects_lengths():
    logits = np.zeros((2, 4, 3))
    logits[:, :, 1] = 5.0  # 'a' everywhere
    logits[0, 1, :] = [5.0, 0, 0]  # a blank at frame 1 of sample 0
    results = decode_batch(logits, [4, 1], CHARSET)
    assert [r.text for r in results] == ["aa", "a"]


def test_attention_beam_finds_the_likelier_reading_greedy_misses():
    """Step 1: 'a' 0.6 / 'b' 0.4; after 'a' two letters split 0.5/0.5; after 'b' one letter is certain.
    Greedy takes 'a' (0.6 x 0.5 = 0.3); the beam finds 'bz' (0.4 x 1.0 = 0.4)."""
    from textrec.charset import Charset
    from textrec.decoding import attention_search

    charset = Charset("abxyz")
    a, b, x, y, z, end = 1, 2, 3, 4, 5, 0
    table = {(): {a: 0.6, b: 0.4}, (a,): {x: 0.5, y: 0.5}, (b,): {z: 1.0}}

    def step(tokens, h, c, memory, mask):  # the state h carries the tokens so far (as small ints)
        logits = np.full((len(tokens), 6), -30.0)
        new_h = h.copy()
        for i, token in enumerate(tokens):
            history = tuple(int(t) for t in h[0, i] if t > 0)
            if token != 99:
                history += (int(token),)
            new_h[0, i, : len(history)] = history
            for k, p in table.get(history, {end: 1.0}).items():
                logits[i, k] = np.log(p)
        return logits, new_h, c, np.ones((len(tokens), 3)) / 3

    memory, mask = np.zeros((1, 3, 2)), np.ones((1, 3))
    state = (np.zeros((1, 1, 4)), np.zeros((1, 1, 4)))
    greedy = attention_search(memory, mask, state, step, charset, 99, 5, beam_width=1)[0]
    beam = attention_search(memory, mask, state, step, charset, 99, 5, beam_width=3)[0]
    assert greedy.text in ("ax", "ay") and beam.text == "bz"
    assert abs(beam.confidence - 0.4) < 1e-6 and len(beam.attention) == 2


def test_ctc_log_likelihood_matches_torch_ctc_loss():
    """Our numpy forward algorithm (the fallback's plausibility check, torch-free) against PyTorch's CTC loss,
    with repeated labels (which need a blank between them) and a label too long for its frames."""
    import torch

    from textrec.decoding import ctc_log_likelihood, log_softmax

    rng = np.random.default_rng(0)
    log_probs = log_softmax(rng.normal(0, 2, (12, 5)))
    for labels in ([1, 2, 3], [2, 2], [4], [1, 1, 1, 2, 2, 3], []):
        expected = -torch.nn.functional.ctc_loss(
            torch.from_numpy(log_probs)[:, None], torch.tensor([labels], dtype=torch.long), torch.tensor([12]),
            torch.tensor([len(labels)]), reduction="sum", zero_infinity=False).item()
        assert abs(ctc_log_likelihood(log_probs, labels) - expected) < 1e-6, labels
    assert ctc_log_likelihood(log_probs[:3], [1, 1, 1, 1]) == float("-inf")  # 4 repeats need 7 frames


def test_case_folded_confidence_counts_doubt_about_case_as_no_doubt():
    """A frame torn between `A` and `a` gives a low confidence but a high case-folded one (greedy and beam);
    doubt between different letters stays doubt in both."""
    cased = Charset("aAb")  # classes: 0 blank, 1 a, 2 A, 3 b
    assert (cased.case_twin(1), cased.case_twin(2), cased.case_twin(3), cased.case_twin(0)) == (2, 1, -1, -1)
    torn = frames([0.05, 0.45, 0.5, 0.0], [0.9, 0.05, 0.05, 0.0])
    for prediction in (greedy_decode(torn, cased), beam_decode(torn, cased, beam_width=5)):
        assert prediction.text == "A" and prediction.confidence < 0.6 and prediction.case_folded > 0.9
    letters = frames([0.05, 0.45, 0.0, 0.5], [0.9, 0.05, 0.0, 0.05])
    for prediction in (greedy_decode(letters, cased), beam_decode(letters, cased, beam_width=5)):
        assert prediction.text == "b" and prediction.case_folded < 0.6


def test_wide_beam_finds_the_most_likely_labelling_and_its_peaks():
    """With every character tried and a beam wider than the labellings, the search returns the labelling of
    highest total CTC probability (checked against every labelling by the forward algorithm), and each
    character's confidence and column are a frame where that character is likely."""
    from itertools import product

    from textrec.decoding import ctc_log_likelihood

    rng = np.random.default_rng(3)
    for _ in range(15):
        probs = rng.dirichlet(np.full(3, 0.6), size=5)
        labellings = [list(s) for n in range(6) for s in product((1, 2), repeat=n)]
        scores = [ctc_log_likelihood(np.log(probs), s) for s in labellings]
        best = "".join("ab"[k - 1] for k in labellings[int(np.argmax(scores))])
        reading = beam_decode(probs, CHARSET, beam_width=64, prune=0.0)
        assert reading.text == best
        assert len(reading.chars) == len(reading.columns) == len(best)
        assert reading.columns == sorted(reading.columns)
        for char, conf, column in zip(best, reading.chars, reading.columns):
            assert conf == probs[column, 1 + "ab".index(char)]
