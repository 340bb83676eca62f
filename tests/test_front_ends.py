"""Every front end gives the same answer for the same image (issue 20): the CLI, a batch job, the HTTP server,
the Lambda handler and the Python API all read through one Reader, so text and confidence agree exactly (to the
four decimals they print), and the character boxes of the CLI and the batch job too."""
from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import textrec
from tests.serving import running_server
from textrec.cli import app
from textrec.serve.app import create_app
from textrec.serve.aws_lambda import handler
from textrec.serve.settings import ServeSettings

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EVENT = json.loads((Path(__file__).parent / "data" / "apigw-predict-event.json").read_text())


@pytest.fixture(scope="module")
def server():
    with running_server(create_app(ServeSettings())) as url:
        yield url


def answers(path: Path, tmp_path: Path, server: str) -> dict:
    """The JSON each front end gives for `path` (CLI, batch, HTTP, Lambda), and the Python API's result."""
    cli = json.loads(CliRunner().invoke(app, ["read", str(path), "--json"]).stdout)
    out = tmp_path / "batch.jsonl"
    done = CliRunner().invoke(app, ["batch", str(path), "--out", str(out)])  # each with its default mode
    assert done.exit_code == 0, done.output
    batch = json.loads(out.read_text().splitlines()[0])
    http = httpx.post(f"{server}/predict", files={"file": (path.name, path.read_bytes())}, timeout=60).json()
    lambda_ = json.loads(handler(lambda_event(path), None)["body"])
    return {"cli": cli, "batch": batch, "http": http, "lambda": lambda_, "python": textrec.read(path)}


def lambda_event(path: Path) -> dict:
    event = copy.deepcopy(EVENT)
    event["body"] = base64.b64encode(path.read_bytes()).decode()
    return event


@pytest.mark.parametrize("name", ["hello.png", "open-daily.png", "receipt-total.png", "station.png"])
def test_every_front_end_gives_the_same_answer(name, tmp_path, server):
    got = answers(EXAMPLES / name, tmp_path, server)
    python = got.pop("python")
    got["python"] = {"text": python.text, "confidence": round(python.confidence, 4)}
    readings = {front: (answer["text"], answer["confidence"]) for front, answer in got.items()}
    assert len(set(readings.values())) == 1, readings
    assert got["cli"]["boxes"] == got["batch"]["boxes"] and len(got["cli"]["boxes"]) == len(got["cli"]["text"])


def test_a_page_reads_the_same_through_every_front_end(tmp_path, server):
    """The handwritten note in examples/ is a page in auto mode everywhere, the Lambda handler included."""
    path = EXAMPLES / "note.png"
    fronts = answers(path, tmp_path, server)
    python = fronts.pop("python")
    assert {front: answer["mode"] for front, answer in fronts.items()} == dict.fromkeys(fronts, "page")
    lines = {front: tuple((line["text"], line["confidence"]) for line in answer["lines"])
             for front, answer in fronts.items()}
    assert len(set(lines.values())) == 1 and len(lines["cli"]) >= 6, lines
    assert {answer["text"] for answer in fronts.values()} == {python.text}
    event = lambda_event(path)
    event["queryStringParameters"] = {"mode": "line"}  # the same options are honoured: one line, no page
    forced = json.loads(handler(event, None)["body"])
    assert "lines" not in forced and forced["text"] and forced["text"] != python.text
