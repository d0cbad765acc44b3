"""How ``molpipe select`` judges a run's candidates by a profile: from what the run stored, or, where the profile
needs more than the run matched, from the molecules themselves."""

import pandas as pd
from rdkit import Chem

from molpipe.chem.filters import PROFILES, CustomAlerts, Screen, profile
from molpipe.lab.select import _judged
from molpipe.score.batch import FILTER_SCHEMA, filter_values

IBUPROFEN = "CC(C)Cc1ccc(C(C)C(=O)O)cc1"
RHODANINE = "O=C1NC(=S)SC1=Cc1ccccc1"
STEARATE = "CCCCCCCCCCCCCCCCCC(=O)OCC(O)CO"


def stored(smiles: list[str], families=("pains", "brenk", "nih")) -> pd.DataFrame:
    """Candidates as a run with the drug-like profile stored them."""
    screen = Screen(families, PROFILES["drug-like"])
    rows = [dict(zip(FILTER_SCHEMA.names, filter_values(screen(Chem.MolFromSmiles(s))))) for s in smiles]
    return pd.DataFrame(rows).assign(smiles=smiles)


def test_stored_filters_are_judged_again_by_another_profile_without_parsing():
    frame = stored([IBUPROFEN, RHODANINE, STEARATE]).assign(smiles=["not parsed", "not parsed", "not parsed"])
    none = _judged(frame, PROFILES["none"], ("pains", "brenk", "nih"))
    assert none["passes_filters"].tolist() == [True, True, True]
    fragment = _judged(frame, PROFILES["fragment"], ("pains", "brenk", "nih"))
    assert (
        fragment["filter_reasons"][0] == ["clogp>3", "rotatable_bonds>3"]
        and "alert:pains" in fragment["filter_reasons"][1]
    )


def test_a_run_scored_before_the_filters_or_without_a_needed_set_is_judged_from_its_molecules(tmp_path):
    old = stored([IBUPROFEN, RHODANINE]).assign(alerts=None, qed=None)
    judged = _judged(old, PROFILES["drug-like"], ())
    assert judged["passes_filters"].tolist() == [True, False] and judged["qed"][0] > 0.5
    lead_like = _judged(stored([STEARATE], families=("pains", "brenk")), PROFILES["lead-like"], ("pains", "brenk"))
    assert "alert:nih" in lead_like["filter_reasons"][0]  # the run did not match NIH; select did
    path = tmp_path / "acids.csv"
    path.write_text('name,smarts\nacid,"C(=O)[OH]"\n')
    custom = _judged(stored([IBUPROFEN]), profile("drug-like", custom=CustomAlerts.read(path)), ("pains", "brenk"))
    assert custom["alerts"][0] == ["custom:acid"] and custom["filter_reasons"][0] == ["alert:custom"]
