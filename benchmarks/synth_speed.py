"""Generator speed and whether it can feed training on this machine.

1. Images per second on one core, full default effects, height 32.
2. Training samples/s of the default-size CRNN fed (a) live synthetic data from a DataLoader worker vs.
   (b) one in-memory batch repeated (no data cost at all): if (a) ~= (b), data loading is not the bottleneck.
Usage: python benchmarks/synth_speed.py [--seconds 20]
       python benchmarks/synth_speed.py --config configs/synth/en-scene.yaml [--backgrounds bundled] --render-only
"""
import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def render_rate(seconds: float, warmup: int = 20000, repeats: int = 3, config: str | None = None,
                backgrounds: str | None = None) -> tuple[float, float]:
    """Median images/s over `repeats` timed runs, after `warmup` samples have filled the glyph cache (a training
    stream renders millions, so the steady state is what feeds it); also the cold rate of the first 500.
    `config`: a synth YAML (default: the default effects); `backgrounds`: its backgrounds setting."""
    from textrec.synth.render import Renderer, SynthConfig

    renderer = Renderer(SynthConfig.from_file(config, {"backgrounds": backgrounds} if backgrounds else None))
    start = time.perf_counter()
    for i in range(500):
        renderer.sample(0, i)
    cold = 500 / (time.perf_counter() - start)
    for i in range(500, warmup):
        renderer.sample(0, i)
    rates, index = [], 0
    for _ in range(repeats):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / repeats:
            renderer.sample(1, index)
            count, index = count + 1, index + 1
        rates.append(count / (time.perf_counter() - start))
    return sorted(rates)[len(rates) // 2], cold


def training_rates(steps: int, batch_size: int = 32) -> tuple[float, float]:
    """Samples/s of the same training steps on the same batches: (a) rendered live by a DataLoader worker while
    the network trains on 2 threads, (b) replayed from memory. Equal compute, so the gap is the data cost."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader

    from textrec.charset import Charset
    from textrec.data.dataset import Collate, TextDataset
    from textrec.networks import build_network
    from textrec.preprocess import PreprocessConfig
    from textrec.synth.dataset import SynthSource

    torch.set_num_threads(2)
    charset, config = Charset.from_spec("printable"), PreprocessConfig()
    dataset = TextDataset(SynthSource(size=10**7, seed=0), charset, config, 4)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=1, collate_fn=Collate(config), shuffle=True,
                        generator=torch.Generator().manual_seed(0), prefetch_factor=4)
    network = build_network({"name": "crnn", "channels": [32, 64, 128, 256], "rnn_hidden": 128}, charset.num_classes)
    optimizer = torch.optim.AdamW(network.parameters())

    def step(batch) -> int:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = network(batch["images"])
        lengths = network.output_lengths(batch["widths"]).clamp(max=logits.shape[1])
        loss = F.ctc_loss(F.log_softmax(logits.float(), -1).transpose(0, 1), batch["targets"], lengths,
                          batch["target_lengths"], zero_infinity=True)
        optimizer.zero_grad(), loss.backward(), optimizer.step()
        return len(batch["labels"])

    batches = iter(loader)
    step(next(batches))  # warm-up: worker start, first allocations
    kept, count, start = [], 0, time.perf_counter()
    for _ in range(steps):
        batch = next(batches)
        kept.append(batch)
        count += step(batch)
    live = count / (time.perf_counter() - start)
    count, start = 0, time.perf_counter()
    for batch in kept:
        count += step(batch)
    return live, count / (time.perf_counter() - start)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--config", default=None, help="a synth YAML (default: the default effects)")
    parser.add_argument("--backgrounds", default=None, help="its backgrounds: a folder, or bundled")
    parser.add_argument("--render-only", action="store_true", help="skip the training comparison")
    args = parser.parse_args()
    steady, cold = render_rate(args.seconds, config=args.config, backgrounds=args.backgrounds)
    what = f"{args.config or 'default effects'}{f', backgrounds {args.backgrounds}' if args.backgrounds else ''}"
    print(f"render, 1 core, {what}, height 32: {steady:.0f} images/s steady ({cold:.0f}/s cold start)")
    if args.render_only:
        raise SystemExit(0)
    live, memory = training_rates(args.steps)
    print(f"training, same {args.steps} batches of 32: live synth {live:.0f} samples/s, "
          f"from memory {memory:.0f} samples/s")
