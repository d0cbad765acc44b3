"""Medicinal-chemistry filters on known molecules: named alerts, properties against RDKit's own functions, profiles
and a user's SMARTS file (the alerts against RDKit's catalogs on real molecules: test_alerts.py)."""

import pytest
from rdkit import Chem
from rdkit.Chem import QED, Descriptors

from molpipe.chem.filters import PROFILES, AlertMatcher, CustomAlerts, Screen, assess, profile, properties

IBUPROFEN = "CC(C)Cc1ccc(C(C)C(=O)O)cc1"
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"  # a phenol ester: Brenk flags it
RHODANINE = "O=C1NC(=S)SC1=Cc1ccccc1"  # a 5-benzylidene rhodanine: PAINS ene_rhod


def test_alerts_are_named_by_set():
    matcher = AlertMatcher(("pains", "brenk"))
    names = matcher.names(Chem.MolFromSmiles(RHODANINE))
    assert any(name.startswith("pains_a:ene_rhod") for name in names), names
    assert matcher.names(Chem.MolFromSmiles(IBUPROFEN)) == []
    assert matcher.names(Chem.MolFromSmiles(ASPIRIN)) == ["brenk:phenol_ester"]


def test_properties_are_rdkits_own():
    mol = Chem.MolFromSmiles(ASPIRIN)
    values = properties(mol)
    assert values["mol_weight"] == pytest.approx(Descriptors.MolWt(mol)) and values["qed"] == pytest.approx(
        QED.qed(mol)
    )
    assert (values["hbd"], values["hba"], values["heavy_atoms"], values["formal_charge"]) == (1, 3, 13, 0)
    assert 1 < values["sa_score"] < 3  # aspirin is easy to make (the SA score runs from 1, easy, to 10)


def test_profiles_judge_alerts_and_windows():
    drug_like = PROFILES["drug-like"]
    assert assess(Chem.MolFromSmiles(IBUPROFEN), matcher=AlertMatcher(), judged_by=drug_like).passes
    rhodanine = assess(Chem.MolFromSmiles(RHODANINE), matcher=AlertMatcher(), judged_by=drug_like)
    assert "alert:pains" in rhodanine.reasons and not rhodanine.passes
    lipid = assess(Chem.MolFromSmiles("CCCCCCCCCCCCCCCCCC(=O)OCC(O)CO"), matcher=AlertMatcher(), judged_by=drug_like)
    assert "rotatable_bonds>10" in lipid.reasons and "clogp>5" in lipid.reasons
    fragment = assess(Chem.MolFromSmiles(IBUPROFEN), matcher=AlertMatcher(), judged_by=PROFILES["fragment"])
    assert fragment.reasons == ["clogp>3", "rotatable_bonds>3"]  # drug-like, but no fragment
    assert PROFILES["none"].reasons(alerts=["pains_a:x"], properties={}) == []
    assert drug_like.reasons(alerts=[], properties={"mol_weight": float("nan")})[0] == "mol_weight:missing"
    with pytest.raises(ValueError, match="unknown filter profile 'druglike'; choose from drug-like"):
        profile("druglike")


def test_a_users_smarts_file_adds_named_alerts(tmp_path):
    path = tmp_path / "alerts.csv"
    path.write_text('name,smarts\ncarboxylic acid,"C(=O)[OH]"\nester,"[#6]C(=O)O[#6]"\n')
    custom = CustomAlerts.read(path)
    screen = Screen.judging(profile("drug-like", custom=custom))
    verdict = screen(Chem.MolFromSmiles(IBUPROFEN))
    assert verdict.alerts == ["custom:carboxylic acid"] and verdict.reasons == ["alert:custom"]
    assert screen.families == ("pains", "brenk") and screen.judged_by.name == "drug-like+alerts.csv"
    bad = tmp_path / "bad.csv"
    bad.write_text("name,smarts\nok,c1ccccc1\nbroken,C(((\n")
    with pytest.raises(ValueError, match=r"bad.csv:3: column smarts: not a valid SMARTS"):
        CustomAlerts.read(bad)
    with pytest.raises(ValueError, match="needs a header with name and smarts"):
        (tmp_path / "noheader.csv").write_text("c1ccccc1\n")
        CustomAlerts.read(tmp_path / "noheader.csv")
    with pytest.raises(FileNotFoundError, match="no such SMARTS file"):
        CustomAlerts.read(tmp_path / "missing.csv")


def test_screen_from_settings_matches_what_its_profile_needs():
    screen = Screen.of(profile_name="lead-like", alerts="pains")
    assert screen.families == ("pains", "brenk", "nih")  # the profile's own sets are always matched
    assert Screen.of(profile_name="none", alerts="") is None  # nothing to measure: scoring stores no filters
    assert Screen.of(profile_name="none", alerts="pains").families == ("pains",)
    with pytest.raises(ValueError, match="unknown alert set 'painz'"):
        Screen.of(profile_name="drug-like", alerts="painz")
