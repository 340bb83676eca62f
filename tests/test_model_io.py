import json
import pickle

import pytest
import torch

from tests.helpers import TINY_NETWORK
from textrec.charset import Charset
from textrec.errors import TextrecError
from textrec.model_io import load_model, make_config, save_model
from textrec.networks import build_network
from textrec.preprocess import PreprocessConfig


def make():
    charset = Charset.from_spec("lower")
    network = build_network(TINY_NETWORK, charset.num_classes).eval()
    return network, make_config(TINY_NETWORK, charset, PreprocessConfig(height=32))


@pytest.mark.parametrize("name", ["model", "model.safetensors"])
def test_round_trip_gives_identical_outputs(tmp_path, name):
    network, config = make()
    save_model(tmp_path / name, network, config)
    loaded, loaded_config = load_model(tmp_path / name)
    x = torch.randn(2, 1, 32, 64)
    assert torch.equal(network(x), loaded(x))
    assert loaded_config["charset"] == config["charset"] and loaded_config["preprocess"]["height"] == 32


def test_loading_never_unpickles(tmp_path, monkeypatch):
    network, config = make()
    save_model(tmp_path / "m", network, config)

    def refuse(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    load_model(tmp_path / "m")


def test_wrong_shape_is_refused_clearly(tmp_path):
    network, config = make()
    save_model(tmp_path / "m", network, config)
    config["charset"] = "abc"  # a different charset means a different head size
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(TextrecError, match="do not fit the network.*wrong shape for head"):
        load_model(tmp_path / "m")


def test_truncated_weights_are_refused(tmp_path):
    network, config = make()
    save_model(tmp_path / "m", network, config)
    weights = tmp_path / "m" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(TextrecError, match="cannot read weights"):
        load_model(tmp_path / "m")


def test_not_a_model(tmp_path):
    with pytest.raises(TextrecError, match="model not found"):
        load_model(tmp_path / "nothing")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "config.json").write_text("{}")
    with pytest.raises(TextrecError, match="not a textrec model"):
        load_model(tmp_path / "d")


@pytest.mark.parametrize("field, value, message", [
    ("charset", 123, "'charset' must be a non-empty string"),
    ("charset", "aab", "duplicate characters"),
    ("network", "crnn", "'network' must be an object"),
    ("preprocess", {"height": 32, "colour": 1}, "unknown preprocess setting"),
    ("format_version", "1", "needs a newer textrec"),
])
def test_a_malformed_config_is_refused_naming_the_field(tmp_path, field, value, message):
    network, config = make()
    save_model(tmp_path / "m", network, config)
    config[field] = value
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(TextrecError, match=message):
        load_model(tmp_path / "m")
