"""What one training-loader worker delivers: batches of a config's training mix made in this one process (no
loader workers, one thread), samples/s after the first batch, and how many samples were prepared for them.

    python benchmarks/loader_speed.py --config configs/gpu/default-en.yaml --epoch-batches 14 --batches 56
    python benchmarks/loader_speed.py ... --fresh-pools     # each epoch starts with empty pools (before 2026-11-28)

`--epoch-batches`: batches per epoch as one worker sees them (the GPU recipe: 200 batches a validation, over 14
workers). The GPU config reads runs/gpu-pack (python recipes/gpu/pack.py).
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/gpu/default-en.yaml")
    parser.add_argument("--epoch-batches", type=int, default=14)
    parser.add_argument("--batches", type=int, default=56)
    parser.add_argument("--fresh-pools", action="store_true", help="empty pools at each epoch, for comparison")
    args = parser.parse_args()

    import torch

    from textrec.data import dataset as data
    from textrec.training.config import load_config
    from textrec.training.run import RecognizeTask

    torch.set_num_threads(1)
    prepared = [0]
    prepare = data.TextDataset.__getitem__

    def counted(self: data.TextDataset, index: int) -> dict:
        prepared[0] += 1
        return prepare(self, index)

    data.TextDataset.__getitem__ = counted  # type: ignore[method-assign]
    if args.fresh_pools:
        data.BucketedBatches._carried_pools = lambda self: [[] for _ in self.datasets]  # type: ignore[method-assign]
    config = load_config(args.config, ["data.num_workers=0"])
    config.data.epoch_size = args.epoch_batches * config.data.batch_size
    loader = RecognizeTask(config).train_loader

    def endless():
        while True:
            yield from loader

    batches = endless()
    used = len(next(batches)["labels"])  # the first batch (a pool filled from nothing) is not timed
    start, before = time.perf_counter(), prepared[0]
    timed = sum(len(next(batches)["labels"]) for _ in range(args.batches))
    seconds = time.perf_counter() - start
    print(f"{args.config}: {timed} samples in {seconds:.1f} s = {timed / seconds:.0f} samples/s; "
          f"prepared {prepared[0] - before} for them ({prepared[0]} for all {used + timed})"
          f"{' (fresh pools each epoch)' if args.fresh_pools else ''}")


if __name__ == "__main__":
    main()
