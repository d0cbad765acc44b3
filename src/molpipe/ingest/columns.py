"""Which column is the structure, which the id, which the labels, and turning records into ``library_raw`` rows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa
from rdkit import Chem, RDLogger

from molpipe.chem.reasons import Reason
from molpipe.ingest.readers import FileFormatError, FileReader, Record

RDLogger.DisableLog("rdApp.*")

RAW_SCHEMA = pa.schema(
    [
        pa.field("source_row", pa.int64()),
        pa.field("record_id", pa.string()),
        pa.field("structure", pa.string()),
        pa.field("structure_format", pa.string()),
        pa.field("labels", pa.map_(pa.string(), pa.float64())),
        pa.field("properties", pa.map_(pa.string(), pa.string())),
        pa.field("read_error", pa.string()),
        pa.field("read_error_detail", pa.string()),
    ]
)

_MISSING = {"", "na", "n/a", "nan", "null", "none"}
_SMILES_NAMES = {"smiles", "smi", "canonical_smiles", "isomeric_smiles", "structure", "mol", "molecule"}


@dataclass(frozen=True)
class ColumnRoles:
    structure: str
    structure_format: str
    id: str | None
    labels: tuple[str, ...]

    def used(self) -> set[str]:
        return {self.structure, *([self.id] if self.id else []), *self.labels}


def resolve_roles(
    reader: FileReader,
    sample: list[Record],
    smiles_col: str | None = None,
    id_col: str | None = None,
    label_cols: Iterable[str] = (),
) -> ColumnRoles:
    """Check the named columns exist (failing fast, naming the file and column) and find the structure column."""
    columns = reader.columns
    for role, name in [("--smiles-col", smiles_col), ("--id-col", id_col)] + [("--label-cols", c) for c in label_cols]:
        if name is not None and name not in columns:
            raise FileFormatError(f"{reader.path}: no column {name!r} ({role}); columns: {', '.join(columns)}")
    if smiles_col:
        structure, fmt = smiles_col, "smiles"
    elif reader.native_structure:
        structure, fmt = reader.native_structure, reader.structure_format
    else:
        structure, fmt = detect_smiles_column(reader.path, columns, sample), "smiles"
    labels = tuple(label_cols)
    if structure in labels or (id_col and (id_col == structure or id_col in labels)):
        raise FileFormatError(
            f"{reader.path}: a column has two roles (structure {structure!r}, id {id_col!r}, labels {labels})"
        )
    return ColumnRoles(structure, fmt, id_col, labels)


def detect_smiles_column(path: Path, columns: list[str], sample: list[Record]) -> str:
    """The SMILES column, by name when one name says so, else by content; ambiguity is an error."""
    named = [c for c in columns if c.lower() in _SMILES_NAMES or "smiles" in c.lower()]
    exact = [c for c in named if c.lower() == "smiles"]
    if len(named) == 1 or len(exact) == 1:
        return (exact or named)[0]
    if len(named) > 1:
        raise FileFormatError(f"{path}: several columns may hold SMILES ({', '.join(named)}); pass --smiles-col")
    rows = [r.fields for r in sample if r.fields is not None][:50]
    parsing = []
    for column in columns:
        values = [row[column] for row in rows if row.get(column)]
        if values and sum(_looks_like_smiles(v) for v in values) >= 0.8 * len(values):
            parsing.append(column)
    if len(parsing) == 1:
        return parsing[0]
    found = f"columns whose values parse as SMILES: {', '.join(parsing)}" if parsing else "no column parses as SMILES"
    raise FileFormatError(f"{path}: cannot tell which column holds SMILES ({found}); pass --smiles-col")


def _looks_like_smiles(value: str) -> bool:
    return (
        any(ch.isalpha() for ch in value)
        and not value.strip().lstrip("-").replace(".", "").isdigit()
        and (Chem.MolFromSmiles(value, sanitize=False) is not None)
    )


def parse_label(value: str | None) -> float | None:
    """A label cell as a float; ``None`` when missing. Raises ValueError when present but not a finite number."""
    if value is None or value.strip().lower() in _MISSING:
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def raw_rows(records: Iterable[Record], roles: ColumnRoles) -> Iterator[dict]:
    """Records -> rows of :data:`RAW_SCHEMA`. Nothing is dropped: a record that was malformed in the file, or has
    an unreadable label, becomes a row with ``read_error`` set."""
    used = roles.used()
    for record in records:
        if record.fields is None:
            yield _row(record.row, None, record.raw, "raw", {}, {}, Reason.MALFORMED_ROW, record.problem)
            continue
        fields = record.fields
        labels, problems = {}, []
        for column in roles.labels:
            try:
                value = parse_label(fields.get(column))
            except ValueError:
                problems.append(f"column {column!r}: {fields.get(column)!r} is not a number")
                continue
            if value is not None:
                labels[column] = value
        properties = {k: v for k, v in fields.items() if k not in used and v is not None}
        error, detail = (Reason.INVALID_LABEL, "; ".join(problems)) if problems else (None, None)
        record_id = fields.get(roles.id) if roles.id else None
        yield _row(
            record.row,
            record_id,
            fields.get(roles.structure),
            roles.structure_format,
            labels,
            properties,
            error,
            detail,
        )


def _row(row, record_id, structure, fmt, labels, properties, error, detail) -> dict:
    return {
        "source_row": row,
        "record_id": record_id,
        "structure": structure,
        "structure_format": fmt,
        "labels": list(labels.items()),
        "properties": list(properties.items()),
        "read_error": error.value if error else None,
        "read_error_detail": detail,
    }
