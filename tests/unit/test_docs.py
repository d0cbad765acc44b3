"""The documentation stays true to the repository: its links resolve, the configuration reference lists every
setting of :mod:`molpipe.config`, and the README stays short."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from molpipe.config import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def relative_links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))  # code blocks hold no links
    text = re.sub(r"`[^`\n]*`", "", text)  # nor does inline code
    targets = [match.group(1) for match in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"(https?:|mailto:|#)", t)]


def settings(cls: type = Settings, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted name, environment variable) of every setting, walking the nested section dataclasses."""
    hints = typing.get_type_hints(cls)
    found = []
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            found += settings(kind, f"{prefix}{field.name}.")
        else:
            section, _, name = f"{prefix}{field.name}".rpartition(".")
            env = f"MOLPIPE_{section.upper()}__{name.upper()}" if section else f"MOLPIPE_{name.upper()}"
            found.append((f"{prefix}{field.name}", env))
    return found


def test_docs_exist():
    assert len(PAGES) > 1, "docs/*.md not found"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page):
    missing = [t for t in relative_links(page) if not (page.parent / t.split("#", 1)[0]).exists()]
    assert not missing, f"{page.relative_to(ROOT)}: links to nothing: {missing}"


def test_configuration_lists_every_setting():
    lines = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8").splitlines()
    names = settings()
    assert len(names) > 50 and ("home", "MOLPIPE_HOME") in names
    assert ("spark_server.conf", "MOLPIPE_SPARK_SERVER__CONF") in names
    missing = [
        (name, env) for name, env in names if not any(f"`{name}`" in line and f"`{env}`" in line for line in lines)
    ]
    assert not missing, f"docs/configuration.md has no row naming these settings and their variables: {missing}"


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move reference into docs/"
