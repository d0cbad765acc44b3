"""Run a Databricks source-format notebook top to bottom on the test session's engine, as Databricks would.

Cells are separated by ``# COMMAND ----------``; a cell whose lines all start with ``# MAGIC`` is a magic cell:
``%md`` is documentation, ``%pip`` is the cluster's business (skipped), ``%sql`` runs through ``spark.sql`` with
its ``:name`` markers bound to the widgets of that name (:func:`bind_widgets`). Python cells run in one namespace
holding ``spark``, a ``dbutils`` whose widgets keep the values given (or their defaults), and ``display``, which forces
what it is given (a Spark DataFrame is collected, a figure is rendered) and keeps it for the test to look at.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = "# Databricks notebook source"
SEPARATOR = "\n# COMMAND ----------\n"
MARKER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class Widgets:
    def __init__(self, values: dict[str, str]):
        self._given = dict(values)
        self.values: dict[str, str] = {}

    def _create(self, name: str, default: str, *_: Any, **__: Any) -> None:
        # like Databricks: a value given from outside (a job's parameter, a user's entry) beats the default
        self.values.setdefault(name, self._given.get(name, default))

    text = dropdown = combobox = multiselect = _create

    def get(self, name: str) -> str:
        if name not in self.values:
            raise ValueError(f"no widget {name!r}")  # Databricks: InputWidgetNotDefined
        return self.values[name]

    def removeAll(self) -> None:  # noqa: N802 (dbutils' name)
        self.values.clear()


@dataclass
class FakeDbutils:
    widgets: Widgets


@dataclass
class Run:
    cells: list[str] = field(default_factory=list)  # "md", "sql", "python", "pip" per cell, in order
    displayed: list[Any] = field(default_factory=list)  # pandas frames, figures, images
    namespace: dict[str, Any] = field(default_factory=dict)


def cells(source: str) -> list[str]:
    if not source.startswith(HEADER):
        raise ValueError(f"not a Databricks notebook: the first line is not {HEADER!r}")
    return [c.strip("\n") for c in source[len(HEADER) :].split(SEPARATOR)]


def bind_widgets(text: str, widgets) -> str:
    """``text`` with each ``:name`` marker replaced by its widget's value as a SQL string literal, which is how
    Databricks binds a ``%sql`` cell's widgets. Not ``spark.sql(text, args=…)``: Apache Spark 4.1.1 and later leave
    named parameters unbound (UNBOUND_SQL_PARAMETER, apache/spark#55392), and the cells must run on both engines."""

    def literal(match: re.Match) -> str:
        value = widgets.get(match.group(1))
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    return MARKER.sub(literal, text)


def run_notebook(path: Path, spark: Any, widgets: dict[str, str] | None = None) -> Run:
    run = Run()
    dbutils = FakeDbutils(Widgets(widgets or {}))

    def display(obj: Any) -> None:
        if hasattr(obj, "toPandas"):
            obj = obj.limit(1000).toPandas()
        elif hasattr(obj, "savefig"):
            import matplotlib.pyplot as plt

            obj.savefig(io.BytesIO(), format="png")
            plt.close(obj)
        run.displayed.append(obj)

    run.namespace.update(spark=spark, dbutils=dbutils, display=display, displayHTML=run.displayed.append)
    for number, cell in enumerate(cells(path.read_text()), 1):
        lines = cell.splitlines()
        if lines and all(line.startswith("# MAGIC") for line in lines):
            body = "\n".join(line[len("# MAGIC") :].removeprefix(" ") for line in lines)
            magic, _, text = body.partition("\n")
            kind = magic.split()[0].lstrip("%")
            run.cells.append(kind)
            if kind == "sql":
                display(spark.sql(bind_widgets(text, dbutils.widgets)))
            elif kind not in {"md", "pip"}:
                raise ValueError(f"{path.name} cell {number}: magic %{kind} is not supported here")
            continue
        run.cells.append("python")
        try:
            exec(compile(cell, f"{path.name}[cell {number}]", "exec"), run.namespace)
        except Exception as exc:
            raise AssertionError(f"{path.name} cell {number} failed: {type(exc).__name__}: {exc}\n{cell}") from exc
    return run
