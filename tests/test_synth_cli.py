"""`textrec synth --out` with worker processes: a missing extra is named in one line, as for every other
command, not reported as a broken process pool with the workers' tracebacks."""
from __future__ import annotations

import subprocess
import sys


def test_a_missing_extra_in_the_workers_is_one_line(tmp_path):
    code = ("import sys; sys.modules['wordfreq'] = None\n"  # the default text mix counts English words with it
            "from textrec.cli import main\n"
            "sys.argv = ['textrec', 'synth', '--n', '4', '--workers', '2', '--out', 'dir']\n"
            "main()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-1500:]
    assert result.stderr.strip() == ("error: textrec synth needs wordfreq, which is not installed: "
                                     "pip install 'textrec[train]'")
