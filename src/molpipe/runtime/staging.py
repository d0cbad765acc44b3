"""A job's scratch folder under ``$MOLPIPE_HOME/staging``, and the removal of those a killed job left behind.

A folder is removed when its job ends, but a SIGKILL (the OOM killer, a preempted node, a cancelled run) skips that.
So each folder's name ends in ``-<pid>@<host>``, and every new one first removes the folders of this host whose
process is gone. Folders of other hosts (a home on a shared Volume) are theirs to remove; a folder whose pid a new
process has taken is kept until that process ends (:mod:`molpipe.runtime.owners`).
"""

from __future__ import annotations

import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from molpipe.runtime import owners


@contextmanager
def folder(settings, kind: str) -> Iterator[Path]:
    """A new folder ``staging/<kind>-<random>-<pid>@<host>``, removed on exit, after removing dead jobs' folders."""
    root = settings.home_path / "staging"
    remove_leftovers(root)
    path = root / f"{kind}-{uuid.uuid4().hex[:8]}-{owners.me()}"
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_leftovers(root: Path) -> list[Path]:
    """Remove the folders under ``root`` of this host's processes that no longer run; returns them."""
    dead = [path for path in (root.iterdir() if root.is_dir() else ()) if owners.gone(_owner(path.name))]
    for path in dead:
        shutil.rmtree(path, ignore_errors=True)
    return dead


def _owner(name: str) -> str:
    """``<pid>@<host>`` of a folder ``<kind>-<random>-<pid>@<host>`` (anything else: no one's)."""
    rest, _, host = name.rpartition("@")
    return f"{rest.rpartition('-')[2]}@{host}"
