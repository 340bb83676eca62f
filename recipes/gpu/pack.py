"""Pack what the GPU recipe needs from outside the repository into one folder, and that folder into one
archive (about 11 MB), which travels with the working tree to the GPU machine (carry runs/gpu-pack.tgz), which
has no ../shared, no wordfreq and no lmdb. The working tree (about 55 MB with both bundled models) and the
archive must stay under the 64 MiB a device call takes (checked at the end), hence 2,200 receipt lines, as JPEG;
one archive instead of 5,000 small files, because the upload was refused at 66 MB of files when the folder
itself travelled. (With 1,000 lines, each seen some 270 times in a GPU run, receipts were what it lost.)

    python recipes/gpu/pack.py       # -> runs/gpu-pack/{words.tsv, iiit5k-train, iiit5k-val, svt, sroie-lines}
                                     #    and runs/gpu-pack.tgz (recipes/gpu.sh unpacks it on the GPU machine)

Each data folder is an annotation folder (images/NNNNN.png + labels.tsv) of gray crops at most `--height`
pixels high (the model reads 32; augmentation wants a little more). The word list is wordfreq's 50,000 most
frequent English words with their frequencies (the synthetic text's vocabulary).
"""
from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tarfile
from pathlib import Path

from PIL import Image

from textrec.data.sources import IcdarQuads, Source, open_source
from textrec.errors import TextrecError
from textrec.synth.text import write_word_list

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
CALL_BYTES = 63 * 2**20  # a device call takes 64 MiB of files in all; keep one for what is untracked


def pack_source(source: Source, folder: Path, height: int = 48, limit: int | None = None, seed: int = 0,
                jpeg: bool = False) -> int:
    """Write up to `limit` samples of `source` (a random choice when there are more) as an annotation folder;
    returns how many were written. Unreadable samples and labels with tabs or newlines are left out. `jpeg`:
    quality-90 JPEG instead of PNG (scans already JPEG-compressed, at about 0.75 of the bytes)."""
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
        name = f"images/{len(lines):05d}.{'jpg' if jpeg else 'png'}"
        image.save(folder / name, **({"quality": 90} if jpeg else {"optimize": True}))
        lines.append(f"{name}\t{label}")
    (folder / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def tracked_bytes() -> int:
    """What the working tree weighs as it travels to the device machine (git's tracked files)."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    return sum((ROOT / name.decode()).stat().st_size for name in names if name and (ROOT / name.decode()).is_file())


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
    parser.add_argument("--sroie-lines", type=int, default=2200, help="receipt lines packed (of 10,752)")
    parser.add_argument("--sroie-format", choices=("jpg", "png"), default="jpg",
                        help="receipt lines as JPEG (quality 90) or PNG (the packs before 2026-11-28)")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"data not found: {SHARED} (the IIIT5K, SVT and SROIE folders of ../shared/data)")
    iiit = SHARED / "iiit5k" / "train_cased.tsv"
    parts = {
        "iiit5k-train": (open_source({"path": str(iiit), "split": {"range": [0.15, 1.0]}}), None, False),
        "iiit5k-val": (open_source({"path": str(iiit), "split": {"range": [0.0, 0.15]}}), None, False),
        "svt": (open_source(str(SHARED / "svt-train")), None, False),
        # pages 200-239 are the receipt validation set (benchmarks/validation.py): never trained on
        "sroie-lines": (IcdarQuads(SHARED / "sroie" / "pages", SHARED / "sroie" / "boxes", pages_range=(0, 199)),
                        args.sroie_lines, args.sroie_format == "jpg"),
    }
    for name, (source, limit, jpeg) in parts.items():
        written = pack_source(source, args.out / name, args.height, limit, jpeg=jpeg)
        print(f"{name}: {written} samples, {folder_size(args.out / name) / 1e6:.1f} MB", flush=True)
    write_word_list(args.out / "words.tsv")
    print(f"words.tsv written; {args.out}: {folder_size(args.out) / 1e6:.1f} MB in all")
    packed = archive(args.out)
    print(f"{packed}: {packed.stat().st_size / 1e6:.1f} MB (carry this one to the GPU machine)")
    tree = tracked_bytes()
    if tree + packed.stat().st_size > CALL_BYTES:
        sys.exit(f"the working tree ({tree / 1e6:.1f} MB) and {packed.name} ({packed.stat().st_size / 1e6:.1f} MB) "
                 f"are over the {CALL_BYTES / 2**20:.0f} MiB a device call takes: pack fewer --sroie-lines")


if __name__ == "__main__":
    main()
