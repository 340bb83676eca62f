"""LMDB datasets in the layout the scene-text community uses (deep-text-recognition-benchmark, parseq):
keys `num-samples`, `image-%09d` (encoded image bytes), `label-%09d` (UTF-8), indices starting at 1."""
from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from textrec.data.sources import Source
from textrec.errors import TextrecError
from textrec.preprocess import load_image

if TYPE_CHECKING:
    import lmdb


class LmdbSource(Source):
    def __init__(self, path: str | Path):
        import lmdb  # noqa: F401  (a missing lmdb is said now, not at the first sample)

        self.path = Path(path)
        if self.path.is_file():
            self.path = self.path.parent
        if not (self.path / "data.mdb").is_file():
            raise TextrecError(f"not an LMDB dataset (no data.mdb): {self.path}")
        env = self._open()
        with env.begin() as txn:
            raw = txn.get(b"num-samples")
            if raw is None:
                raise TextrecError(f"LMDB dataset {self.path} has no 'num-samples' key")
            try:
                count = int(raw.decode())
            except ValueError:
                raise TextrecError(f"LMDB dataset {self.path}: num-samples is not a number: {raw[:20]!r}") from None
            self.labels = []
            for i in range(1, count + 1):
                label = txn.get(f"label-{i:09d}".encode())
                if label is None:
                    raise TextrecError(f"LMDB dataset {self.path}: missing label-{i:09d}")
                self.labels.append(label.decode("utf-8", errors="replace"))
        env.close()
        self.names = [f"{self.path}#{i:09d}" for i in range(1, len(self.labels) + 1)]
        self._env: lmdb.Environment | None = None  # opened lazily in each process: LMDB handles must not cross a fork

    def _open(self) -> lmdb.Environment:
        import lmdb

        return lmdb.open(str(self.path), readonly=True, lock=False, readahead=False, meminit=False, max_readers=256)

    def load(self, index: int) -> Image.Image:
        if self._env is None:
            self._env = self._open()
        with self._env.begin() as txn:
            data = txn.get(f"image-{index + 1:09d}".encode())
        if data is None:
            raise TextrecError(f"LMDB dataset {self.path}: missing image-{index + 1:09d}")
        return load_image(bytes(data))

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_env"] = None
        return state


def encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=1)
    return buffer.getvalue()


def write_lmdb(out: str | Path, samples: Iterable[tuple[bytes, str]], map_size: int = 1 << 40,
               commit_every: int = 1000) -> int:
    """Write (image bytes, label) pairs; returns how many were written. Commits in chunks to bound memory."""
    import lmdb

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = lmdb.open(str(out), map_size=map_size)
    count = 0
    txn = env.begin(write=True)
    try:
        for data, label in samples:
            count += 1
            txn.put(f"image-{count:09d}".encode(), data)
            txn.put(f"label-{count:09d}".encode(), label.encode("utf-8"))
            if count % commit_every == 0:
                txn.put(b"num-samples", str(count).encode())
                txn.commit()
                txn = env.begin(write=True)
        txn.put(b"num-samples", str(count).encode())
        txn.commit()
    except BaseException:
        txn.abort()
        raise
    finally:
        env.sync()
        env.close()
    return count
