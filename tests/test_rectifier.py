"""The thin-plate-spline rectifier (issue 18): the identity until trained (so it can be added to a trained
model), a real warp once its points move, any width, ONNX export that agrees with PyTorch."""
import numpy as np
import pytest
import torch

from tests.helpers import TINY_NETWORK, render
from textrec.networks import build_network
from textrec.networks.rectifier import TPSRectifier


def test_starts_as_the_identity_at_any_width():
    rectifier = TPSRectifier().eval()
    for width in (16, 75, 300):
        images = torch.rand(2, 1, 32, width)
        # float32 sampling coordinates are off by ~1e-5 of the width: under a hundredth of a pixel
        assert (rectifier(images) - images).abs().max() < 2e-3


def test_moved_points_bend_a_straight_line():
    rectifier = TPSRectifier(points=6).eval()
    with torch.no_grad():
        bias = rectifier.points_out.bias.view(6, 2)
        bias[1, 1] -= 0.5  # the middle top point up, the middle bottom point up: the text's middle rises
        bias[4, 1] -= 0.5
    image = torch.ones(1, 1, 32, 96)
    image[:, :, 14:18, :] = 0  # a level dark line
    bent = rectifier(image)[0, 0]
    rows = lambda column: torch.nonzero(bent[:, column] < 0.5).float().mean()  # noqa: E731
    assert rows(48) > rows(4) + 2, "the middle of the line moved relative to its ends"


def test_crnn_with_rectifier_exports_to_onnx_and_agrees(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    network = build_network(dict(TINY_NETWORK, rectifier="tps", rectifier_points=10), 12).eval()
    with torch.no_grad():
        network.rectifier.points_out.bias.add_(torch.randn(20) * 0.05)  # not the identity: a real warp
    images = torch.from_numpy(np.stack([np.asarray(render("hello", height=32).resize((88, 32)), np.float32)
                                        / 255.0])[:, None])
    path = tmp_path / "rect.onnx"
    torch.onnx.export(network, (images,), str(path), input_names=["images"], output_names=["logits"],
                      dynamic_axes={"images": {0: "n", 3: "w"}, "logits": {0: "n", 1: "t"}}, opset_version=17,
                      dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for width in (88, 140):
        batch = torch.nn.functional.interpolate(images, size=(32, width))
        expected = network(batch).detach().numpy()
        got = session.run(None, {"images": batch.numpy()})[0]
        assert np.abs(expected - got).max() < 1e-3


def test_a_rectifier_can_be_added_to_a_trained_model(tmp_path):
    from textrec.charset import Charset
    from textrec.errors import TextrecError
    from textrec.model_io import make_config, save_model
    from textrec.preprocess import PreprocessConfig
    from textrec.training.run import warm_start

    charset = Charset("0123456789")
    plain = build_network(TINY_NETWORK, charset.num_classes).eval()
    save_model(tmp_path / "plain", plain, make_config(TINY_NETWORK, charset, PreprocessConfig()))
    with_tps = dict(TINY_NETWORK, rectifier="tps")
    network = build_network(with_tps, charset.num_classes).eval()
    warm_start(network, str(tmp_path / "plain"), with_tps, charset)
    images = torch.rand(2, 1, 32, 64)
    assert torch.allclose(network(images), plain(images), atol=1e-2)
    with pytest.raises(TextrecError, match="rnn_hidden"):  # any other difference is still refused
        warm_start(build_network(dict(with_tps, rnn_hidden=32), charset.num_classes), str(tmp_path / "plain"),
                   dict(with_tps, rnn_hidden=32), charset)
