"""Molecular graphs for graph neural networks, as plain arrays.

A graph is stored as three flat arrays so that it fits a Delta table and becomes a
``torch_geometric.data.Data`` without RDKit (:func:`to_pyg_data`): node features ``x`` (num_atoms x ATOM_DIM,
row-major), ``edge_index`` (2 x num_edges: all sources, then all targets; each bond appears in both directions)
and ``edge_attr`` (num_edges x BOND_DIM).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rdkit import Chem

from molpipe.featurize.registry import Featurizer, register

_ELEMENTS = [
    "C",
    "N",
    "O",
    "S",
    "F",
    "Cl",
    "Br",
    "I",
    "P",
    "B",
    "Si",
    "Se",
    "As",
    "Te",
    "Ge",
    "Sn",
    "Sb",
    "Bi",
    "Al",
    "Na",
    "K",
    "Li",
    "Mg",
    "Ca",
    "Fe",
    "Zn",
    "Cu",
    "Co",
    "Ni",
    "Mn",
    "Cr",
    "Pt",
    "Pd",
    "Au",
    "Ag",
    "Hg",
    "H",
]
_DEGREES = [0, 1, 2, 3, 4, 5, 6]
_CHARGES = [-2, -1, 0, 1, 2]
_NUM_HS = [0, 1, 2, 3, 4]
_HYBRIDIZATIONS = [
    Chem.HybridizationType.S,
    Chem.HybridizationType.SP,
    Chem.HybridizationType.SP2,
    Chem.HybridizationType.SP3,
    Chem.HybridizationType.SP3D,
    Chem.HybridizationType.SP3D2,
]
_CHIRALITY = [
    Chem.ChiralType.CHI_UNSPECIFIED,
    Chem.ChiralType.CHI_TETRAHEDRAL_CW,
    Chem.ChiralType.CHI_TETRAHEDRAL_CCW,
]
_BOND_TYPES = [Chem.BondType.SINGLE, Chem.BondType.DOUBLE, Chem.BondType.TRIPLE, Chem.BondType.AROMATIC]
_BOND_STEREO = [
    Chem.BondStereo.STEREONONE,
    Chem.BondStereo.STEREOANY,
    Chem.BondStereo.STEREOZ,
    Chem.BondStereo.STEREOE,
    Chem.BondStereo.STEREOCIS,
    Chem.BondStereo.STEREOTRANS,
]

# every one-hot block has a trailing "other" slot
ATOM_DIM = (
    sum(len(choices) + 1 for choices in (_ELEMENTS, _DEGREES, _CHARGES, _NUM_HS, _HYBRIDIZATIONS, _CHIRALITY)) + 3
)
BOND_DIM = len(_BOND_TYPES) + 1 + 2 + len(_BOND_STEREO) + 1


@dataclass(frozen=True)
class GraphArrays:
    x: np.ndarray  # float32 [num_atoms, ATOM_DIM]
    edge_index: np.ndarray  # int32 [2, num_edges]
    edge_attr: np.ndarray  # float32 [num_edges, BOND_DIM]


@register("graph")
@dataclass(frozen=True)
class MolecularGraph(Featurizer):
    """Heavy-atom graph: element, degree, charge, hydrogens, hybridization, chirality, aromaticity, ring, mass."""

    version = 1
    kind = "graph"

    @property
    def dim(self) -> int:
        return ATOM_DIM

    def compute(self, mol: Chem.Mol) -> GraphArrays:
        x = np.stack([atom_features(atom) for atom in mol.GetAtoms()]).astype(np.float32)
        sources, targets, attrs = [], [], []
        for bond in mol.GetBonds():
            begin, end = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            features = bond_features(bond)
            sources += [begin, end]
            targets += [end, begin]
            attrs += [features, features]
        edge_index = np.array([sources, targets], dtype=np.int32).reshape(2, -1)
        edge_attr = np.array(attrs, dtype=np.float32).reshape(-1, BOND_DIM)
        return GraphArrays(x=x, edge_index=edge_index, edge_attr=edge_attr)


def atom_features(atom: Chem.Atom) -> np.ndarray:
    return np.concatenate(
        [
            _one_hot(atom.GetSymbol(), _ELEMENTS),
            _one_hot(atom.GetTotalDegree(), _DEGREES),
            _one_hot(atom.GetFormalCharge(), _CHARGES),
            _one_hot(atom.GetTotalNumHs(), _NUM_HS),
            _one_hot(atom.GetHybridization(), _HYBRIDIZATIONS),
            _one_hot(atom.GetChiralTag(), _CHIRALITY),
            [float(atom.GetIsAromatic()), float(atom.IsInRing()), atom.GetMass() * 0.01],
        ]
    )


def bond_features(bond: Chem.Bond) -> np.ndarray:
    return np.concatenate(
        [
            _one_hot(bond.GetBondType(), _BOND_TYPES),
            [float(bond.GetIsConjugated()), float(bond.IsInRing())],
            _one_hot(bond.GetStereo(), _BOND_STEREO),
        ]
    )


def _one_hot(value, choices: list) -> list[float]:
    encoding = [0.0] * (len(choices) + 1)
    encoding[choices.index(value) if value in choices else len(choices)] = 1.0
    return encoding


def from_flat(x: np.ndarray, edge_index: np.ndarray, edge_attr: np.ndarray) -> GraphArrays:
    """Rebuild graph arrays from the flat columns of the ``features`` table."""
    x = np.asarray(x, dtype=np.float32).reshape(-1, ATOM_DIM)
    edge_index = np.asarray(edge_index, dtype=np.int64).reshape(2, -1)
    edge_attr = np.asarray(edge_attr, dtype=np.float32).reshape(-1, BOND_DIM)
    if edge_attr.shape[0] != edge_index.shape[1]:
        raise ValueError(f"graph has {edge_index.shape[1]} edges but {edge_attr.shape[0]} edge feature rows")
    return GraphArrays(x=x, edge_index=edge_index, edge_attr=edge_attr)


def to_pyg_data(graph: GraphArrays, **attributes):
    """A ``torch_geometric.data.Data`` from graph arrays; no RDKit involved. Extra keyword arguments become
    attributes (``y=...``)."""
    import torch
    from torch_geometric.data import Data

    return Data(
        x=torch.from_numpy(np.ascontiguousarray(graph.x, dtype=np.float32)),
        edge_index=torch.from_numpy(np.ascontiguousarray(graph.edge_index, dtype=np.int64)),
        edge_attr=torch.from_numpy(np.ascontiguousarray(graph.edge_attr, dtype=np.float32)),
        **attributes,
    )
