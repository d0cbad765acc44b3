"""The lab batch as files: a CSV to load into the lab's systems and a standalone HTML report with 2D depictions."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

COLUMNS = [
    "position",
    "inchikey",
    "smiles",
    "prediction",
    "uncertainty",
    "ad_similarity",
    "acquisition_score",
    "rank",
    "scaffold",
]


def depiction(smiles: str, size: int = 220) -> str:
    """An inline SVG of the molecule (empty if it does not parse)."""
    from rdkit import Chem
    from rdkit.Chem.Draw import rdMolDraw2D

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return ""
    drawer = rdMolDraw2D.MolDraw2DSVG(size, size)
    drawer.DrawMolecule(mol)
    drawer.FinishDrawing()
    svg = drawer.GetDrawingText()
    return svg[svg.index("<svg") :]


def write_batch(batch: pd.DataFrame, folder: Path, batch_id: str, title: str) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = folder / f"batch-{batch_id}.csv", folder / f"batch-{batch_id}.html"
    batch[COLUMNS].to_csv(csv_path, index=False)
    rows = []
    for row in batch.itertuples():
        uncertainty = "" if pd.isna(row.uncertainty) else f"{row.uncertainty:.3f}"
        rows.append(
            f"<tr><td>{row.position}</td><td>{depiction(row.smiles)}</td>"
            f"<td class=smiles>{html.escape(row.smiles)}<br><small>{html.escape(row.inchikey)}</small></td>"
            f"<td>{row.prediction:.3f}</td><td>{uncertainty}</td><td>{row.ad_similarity:.2f}</td>"
            f"<td>{row.acquisition_score:.3f}</td><td>{row.rank}</td></tr>"
        )
    html_path.write_text(
        f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>
body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:4px;
vertical-align:middle;text-align:right}} td.smiles{{text-align:left;max-width:28em;word-break:break-all}}</style></head>
<body><h1>{html.escape(title)}</h1><p>{len(batch)} molecules. Prediction and uncertainty in label units; AD = highest
Tanimoto similarity to the model's training set (low = outside its applicability domain).</p>
<table><tr><th>#</th><th>structure</th><th>SMILES / InChIKey</th><th>prediction</th><th>uncertainty</th><th>AD</th>
<th>acquisition</th><th>pool rank</th></tr>
{"".join(rows)}
</table></body></html>
"""
    )
    return {"csv": str(csv_path), "html": str(html_path)}
