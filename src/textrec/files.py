"""Finding input files: folders walked and globs expanded without ever looping on a symbolic link to a folder
above (a link may still lead elsewhere: each real folder is visited once)."""
from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterator


def walk_files(root: str) -> Iterator[str]:
    """Every file under `root`, links to folders followed once per real folder (a loop ends there)."""
    seen: set[str] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders.sort()
        for name in sorted(files):
            yield os.path.join(folder, name)


def expand_glob(pattern: str) -> list[str]:
    """Files matching a glob; `**` (any depth) is walked by walk_files, so a link loop cannot hang it."""
    if "**" not in pattern:
        return sorted(glob.glob(pattern))
    parts = pattern.split(os.sep)
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    root = os.sep.join(fixed) or "."
    shallow, deep = pattern.replace("**" + os.sep, ""), pattern.replace("**", "*")  # '**/' is zero or more folders
    if not fixed:
        shallow, deep = os.path.join(".", shallow), os.path.join(".", deep)
    return [path for path in walk_files(root) if fnmatch.fnmatch(path, shallow) or fnmatch.fnmatch(path, deep)]
