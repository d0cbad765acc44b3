"""Applicability domain: the highest Tanimoto similarity of a molecule to any training molecule.

Morgan on-bits of the training set are indexed by bit (an inverted index), so one query costs the lengths of the
posting lists of its ~40-50 bits rather than a pass over every training fingerprint: its intersections with
every training molecule are one ``bincount`` (0.5 ms per query against 30k HIV training molecules here, 20x
faster than RDKit's ``BulkTanimotoSimilarity``). Exact (it equals RDKit's ``BulkTanimotoSimilarity`` maximum), and the
index serializes to a few bytes per training bit for shipping to Spark workers.
"""

from __future__ import annotations

import io
from typing import Iterable, Sequence

import numpy as np
from rdkit import Chem

from molpipe.featurize.fingerprints import MorganFingerprint

# the domain's fingerprint: Morgan bits, radius 2, 2048 bits. A model whose features include this same featurizer
# shares it: a scoring worker computes it once per molecule for both (:class:`molpipe.score.batch.ScoreChunk`)
FINGERPRINT = MorganFingerprint(radius=2, n_bits=2048)
N_BITS = FINGERPRINT.n_bits
DOMAIN_FILE = "domain.npz"  # a model folder's index of its training set, where its intervals scale with the distance


def on_bits(molecule: str | Chem.Mol | None) -> np.ndarray:
    """:data:`FINGERPRINT`'s on-bits of a SMILES or a parsed molecule; empty if it does not parse."""
    if isinstance(molecule, str):
        molecule = Chem.MolFromSmiles(molecule) if molecule else None
    if molecule is None:
        return np.zeros(0, dtype=np.int32)
    return bits_of(FINGERPRINT.compute(molecule))


def bits_of(fingerprint: np.ndarray) -> np.ndarray:
    """The on-bits of a :data:`FINGERPRINT` vector."""
    return np.flatnonzero(fingerprint).astype(np.int32)


class TrainingIndex:
    """Inverted index of the training set's fingerprints: for every bit, the molecules that have it."""

    def __init__(self, sizes: np.ndarray, postings: np.ndarray, offsets: np.ndarray):
        self.sizes = sizes.astype(np.int32)  # on-bits per training molecule
        self.postings = postings.astype(np.int32)  # molecule ids, grouped by bit
        self.offsets = offsets.astype(np.int64)  # bit b's molecules: postings[offsets[b]:offsets[b + 1]]

    @classmethod
    def from_bits(cls, fingerprints: Iterable[np.ndarray]) -> "TrainingIndex":
        fingerprints = list(fingerprints)
        sizes = np.array([len(f) for f in fingerprints], dtype=np.int32)
        bits = np.concatenate(fingerprints) if fingerprints else np.zeros(0, dtype=np.int32)
        owners = np.repeat(np.arange(len(fingerprints), dtype=np.int32), sizes)
        order = np.argsort(bits, kind="stable")
        offsets = np.searchsorted(bits[order], np.arange(N_BITS + 1))
        return cls(sizes, owners[order], offsets)

    @classmethod
    def from_smiles(cls, smiles: Iterable[str]) -> "TrainingIndex":
        return cls.from_bits(on_bits(s) for s in smiles)

    def __len__(self) -> int:
        return len(self.sizes)

    def max_similarity(self, queries: Sequence[np.ndarray], block: int = 64) -> np.ndarray:
        """Max Tanimoto of each query (its on-bits) to the training set; 0 for an empty set or query."""
        out = np.zeros(len(queries))
        if len(self.sizes):
            for start, similarity in self._similarities(queries, block):
                out[start : start + len(similarity)] = similarity.max(axis=1)
        return out

    def nearest(self, queries: Sequence[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` training molecules most like each query: their ids (positions in the indexed order) and
        Tanimoto similarities, best first; ``(len(queries), min(k, len(self)))`` arrays."""
        k = min(k, len(self.sizes))
        ids, values = np.zeros((len(queries), k), dtype=np.int64), np.zeros((len(queries), k))
        if k:
            for start, similarity in self._similarities(queries, 64):
                best = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
                ids[start : start + len(best)] = best
                values[start : start + len(best)] = np.take_along_axis(similarity, best, axis=1)
        return ids, values

    def _similarities(self, queries: Sequence[np.ndarray], block: int):
        """(first query's position, Tanimoto of a block of queries to every training molecule), block by block."""
        n = len(self.sizes)
        sizes = self.sizes.astype(np.float32)[None, :]
        for start in range(0, len(queries), block):
            part = queries[start : start + block]
            common = np.zeros((len(part), n), dtype=np.float32)  # bits shared with each training molecule
            for row, bits in enumerate(part):
                if len(bits):
                    hits = np.concatenate([self.postings[self.offsets[b] : self.offsets[b + 1]] for b in bits])
                    common[row] = np.bincount(hits, minlength=n)
            union = np.array([len(q) for q in part], dtype=np.float32)[:, None] + sizes - common
            with np.errstate(divide="ignore", invalid="ignore"):
                yield start, np.nan_to_num(common / union, nan=0.0, posinf=0.0)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, sizes=self.sizes, postings=self.postings, offsets=self.offsets)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "TrainingIndex":
        arrays = np.load(io.BytesIO(data))
        return cls(arrays["sizes"], arrays["postings"], arrays["offsets"])
