"""Parse, sanitize and standardize one structure: pure RDKit, no Spark.

The result is either a :class:`Standardized` molecule (canonical SMILES, InChIKey, Bemis-Murcko scaffold) or a
:class:`Rejected` outcome carrying a machine-readable reason and a human-readable detail. Nothing raises for bad
chemistry: a batch of a million rows must never die on row 731,402.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from rdkit import Chem, RDLogger
from rdkit.Chem.MolStandardize import rdMolStandardize
from rdkit.Chem.Scaffolds import MurckoScaffold

from molpipe.chem.reasons import Reason
from molpipe.config import StandardizeOptions

RDLogger.DisableLog("rdApp.*")  # RDKit's C++ logger writes every failure to stderr; we return reasons instead.


@dataclass(frozen=True)
class Standardized:
    smiles: str
    inchikey: str
    scaffold: str | None  # None when not asked for (prediction needs none)
    heavy_atoms: int


@dataclass(frozen=True)
class Rejected:
    reason: Reason
    detail: str


Outcome = Union[Standardized, Rejected]


def parse_structure(text: str | None, fmt: str = "smiles") -> Chem.Mol | Rejected:
    """Parse SMILES or a molblock and sanitize it, returning the molecule or why it failed."""
    if text is None or not str(text).strip():
        return Rejected(Reason.EMPTY, "no structure given")
    text = str(text)
    if fmt == "smiles":
        mol = Chem.MolFromSmiles(text.strip(), sanitize=False)
    elif fmt == "molblock":
        mol = Chem.MolFromMolBlock(text, sanitize=False, removeHs=False)
    else:
        raise ValueError(f"unknown structure format {fmt!r} (expected 'smiles' or 'molblock')")
    if mol is None:
        return Rejected(Reason.UNPARSABLE, f"RDKit could not parse the {fmt}")
    if mol.GetNumAtoms() == 0:
        return Rejected(Reason.EMPTY, "structure has no atoms")
    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:  # RDKit raises several unrelated exception types for sanitization problems
        return Rejected(Reason.SANITIZATION_FAILED, str(exc).strip() or type(exc).__name__)
    return mol


def standardize_mol(mol: Chem.Mol, options: StandardizeOptions = StandardizeOptions()) -> Chem.Mol:
    """RDKit MolStandardize: cleanup, keep the largest fragment, neutralize, optionally the canonical tautomer."""
    mol = rdMolStandardize.Cleanup(mol)
    if options.largest_fragment:
        mol = _FRAGMENT_CHOOSER.choose(mol)
    if options.neutralize:
        mol = _UNCHARGER.uncharge(mol)
    if options.canonical_tautomer:
        mol = rdMolStandardize.TautomerEnumerator().Canonicalize(mol)
    Chem.SanitizeMol(mol)
    return mol


def murcko_scaffold(mol: Chem.Mol) -> str:
    """Bemis-Murcko scaffold as canonical SMILES; '' for acyclic molecules."""
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def standardize_structure(
    text: str | None, fmt: str = "smiles", options: StandardizeOptions = StandardizeOptions(), scaffold: bool = True
) -> Outcome:
    """The whole identification step for one input structure (``scaffold=False``: without the Murcko scaffold)."""
    parsed = parse_structure(text, fmt)
    if isinstance(parsed, Rejected):
        return parsed
    if parsed.GetNumHeavyAtoms() > options.max_heavy_atoms:
        return Rejected(
            Reason.TOO_LARGE, f"{parsed.GetNumHeavyAtoms()} heavy atoms > max_heavy_atoms={options.max_heavy_atoms}"
        )
    try:
        mol = standardize_mol(parsed, options)
    except Exception as exc:
        return Rejected(Reason.STANDARDIZATION_FAILED, str(exc).strip() or type(exc).__name__)
    if mol.GetNumHeavyAtoms() == 0:
        return Rejected(Reason.EMPTY, "no heavy atoms left after standardization")
    inchikey = Chem.MolToInchiKey(mol)
    if not inchikey:
        return Rejected(Reason.INCHI_FAILED, "RDKit could not compute an InChIKey")
    return Standardized(
        smiles=Chem.MolToSmiles(mol),
        inchikey=inchikey,
        scaffold=murcko_scaffold(mol) if scaffold else None,
        heavy_atoms=mol.GetNumHeavyAtoms(),
    )


_FRAGMENT_CHOOSER = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)
_UNCHARGER = rdMolStandardize.Uncharger(canonicalOrder=True)
