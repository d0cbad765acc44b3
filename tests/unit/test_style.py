"""The code is in one style: ruff's formatter and its lint rules (pyproject.toml [tool.ruff]) over every Python
file of the repository, so a change shows what it changes and not a reflow."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ["src", "tests", "benchmarks", "jobs", "notebooks", "bundles"]


@pytest.mark.parametrize("check", [["format", "--check"], ["check"]], ids=["format", "lint"])
def test_ruff(check):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *check, *FOLDERS], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
