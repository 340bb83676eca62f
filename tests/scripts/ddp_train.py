"""Run by tests/test_distributed.py: a `textrec.training.run.train` in DDP, each rank recording what it saw.
Lightning starts the second rank by running this same script again with LOCAL_RANK set."""
import hashlib
import json
import sys
from pathlib import Path

import lightning as L
import torch

from textrec.training.config import load_config
from textrec.training.run import train


class Record(L.Callback):
    """Per rank: the names of the training samples it was given, and a digest of its final weights."""

    def __init__(self, out: Path):
        self.out, self.names = out, []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.names.extend(batch["names"])

    def on_fit_end(self, trainer, module):
        digest = hashlib.sha256()
        for key, value in sorted(module.network.state_dict().items()):
            digest.update(key.encode() + value.detach().cpu().numpy().tobytes())
        record = {"rank": trainer.global_rank, "world": trainer.world_size, "names": self.names,
                  "weights": digest.hexdigest(), "lr": module.hparams.lr, "steps": trainer.global_step}
        (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    train(load_config(None, sys.argv[2:]), callbacks=[Record(out)])
