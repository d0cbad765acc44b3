"""The ``torch.nn.Module`` networks the model kinds build (:mod:`molpipe.models.gnn`, :mod:`molpipe.models.chemberta`).

Apart from the kinds, so that naming a model, reading its featurizers or its configuration imports no torch: a
scoring driver, which only plans the job, starts seconds sooner and holds no torch.
"""

from __future__ import annotations

import torch
from torch import nn

from molpipe.featurize.graph import ATOM_DIM, BOND_DIM


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


class ChemBERTaDNNNetwork(nn.Module):
    def __init__(self, encoder, head_hidden: int, dropout: float, pooling: str, n_tasks: int):
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"chemberta pooling must be 'cls' or 'mean', got {pooling!r}")
        self.encoder = encoder
        self.pooling = pooling
        width = encoder.config.hidden_size
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(width, head_hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(head_hidden, n_tasks),
        )

    def forward(self, batch):
        hidden = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(pooled)
