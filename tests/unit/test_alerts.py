"""Structural alerts of chem.filters against plain RDKit catalogs on real molecules: the pattern-fingerprint screen
must change no result, only the time."""

from pathlib import Path

import pandas as pd
import pytest
from rdkit import Chem, RDLogger
from rdkit.Chem import FilterCatalog

from molpipe.chem import filters

DATA = Path(__file__).resolve().parents[1] / "data"
ALL_FAMILIES = ("pains", "brenk", "nih", "zinc", "chembl")


def _molecules() -> list[Chem.Mol]:
    RDLogger.DisableLog("rdApp.*")
    smiles = [
        *pd.read_csv(DATA / "hiv_sample.csv")["smiles"],
        *pd.read_csv(DATA / "zinc_sample.csv.gz")["SMILES"],
    ]
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    return [mol for mol in mols if mol is not None]


@pytest.fixture(scope="module")
def molecules() -> list[Chem.Mol]:
    mols = _molecules()
    assert len(mols) > 500
    return mols


def _plain_catalog(set_name: str) -> FilterCatalog.FilterCatalog:
    params = FilterCatalog.FilterCatalogParams()
    params.AddCatalog(filters.ALERT_SETS[set_name])
    return FilterCatalog.FilterCatalog(params)


def _plain_names(mol: Chem.Mol, catalogs) -> list[str]:
    out: list[str] = []
    for set_name, catalog in catalogs:
        for entry in catalog.GetMatches(mol):
            name = f"{set_name}:{entry.GetDescription()}"
            if name not in out:
                out.append(name)
    return out


def test_every_built_in_entry_is_screened():
    """Each built-in entry is one SmartsMatcher matching at least once, so each gets the screen (an entry that is
    not would still be matched, only unscreened: this pins that the serialization is read as expected)."""
    matcher = filters.AlertMatcher(ALL_FAMILIES)
    assert len(matcher._named) == sum(_plain_catalog(n).GetNumEntries() for n in filters.ALERT_SETS)
    assert not matcher._always.any()


@pytest.mark.parametrize("families, step", [(filters.DEFAULT_ALERTS, 1), (("zinc", "chembl"), 4)])
def test_names_equal_plain_filter_catalog_matches(molecules, families, step):
    """Every molecule against the sets scoring matches by default; a quarter of them against the optional ones."""
    catalogs = [(name, _plain_catalog(name)) for family in families for name in filters.FAMILIES[family]]
    matcher = filters.AlertMatcher(families)
    hits = 0
    for mol in molecules[::step]:
        expected = _plain_names(mol, catalogs)
        assert matcher.names(mol) == expected, Chem.MolToSmiles(mol)
        hits += len(expected)
    assert hits > 100  # the molecules do exercise the catalogs


def test_atoms_equal_plain_filter_matches(molecules):
    catalogs = [(name, _plain_catalog(name)) for name in ("pains_a", "pains_b", "pains_c", "brenk", "nih")]
    matcher = filters.AlertMatcher()
    for mol in molecules[::4]:
        expected: dict[str, list[int]] = {}
        for set_name, catalog in catalogs:
            for entry in catalog.GetMatches(mol):
                atoms = expected.setdefault(f"{set_name}:{entry.GetDescription()}", [])
                for match in entry.GetFilterMatches(mol):
                    atoms.extend(atom for _, atom in match.atomPairs if atom not in atoms)
        assert matcher.atoms(mol) == expected


@pytest.mark.parametrize(
    "smiles, alert",
    [
        ("O=C1NC(=S)SC1=Cc1ccccc1", "pains_a:ene_rhod_A(235)"),  # a 5-benzylidene rhodanine
        ("C=CC(=O)C", "brenk:Michael_acceptor_1"),  # methyl vinyl ketone
        ("CC(=O)C=Cc1ccccc1", "brenk:Michael_acceptor_1"),
        ("O=[N+]([O-])c1ccccc1", "brenk:nitro_group"),
    ],
)
def test_known_alerts_are_named(smiles, alert):
    names = filters.AlertMatcher().names(Chem.MolFromSmiles(smiles))
    assert alert in names
    assert len(names) == len(set(names))


def test_no_alert_on_benzene_and_custom_alerts_still_match(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("name,smarts\nbenzene,c1ccccc1\n")
    matcher = filters.AlertMatcher(custom=filters.CustomAlerts.read(path))
    assert matcher.names(Chem.MolFromSmiles("c1ccccc1")) == ["custom:benzene"]


def test_unfingerprintable_molecule_falls_back_to_matching_every_entry():
    mol = Chem.MolFromSmiles("O=C1NC(=S)SC1=Cc1ccccc1", sanitize=False)  # no ring information
    plain = filters.AlertMatcher(("pains",))
    assert filters._pattern_bits(mol) is None
    assert plain._candidates(None) == plain._named
