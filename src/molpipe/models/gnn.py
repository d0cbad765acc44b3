"""``gnn``: an edge-aware message-passing network (GINE) over the ``graph`` featurizer, in PyTorch Geometric.

Atoms and bonds are embedded, ``layers`` GINE convolutions (bond features enter every message) with batch norm
and residual connections update the atoms, a sum+mean readout pools them, and an MLP head predicts. Optionally the
standardized RDKit 2D descriptors are concatenated to the pooled vector before the head (as Chemprop does with
``rdkit_2d_normalized``): whole-molecule properties a few rounds of message passing cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from molpipe.featurize.graph import ATOM_DIM, BOND_DIM, to_pyg_data
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
        from torch_geometric.data import Batch  # PyG takes seconds to import: only where a GNN is used

        batch = Batch.from_data_list([to_pyg_data(m["graph"]) for m in molecules])
        if self.descriptors:
            batch.mol_features = torch.from_numpy(descriptor_block(molecules, state))
        return batch

    def build(self, n_tasks: int, state: dict[str, Any]):
        n_descriptors = len(state["rdkit2d"]["mean"]) if self.descriptors else 0
        return GINENetwork(self.hidden, self.layers, self.dropout, n_descriptors, n_tasks)


class GINENetwork(nn.Module):
    def __init__(self, hidden: int, layers: int, dropout: float, n_descriptors: int, n_tasks: int):
        from torch_geometric.nn import GINEConv

        super().__init__()
        self.atom = nn.Linear(ATOM_DIM, hidden)
        self.bond = nn.Linear(BOND_DIM, hidden)
        self.convs = nn.ModuleList(
            GINEConv(nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden)), edge_dim=hidden)
            for _ in range(layers)
        )
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Sequential(
            nn.Linear(2 * hidden + n_descriptors, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_tasks)
        )
        self.n_descriptors = n_descriptors

    def forward(self, batch):
        from torch_geometric.nn import global_add_pool, global_mean_pool

        x = self.atom(batch.x)
        edge_attr = self.bond(batch.edge_attr)
        for conv, norm in zip(self.convs, self.norms):
            x = x + self.dropout(torch.relu(norm(conv(x, batch.edge_index, edge_attr))))
        pooled = [global_add_pool(x, batch.batch), global_mean_pool(x, batch.batch)]
        if self.n_descriptors:
            pooled.append(batch.mol_features)
        return self.head(torch.cat(pooled, dim=1))
