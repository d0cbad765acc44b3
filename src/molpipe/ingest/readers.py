"""Stream records out of library files, one at a time, whatever the format.

Every reader yields :class:`Record` objects numbered from 1 in file order (``row``: the record's position among
the file's data records; the CSV header is not a record). A record that cannot be split into the file's columns
is still yielded, with ``fields=None``, its raw text and the problem, so that nothing read is ever dropped. A file
that cannot be read at all raises :class:`FileFormatError` naming the file.

Nothing here holds more than one record in memory; ``.gz`` files are decompressed as a stream.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

FORMATS = ("csv", "tsv", "smi", "sdf", "parquet")

csv.field_size_limit(sys.maxsize)  # molblocks and long peptide SMILES exceed the default 128 KiB field limit


class FileFormatError(ValueError):
    """The file as a whole cannot be read as the format it claims to be."""


@dataclass(frozen=True)
class Record:
    row: int
    fields: dict[str, str | None] | None  # None: the record could not be split into columns
    raw: str = ""  # the record's text when it is malformed
    problem: str = ""


@dataclass
class FileReader:
    path: Path
    format: str
    columns: list[str]  # known up front (csv/tsv/smi/parquet); SDF: grows as records are read
    structure_format: str  # "smiles" or "molblock" for the format's native structure
    native_structure: str | None  # the column holding the native structure (SDF: the molblock), if any
    records: Iterator[Record]


def detect_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = name.rsplit(".", 1)[-1] if "." in name else ""
    mapping = {
        "csv": "csv",
        "tsv": "tsv",
        "tab": "tsv",
        "txt": "tsv",
        "smi": "smi",
        "smiles": "smi",
        "ism": "smi",
        "sdf": "sdf",
        "sd": "sdf",
        "mol": "sdf",
        "parquet": "parquet",
        "pq": "parquet",
    }
    if suffix not in mapping:
        raise FileFormatError(
            f"{path}: cannot tell the format from the extension '.{suffix}'; pass --format ({', '.join(FORMATS)})"
        )
    return mapping[suffix]


def open_reader(path: Path, fmt: str | None = None) -> FileReader:
    path = Path(path)
    if path.is_dir():
        raise FileFormatError(f"{path}: a folder, not a file")
    if not path.is_file():
        raise FileFormatError(f"{path}: no such file")
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise FileFormatError(f"{path}: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        return _parquet_reader(path)
    text = _open_text(path)
    if fmt in ("csv", "tsv"):
        return _delimited_reader(path, fmt, text)
    if fmt == "smi":
        return _smiles_reader(path, text)
    return _sdf_reader(path, text)


def _open_text(path: Path) -> io.TextIOBase:
    try:
        raw = path.open("rb")
    except OSError as exc:  # there, but not ours to read (permissions)
        raise FileFormatError(f"{path}: cannot be read ({exc.strerror.lower()})") from None
    magic = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    stream = gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw
    try:
        stream.peek(1) if hasattr(stream, "peek") else None
    except (OSError, EOFError) as exc:
        raise FileFormatError(f"{path}: unreadable ({exc})") from None
    return io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")


def _delimited_reader(path: Path, fmt: str, text: io.TextIOBase) -> FileReader:
    delimiter = "\t" if fmt == "tsv" else ","
    rows = csv.reader(text, delimiter=delimiter)
    try:
        header = next(rows)
    except StopIteration:
        raise FileFormatError(f"{path}: the file is empty (no header row)") from None
    except (csv.Error, OSError, EOFError) as exc:
        raise FileFormatError(f"{path}: unreadable as {fmt.upper()} ({exc})") from None
    header = [name.strip().lstrip("\ufeff") for name in header]
    if not any(header) or len(set(header)) != len(header):
        raise FileFormatError(f"{path}: bad header row {header!r} (empty or repeated column names)")
    if any("\x00" in name for name in header):
        raise FileFormatError(f"{path}: binary data where a {fmt.upper()} header was expected")
    return FileReader(path, fmt, header, "smiles", None, _delimited_records(path, rows, header, delimiter))


def _delimited_records(path: Path, rows, header: list[str], delimiter: str) -> Iterator[Record]:
    number = 0
    while True:
        try:
            values = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. NUL bytes inside a field: the record is kept, raw, as malformed
            number += 1
            yield Record(number, None, raw="", problem=f"unreadable record ({exc})")
            continue
        except (OSError, EOFError) as exc:  # a truncated .gz
            raise FileFormatError(f"{path}: read failed after record {number} ({exc})") from None
        if not values or all(not v.strip() for v in values) and len(values) <= 1:
            continue  # blank line: not a record
        number += 1
        if len(values) != len(header):
            yield Record(
                number,
                None,
                raw=delimiter.join(values),
                problem=f"expected {len(header)} fields ({delimiter!r}-separated), found {len(values)}",
            )
            continue
        yield Record(number, {name: (value if value != "" else None) for name, value in zip(header, values)})


def _smiles_reader(path: Path, text: io.TextIOBase) -> FileReader:
    """``.smi``: one molecule a line, ``SMILES [name ...]`` separated by whitespace; an optional header line whose
    first word is 'smiles' is skipped."""

    def records() -> Iterator[Record]:
        number = 0
        for index, line in enumerate(text):
            line = line.strip()
            if not line:
                continue
            parts = line.split(None, 1)
            if index == 0 and parts[0].lower() == "smiles":
                continue
            number += 1
            yield Record(number, {"smiles": parts[0], "name": parts[1].strip() if len(parts) > 1 else None})

    return FileReader(path, "smi", ["smiles", "name"], "smiles", None, records())


MOLBLOCK = "molblock"
TITLE = "_Name"


def _sdf_reader(path: Path, text: io.TextIOBase) -> FileReader:
    """SD file: records end at ``$$$$``; the connection table up to ``M  END`` is the structure, the title line is
    the ``_Name`` field and each ``> <PROP>`` data item becomes a field. A file whose first record has no
    connection table is not an SD file: that fails fast, later broken records are malformed rows."""
    columns = [MOLBLOCK, TITLE]

    def blocks() -> Iterator[list[str]]:
        lines: list[str] = []
        for line in text:
            if line.rstrip("\r\n") == "$$$$":
                yield lines
                lines = []
            else:
                lines.append(line.rstrip("\r\n"))
        if any(line.strip() for line in lines):  # a last record without its $$$$ terminator
            yield lines

    def records() -> Iterator[Record]:
        for number, lines in enumerate(blocks(), start=1):
            record = _sdf_record(number, lines, columns)
            if number == 1 and record.fields is None:
                raise FileFormatError(f"{path}: not an SD file (its first record has no 'M  END' connection table)")
            yield record

    return FileReader(path, "sdf", columns, "molblock", MOLBLOCK, records())


def _sdf_record(number: int, lines: list[str], columns: list[str]) -> Record:
    try:
        end = next(i for i, line in enumerate(lines) if line.startswith("M  END"))
    except StopIteration:
        return Record(number, None, raw="\n".join(lines), problem="SD record has no 'M  END' line")
    fields: dict[str, str | None] = {MOLBLOCK: "\n".join(lines[: end + 1]) + "\n", TITLE: lines[0].strip() or None}
    name = None
    values: list[str] = []
    for line in lines[end + 1 :] + [""]:
        if line.startswith(">"):
            start, stop = line.find("<"), line.find(">", line.find("<") + 1)
            name = line[start + 1 : stop] if 0 < start < stop else None
            values = []
        elif name is not None and not line.strip():
            fields[name] = "\n".join(values) if values else None
            if name not in columns:
                columns.append(name)
            name = None
        elif name is not None:
            values.append(line)
    return Record(number, fields)


def _parquet_reader(path: Path) -> FileReader:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:
        raise FileFormatError(f"{path}: unreadable as Parquet ({exc})") from None
    columns = parquet.schema_arrow.names
    if len(set(columns)) != len(columns):  # a row's dict would keep only the last of them
        raise FileFormatError(f"{path}: repeated column names {sorted({c for c in columns if columns.count(c) > 1})}")

    def records() -> Iterator[Record]:
        number = 0
        try:
            for batch in parquet.iter_batches(batch_size=10_000):
                for row in batch.to_pylist():
                    number += 1
                    yield Record(number, {k: (None if v is None else str(v)) for k, v in row.items()})
        except Exception as exc:  # a corrupt page, or a value Python cannot hold (a date past 9999, an unknown zone)
            raise FileFormatError(f"{path}: read failed after record {number} ({type(exc).__name__}: {exc})") from None

    return FileReader(path, "parquet", columns, "smiles", None, records())
