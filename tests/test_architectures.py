"""CRNN, ViT + CTC and the attention decoder: each learns, trains through `textrec train`, exports to ONNX
with matching outputs, and (attention) decodes greedy and beam, with one attention map per character."""
import random

import pytest
import torch

from tests.helpers import TINY_NETWORK, random_digits, render, write_dataset
from textrec.charset import Charset
from textrec.data.dataset import Collate, TextDataset
from textrec.data.sources import AnnotationFile
from textrec.preprocess import PreprocessConfig
from textrec.training.system import RecognitionSystem

TINY = {
    "crnn": TINY_NETWORK,
    "vit": {"name": "vit", "width": 64, "layers": 2, "heads": 4, "dropout": 0.0, "patch": [8, 4]},
    "attn": {"name": "attn", "channels": [16, 32, 48, 64], "depth": [1, 1, 1, 1], "encoder_hidden": 48,
             "hidden": 64, "attention": 64, "embedding": 32, "dropout": 0.0, "max_length": 12},
    "attn-gru": {"name": "attn", "cell": "gru", "layers": 2, "channels": [16, 32, 48, 64], "depth": [1, 1, 1, 1],
                 "encoder_hidden": 48, "hidden": 64, "attention": 64, "embedding": 32, "dropout": 0.0,
                 "max_length": 12},
}


@pytest.mark.parametrize("arch", sorted(TINY))
def test_each_architecture_overfits_one_batch(tmp_path, arch):
    torch.manual_seed(0)
    charset, config = Charset.from_spec("digits"), PreprocessConfig()
    path = write_dataset(tmp_path, [random_digits(random.Random(i)) for i in range(8)])
    system = RecognitionSystem(TINY[arch], charset.chars)
    dataset = TextDataset(AnnotationFile(path), charset, config, system.network.width_stride)
    batch = Collate(config)([dataset[i] for i in range(len(dataset))])
    optimizer = torch.optim.AdamW(system.parameters(), lr=3e-3)
    for _ in range(300):
        loss, _, _ = system._loss(batch)
        optimizer.zero_grad(), loss.backward(), optimizer.step()
    system.eval()
    with torch.no_grad():
        _, logits, lengths = system._loss(batch)
        readings = [p.text for p in system._predict(batch, logits, lengths)]
    assert loss.item() < 0.05 and readings == batch["labels"]


# The attention decoder learns digits more slowly than CTC: at 6 epochs its readings sit at the learning test's
# bar and its int8 parity then hangs on near-ties, which flip differently on CPUs with and without VNNI.
EPOCHS = {"vit": 6, "attn": 12}


@pytest.fixture(scope="module", params=["vit", "attn"])
def trained(request, digits_data, tmp_path_factory):
    from textrec.training.config import load_config
    from textrec.training.run import train

    out = tmp_path_factory.mktemp(request.param)
    config = load_config(None, [
        f"out_dir={out}", f"name={request.param}", "model.charset=digits", f"model.network={TINY[request.param]}",
        f"data.train=[{{path: {digits_data['train']}}}]", f"data.val=[{{path: {digits_data['val']}}}]",
        "data.batch_size=16", "data.num_workers=0", "data.cache=true", "train.lr=0.003",
        f"train.max_epochs={EPOCHS[request.param]}", "train.logger=none", "train.samples_to_print=0",
    ])
    return request.param, train(config) / "model"


def test_training_through_textrec_train_learns_to_read(trained, digits_data):
    from textrec.testing import evaluate

    arch, model = trained
    metrics = evaluate(model, [str(digits_data["val"])])["metrics"]
    assert metrics["cer"] < 0.25, (arch, metrics)


def test_onnx_export_matches_pytorch_and_runs_without_it(trained, tmp_path):
    from textrec.export import export_onnx, parity
    from textrec.runtime import OnnxRecognizer

    arch, model = trained
    onnx_file = export_onnx(model, tmp_path / "model.onnx")
    images = [render(random_digits(random.Random(i)), seed=900 + i) for i in range(24)]
    images += [render("0123456789" * 2, seed=1)]  # a long one: many columns, many decoding steps
    result = parity(model, onnx_file, images)
    assert result["identical_text"] == 1.0 and result["max_abs_diff"] < 1e-3, result
    quantized = export_onnx(model, tmp_path / "int8.onnx", quantize=True)  # each architecture's convolutions
    assert parity(model, quantized, images)["identical_text"] >= 0.8, arch  # int8: close, not exact
    assert arch != "attn" or (tmp_path / "int8.step.onnx").is_file()
    if arch == "attn":
        assert (tmp_path / "model.step.onnx").is_file()
        from textrec.recognizer import Recognizer
        from textrec.serve.app import warm_up

        warm_up(OnnxRecognizer(onnx_file), batch_size=2)  # the server's warm-up runs the encoder alone
        beam = OnnxRecognizer(onnx_file, decoder="beam", beam_width=4).read(images[:8])
        torch_beam = Recognizer(model, decoder="beam", beam_width=4).read(images[:8])
        assert [b.text for b in beam] == [t.text for t in torch_beam]  # one search loop over either backend
        assert all(len(b.chars) == len(b.text) == len(b.attention) for b in beam)


def test_attention_maps_one_per_character_in_the_image_size(trained, digits_data, tmp_path):
    from PIL import Image

    from textrec.evaluation import attention_maps
    from textrec.recognizer import Recognizer
    from textrec.testing import evaluate

    arch, model = trained
    if arch != "attn":
        with pytest.raises(Exception, match="needs an attention model"):
            evaluate(model, [str(digits_data["val"])], limit=4, visualize=tmp_path)
        return
    recognizer = Recognizer(model)
    image = render("4071", seed=3)
    reading = recognizer.read(image)
    from textrec.preprocess import prepare

    width = prepare(image, recognizer.preprocess).shape[1]
    maps = attention_maps(reading.attention, width, recognizer.width_stride, image.size)
    assert maps.shape == (len(reading.text), image.height, image.width)
    peaks = [int(m[0].argmax()) for m in maps]
    assert peaks == sorted(peaks)  # reading left to right, the attention moves right
    evaluate(model, [str(digits_data["val"])], limit=12, visualize=tmp_path)
    written = sorted((tmp_path / "correct").glob("*.png")) + sorted((tmp_path / "incorrect").glob("*.png"))
    assert len(written) == 12
    sample = Image.open(written[0])
    assert sample.height % (len(written[0].stem.split("__")[-1]) + 1) == 0  # input + one row per character
