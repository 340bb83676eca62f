"""Load test of `textrec serve` over real HTTP on loopback: requests/s and p50/p99 latency at 1, 8 and 32
concurrent clients, errors counted, and the server's resident memory after the first 1,000 and after 10,000
requests.

    python benchmarks/load_test.py                          # bundled model, 1 worker, 10,000 requests in all
    python benchmarks/load_test.py --workers 2 --out benchmarks/load-2workers.md

Starts the server itself (a subprocess on a free 127.0.0.1 port) and stops it at the end. Each request
uploads one IIIT5K test word (file bytes as stored) to POST /predict. Bounded: each level stops at its request
count or its time limit, whichever comes first. The client runs on the same 2 cores as the server.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from report import publish, wait_until_ready  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "iiit5k"
ROOT = Path(__file__).resolve().parents[1]


def rss_mib(pid: int) -> float:
    """Resident memory of the server and its children (uvicorn workers)."""
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                       text=True).stdout.split()]
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


async def level(url: str, images: list[bytes], clients: int, count: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    issued = 0
    deadline = time.monotonic() + seconds

    async def client(session: httpx.AsyncClient, seed: int) -> None:
        nonlocal issued
        rng = random.Random(seed)
        while issued < count and time.monotonic() < deadline:
            issued += 1
            data = images[rng.randrange(len(images))]
            start = time.perf_counter()
            try:
                response = await session.post(f"{url}/predict", files={"file": ("word.png", data, "image/png")})
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {response.text[:100]}")
            except httpx.HTTPError as exc:
                errors.append(repr(exc))
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as session:
        await asyncio.gather(*(client(session, seed) for seed in range(clients)))
    elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {"clients": clients, "requests": len(latencies), "errors": len(errors), "first_error": errors[:1],
            "rps": len(latencies) / elapsed, "p50": np.percentile(ms, 50), "p99": np.percentile(ms, 99)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 3000, 6000], help="requests per level")
    parser.add_argument("--seconds", type=float, default=120, help="time limit per level")
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    names = [line.split("\t")[0] for line in (DATA / "test.tsv").read_text().splitlines() if line]
    images = [(DATA / n).read_bytes() for n in random.Random(0).sample(names, 300)]
    port = free_port()
    command = [sys.executable, "-m", "textrec.cli", "serve", "--port", str(port), "--workers", str(args.workers),
               "--log-level", "warning"] + (["--model", args.model] if args.model else [])
    launched = time.monotonic()
    server = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        ready_s = wait_until_ready(url, server, launched)
        asyncio.run(level(url, images, 4, 100, 30))  # warm-up, not counted
        results, memory, total = [], {}, 0
        for clients, count in zip(args.levels, args.counts):
            if total < 1000 <= total + count:  # memory after the first 1,000: split this level there
                first = asyncio.run(level(url, images, clients, 1000 - total, args.seconds))
                memory[1000] = rss_mib(server.pid)
                left = count - first["requests"]
                result = merge(first, asyncio.run(level(url, images, clients, left, args.seconds))) if left else first
            else:
                result = asyncio.run(level(url, images, clients, count, args.seconds))
            total += result["requests"]
            results.append(result)
            print(result, file=sys.stderr, flush=True)
        memory[total] = rss_mib(server.pid)
        batches = httpx.get(f"{url}/metrics").text
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node() or 'this machine'}, "
             f"{len(os.sched_getaffinity(0))} cores, {date.today()}; server: textrec serve --workers {args.workers}, "
             f"client on the same machine; ready {ready_s:.1f} s after launch", "",
             "| concurrent clients | requests | errors | requests/s | p50 (ms) | p99 (ms) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r['clients']} | {r['requests']} | {r['errors']} | {r['rps']:.0f} | "
                     f"{r['p50']:.1f} | {r['p99']:.1f} |")
    (first_n, first_mib), (last_n, last_mib) = sorted(memory.items())[0], sorted(memory.items())[-1]
    lines += ["", f"Resident memory of the server: {first_mib:.0f} MiB after {first_n:,} requests, {last_mib:.0f} MiB "
              f"after {last_n:,} ({(last_mib / first_mib - 1):+.1%}).",
              f"Micro-batches: {batch_summary(batches)}."]
    errors = [e for r in results for e in r["first_error"]]
    if errors:
        lines.append(f"First error: {errors[0]}")
    publish(lines, args.out)


def merge(a: dict, b: dict) -> dict:
    """Two parts of one level (split for the memory reading) as one row; percentiles recomputed approximately
    by weighting is wrong, so the larger part's percentiles are kept and noted as such."""
    n = a["requests"] + b["requests"]
    seconds = a["requests"] / a["rps"] + b["requests"] / b["rps"]
    big = a if a["requests"] >= b["requests"] else b
    return {"clients": a["clients"], "requests": n, "errors": a["errors"] + b["errors"],
            "first_error": a["first_error"] + b["first_error"], "rps": n / seconds,
            "p50": big["p50"], "p99": big["p99"]}


def batch_summary(metrics: str) -> str:
    values = {}
    for line in metrics.splitlines():
        if line.startswith("textrec_batch_size_sum") or line.startswith("textrec_batch_size_count"):
            values[line.split()[0]] = float(line.split()[1])
    count, total = values.get("textrec_batch_size_count", 0), values.get("textrec_batch_size_sum", 0)
    return f"{count:.0f} forward passes for {total:.0f} images, {total / max(count, 1):.1f} images per pass on average"


if __name__ == "__main__":
    main()
