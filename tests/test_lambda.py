"""The AWS Lambda handler, fed an API Gateway proxy event as AWS sends it (tests/data), and variants of it."""
from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import pytest

from textrec.serve.aws_lambda import handler

EVENT = json.loads((Path(__file__).parent / "data" / "apigw-predict-event.json").read_text())


def call(event) -> tuple[int, dict]:
    reply = handler(event, None)
    assert reply["headers"]["Content-Type"] == "application/json"
    return reply["statusCode"], json.loads(reply["body"])


def test_recorded_binary_event():
    status, body = call(EVENT)
    assert status == 200 and body["text"] == "Hello" and body["model"] == "default"
    assert "".join(c["char"] for c in body["chars"]) == "Hello"


def test_http_api_v2_event_with_tf_serving_json():
    image = EVENT["body"]
    event = {"version": "2.0", "rawPath": "/predict", "headers": {"content-type": "application/json"},
             "requestContext": {"http": {"method": "POST", "path": "/predict"}},
             "body": json.dumps({"instances": [{"b64": image}, {"b64": image}]}), "isBase64Encoded": False}
    status, body = call(event)
    assert status == 200 and [p["text"] for p in body["predictions"]] == ["Hello", "Hello"]


@pytest.mark.parametrize("change, status, words", [
    ({"body": base64.b64encode(b"garbage").decode()}, 415, "not an image"),
    ({"body": "!!!"}, 400, "base64"),
    ({"body": ""}, 422, "empty"),
    ({"httpMethod": "GET"}, 405, "POST"),
    ({"headers": {"Content-Type": "application/json"}, "isBase64Encoded": False, "body": "{oops"}, 422, "JSON"),
    ({"headers": {"Content-Type": "application/json"}, "isBase64Encoded": False, "body": '{"image": 1}'}, 422, "b64"),
])
def test_bad_events(change, status, words):
    event = copy.deepcopy(EVENT)
    event.update(change)
    got, body = call(event)
    assert got == status and words in body["error"]


def test_not_an_event():
    assert call(["not", "a", "dict"])[0] == 400  # type: ignore[arg-type]


def test_health():
    assert call({"httpMethod": "GET", "path": "/healthz"}) == (200, {"status": "ok"})


def test_base64_forms_and_settings_from_the_environment():
    """What both the server and the handler accept as base64, and TEXTREC_* settings with a bad value named."""
    from textrec.errors import TextrecError
    from textrec.serve.images import RequestError, decode_base64
    from textrec.serve.settings import ServeSettings

    raw = bytes(range(250))
    standard = base64.b64encode(raw).decode()
    assert decode_base64(standard, 1000) == raw
    assert decode_base64(base64.urlsafe_b64encode(raw).decode().rstrip("="), 1000) == raw  # URL-safe, unpadded
    assert decode_base64("data:image/png;base64," + standard, 1000) == raw  # a browser's data: URL
    with pytest.raises(RequestError, match="expected a base64 string"):
        decode_base64(123, 1000)
    with pytest.raises(RequestError, match="limit") as too_big:
        decode_base64(standard, 100)
    assert too_big.value.status == 413
    settings = ServeSettings.from_env({"TEXTREC_MAX_PIXELS": "1000", "TEXTREC_BATCH_WAIT_MS": "2.5",
                                       "TEXTREC_API_KEY": "k", "TEXTREC_THREADS": ""})
    assert (settings.max_pixels, settings.batch_wait_ms, settings.api_key, settings.threads) == (1000, 2.5, "k", None)
    assert ServeSettings.from_env(settings.to_env()) == settings
    with pytest.raises(TextrecError, match="TEXTREC_MAX_PIXELS must be a number"):
        ServeSettings.from_env({"TEXTREC_MAX_PIXELS": "lots"})
