"""`python -m textrec.serve.healthcheck [PORT]`: exit 0 when the local server answers /healthz (Docker's
HEALTHCHECK; slim images have no curl)."""
from __future__ import annotations

import os
import sys
import urllib.request


def main() -> int:
    port = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TEXTREC_PORT", "8000")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
