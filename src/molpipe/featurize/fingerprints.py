"""Fingerprint and descriptor featurizers: Morgan, MACCS keys and all RDKit 2D descriptors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import Descriptors, MACCSkeys, rdFingerprintGenerator
from threadpoolctl import ThreadpoolController

from molpipe.featurize.registry import Featurizer, as_float32, register

# float32 is what the tables and the models hold; anything beyond it is as useless to a model as inf.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
# RDKit's Ipc and AvgIpc take the characteristic polynomial through numpy's matrix products. On a large molecule
# (a suramin analogue of HIV, 100+ heavy atoms) its coefficients reach 1e19, and the order in which OpenBLAS sums
# them, which follows its thread count, moves AvgIpc in the fourth digit: 0.80856 with 2 threads, 0.80835 with 1
# (what Spark's Python workers run with). One BLAS thread wherever descriptors are computed gives a molecule the same
# values in a driver, an executor and the serving process.
_BLAS = ThreadpoolController()


@register("morgan")
@dataclass(frozen=True)
class MorganFingerprint(Featurizer):
    """Morgan (ECFP-like) fingerprint, as bits or as counts."""

    version = 1
    cheap = True  # 0.04 ms per molecule, less than parsing its SMILES
    radius: int = 2
    n_bits: int = 2048
    counts: bool = False
    chirality: bool = False

    def __post_init__(self) -> None:
        if self.radius < 0 or self.n_bits <= 0:
            raise ValueError(
                f"morgan: radius must be >= 0 and n_bits > 0, got radius={self.radius} n_bits={self.n_bits}"
            )

    @property
    def dim(self) -> int:
        return self.n_bits

    def compute(self, mol: Chem.Mol) -> np.ndarray:
        generator = _morgan_generator(self.radius, self.n_bits, self.chirality)
        if self.counts:
            return as_float32(generator.GetCountFingerprintAsNumPy(mol))
        return as_float32(generator.GetFingerprintAsNumPy(mol))


@register("maccs")
@dataclass(frozen=True)
class MaccsKeys(Featurizer):
    """The 166 public MACCS structural keys (RDKit's 167-bit vector, bit 0 unused)."""

    version = 1

    @property
    def dim(self) -> int:
        return 167

    def compute(self, mol: Chem.Mol) -> np.ndarray:
        bits = np.zeros((self.dim,), dtype=np.float32)
        DataStructs.ConvertToNumpyArray(MACCSkeys.GenMACCSKeys(mol), bits)
        return bits


@register("rdkit2d")
@dataclass(frozen=True)
class RDKit2DDescriptors(Featurizer):
    """Every RDKit 2D descriptor (``Descriptors._descList``); a descriptor that fails or is not finite is NaN.

    NaN is kept rather than guessed at: models impute with statistics of their own training set, which is the
    only place where a fill value can be chosen without leaking the test set.
    """

    version = 1

    @property
    def dim(self) -> int:
        return len(_DESCRIPTORS)

    @property
    def feature_names(self) -> list[str]:
        return [name for name, _ in _DESCRIPTORS]

    def compute(self, mol: Chem.Mol) -> np.ndarray:
        with _BLAS.limit(limits=1, user_api="blas"):  # about 15 us, against some 10 ms for the descriptors
            return as_float32([_finite_or_nan(fn, mol) for _, fn in _DESCRIPTORS])


def _finite_or_nan(fn, mol: Chem.Mol) -> float:
    try:
        value = float(fn(mol))
    except Exception:  # a few descriptors raise on exotic valences; one bad descriptor must not lose the molecule
        return math.nan
    return value if math.isfinite(value) and abs(value) <= _FLOAT32_MAX else math.nan


_DESCRIPTORS = sorted(Descriptors._descList, key=lambda item: item[0])
_GENERATORS: dict[tuple[int, int, bool], object] = {}


def _morgan_generator(radius: int, n_bits: int, chirality: bool):
    key = (radius, n_bits, chirality)
    if key not in _GENERATORS:
        _GENERATORS[key] = rdFingerprintGenerator.GetMorganGenerator(
            radius=radius, fpSize=n_bits, includeChirality=chirality
        )
    return _GENERATORS[key]
