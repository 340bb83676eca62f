"""`textrec batch`: inputs of every kind, one JSON line each, resumable after a kill, locally and on Ray."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import render
from textrec.batch import expand_inputs, finished_inputs, run_batch
from textrec.errors import TextrecError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "hello.png"

WORDS = ["apple", "river", "stone", "cloud", "forty", "green", "house", "light"]


def _images(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{i:04d}.png"
        render(WORDS[i % len(WORDS)], seed=i).save(path)
        paths.append(path)
    return paths


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_folders_globs_and_manifests_expand_to_absolute_paths_once(tmp_path):
    paths = _images(tmp_path / "a", 3)
    (tmp_path / "list.txt").write_text("# a manifest\na/0000.png\n\na/0002.png\n")
    found = expand_inputs([str(tmp_path / "list.txt"), str(tmp_path / "a"), str(tmp_path / "a" / "*.png")])
    assert found == [str(paths[0]), str(paths[2]), str(paths[1])]


def test_each_input_gets_one_line_and_errors_are_lines_too(tmp_path):
    _images(tmp_path / "in", 6)
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    out = tmp_path / "results.jsonl"
    summary = run_batch([str(tmp_path / "in")], out, chunk_size=4, progress=False)
    lines = {Path(r["input"]).name: r for r in _lines(out)}
    assert summary["read"] == 7 and len(lines) == 7
    assert "error" in lines["broken.png"] and "text" not in lines["broken.png"]
    assert lines["0000.png"]["text"] == "apple" and 0 < lines["0000.png"]["confidence"] <= 1
    from PIL import Image

    width, height = Image.open(tmp_path / "in" / "0000.png").size
    boxes = lines["0000.png"]["boxes"]  # one per character, left to right, inside the image
    assert len(boxes) == 5 and [b[0] for b in boxes] == sorted(b[0] for b in boxes)
    assert all(0 <= x0 < x1 <= width and y0 == 0 and y1 == height for x0, y0, x1, y1 in boxes)
    again = run_batch([str(tmp_path / "in")], out, progress=False)
    assert again["read"] == 0 and again["already_done"] == 7 and len(_lines(out)) == 7


def test_page_images_are_read_line_by_line_with_boxes_and_word_images_whole(tmp_path):
    from rapidfuzz.distance import Levenshtein
    from test_pages import LEFT, RIGHT, two_column_page

    _images(tmp_path / "in", 2)
    two_column_page().save(tmp_path / "in" / "page.png")
    out = tmp_path / "results.jsonl"
    run_batch([str(tmp_path / "in")], out, progress=False)  # auto by default, as every front end
    lines = {Path(r["input"]).name: r for r in _lines(out)}
    assert lines["0000.png"]["text"] == "apple" and lines["0000.png"]["mode"] == "line"
    page = lines["page.png"]
    assert page["mode"] == "page" and len(page["lines"]) == len(LEFT + RIGHT)
    first = page["lines"][0]["text"].lower()  # reading order: the left column first
    assert Levenshtein.normalized_distance(first, LEFT[0]) < 0.25, first
    for line in page["lines"]:  # each line has its box on the page and its words
        xs, ys = line["quad"][0::2], line["quad"][1::2]
        assert 0 <= min(xs) < max(xs) <= 1100 and 0 <= min(ys) < max(ys) <= 700 and line["words"]
    forced = tmp_path / "forced.jsonl"  # --mode line reads the same page as one line, no boxes of lines
    run_batch([str(tmp_path / "in" / "page.png")], forced, progress=False, mode="line")
    assert "lines" not in _lines(forced)[0] and "boxes" in _lines(forced)[0]
    with pytest.raises(TextrecError, match="mode"):
        run_batch([str(tmp_path / "in")], tmp_path / "x.jsonl", progress=False, mode="pages")


def test_a_torn_last_line_is_cut_and_its_input_read_again(tmp_path):
    paths = _images(tmp_path / "in", 4)
    out = tmp_path / "results.jsonl"
    run_batch([str(p) for p in paths[:2]], out, progress=False)
    with open(out, "a") as handle:  # the write of a third result was cut short by a power cut
        handle.write('{"input": "' + str(paths[2]))
    assert finished_inputs(out) == {str(paths[0]), str(paths[1])}
    run_batch([str(tmp_path / "in")], out, progress=False)
    assert sorted(r["input"] for r in _lines(out)) == sorted(map(str, paths))


def test_a_file_that_is_not_ours_is_refused(tmp_path):
    out = tmp_path / "results.jsonl"
    out.write_text('{"input": "a"}\nhello\n')
    with pytest.raises(TextrecError, match="results.jsonl: line 2 is not a textrec batch result line"):
        finished_inputs(out)


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00binary", b'{"model": "x"}\n{"a": 1', b"just some notes",
                                     b"root:x:0:0:root:/root:/bin/bash\nsecret line"])
def test_out_that_is_not_a_results_file_is_refused_untouched_and_unquoted(tmp_path, content):
    out = tmp_path / "precious.dat"
    out.write_bytes(content)
    with pytest.raises(TextrecError, match="not a textrec batch result") as error:
        run_batch([str(EXAMPLE)], out, progress=False)
    assert out.read_bytes() == content, "the file was changed"
    assert "root:x" not in str(error.value) and "secret" not in str(error.value)


def test_out_that_is_a_directory_device_or_link_to_a_foreign_file_is_refused(tmp_path):
    with pytest.raises(TextrecError, match="is a directory"):
        run_batch([str(EXAMPLE)], tmp_path, progress=False)
    if Path("/dev/full").exists():
        with pytest.raises(TextrecError, match="not a regular file"):
            run_batch([str(EXAMPLE)], Path("/dev/full"), progress=False)
    foreign = tmp_path / "passwd"
    foreign.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "link.jsonl").symlink_to(foreign)
    with pytest.raises(TextrecError) as error:
        run_batch([str(EXAMPLE)], tmp_path / "link.jsonl", progress=False)
    assert "root:x" not in str(error.value) and foreign.read_text().startswith("root:x")


def _batch_command(inputs: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "textrec.cli", "batch", str(inputs), "--out", str(out), "--chunk-size", "4", *extra]


@pytest.mark.parametrize("mode", ["local process", "local Ray"])
def test_kill_then_rerun_reads_every_input_exactly_once(tmp_path, mode):
    if mode == "local Ray":
        pytest.importorskip("ray")
    extra = ["--ray", "local", "--workers", "2"] if mode == "local Ray" else []
    paths = _images(tmp_path / "in", 400)
    out = tmp_path / "results.jsonl"
    # its own session: the kill takes the Ray processes it started too, as a machine going down would
    job = subprocess.Popen(_batch_command(tmp_path / "in", out, *extra), start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and job.poll() is None and not (out.exists() and out.stat().st_size):
        time.sleep(0.01)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait(30)
    first = len(_lines(out))
    assert 0 < first < len(paths), f"kill was not mid-job ({first} lines): {job.stderr.read()[-1500:]}"
    rerun = subprocess.run(_batch_command(tmp_path / "in", out, *extra), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    summary = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert summary["already_done"] == first and summary["read"] == len(paths) - first
    inputs = [r["input"] for r in _lines(out)]
    assert sorted(inputs) == sorted(map(str, paths))  # every input, none twice
    right = [r["text"] == WORDS[int(Path(r["input"]).stem) % len(WORDS)] for r in _lines(out)]
    assert sum(right) > 0.8 * len(right)  # the results are real readings (the default model, rendered words)


def test_a_manifest_or_result_file_with_bytes_that_are_not_text_is_refused_by_name(tmp_path):
    manifest = tmp_path / "list.txt"
    manifest.write_bytes(b"a.png\n\xff.png\n")
    with pytest.raises(TextrecError, match=r"list.txt:2: not UTF-8 text"):
        expand_inputs([str(manifest)])
    out = tmp_path / "results.jsonl"
    out.write_bytes(b'{"input": "\xff"}\n')
    with pytest.raises(TextrecError, match="is not a textrec batch result file"):
        finished_inputs(out)
