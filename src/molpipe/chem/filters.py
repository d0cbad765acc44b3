"""Medicinal-chemistry filters of one parsed molecule: structural alerts, drug-likeness, synthetic accessibility and
property windows, judged against a named profile.

Pure RDKit (no Spark), so the scoring workers, ``molpipe select``, the report and the tests share one definition:

* alerts come from RDKit's ``FilterCatalog`` (PAINS A/B/C, Brenk, NIH; ZINC and ChEMBL on request) or from a user's
  CSV of named SMARTS, each match named ``<set>:<description>``;
* :func:`assess` computes every measured property once; :meth:`Profile.reasons` judges those stored values, so a
  profile other than the one a scoring run used is applied without parsing the molecule again;
* the profiles (``drug-like``, ``lead-like``, ``fragment``, ``none``) are in :data:`PROFILES`, their windows in
  docs/scoring-and-lab.md.
"""

from __future__ import annotations

import csv
import os
import re
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from rdkit import Chem, DataStructs, RDConfig
from rdkit.Chem import QED, Crippen, Descriptors, FilterCatalog, rdMolDescriptors

_CATALOGS = FilterCatalog.FilterCatalogParams.FilterCatalogs
# the alert sets by name: RDKit's catalogs (ChEMBL is its union of the Glaxo, Dundee, BMS, MLSMR, Inpharmatica, LINT
# and SureChEMBL rule sets)
ALERT_SETS = {
    "pains_a": _CATALOGS.PAINS_A,
    "pains_b": _CATALOGS.PAINS_B,
    "pains_c": _CATALOGS.PAINS_C,
    "brenk": _CATALOGS.BRENK,
    "nih": _CATALOGS.NIH,
    "zinc": _CATALOGS.ZINC,
    "chembl": _CATALOGS.CHEMBL,
}
# a family is what a profile excludes on and a reason names: "pains" is the three PAINS sets
FAMILIES = {
    "pains": ("pains_a", "pains_b", "pains_c"),
    "brenk": ("brenk",),
    "nih": ("nih",),
    "zinc": ("zinc",),
    "chembl": ("chembl",),
}
DEFAULT_ALERTS = ("pains", "brenk", "nih")  # what scoring matches unless configured otherwise
CUSTOM = "custom"  # the family of a user's own SMARTS

# the measured properties: candidates' columns of the same names
PROPERTIES = (
    "mol_weight",
    "clogp",
    "tpsa",
    "hbd",
    "hba",
    "rotatable_bonds",
    "formal_charge",
    "heavy_atoms",
    "qed",
    "sa_score",
)


@dataclass(frozen=True)
class Profile:
    """A named set of exclusions: any alert of its families, or a property outside its window."""

    name: str
    alerts: tuple[str, ...] = ()  # families (see FAMILIES, or "custom")
    windows: tuple[tuple[str, float | None, float | None], ...] = ()  # (property, low, high), inclusive
    description: str = ""
    custom: "CustomAlerts | None" = None  # a user's SMARTS (family "custom")

    def reasons(self, *, alerts: Sequence[str], properties: Mapping[str, Any]) -> list[str]:
        """Why a molecule with these alert names and measured properties fails the profile (empty: it passes).
        A reason is ``alert:<family>`` or ``<property><<low>`` / ``<property>><high>``; a property that could not
        be measured fails its window."""
        out = []
        families = {name.split(":", 1)[0] for name in alerts}
        for family in self.alerts:
            members = FAMILIES.get(family, (family,))
            if families.intersection(members):
                out.append(f"alert:{family}")
        for name, low, high in self.windows:
            value = properties.get(name)
            if value is None or value != value:  # None or NaN
                out.append(f"{name}:missing")
            elif low is not None and value < low:
                out.append(f"{name}<{_number(low)}")
            elif high is not None and value > high:
                out.append(f"{name}>{_number(high)}")
        return out


def _number(value: float) -> str:
    return f"{value:g}"


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in [
        Profile(
            "drug-like",
            ("pains", "brenk"),
            (
                ("mol_weight", 150, 500),
                ("clogp", -2, 5),
                ("tpsa", None, 140),
                ("hbd", None, 5),
                ("hba", None, 10),
                ("rotatable_bonds", None, 10),
                ("formal_charge", -1, 1),
                ("heavy_atoms", 10, 50),
                ("qed", 0.3, None),
                ("sa_score", None, 6),
            ),
            "Lipinski and Veber windows, no PAINS or Brenk alert, QED >= 0.3, SA score <= 6",
        ),
        Profile(
            "lead-like",
            ("pains", "brenk", "nih"),
            (
                ("mol_weight", 200, 350),
                ("clogp", -1, 3.5),
                ("tpsa", None, 120),
                ("hbd", None, 3),
                ("hba", None, 6),
                ("rotatable_bonds", None, 7),
                ("formal_charge", -1, 1),
                ("heavy_atoms", 14, 26),
                ("qed", 0.4, None),
                ("sa_score", None, 5),
            ),
            "Teague/Oprea lead-like windows, no PAINS, Brenk or NIH alert, QED >= 0.4, SA score <= 5",
        ),
        Profile(
            "fragment",
            ("pains",),
            (
                ("mol_weight", 100, 300),
                ("clogp", None, 3),
                ("tpsa", None, 60),
                ("hbd", None, 3),
                ("hba", None, 3),
                ("rotatable_bonds", None, 3),
                ("formal_charge", -1, 1),
                ("heavy_atoms", 6, 22),
                ("sa_score", None, 5),
            ),
            "the rule of three, no PAINS alert, SA score <= 5",
        ),
        Profile("none", description="no filter"),
    ]
}


def profile(spec: str, *, custom: "CustomAlerts | None" = None) -> Profile:
    """A profile by name; ``custom`` adds its alerts as exclusions (family ``custom``)."""
    if spec not in PROFILES:
        raise ValueError(f"unknown filter profile {spec!r}; choose from {', '.join(PROFILES)} or a SMARTS file")
    chosen = PROFILES[spec]
    if custom is None:
        return chosen
    description = f"{chosen.description}; no alert of {custom.path.name} ({len(custom.patterns)} SMARTS)"
    return Profile(f"{chosen.name}+{custom.path.name}", (*chosen.alerts, CUSTOM), chosen.windows, description, custom)


@dataclass(frozen=True)
class CustomAlerts:
    """A user's own alerts: a CSV file with ``name`` and ``smarts`` columns (quoted where a SMARTS has a comma)."""

    path: Path
    patterns: tuple[tuple[str, str], ...] = ()

    @classmethod
    def read(cls, path: str | Path) -> "CustomAlerts":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such SMARTS file (a CSV with name and smarts columns)")
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows or not {"name", "smarts"} <= set(rows[0]):
            raise ValueError(f"{path}: a SMARTS file needs a header with name and smarts columns")
        patterns = []
        for line, row in enumerate(rows, start=2):
            name, smarts = (row["name"] or "").strip(), (row["smarts"] or "").strip()
            if not name or Chem.MolFromSmarts(smarts) is None:
                raise ValueError(f"{path}:{line}: column smarts: not a valid SMARTS pattern with a name: {smarts!r}")
            patterns.append((name, smarts))
        return cls(path, tuple(patterns))


def known_families(families: Sequence[str]) -> tuple[str, ...]:
    """``families`` as a tuple, or the error naming the first unknown one and the choices."""
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown alert set {unknown[0]!r}; choose from {', '.join(FAMILIES)}")
    return tuple(families)


class AlertMatcher:
    """The named alerts of a molecule, from a set of families (and a user's SMARTS), one catalog built per process."""

    def __init__(self, families: Sequence[str] = DEFAULT_ALERTS, custom: CustomAlerts | None = None):
        self.families = known_families(families)
        self.custom = custom
        screens = [_screen(name) for family in self.families for name in FAMILIES[family]]
        # every catalog entry of the chosen sets in order, named, with the pattern-fingerprint bits a match needs
        self._named: list[tuple[str, Any]] = [named for screen in screens for named in screen.named]
        self._required = np.concatenate([screen.required for screen in screens])
        self._always = np.concatenate([screen.always for screen in screens])
        self._custom = [(name, Chem.MolFromSmarts(smarts)) for name, smarts in (custom.patterns if custom else ())]

    def names(self, mol: Chem.Mol) -> list[str]:
        """Every alert the molecule matches, ``<set>:<description>``, each once, in catalog order."""
        out: list[str] = []
        for name, entry in self._candidates(_pattern_bits(mol)):
            if entry.HasFilterMatch(mol) and name not in out:
                out.append(name)
        out.extend(f"{CUSTOM}:{name}" for name, pattern in self._custom if mol.HasSubstructMatch(pattern))
        return out

    def atoms(self, mol: Chem.Mol) -> dict[str, list[int]]:
        """Each matched alert's atoms (for highlighting a depiction)."""
        out: dict[str, list[int]] = {}
        for name, entry in self._candidates(_pattern_bits(mol)):
            if entry.HasFilterMatch(mol):
                atoms = out.setdefault(name, [])
                for match in entry.GetFilterMatches(mol):
                    atoms.extend(atom for _, atom in match.atomPairs if atom not in atoms)
        for name, pattern in self._custom:
            for match in mol.GetSubstructMatches(pattern):
                atoms = out.setdefault(f"{CUSTOM}:{name}", [])
                atoms.extend(atom for atom in match if atom not in atoms)
        return out

    def _candidates(self, bits: np.ndarray | None) -> list[tuple[str, Any]]:
        """The catalog entries, in order, that the screen leaves for a molecule of these pattern-fingerprint words:
        all of them where it could not be fingerprinted."""
        if bits is None:
            return self._named
        keep = self._always | ~np.bitwise_and(self._required, ~bits).any(axis=1)
        return [self._named[i] for i in np.flatnonzero(keep)]


_catalog_lock = threading.Lock()


@lru_cache(maxsize=None)
def _catalog(name: str) -> FilterCatalog.FilterCatalog:
    with _catalog_lock:
        params = FilterCatalog.FilterCatalogParams()
        params.AddCatalog(ALERT_SETS[name])
        return FilterCatalog.FilterCatalog(params)


# The screen. Every built-in entry is one SmartsMatcher (RDKit's MakeFilterCatalogEntry): it matches when its pattern
# matches at least min_count times, so never unless the pattern matches once, and a pattern can only match a molecule
# whose pattern fingerprint has every bit of the pattern's own (what RDKit's SubstructLibrary screens on). An entry is
# screened only where its serialization proves it that plain matcher with min_count >= 1; any other (a compound
# matcher, a count of zero, a serialization this RDKit writes otherwise) is matched on every molecule.
_FP_SIZE = 2048
_PICKLE_MAGIC = b"\xef\xbe\xad\xde"  # how an RDKit molecule pickle starts
_COUNTS = re.compile(rb" (\d+) (\d+) ")


@dataclass(frozen=True)
class _Screen:
    named: list[tuple[str, Any]]  # (``<set>:<description>``, entry) in catalog order
    required: np.ndarray  # (entries, words) uint64: the bits a match needs; zeros where not screened
    always: np.ndarray  # (entries,) bool: not screened, matched on every molecule


@lru_cache(maxsize=None)
def _screen(name: str) -> _Screen:
    catalog = _catalog(name)
    entries = [catalog.GetEntryWithIdx(i) for i in range(catalog.GetNumEntries())]
    words = _FP_SIZE // 64
    required = np.zeros((len(entries), words), dtype=np.uint64)
    always = np.ones(len(entries), dtype=bool)
    for i, entry in enumerate(entries):
        pattern = _smarts_pattern(entry)
        if pattern is not None:
            required[i] = _bits(Chem.PatternFingerprint(pattern, fpSize=_FP_SIZE))
            always[i] = False
    return _Screen([(f"{name}:{entry.GetDescription()}", entry) for entry in entries], required, always)


def _smarts_pattern(entry: Any) -> Chem.Mol | None:
    """The pattern of an entry that is a single SmartsMatcher matching at least once, else None."""
    try:
        data = entry.Serialize()
        start = data.find(_PICKLE_MAGIC)
        if start < 0:
            return None
        head, _, length = data[:start].rstrip(b" ").rpartition(b" ")  # the pickle's length ends the head
        end = start + int(length)
        counts = _COUNTS.match(data, end)  # min_count, max_count
        if counts is None or int(counts[1]) < 1:
            return None
        pattern = Chem.Mol(data[start:end])
        description = entry.GetDescription()
        # the same matcher rebuilt from the pattern and counts must serialize to the same head and counts
        probe = FilterCatalog.FilterCatalogEntry(
            description, FilterCatalog.SmartsMatcher(description, pattern, int(counts[1]), int(counts[2]))
        ).Serialize()
        probe_start = probe.find(_PICKLE_MAGIC)
        probe_head, _, probe_length = probe[:probe_start].rstrip(b" ").rpartition(b" ")
        probe_counts = _COUNTS.match(probe, probe_start + int(probe_length))
        if probe_head != head or probe_counts is None or probe_counts[0] != counts[0]:
            return None
        if _PICKLE_MAGIC in data[end:]:  # a second pattern: not a single matcher
            return None
        return pattern
    except Exception:  # anything unexpected: not screened
        return None


def _bits(fingerprint: Any) -> np.ndarray:
    return np.frombuffer(DataStructs.BitVectToBinaryText(fingerprint), dtype=np.uint64)


def _pattern_bits(mol: Chem.Mol) -> np.ndarray | None:
    """The molecule's pattern-fingerprint words, or None where it cannot be screened (no ring information yet:
    fingerprinting would add it, and the matchers must see the molecule as given)."""
    try:
        mol.GetRingInfo().NumRings()
        return _bits(Chem.PatternFingerprint(mol, fpSize=_FP_SIZE))
    except Exception:
        return None


@lru_cache(maxsize=1)
def _sascorer():
    """RDKit's Contrib SA score (Ertl & Schuffenhauer 2009); its fragment table loads once per process."""
    folder = os.path.join(RDConfig.RDContribDir, "SA_Score")
    if folder not in sys.path:
        sys.path.append(folder)
    import sascorer  # type: ignore[import-not-found]

    sascorer.readFragmentScores()
    return sascorer


def properties(mol: Chem.Mol) -> dict[str, float]:
    """The measured properties (:data:`PROPERTIES`) of a parsed molecule; NaN where RDKit fails on one."""
    out: dict[str, float] = {}
    for name, compute in _MEASURES.items():
        try:
            out[name] = float(compute(mol))
        except Exception:  # one property RDKit cannot compute (e.g. QED of an odd valence) fails only its window
            out[name] = float("nan")
    return out


_MEASURES = {
    "mol_weight": Descriptors.MolWt,
    "clogp": Crippen.MolLogP,
    "tpsa": rdMolDescriptors.CalcTPSA,
    "hbd": rdMolDescriptors.CalcNumHBD,
    "hba": rdMolDescriptors.CalcNumHBA,
    "rotatable_bonds": rdMolDescriptors.CalcNumRotatableBonds,
    "formal_charge": Chem.GetFormalCharge,
    "heavy_atoms": lambda mol: mol.GetNumHeavyAtoms(),
    "qed": QED.qed,
    "sa_score": lambda mol: _sascorer().calculateScore(mol),
}


def ro5_violations(values: Mapping[str, float]) -> int:
    """Lipinski's rule of five: MW > 500, cLogP > 5, H-bond donors > 5, acceptors > 10."""
    limits = (("mol_weight", 500), ("clogp", 5), ("hbd", 5), ("hba", 10))
    return sum(1 for name, limit in limits if values[name] == values[name] and values[name] > limit)


@dataclass(frozen=True)
class Assessment:
    """One molecule against a profile: what candidates store per molecule."""

    alerts: list[str]
    properties: dict[str, float]
    ro5_violations: int
    reasons: list[str]

    @property
    def passes(self) -> bool:
        return not self.reasons


def assess(mol: Chem.Mol, *, matcher: AlertMatcher, judged_by: Profile) -> Assessment:
    """Alerts, properties and the verdict of ``judged_by`` for a parsed molecule."""
    alerts = matcher.names(mol)
    values = properties(mol)
    return Assessment(alerts, values, ro5_violations(values), judged_by.reasons(alerts=alerts, properties=values))


@dataclass(frozen=True)
class Screen:
    """Picklable: the alert sets a scoring worker matches (and the profile's own SMARTS) and the profile it judges
    by; one matcher per process."""

    families: tuple[str, ...] = DEFAULT_ALERTS
    judged_by: Profile = PROFILES["drug-like"]

    @classmethod
    def of(cls, *, profile_name: str, alerts: str, smarts_file: str = "") -> "Screen | None":
        """From the ``[filters]`` settings; the profile's own alert families are always matched. None where there is
        nothing to measure (profile ``none``, no alert set, no SMARTS file): scoring then stores no filter columns,
        and ``molpipe select`` measures the candidates it considers."""
        judged_by = profile(profile_name, custom=CustomAlerts.read(smarts_file) if smarts_file else None)
        families = [name.strip() for name in alerts.split(",") if name.strip()]
        if judged_by.name == "none" and not families:
            return None
        return cls.judging(judged_by, families=families)

    @classmethod
    def judging(cls, judged_by: Profile, *, families: Sequence[str] = ()) -> "Screen":
        """``families`` and whatever else ``judged_by`` excludes on."""
        families = [*families, *(f for f in judged_by.alerts if f != CUSTOM and f not in families)]
        return cls(known_families(families), judged_by)  # an unknown set fails here, not in every worker

    def __call__(self, mol: Chem.Mol) -> Assessment:
        return assess(mol, matcher=_matcher(self.families, self.judged_by.custom), judged_by=self.judged_by)


@lru_cache(maxsize=4)
def _matcher(families: tuple[str, ...], custom: CustomAlerts | None) -> AlertMatcher:
    return AlertMatcher(families, custom)
