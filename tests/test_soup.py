"""Weight interpolation between a model and its fine-tuned descendant (textrec.training.soup)."""
import pytest
import torch

from tests.helpers import TINY_NETWORK, write_dataset
from textrec.charset import Charset
from textrec.errors import TextrecError
from textrec.model_io import load_model, make_config, save_model
from textrec.networks import build_network
from textrec.preprocess import PreprocessConfig
from textrec.training.soup import fisher_information, interpolate


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


def test_fisher_weighting_keeps_the_weights_each_model_needs_most(tmp_path):
    """A weight only the base's data depends on stays the base's; one only the tuned model's data depends on
    becomes the tuned model's; the information is measured from the models' losses on their own data."""
    base, tuned = saved(tmp_path / "a", TINY_NETWORK, 0), saved(tmp_path / "b", TINY_NETWORK, 1)
    data = write_dataset(tmp_path / "digits", ["123", "4567", "890", "42"])
    measured = fisher_information(tmp_path / "a", [str(data)], limit=4, batch_size=2)
    assert set(measured) == {name for name, _ in base.named_parameters()}
    assert all(bool((f >= 0).all()) for f in measured.values())
    assert sum(float(f.sum()) for f in measured.values()) > 0, "the loss depends on the weights"
    with pytest.raises(TextrecError, match="not a JSON object"):
        fisher_information(tmp_path / "a", ['{"path": broken'])

    names = [name for name, _ in base.named_parameters()]
    kept, taken = "head.weight", "head.bias"
    base_information = {n: torch.full_like(p, 1e6 if n == kept else 1.0) for n, p in base.named_parameters()}
    tuned_information = {n: torch.full_like(p, 1e6 if n == taken else 1.0) for n, p in base.named_parameters()}
    mixed, config = load_model(interpolate(tmp_path / "a", tmp_path / "b", 0.5, tmp_path / "fisher",
                                           (base_information, tuned_information)))
    state, first, second = mixed.state_dict(), base.state_dict(), tuned.state_dict()
    assert torch.allclose(state[kept], first[kept], atol=1e-4)
    assert torch.allclose(state[taken], second[taken], atol=1e-4)
    assert config["training"]["soup"]["weighted_by"] == "fisher"
    same = {n: torch.ones_like(p) for n, p in base.named_parameters()}
    halves, _ = load_model(interpolate(tmp_path / "a", tmp_path / "b", 0.5, tmp_path / "same", (same, same)))
    for name in names:
        assert torch.allclose(halves.state_dict()[name], (first[name] + second[name]) / 2, atol=1e-5), name
