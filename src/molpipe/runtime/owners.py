"""Which process runs a job, as ``<pid>@<host>``, and whether it is gone: how a job recognizes what a killed job
left behind (its staging folder, its MLflow run still RUNNING). A SIGKILL runs no cleanup, so the next job does it.
Only this host's processes can be asked: another host's owner is never taken for gone, and a pid that a new
process has taken counts as alive until that process ends (a leftover kept is harmless, a live job's taken is not).
"""

from __future__ import annotations

import os
import socket


def me() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


def gone(owner: str) -> bool:
    """Whether ``owner`` (``<pid>@<host>``) is a process of this host that no longer runs."""
    pid, _, host = owner.partition("@")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's live process
        pass
    return False
