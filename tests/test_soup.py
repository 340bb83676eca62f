"""Weight interpolation between a model and its fine-tuned descendant (textrec.training.soup)."""
import pytest
import torch

from tests.helpers import TINY_NETWORK
from textrec.charset import Charset
from textrec.errors import TextrecError
from textrec.model_io import load_model, make_config, save_model
from textrec.networks import build_network
from textrec.preprocess import PreprocessConfig
from textrec.training.soup import interpolate


def saved(folder, network_settings, seed):
    torch.manual_seed(seed)
    charset = Charset("0123456789")
    network = build_network(network_settings, charset.num_classes)
    save_model(folder, network, make_config(network_settings, charset, PreprocessConfig()))
    return network


def test_alpha_moves_from_one_model_to_the_other_and_a_mismatch_is_refused(tmp_path):
    base, tuned = saved(tmp_path / "a", TINY_NETWORK, 0), saved(tmp_path / "b", TINY_NETWORK, 1)
    for alpha, expected in ((0.0, base), (1.0, tuned)):
        mixed, _ = load_model(interpolate(tmp_path / "a", tmp_path / "b", alpha, tmp_path / f"m{alpha}"))
        for key, value in mixed.state_dict().items():
            assert torch.allclose(value.float(), expected.state_dict()[key].float()), key
    half, config = load_model(interpolate(tmp_path / "a", tmp_path / "b", 0.5, tmp_path / "half"))
    key = "head.weight"
    assert torch.allclose(half.state_dict()[key], (base.state_dict()[key] + tuned.state_dict()[key]) / 2)
    assert config["training"]["soup"]["alpha"] == 0.5
    saved(tmp_path / "c", dict(TINY_NETWORK, rnn_hidden=32), 2)
    with pytest.raises(TextrecError, match="not the same architecture"):
        interpolate(tmp_path / "a", tmp_path / "c", 0.5, tmp_path / "bad")
