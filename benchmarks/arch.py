"""Speed side of the architecture choice: parameters, batch-1 latency on one core, batched throughput, and
training throughput (bf16 autocast) for candidate CRNN sizes, on word-sized inputs (32 x 100).

    python benchmarks/arch.py            # prints a markdown table
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from textrec.networks.crnn import CRNN

CANDIDATES = {
    "S  vgg 32-64-128-192, lstm 96x2": dict(channels=[32, 64, 128, 192], depth=[1, 1, 2, 2], rnn_hidden=96),
    "M  vgg 32-64-128-256, lstm 128x2": dict(channels=[32, 64, 128, 256], depth=[1, 1, 2, 2], rnn_hidden=128),
    "M+ vgg 48-96-192-256, lstm 160x2": dict(channels=[48, 96, 192, 256], depth=[1, 1, 2, 2], rnn_hidden=160),
    "L  vgg 64-128-256-384, lstm 192x2": dict(channels=[64, 128, 256, 384], depth=[1, 1, 2, 2], rnn_hidden=192),
    "ref vgg 64-128-256-512, lstm 256x2": dict(channels=[64, 128, 256, 512], depth=[1, 1, 2, 2], rnn_hidden=256),
}
NUM_CLASSES = 96


def timed(fn, repeats: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def measure(settings: dict) -> dict:
    net = CRNN(NUM_CLASSES, **settings).eval()
    params = sum(p.numel() for p in net.parameters())
    word = torch.randn(1, 1, 32, 100)
    batch = torch.randn(64, 1, 32, 100)
    with torch.inference_mode():
        torch.set_num_threads(1)
        latency = timed(lambda: net(word), 50)
        torch.set_num_threads(2)
        batched = timed(lambda: net(batch), 5) / 64
    net.train()
    optimizer = torch.optim.AdamW(net.parameters(), 1e-3)
    targets = torch.randint(1, NUM_CLASSES, (64, 8))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = net(batch)
        log_probs = F.log_softmax(logits.float(), -1).transpose(0, 1)
        loss = F.ctc_loss(log_probs, targets, torch.full((64,), logits.shape[1]), torch.full((64,), 8))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    train = timed(step, 5) / 64
    return {"params": params, "latency_ms": latency * 1e3, "batched_ms": batched * 1e3, "train_per_s": 1 / train}


def main() -> None:
    print("| model | params | batch 1, 1 thread (ms) | batch 64, 2 threads (ms/img) | "
          "training (img/s, bf16, 2 threads) |")
    print("| --- | --- | --- | --- | --- |")
    for name, settings in CANDIDATES.items():
        r = measure(settings)
        print(f"| {name} | {r['params'] / 1e6:.2f}M | {r['latency_ms']:.2f} | {r['batched_ms']:.2f} | "
              f"{r['train_per_s']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
