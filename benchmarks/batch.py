"""`textrec batch` on local Ray vs. in-process vs. `textrec read`, on the same 1,000 IIIT5K test images,
then a kill -9 mid-job and a re-run that must finish the rest without repeating or losing an input.

    python benchmarks/batch.py [--count 1000] [--workers 2] [--out benchmarks/batch.md]

Each timing is the whole command as a user runs it (start-up, model load, Ray start included), and the
`images_per_second` that `textrec batch` reports for its reading alone (after Ray and the models are up).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "iiit5k"
TEXTREC = [sys.executable, "-m", "textrec.cli"]


def timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr[-2000:]}")
    return time.perf_counter() - start, result.stdout


def kill_and_rerun(manifest: Path, out: Path, extra: list[str]) -> dict:
    job = subprocess.Popen(TEXTREC + ["batch", str(manifest), "--out", str(out), "--chunk-size", "16", *extra],
                           start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while job.poll() is None and not (out.exists() and out.stat().st_size > 20_000):
        time.sleep(0.01)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    before = len(out.read_text().splitlines())
    _, stdout = timed(TEXTREC + ["batch", str(manifest), "--out", str(out), *extra])
    inputs = [json.loads(line)["input"] for line in out.read_text().splitlines()]
    expected = [line for line in manifest.read_text().splitlines() if line]
    return {"lines_before_kill": before, "rerun": json.loads(stdout.splitlines()[-1]), "lines_after": len(inputs),
            "unique": len(set(inputs)), "all_present": set(inputs) == set(expected)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("batch.md"))
    args = parser.parse_args()
    rows = [line.split("\t")[0] for line in (SHARED / "test.tsv").read_text().splitlines()[: args.count]]
    work = Path(tempfile.mkdtemp(prefix="textrec-batch-"))
    manifest = work / "manifest.txt"
    manifest.write_text("".join(f"{SHARED / r}\n" for r in rows))
    images = [str(SHARED / r) for r in rows]

    results = []
    seconds, _ = timed(TEXTREC + ["read", "--json", *images])
    results.append(("`textrec read --json` (one process, all files as arguments)", seconds, None))
    seconds, stdout = timed(TEXTREC + ["batch", str(manifest), "--out", str(work / "local.jsonl")])
    results.append(("`textrec batch` (one process)", seconds, json.loads(stdout.splitlines()[-1])))
    seconds, stdout = timed(TEXTREC + ["batch", str(manifest), "--out", str(work / "ray.jsonl"), "--ray", "local",
                                       "--workers", str(args.workers)])
    results.append((f"`textrec batch --ray local --workers {args.workers}`", seconds,
                    json.loads(stdout.splitlines()[-1])))
    kill_local = kill_and_rerun(manifest, work / "kill-local.jsonl", [])
    kill_ray = kill_and_rerun(manifest, work / "kill-ray.jsonl", ["--ray", "local", "--workers", str(args.workers)])

    lines = ["# Batch OCR: `textrec batch` locally and on Ray\n",
             f"`python benchmarks/batch.py --count {args.count} --workers {args.workers}` on {date.today()}, "
             f"{platform.machine()} Linux, {os.cpu_count()} CPU cores, Python {platform.python_version()}; "
             f"the first {args.count} images of iiit5k/test.tsv, bundled default model (ONNX).\n",
             "| command | wall time, whole command (s) | images/s, whole command | start-up (s) | "
             "images/s, reading only |",
             "| --- | --- | --- | --- | --- |"]
    for name, seconds, summary in results:
        startup, reading = (summary["startup_seconds"], summary["images_per_second"]) if summary else ("-", "-")
        lines.append(f"| {name} | {seconds:.1f} | {args.count / seconds:.0f} | {startup} | {reading} |")
    lines += ["", "Kill -9 of the whole process group once some results were written, then the same command again:", "",
              "| run | lines before the kill | re-run read | lines after | unique inputs | every input present |",
              "| --- | --- | --- | --- | --- | --- |"]
    for name, k in (("one process", kill_local), ("local Ray", kill_ray)):
        lines.append(f"| {name} | {k['lines_before_kill']} | {k['rerun']['read']} (skipped "
                     f"{k['rerun']['already_done']}) | {k['lines_after']} | {k['unique']} | {k['all_present']} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
