"""Standardization and identification on real molecules, no Spark."""

import pytest

from molpipe.chem.reasons import Reason
from molpipe.chem.standardize import Rejected, Standardized, standardize_structure
from molpipe.config import StandardizeOptions

ETHANOL_KEY = "LFQSCWFLJHTTHZ-UHFFFAOYSA-N"


@pytest.mark.parametrize("smiles", ["CCO", "OCC", "C(O)C", "CCO.Cl", "[Na+].CC[O-]"])
def test_forms_of_ethanol_get_one_identity(smiles):
    outcome = standardize_structure(smiles)
    assert outcome == Standardized(smiles="CCO", inchikey=ETHANOL_KEY, scaffold="", heavy_atoms=3)


def test_salt_is_stripped_and_acid_neutralized():
    outcome = standardize_structure("CC(=O)[O-].[Na+]")
    assert isinstance(outcome, Standardized)
    assert outcome.smiles == "CC(=O)O"
    assert outcome.inchikey == "QTBSBXVTEAMEQO-UHFFFAOYSA-N"


def test_aspirin_scaffold_is_benzene():
    outcome = standardize_structure("CC(=O)Oc1ccccc1C(=O)O")
    assert outcome.scaffold == "c1ccccc1"
    assert outcome.inchikey == "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"


def test_hiv_copper_complex_keeps_its_largest_organic_fragment():
    # first row of MoleculeNet HIV: a copper chelate written with dative charges
    outcome = standardize_structure("CCC1=[O+][Cu-3]2([O+]=C(CC)C1)[O+]=C(CC)CC(CC)=[O+]2")
    assert isinstance(outcome, Standardized)
    assert len(outcome.inchikey) == 27


@pytest.mark.parametrize(
    "text, reason, detail",
    [
        ("", Reason.EMPTY, "no structure"),
        (None, Reason.EMPTY, "no structure"),
        ("   ", Reason.EMPTY, "no structure"),
        ("C1CC", Reason.UNPARSABLE, "could not parse"),
        ("CN(C)(C)(C)C", Reason.SANITIZATION_FAILED, "valence"),
        ("O=C1O[Al]23(OC1=O)(OC(=O)C(=O)O2)OC(=O)C(=O)O3", Reason.SANITIZATION_FAILED, "Al"),  # HIV row 1,043
        ("C" * 201, Reason.TOO_LARGE, "201 heavy atoms"),
    ],
)
def test_rejections_carry_reason_and_detail(text, reason, detail):
    outcome = standardize_structure(text)
    assert isinstance(outcome, Rejected)
    assert outcome.reason is reason
    assert detail in outcome.detail


def test_size_limit_is_configurable():
    assert isinstance(standardize_structure("C" * 201, options=StandardizeOptions(max_heavy_atoms=300)), Standardized)
    assert standardize_structure("CCCC", options=StandardizeOptions(max_heavy_atoms=3)).reason is Reason.TOO_LARGE


def test_canonical_tautomer_is_optional():
    pyridone, hydroxypyridine = "O=c1cccc[nH]1", "Oc1ccccn1"
    plain = StandardizeOptions()
    assert (
        standardize_structure(pyridone, options=plain).smiles
        != standardize_structure(hydroxypyridine, options=plain).smiles
    )
    tautomer = StandardizeOptions(canonical_tautomer=True)
    assert (
        standardize_structure(pyridone, options=tautomer).smiles
        == standardize_structure(hydroxypyridine, options=tautomer).smiles
    )


def test_molblock_input(data_dir):
    first = (data_dir / "solubility_sample.sdf").read_text().split("$$$$")[0]
    molblock = first[: first.index("M  END") + len("M  END")] + "\n"
    outcome = standardize_structure(molblock, fmt="molblock")
    assert outcome == Standardized(smiles="CCCCC", inchikey="OFBQJSOFQDEBGM-UHFFFAOYSA-N", scaffold="", heavy_atoms=5)


def test_unknown_format_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown structure format"):
        standardize_structure("CCO", fmt="inchi")
