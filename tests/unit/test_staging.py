"""Staging folders: removed when their job ends, and a killed job's removed by the next job on the same host."""

import os
import socket
import subprocess
import sys

from molpipe.config import load_settings
from molpipe.runtime import staging


def test_a_dead_jobs_folder_goes_a_live_or_foreign_one_stays(tmp_path):
    settings = load_settings(environ={}).replace(home=str(tmp_path))
    root = tmp_path / "staging"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    names = {
        "dead": f"ingest-abc-1a2b3c4d-{gone.stdout.strip()}@{host}",
        "live": f"score-hiv-1a2b3c4d-{os.getpid()}@{host}",
        "foreign": f"score-hiv-1a2b3c4d-{gone.stdout.strip()}@another-{host}",
        "not a job's": "notes",
    }
    for name in names.values():
        (root / name).mkdir(parents=True)
    with staging.folder(settings, "featurize-hiv") as folder:
        assert folder.parent == root and folder.name.endswith(f"-{os.getpid()}@{host}")
        assert sorted(p.name for p in root.iterdir()) == sorted({folder.name, *names.values()} - {names["dead"]})
    assert not folder.exists()
