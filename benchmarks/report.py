"""The end of every benchmark script: its markdown printed, and written to --out when given; and the CPU line
its header names, since int8 kernels read and run differently with and without VNNI (QUANTIZATION.md)."""
from __future__ import annotations

import platform
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


def publish(lines: list[str], out: Path | None) -> str:
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        out.write_text(text)
    return text
