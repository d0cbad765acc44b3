"""A job's scratch folder under ``$MOLPIPE_HOME/staging``, and the removal of those a killed job left behind.

A folder is removed when its job ends, but a SIGKILL (the OOM killer, a preempted node, a cancelled run) skips that.
So each folder's name ends in ``-<pid>@<host>``, and every new one first removes the folders of this host whose
process is gone. Folders of other hosts (a home on a shared Volume) are theirs to remove; a folder whose pid a new
process has taken is kept until that process ends: a leftover kept is harmless, a live job's folder removed is not.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def folder(settings, kind: str) -> Iterator[Path]:
    """A new folder ``staging/<kind>-<random>-<pid>@<host>``, removed on exit, after removing dead jobs' folders."""
    root = settings.home_path / "staging"
    remove_leftovers(root)
    path = root / f"{kind}-{uuid.uuid4().hex[:8]}-{os.getpid()}@{socket.gethostname()}"
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_leftovers(root: Path) -> list[Path]:
    """Remove the folders under ``root`` of this host's processes that no longer run; returns them."""
    host = socket.gethostname()
    dead = [path for path in (root.iterdir() if root.is_dir() else ()) if _owner_gone(path.name, host)]
    for path in dead:
        shutil.rmtree(path, ignore_errors=True)
    return dead


def _owner_gone(name: str, host: str) -> bool:
    rest, _, owner_host = name.rpartition("@")
    pid = rest.rpartition("-")[2]
    if owner_host != host or not pid.isdigit():
        return False  # another host's, or not a job's folder
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's live process
        pass
    return False
