"""The end of every benchmark script: its markdown printed, and written to --out when given; and the CPU line
its header names, since int8 kernels read and run differently with and without VNNI (QUANTIZATION.md)."""
from __future__ import annotations

import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

VECTOR_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni", "avx512f", "avx2")  # the best first


def cpu() -> str:
    """The CPU model and its widest vector features, e.g. 'AMD EPYC, AVX2' (Linux; else the platform's word)."""
    try:
        info = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    flags = set(next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), []))
    kept = [flag.upper() for flag in VECTOR_FLAGS if flag in flags]
    return ", ".join(part for part in (model or platform.machine(), "/".join(kept)) if part)


def wait_until_ready(url: str, process: subprocess.Popen, launched: float, seconds: float = 120,
                     output: Callable[[], str] = str) -> float:
    """Seconds from `launched` (time.monotonic) until a server's /readyz answers 200: imports, model loading and
    the warm-up. A server that exits first raises with the tail of its `output()`."""
    import httpx  # the benchmarks that start servers have it; the rest need not

    while time.monotonic() - launched < seconds:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {output()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return time.monotonic() - launched
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready within {seconds:g} s")


def publish(lines: list[str], out: Path | None) -> str:
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        out.write_text(text)
    return text
