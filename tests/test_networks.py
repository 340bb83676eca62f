import pytest
import torch

from textrec.errors import TextrecError
from textrec.networks import build_network


@pytest.mark.parametrize("settings", [
    {"backbone": "vgg", "rnn": "lstm"},
    {"backbone": "resnet", "rnn": "gru", "channels": [16, 32, 64, 96], "depth": [1, 1, 1, 1], "rnn_hidden": 32},
    {"backbone": "vgg", "rnn_layers": 0, "channels": [8, 16, 32, 64]},
])
@pytest.mark.parametrize("height", [32, 48])
def test_any_height_and_width_gives_a_quarter_width_sequence(settings, height):
    network = build_network({"name": "crnn", **settings}, num_classes=11).eval()
    for width in (16, 100, 404):
        logits = network(torch.randn(2, 1, height, width))
        assert logits.shape == (2, width // 4, 11)
    assert network.output_lengths(torch.tensor([100, 101])).tolist() == [25, 26]


def test_reference_crnn_shape():
    network = build_network({"name": "crnn"}, num_classes=96)
    assert isinstance(network.rnn, torch.nn.LSTM) and network.rnn.hidden_size == 256 and network.rnn.num_layers == 2
    assert network.backbone.out_channels == 512 and network.dropout.p == 0.25


def test_bad_network_settings_are_clear():
    with pytest.raises(TextrecError, match="unknown network"):
        build_network({"name": "transformer9000"}, 10)
    with pytest.raises(TextrecError, match="unknown backbone"):
        build_network({"name": "crnn", "backbone": "alexnet"}, 10)
