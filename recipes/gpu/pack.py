"""Pack what the GPU recipe needs from outside the repository into one folder, and that folder into one
archive (about 8.6 MB), which travels with the working tree to the GPU machine (carry runs/gpu-pack.tgz), which
has no ../shared, no wordfreq and no lmdb. The working tree (about 54 MB with both bundled models) and the
archive must stay under the 64 MiB a device call takes, hence 1000 receipt lines; one archive instead of 4,000
small files, because the upload was refused at 66 MB of files when the folder itself travelled.

    python recipes/gpu/pack.py       # -> runs/gpu-pack/{words.tsv, iiit5k-train, iiit5k-val, svt, sroie-lines}
                                     #    and runs/gpu-pack.tgz (recipes/gpu.sh unpacks it on the GPU machine)

Each data folder is an annotation folder (images/NNNNN.png + labels.tsv) of gray crops at most `--height`
pixels high (the model reads 32; augmentation wants a little more). The word list is wordfreq's 50,000 most
frequent English words with their frequencies (the synthetic text's vocabulary).
"""
from __future__ import annotations

import argparse
import random
import sys
import tarfile
from pathlib import Path

from PIL import Image

from textrec.data.sources import IcdarQuads, Source, open_source
from textrec.errors import TextrecError
from textrec.synth.text import write_word_list

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def pack_source(source: Source, folder: Path, height: int = 48, limit: int | None = None, seed: int = 0) -> int:
    """Write up to `limit` samples of `source` (a random choice when there are more) as an annotation folder;
    returns how many were written. Unreadable samples and labels with tabs or newlines are left out."""
    indices = list(range(len(source)))
    if limit is not None and limit < len(indices):
        indices = sorted(random.Random(seed).sample(indices, limit))
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for index in indices:
        label = source.labels[index]
        if "\t" in label or "\n" in label or not label.strip():
            continue
        try:
            image = source.load(index)
        except TextrecError:
            continue
        if image.height > height:
            image = image.resize((max(1, round(image.width * height / image.height)), height), Image.BILINEAR)
        name = f"images/{len(lines):05d}.png"
        image.save(folder / name, optimize=True)
        lines.append(f"{name}\t{label}")
    (folder / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def archive(folder: Path) -> Path:
    """folder as folder.tgz beside it, its files under the folder's name (what recipes/gpu.sh unpacks)."""
    target = folder.with_suffix(".tgz")
    with tarfile.open(target, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/gpu-pack"))
    parser.add_argument("--height", type=int, default=48)
    parser.add_argument("--sroie-lines", type=int, default=1000, help="receipt lines packed (of ~10,700)")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"data not found: {SHARED} (the IIIT5K, SVT and SROIE folders of ../shared/data)")
    iiit = SHARED / "iiit5k" / "train_cased.tsv"
    parts = {
        "iiit5k-train": (open_source({"path": str(iiit), "split": {"range": [0.15, 1.0]}}), None),
        "iiit5k-val": (open_source({"path": str(iiit), "split": {"range": [0.0, 0.15]}}), None),
        "svt": (open_source(str(SHARED / "svt-train")), None),
        # pages 200-239 are the receipt validation set (benchmarks/validation.py): never trained on
        "sroie-lines": (IcdarQuads(SHARED / "sroie" / "pages", SHARED / "sroie" / "boxes", pages_range=(0, 199)),
                        args.sroie_lines),
    }
    for name, (source, limit) in parts.items():
        written = pack_source(source, args.out / name, args.height, limit)
        print(f"{name}: {written} samples, {folder_size(args.out / name) / 1e6:.1f} MB", flush=True)
    write_word_list(args.out / "words.tsv")
    print(f"words.tsv written; {args.out}: {folder_size(args.out) / 1e6:.1f} MB in all")
    packed = archive(args.out)
    print(f"{packed}: {packed.stat().st_size / 1e6:.1f} MB (carry this one to the GPU machine)")


if __name__ == "__main__":
    main()
