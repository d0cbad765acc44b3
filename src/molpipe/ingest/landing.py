"""``molpipe landing FOLDER --then COMMAND``: every file dropped into a landing folder goes through a command once.

A Databricks file-arrival trigger starts a job when files land in a Unity Catalog Volume folder, but it does not say
which files. This hands each file there, in name order, to a molpipe command (``ingest`` for library files,
``ingest-results`` for the lab's), then moves it out of the watched folder: into ``<parent>/_processed/<folder>/``
when the command succeeded, into ``<parent>/_failed/<folder>/`` with an ``.error.txt`` beside it when it did not.
The archive lies outside the watched folder, so moving a file there neither triggers the job again nor lets a rerun
see the file twice. One bad file does not stop the others; the command reports every failure at the end.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from molpipe.runtime.faults import checkpoint

HANDLED_ERRORS = (ValueError, FileNotFoundError)  # a user's error (a bad file, value or query), never molpipe's bug
# what the machine refuses that a user can fix (a full disk, a path they may not write, a file where a folder goes);
# every other OSError is molpipe's to explain: a traceback
USER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR})


def user_os_error(exc: OSError, *, home: str | Path | None) -> str | None:
    """The one line a user reads for ``exc`` where it is theirs to fix: the path and the refusal (a write that ran
    out of space names no file: then the home it most likely filled); None for any other ``OSError``."""
    if exc.errno not in USER_ERRNOS:
        return None
    if exc.filename:
        return f"{exc.filename}: {exc.strerror.lower()}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{exc.strerror.lower()} writing under {home} (MOLPIPE_HOME)"
    return None


def engine_os_error(exc: Exception, *, home: str | Path | None) -> str | None:
    """The one line for an engine's query that the machine refused as :func:`user_os_error` would (a full disk
    under the home, a path one may not write: Sail says "No space left on device (os error 28)", Apache Spark
    ``java.io.IOException: No space left on device``); None for any other failure, which stays a traceback."""
    from pyspark.errors import PySparkException

    if not isinstance(exc, PySparkException):
        return None
    first = (str(exc).strip().splitlines() or [""])[0]
    if not any(os.strerror(code) in first for code in USER_ERRNOS):
        return None
    return f"the engine could not write under {home} (MOLPIPE_HOME): {first}"


@dataclass
class LandingSummary:
    folder: str
    command: str
    processed: int = 0
    failed: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        """What ``molpipe landing`` prints after the command's own output for each file."""
        return f"{self.folder}: {self.processed} file(s) through `molpipe {self.command}`, {self.failed} failed"


def pending_files(folder: Path) -> list[Path]:
    """Files waiting in the folder, in name order (hidden and in-progress ``_``/``.`` files are left alone)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "_")))


def archive_folder(folder: Path, outcome: str) -> Path:
    return folder.parent / f"_{outcome}" / folder.name


def process_landing(folder: str | Path, command: str, run: Callable[[Path], dict[str, Any]]) -> LandingSummary:
    """``run(path)`` each pending file and move it to the archive for its outcome."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"landing folder {folder} does not exist")
    summary = LandingSummary(str(folder), command)
    for path in pending_files(folder):
        try:
            result = run(path)
        except HANDLED_ERRORS as exc:
            message = str(exc)
            target = _move(path, archive_folder(folder, "failed"))
            target.with_name(target.name + ".error.txt").write_text(f"molpipe {command}: {message}\n")
            summary.failed += 1
            summary.files.append({"file": path.name, "status": "failed", "error": message, "moved_to": str(target)})
            continue
        checkpoint("landing.processed")  # killed here, a rerun runs the file again: its command adds nothing twice
        target = _move(path, archive_folder(folder, "processed"))
        summary.processed += 1
        summary.files.append({"file": path.name, "status": "processed", "moved_to": str(target), "summary": result})
    return summary


def _move(path: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target, n = folder / path.name, 1
    while target.exists():  # the same name landed before: keep both
        target, n = folder / f"{n}-{path.name}", n + 1
    shutil.move(path, target)
    return target
