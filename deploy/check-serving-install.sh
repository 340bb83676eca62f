#!/usr/bin/env bash
# What deploy/Dockerfile's serve stage does, outside Docker: a fresh venv with a plain (non-editable)
# `pip install ".[serve]"`, no torch in it, then the image's entry points: `textrec serve`, the HEALTHCHECK
# command, a real request, and the Lambda handler on the recorded API Gateway event.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

python3 -m venv "$work/venv"
. "$work/venv/bin/activate"
pip install -q "$root[serve]"
cd "$work"  # away from the source tree: only the installed package is importable
if python -c "import torch" 2>/dev/null; then echo "FAIL: torch is installed by textrec[serve]"; exit 1; fi
if python -c "import lightning" 2>/dev/null; then echo "FAIL: lightning is installed by textrec[serve]"; exit 1; fi

port=$(python -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
TEXTREC_PORT=$port textrec serve --host 127.0.0.1 --port "$port" --log-level warning &
server=$!
for _ in $(seq 60); do
  if TEXTREC_PORT=$port python -m textrec.serve.healthcheck; then break; fi
  sleep 1
done
TEXTREC_PORT=$port python -m textrec.serve.healthcheck || { echo "FAIL: healthcheck"; exit 1; }

python - "$port" "$root" <<'PY'
import json, sys, urllib.request, uuid
port, root = sys.argv[1], sys.argv[2]
image = open(f"{root}/examples/hello.png", "rb").read()
boundary = uuid.uuid4().hex
body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="hello.png"\r\n'
        f'Content-Type: image/png\r\n\r\n').encode() + image + f"\r\n--{boundary}--\r\n".encode()
request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=body,
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
answer = json.load(urllib.request.urlopen(request, timeout=30))
assert answer["text"] == "Hello", answer
from textrec.serve.aws_lambda import handler
reply = handler(json.load(open(f"{root}/tests/data/apigw-predict-event.json")), None)
assert reply["statusCode"] == 200 and json.loads(reply["body"])["text"] == "Hello", reply
loaded = [m for m in ("torch", "lightning") if m in sys.modules]
assert not loaded, loaded
print("serving install OK: no torch, textrec serve answered /healthz and /predict, the Lambda handler read the event")
PY
