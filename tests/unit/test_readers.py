"""Reading library files: formats, row numbers, malformed rows kept, bad files fail fast naming file and column."""

import gzip
import itertools
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from molpipe.chem.reasons import Reason
from molpipe.ingest.columns import detect_smiles_column, parse_label, raw_rows, resolve_roles
from molpipe.ingest.readers import FileFormatError, detect_format, open_reader


def read_all(path, fmt=None, **roles):
    reader = open_reader(path, fmt)
    sample = list(itertools.islice(reader.records, 100))
    resolved = resolve_roles(reader, sample, **roles)
    return reader, resolved, list(raw_rows(itertools.chain(sample, reader.records), resolved))


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("a.csv", "csv"),
        ("a.CSV.gz", "csv"),
        ("a.tsv", "tsv"),
        ("a.smi", "smi"),
        ("a.sdf.gz", "sdf"),
        ("a.parquet", "parquet"),
    ],
)
def test_format_from_extension(tmp_path, name, fmt):
    assert detect_format(tmp_path / name) == fmt


def test_unknown_extension_names_the_file(tmp_path):
    with pytest.raises(FileFormatError, match=r"lib\.xlsx.*--format"):
        detect_format(tmp_path / "lib.xlsx")


def test_hiv_csv_rows_are_numbered_and_labels_parsed(data_dir):
    reader, roles, rows = read_all(data_dir / "hiv_sample.csv", label_cols=["HIV_active"])
    assert roles.structure == "smiles" and roles.structure_format == "smiles"
    assert len(rows) == 243
    assert [r["source_row"] for r in rows] == list(range(1, 244))
    assert rows[0]["structure"] == "CCC1=[O+][Cu-3]2([O+]=C(CC)C1)[O+]=C(CC)CC(CC)=[O+]2"
    assert rows[0]["labels"] == [("HIV_active", 0.0)]


def test_gzip_is_detected_by_content(data_dir, tmp_path):
    zipped = tmp_path / "hiv.csv.gz"
    with gzip.open(zipped, "wb") as handle:
        handle.write((data_dir / "hiv_sample.csv").read_bytes())
    assert len(read_all(zipped, label_cols=["HIV_active"])[2]) == 243


def test_tox21_missing_labels_are_absent_not_zero(data_dir):
    _, _, rows = read_all(data_dir / "tox21_sample.csv", label_cols=["NR-AR", "NR-ER", "SR-p53"])
    first = dict(rows[0]["labels"])  # CCOc1ccc2nc(S(N)(=O)=O)sc2c1,0,0,1,,,0,0,1,0,0,0,0
    assert first == {"NR-AR": 0.0, "SR-p53": 0.0}


def test_esol_keeps_other_columns_as_properties(data_dir):
    _, roles, rows = read_all(
        data_dir / "esol_sample.csv", id_col="Compound ID", label_cols=["measured log solubility in mols per litre"]
    )
    assert roles.structure == "smiles"
    assert rows[0]["record_id"] == "Amigdalin"
    assert dict(rows[0]["labels"]) == {"measured log solubility in mols per litre": -0.77}
    assert dict(rows[0]["properties"])["Molecular Weight"] == "457.4320000000001"


def test_sdf_properties_become_columns(data_dir, tmp_path):
    zipped = tmp_path / "sol.sdf.gz"
    with open(data_dir / "solubility_sample.sdf", "rb") as src, gzip.open(zipped, "wb") as dst:
        shutil.copyfileobj(src, dst)
    for path in (data_dir / "solubility_sample.sdf", zipped):
        reader, roles, rows = read_all(path, id_col="ID", label_cols=["SOL"])
        assert roles.structure_format == "molblock"
        assert len(rows) == 60
        assert {"ID", "NAME", "SOL", "SOL_classification", "smiles", "_Name"} <= set(reader.columns)
        assert rows[0]["record_id"] == "1" and rows[0]["labels"] == [("SOL", -3.18)]
        assert rows[0]["structure"].rstrip().endswith("M  END")


def test_sdf_record_without_connection_table_is_a_malformed_row(data_dir, tmp_path):
    text = (data_dir / "solubility_sample.sdf").read_text()
    broken = tmp_path / "broken.sdf"
    broken.write_text(text + "junk\nno table here\n$$$$\n")
    rows = read_all(broken)[2]
    assert len(rows) == 61 and rows[-1]["read_error"] == Reason.MALFORMED_ROW.value
    assert "M  END" in rows[-1]["read_error_detail"] and "junk" in rows[-1]["structure"]


def test_smiles_file(tmp_path):
    path = tmp_path / "lib.smi"
    path.write_text("SMILES Name\nCCO ethanol\n\nc1ccccc1 benzene ring\nCC(=O)O\n")
    _, roles, rows = read_all(path, id_col="name")
    assert [(r["source_row"], r["structure"], r["record_id"]) for r in rows] == [
        (1, "CCO", "ethanol"),
        (2, "c1ccccc1", "benzene ring"),
        (3, "CC(=O)O", None),
    ]


def test_parquet(tmp_path):
    path = tmp_path / "lib.parquet"
    pq.write_table(pa.table({"SMILES": ["CCO", None, "c1ccccc1"], "pIC50": [5.2, 6.0, None]}), path)
    _, roles, rows = read_all(path, label_cols=["pIC50"])
    assert roles.structure == "SMILES"
    assert [r["labels"] for r in rows] == [[("pIC50", 5.2)], [("pIC50", 6.0)], []]
    assert rows[1]["structure"] is None


def test_malformed_rows_are_kept_with_their_text(data_dir):
    _, _, rows = read_all(data_dir / "bad_rows.csv", id_col="compound_id", label_cols=["activity"])
    by_row = {r["source_row"]: r for r in rows}
    assert len(rows) == 11
    assert by_row[9]["read_error"] == Reason.MALFORMED_ROW.value
    assert by_row[9]["structure"] == "CC,too,many,fields" and "expected 3 fields" in by_row[9]["read_error_detail"]
    assert by_row[8]["read_error"] == Reason.INVALID_LABEL.value
    assert "'activity'" in by_row[8]["read_error_detail"] and "not-a-number" in by_row[8]["read_error_detail"]
    assert by_row[2]["structure"] is None and by_row[2]["read_error"] is None  # empty SMILES: chemistry decides
    assert by_row[11]["labels"] == []


def test_smiles_column_detected_by_content(tmp_path):
    path = tmp_path / "lib.csv"
    path.write_text("id,structure_text,ic50\nA1,CCO,5\nA2,c1ccccc1N,7\nA3,CC(=O)O,1\n")
    reader = open_reader(path)
    sample = list(reader.records)
    assert detect_smiles_column(path, reader.columns, sample) == "structure_text"


def test_ambiguous_smiles_column_is_an_error(tmp_path):
    path = tmp_path / "lib.csv"
    path.write_text("parent_smiles,salt_smiles\nCCO,Cl\n")
    with pytest.raises(FileFormatError, match=r"lib\.csv.*parent_smiles, salt_smiles.*--smiles-col"):
        read_all(path)


@pytest.mark.parametrize("role", ["smiles_col", "id_col"])
def test_missing_column_names_file_and_column(data_dir, role):
    with pytest.raises(FileFormatError, match=r"hiv_sample\.csv: no column 'pIC50'.*columns: smiles, HIV_active"):
        read_all(data_dir / "hiv_sample.csv", **{role: "pIC50"})


def test_missing_label_column(data_dir):
    with pytest.raises(FileFormatError, match=r"no column 'active' \(--label-cols\)"):
        read_all(data_dir / "hiv_sample.csv", label_cols=["active"])


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.csv", b"", "empty"),
        ("fake.csv.gz", b"\x1f\x8bnot really gzip at all", "unreadable"),
        ("binary.csv", b"\x00\x01\x02,\x00\n", "binary data"),
        ("notsdf.sdf", b"smiles,label\nCCO,1\n", "not an SD file"),
        ("notparquet.parquet", b"smiles\nCCO\n", "unreadable as Parquet"),
    ],
)
def test_unreadable_files_fail_fast_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=message) as error:
        read_all(path)
    assert name in str(error.value)


ODD_PARQUET = {
    "date past 9999": (pa.table({"smiles": ["CCO"], "made": pa.array([2**31 - 1], pa.date32())}), "OverflowError"),
    "unknown zone": (pa.table({"smiles": ["C"], "at": pa.array([0], pa.timestamp("us", tz="Mars/Olympus"))}), "Zone"),
    "repeated columns": (pa.Table.from_arrays([pa.array(["CCO"])] * 2, names=["smiles"] * 2), "repeated column names"),
    "corrupt page": (pa.table({"smiles": ["CCO", "CCN"]}), r"read failed after record 0 \(OSError"),
}


@pytest.mark.parametrize("case", ODD_PARQUET)
def test_parquet_that_cannot_be_read_whole_is_refused_naming_the_file(tmp_path, case):
    """Found by tests/fuzz: these raised pyarrow's or Python's own errors, or (repeated names) dropped a column."""
    table, message = ODD_PARQUET[case]
    path = tmp_path / "odd.parquet"
    pq.write_table(table, path)
    if case == "corrupt page":
        with path.open("r+b") as f:
            f.seek(pq.ParquetFile(path).metadata.row_group(0).column(0).data_page_offset)
            f.write(b"\xff" * 8)
    with pytest.raises(FileFormatError, match=message) as error:
        list(open_reader(path).records)
    assert str(path) in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileFormatError, match="no such file"):
        open_reader(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    "text, value", [("1", 1.0), ("-0.77", -0.77), ("", None), ("NA", None), (None, None), ("nan", None)]
)
def test_parse_label(text, value):
    assert parse_label(text) == value


@pytest.mark.parametrize(
    "text, message",
    [
        ("active", "could not convert string to float: 'active'"),
        ("inf", "^inf$"),
        ("1,0", "could not convert string to float: '1,0'"),
    ],
)
def test_parse_label_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        parse_label(text)
