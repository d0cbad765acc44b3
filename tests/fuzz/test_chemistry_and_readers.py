"""Fuzzed input for what every featurize job runs on each row (hypothesis, derandomized so CI is repeatable):
mutated real SMILES (isotopes, radicals, dative bonds, empty fragments, stray ring closures, huge rings) through
standardization and every built-in featurizer, and odd files (quoting, encodings, NUL bytes, broken SDF records)
through the readers. Nothing may raise: a molecule's failure is its row's quarantine reason, a file's is one
FileFormatError naming it."""

import csv
import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from molpipe.chem.reasons import Reason
from molpipe.config import StandardizeOptions
from molpipe.featurize import parse_featurizers
from molpipe.featurize.batch import featurize_chunk, standardize_chunk
from molpipe.ingest.readers import FileFormatError, open_reader

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))  # benchmarks/fuzz.py runs more cases
DATA = Path(__file__).resolve().parents[1] / "data"
REAL = [
    row["smiles"]
    for name in ("hiv_sample.csv", "esol_sample.csv")
    for row in csv.DictReader((DATA / name).open(encoding="utf-8"))
][:300]
# what breaks parsers and standardizers: isotopes, radicals, dative bonds, charges, metals, dummy atoms,
# stereo marks, ring closures (also unclosed or reused), empty fragments, aromatic oddities, whitespace
TOKENS = [
    "[2H]", "[13C]", "[CH2]", "[CH]", "[O]", "[N]", "->", "<-", ".", "..", "1", "2", "%10", "%99", "(", ")", "=", "#",
    "$", ":", "[Na+]", "[Fe+3]", "[U]", "[Pt]", "*", "[*]", "[2*]", "@", "@@", "/", "\\", "[nH]", "c", "n", "[se]",
    "[C@@H]", "[H]", "[H+]", "[OH-]", "[N+](=O)[O-]", "[B-]", "[Si]", "[te]", "~", " ", "\t", "", "[C-4]", "[C+5]",
]  # fmt: skip


@st.composite
def mutated_smiles(draw) -> str:
    text = draw(st.sampled_from(REAL))
    for _ in range(draw(st.integers(0, 4))):
        position = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(("insert", "delete", "repeat", "join")))
        if edit == "insert":
            text = text[:position] + draw(st.sampled_from(TOKENS)) + text[position:]
        elif edit == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 4)) :]
        elif edit == "repeat":
            text = text[:position] + text[position : position + 6] * draw(st.integers(2, 5)) + text[position:]
        else:
            text = text + draw(st.sampled_from((".", "->", ""))) + draw(st.sampled_from(REAL))
    return text


def ring(size: int) -> str:
    return "C1" + "C" * (size - 2) + "C1"


EXOTIC = st.one_of(
    mutated_smiles(),
    st.integers(3, 60).map(ring),  # macrocycles (the largest ones, past max_heavy_atoms, are examples below)
    st.text(alphabet="CNOcn()=#[]@+-1234567890%.Hl", max_size=40),  # SMILES-shaped noise
    st.text(max_size=20),  # anything, unicode included
)
FAST = parse_featurizers("morgan:counts=true,maccs,graph")
# RDKit's 2D descriptors: about 50 ms a molecule here (Ipc and AvgIpc grow fast with size: 0.3 s for a 150-ring)
DESCRIPTORS = parse_featurizers("rdkit2d")
OPTIONS = StandardizeOptions()
REASONS = {reason.value for reason in Reason}


def check(structures, featurizers):
    """Every row accounted for: standardized (and then featurized, or quarantined per featurizer) or rejected with
    a reason, and nothing raised."""
    rows = standardize_chunk([(s, "smiles", None) for s in structures], OPTIONS)
    assert len(rows) == len(structures)
    kept = []
    for inchikey, smiles, _scaffold, heavy_atoms, reason, detail in rows:
        if inchikey is None:
            assert reason in REASONS and detail, (reason, detail)
        else:
            assert reason is None and len(inchikey) == 27 and 0 < heavy_atoms <= OPTIONS.max_heavy_atoms
            kept.append((inchikey, smiles, tuple(f.spec for f in featurizers)))
    features = featurize_chunk(kept, featurizers)
    assert len(features) == len(kept) * len(featurizers)
    for _, name, _, result, error in features:
        assert (result is None) != (error is None) and (error is None or error.startswith(name)), error
    return rows


@settings(max_examples=1500 * SCALE, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EXOTIC, min_size=1, max_size=4))
@example([ring(OPTIONS.max_heavy_atoms), ring(OPTIONS.max_heavy_atoms + 1), "C..C", "[CH3][CH2]", "[NH3]->[Pt+2]"])
def test_any_smiles_is_standardized_and_featurized_or_quarantined_with_a_reason(structures):
    check(structures, FAST)


@settings(max_examples=150 * SCALE, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated_smiles(), min_size=1, max_size=2))
def test_descriptors_of_any_accepted_molecule_are_computed_or_quarantined(structures):
    check(structures, DESCRIPTORS)


@st.composite
def odd_files(draw, tmp: Path):
    fmt = draw(st.sampled_from(("csv", "tsv", "smi", "sdf")))
    delimiter = {"csv": ",", "tsv": "\t", "smi": " ", "sdf": ""}[fmt]
    cell = st.one_of(st.sampled_from(REAL), st.text(max_size=12), st.sampled_from(('"', '""', '"a,b"', "\\", "\r")))
    if fmt == "sdf":
        record = st.one_of(
            st.sampled_from(REAL).map(lambda s: f"{s}\n  fuzz\n\n  0  0  0  0  0  0            999 V2000\nM  END\n"),
            st.text(max_size=80),
        )
        body = "$$$$\n".join(draw(st.lists(record, max_size=4)))
        body += draw(st.sampled_from(("", "$$$$\n", "> <SOL>\n1.5\n\n$$$$\n")))
    else:
        header = draw(st.sampled_from(("smiles", "smiles,label", "smiles\tlabel", "", '"smiles"')))
        lines = [delimiter.join(draw(st.lists(cell, min_size=1, max_size=3))) for _ in range(draw(st.integers(0, 5)))]
        body = "\n".join([header, *lines]) if fmt != "smi" else "\n".join(lines)
    encoding = draw(st.sampled_from(("utf-8", "utf-8-sig", "latin-1", "utf-16", "nul")))
    data = body.replace("\n", "\x00\n").encode("utf-8") if encoding == "nul" else body.encode(encoding, "replace")
    path = tmp / f"library-{draw(st.integers(0, 10**9))}.{fmt}"
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("odd-files")


@settings(
    max_examples=600 * SCALE,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_an_odd_file_is_read_record_by_record_or_refused_naming_itself(tmp, data):
    path = data.draw(odd_files(tmp))
    try:
        reader = open_reader(path)
        records = list(reader.records)
    except FileFormatError as exc:
        assert str(path) in str(exc)
        return
    assert [r.row for r in records] == list(range(1, len(records) + 1))  # nothing read is dropped
    for record in records:
        assert (record.fields is None) == bool(record.problem), record


# Parquet's odd types, each with a strategy for its raw values (None: null): int64 values that are out of Python's
# date range or past year 9999 as timestamps, zones that do not exist, nested values, bytes that are not UTF-8
WORD = st.one_of(st.sampled_from(REAL), st.text(max_size=12))
WORDS = st.lists(st.one_of(st.none(), WORD), max_size=3)
INT64 = st.integers(-(2**63), 2**63 - 1)
ZONES = (None, "UTC", "+05:30", "Mars/Olympus")
ARROW_TYPES = [
    (pa.string(), WORD),
    (pa.large_string(), st.one_of(WORD, st.sampled_from(REAL).map(lambda s: s * 500))),
    (pa.dictionary(pa.int32(), pa.string()), WORD),
    (pa.binary(), st.one_of(st.binary(max_size=12), st.sampled_from(REAL).map(str.encode))),
    (pa.binary(3), st.binary(min_size=3, max_size=3)),
    (pa.null(), st.none()),
    (pa.bool_(), st.booleans()),
    (pa.int64(), INT64),
    (pa.uint64(), st.integers(0, 2**64 - 1)),
    (pa.float64(), st.floats()),
    (pa.decimal128(38, 9), st.decimals(-(10**28), 10**28, allow_nan=False, allow_infinity=False, places=9)),
    (pa.date32(), st.integers(-(2**31), 2**31 - 1)),
    (pa.time64("us"), st.integers(0, 86_400 * 10**6 - 1)),
    (pa.duration("ms"), INT64),
    *((pa.timestamp(unit, tz=zone), INT64) for unit in ("ms", "us", "ns") for zone in ZONES),
    (pa.list_(pa.string()), WORDS),
    (pa.struct([("a", pa.int64()), ("b", pa.list_(pa.string()))]), st.fixed_dictionaries({"a": INT64, "b": WORDS})),
    (pa.map_(pa.string(), pa.int64()), st.lists(st.tuples(WORD, INT64), max_size=2)),
]  # fmt: skip


@st.composite
def odd_parquet(draw, tmp: Path) -> tuple[Path, int | None]:
    """A Parquet file with a SMILES column of any of those types beside other odd columns (names repeated or empty
    too), written whole or then damaged (a byte flipped, or cut short); with its number of rows when it is whole."""
    rows = draw(st.integers(0, 6))
    names = ["smiles", *draw(st.lists(st.sampled_from(("id", "label", "when", "")), max_size=3, unique=True))]
    if draw(st.integers(0, 9)) == 0:
        names.append(draw(st.sampled_from(names)))
    columns = []
    for _ in names:
        arrow_type, values = draw(st.sampled_from(ARROW_TYPES))
        cells = draw(st.lists(st.one_of(st.none(), values), min_size=rows, max_size=rows))
        columns.append(pa.array(cells, type=arrow_type))
    data = io.BytesIO()
    pq.write_table(
        pa.Table.from_arrays(columns, names=names),
        data,
        row_group_size=draw(st.integers(1, 4)),
        use_dictionary=draw(st.booleans()),
    )
    data = bytearray(data.getvalue())
    damage = draw(st.sampled_from(("none", "flip", "cut")))
    if damage == "flip":
        data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
    elif damage == "cut":
        data = data[: draw(st.integers(0, len(data) - 1))]
    path = tmp / f"library-{draw(st.integers(0, 10**9))}.parquet"
    path.write_bytes(data)
    return path, rows if damage == "none" else None


@settings(
    max_examples=300 * SCALE,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_an_odd_parquet_file_is_read_row_by_row_or_refused_naming_itself(tmp, data):
    path, rows = data.draw(odd_parquet(tmp))
    try:
        reader = open_reader(path)
        records = list(reader.records)
    except FileFormatError as exc:
        assert str(path) in str(exc)
        return
    assert [r.row for r in records] == list(range(1, len(records) + 1))
    for record in records:  # every column of every row, as text or null
        assert list(record.fields) == reader.columns and all(isinstance(v, str | None) for v in record.fields.values())
    if rows is not None:  # a whole file: every row read
        assert len(records) == rows
