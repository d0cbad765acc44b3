"""``gnn``: an edge-aware message-passing network (GINE) over the ``graph`` featurizer, in PyTorch Geometric.

Atoms and bonds are embedded, ``layers`` GINE convolutions (bond features enter every message) with batch norm
and residual connections update the atoms, a sum+mean readout pools them, and an MLP head predicts. Optionally the
standardized RDKit 2D descriptors are concatenated to the pooled vector before the head (as Chemprop does with
``rdkit_2d_normalized``): whole-molecule properties a few rounds of message passing cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from molpipe.featurize.graph import to_pyg_data
from molpipe.models.registry import Features, ModelKind, descriptor_block, fit_descriptors, register_model


@register_model("gnn")
@dataclass(frozen=True)
class GraphNetwork(ModelKind):
    hidden: int = 256
    layers: int = 4
    dropout: float = 0.1
    descriptors: bool = True

    @property
    def featurizer_specs(self) -> list[str]:
        return ["graph"] + (["rdkit2d"] if self.descriptors else [])

    def search_space(self, trial) -> dict[str, Any]:
        return {
            "hidden": trial.suggest_categorical("hidden", [128, 256, 300]),
            "layers": trial.suggest_int("layers", 3, 6),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        }

    def fit(self, train: Sequence[Features]) -> dict[str, Any]:
        return fit_descriptors(train) if self.descriptors else {}

    def collate(self, molecules: Sequence[Features], state: dict[str, Any]):
        import torch
        from torch_geometric.data import Batch  # PyG takes seconds to import: only where a GNN is used

        batch = Batch.from_data_list([to_pyg_data(m["graph"]) for m in molecules])
        if self.descriptors:
            batch.mol_features = torch.from_numpy(descriptor_block(molecules, state))
        return batch

    def build(self, n_tasks: int, state: dict[str, Any]):
        from molpipe.models.networks import GINENetwork

        n_descriptors = len(state["rdkit2d"]["mean"]) if self.descriptors else 0
        return GINENetwork(self.hidden, self.layers, self.dropout, n_descriptors, n_tasks)
