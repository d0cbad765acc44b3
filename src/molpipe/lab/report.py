"""The lab batch as files: a CSV to load into the lab's systems and a standalone HTML report that explains every pick.

The report is what a medicinal chemist reads before ordering the batch, so it says what the batch is (scaffolds,
property ranges), how it was chosen (filter profile and what it excluded, diversity), where it sits in chemical
space (:mod:`molpipe.lab.space`), and per pick: its structure with its alerts highlighted, its properties, the
model's prediction and the labelled training molecules that prediction rests on. One file, all SVG inline: no
scripts, no network, printable.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from molpipe.chem.filters import PROPERTIES
from molpipe.config import MonitorOptions
from molpipe.lab.space import chemical_space

PROPERTY_COLUMNS = [*PROPERTIES, "ro5_violations"]
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
    *PROPERTY_COLUMNS,
    "alerts",
    "passes_filters",
]
# the batch's property ranges in the header: (column, label, decimals)
RANGES = [
    ("mol_weight", "MW", 1),
    ("clogp", "cLogP", 2),
    ("tpsa", "TPSA", 1),
    ("hbd", "HBD", 0),
    ("hba", "HBA", 0),
    ("rotatable_bonds", "RotB", 0),
    ("qed", "QED", 2),
    ("sa_score", "SA score", 2),
]
AD_LOW = MonitorOptions.ad_similarity  # below it a pick is flagged outside the domain, as molpipe monitor counts it
POOL, TRAINING, PICK = "#c8c8c8", "#1f77b4", "#d62728"
# highlight colours of a pick's alerts, in the order its alerts are listed (RDKit RGB in 0..1)
HIGHLIGHTS = [(1.0, 0.75, 0.35), (0.7, 0.6, 1.0), (0.45, 0.85, 0.75), (1.0, 0.9, 0.3), (1.0, 0.6, 0.8)]


@dataclass(frozen=True)
class ReportContext:
    """What the report says beyond the picks themselves."""

    label: str  # the predicted label's name, e.g. "HIV_active"
    units: str  # label units text, e.g. "probability of active" or "log mol/L"
    profile: str  # filter profile applied, e.g. "drug-like"
    profile_description: str  # e.g. "Lipinski and Veber windows, no PAINS or Brenk alert, ..."
    considered: int  # candidates looked at in rank order to fill the diversity step
    exclusions: dict[str, int]  # filter reason -> molecules excluded for it among those considered
    neighbours: pd.DataFrame  # inchikey (the pick's), neighbour (1..3), smiles, value (measured label), similarity
    training_smiles: list[str]  # a sample (<= 2000) of the model's training set, for the map
    pool_smiles: list[str]  # a sample (<= 2000) of the scored pool, for the map
    diversity: str  # e.g. "sphere (Tanimoto 0.6), at most 2 per scaffold"


def write_batch(
    batch: pd.DataFrame, folder: Path, *, batch_id: str, title: str, context: ReportContext
) -> dict[str, str]:
    """Write ``batch-<batch_id>.csv`` and ``.html`` to ``folder``; returns {"csv": path, "html": path}."""
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = folder / f"batch-{batch_id}.csv", folder / f"batch-{batch_id}.html"
    csv_frame(batch).to_csv(csv_path, index=False)
    html_path.write_text(page(batch, batch_id=batch_id, title=title, context=context), encoding="utf-8")
    return {"csv": str(csv_path), "html": str(html_path)}


def csv_frame(batch: pd.DataFrame) -> pd.DataFrame:
    """The batch's CSV columns, alerts as one "; "-joined text so a spreadsheet shows them in one cell."""
    out = batch[COLUMNS].copy()
    out["alerts"] = ["; ".join(_names(alerts)) for alerts in out["alerts"]]
    return out


def _names(values: Any) -> list[str]:
    """A list column's value as a list (it may come back as a numpy array, or as None for no entries)."""
    if values is None or (isinstance(values, float) and values != values):
        return []
    return [str(value) for value in values]


def page(batch: pd.DataFrame, *, batch_id: str, title: str, context: ReportContext) -> str:
    """The whole report as one HTML document."""
    cards = "".join(
        card(row, neighbours=_neighbours_of(context.neighbours, row["inchikey"]), context=context)
        for row in batch.to_dict("records")
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class=muted>batch {_e(batch_id)}; predicted label {_e(context.label)} ({_e(context.units)})</p>
<div class=summary>
<section><h2>Batch composition</h2>{composition(batch)}</section>
<section><h2>How it was chosen</h2>{selection(context)}</section>
</div>
<section><h2>Chemical space</h2>{space_map(batch, context=context)}</section>
<h2>The picks</h2>
<p class=legend>{_e(reading_guide(context))}</p>
<div class=cards>{cards}</div>
</body></html>
"""


STYLE = """
body{font-family:Helvetica,Arial,sans-serif;margin:1.5em;color:#222;font-size:14px;line-height:1.35}
h1{font-size:1.5em;margin:0 0 .2em} h2{font-size:1.15em;margin:1em 0 .4em} .muted{color:#666;margin-top:0}
table{border-collapse:collapse} td,th{padding:2px 8px;text-align:left;vertical-align:top}
th{font-weight:600;color:#444;white-space:nowrap} td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid td,.grid th{border-bottom:1px solid #e2e2e2}
.summary{display:flex;flex-wrap:wrap;gap:2.5em}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(600px,1fr));gap:14px}
.card{border:1px solid #ccc;border-radius:6px;padding:10px 12px;break-inside:avoid;page-break-inside:avoid}
.card h3{margin:0 0 6px;font-size:1.05em} .pos{color:#fff;background:#d62728;border-radius:3px;padding:0 6px}
.main{display:flex;gap:12px;align-items:flex-start} .main svg{flex:none} .main>div{min-width:0}
.props{margin:4px 0 6px;width:100%} .props th{text-align:right} .near{display:block;margin-top:8px}
.smiles,code{font-family:Menlo,Consolas,monospace;font-size:11.5px;word-break:break-all}
.pred{font-size:1.1em;margin:0 0 4px} .low{color:#b00;font-weight:600}
.alerts{margin:6px 0;line-height:1.6} .swatch{display:inline-block;width:.9em;height:.9em;border-radius:2px;
vertical-align:-1px;margin-right:4px;border:1px solid #999}
.neighbours{display:flex;gap:8px;margin-top:6px} .neighbours figure{margin:0;width:190px;font-size:12px}
.neighbours figcaption{margin-top:2px}
.legend{color:#444;max-width:70em}
@media print{body{margin:0;font-size:11px} .cards{grid-template-columns:1fr}}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _number(value: Any, digits: int) -> str:
    """A measured value for display: an en dash where it is missing."""
    if value is None or pd.isna(value):
        return "\u2013"
    return f"{float(value):.{digits}f}"


def _measured(value: Any) -> str:
    """A measured label value: three significant digits, so a class label reads 0 or 1."""
    return "\u2013" if value is None or pd.isna(value) else f"{float(value):.3g}"


def composition(batch: pd.DataFrame) -> str:
    """How many picks and scaffolds, and the property ranges across the picks."""
    scaffolds = batch["scaffold"].fillna("")
    counts = scaffolds[scaffolds != ""].value_counts()
    acyclic = int((scaffolds == "").sum())
    largest = f", the largest with {int(counts.iloc[0])} picks" if len(counts) else ""
    lines = [
        f"<p>{len(batch)} picks; {len(counts)} distinct Murcko scaffolds{largest}"
        + (f"; {acyclic} acyclic" if acyclic else "")
        + ".</p>"
    ]
    rows = "".join(
        f"<tr><th>{label}</th><td class=num>{_number(batch[column].min(), digits)}</td>"
        f"<td class=num>{_number(batch[column].max(), digits)}</td></tr>"
        for column, label, digits in RANGES
    )
    lines.append(f"<table class=grid><tr><th>property</th><th>min</th><th>max</th></tr>{rows}</table>")
    return "".join(lines)


def selection(context: ReportContext) -> str:
    """The filter profile, what it excluded among the candidates considered, and the diversity method."""
    excluded = sorted(context.exclusions.items(), key=lambda item: (-item[1], item[0]))
    rows = "".join(
        f"<tr><td><code>{_e(reason)}</code></td><td class=num>{count}</td></tr>" for reason, count in excluded
    )
    table = (
        f"<table class='grid exclusions'><tr><th>excluded for</th><th>molecules</th></tr>{rows}</table>"
        if excluded
        else "<p>No candidate was excluded.</p>"
    )
    return (
        f"<p><b>Filter profile</b> {_e(context.profile)}: {_e(context.profile_description)}.</p>"
        f"<p>{context.considered} candidates considered in rank order; a molecule can be excluded for several "
        f"reasons.</p>{table}<p><b>Diversity</b> {_e(context.diversity)}.</p>"
    )


def reading_guide(context: ReportContext) -> str:
    """The one line that says what each card's numbers mean."""
    return (
        f"Prediction \u00b1 uncertainty in {context.label} units ({context.units}); acquisition score and rank in the "
        f"scored pool; AD = highest Tanimoto similarity to the training set (low = outside the applicability "
        f"domain; below {AD_LOW:g} is flagged). Highlighted atoms: the pick's structural alerts. Neighbours: the "
        f"three most similar labelled training molecules with their measured {context.label}."
    )


def space_map(batch: pd.DataFrame, *, context: ReportContext, width: int = 760, height: int = 460) -> str:
    """An SVG scatter of the pool, training and picks on the first two principal axes of their fingerprints."""
    reference = [*context.training_smiles, *context.pool_smiles]
    points, picked, explained = chemical_space(reference=reference, picks=list(batch["smiles"]))
    n_training = len(context.training_smiles)
    left, right, top, bottom = 50, 170, 15, 45
    everything = np.vstack([points, picked]) if len(points) or len(picked) else np.zeros((1, 2))
    low, high = everything.min(axis=0), everything.max(axis=0)
    span = np.where(high - low > 0, high - low, 1.0)
    plot_w, plot_h = width - left - right, height - top - bottom

    def xy(point: np.ndarray) -> tuple[float, float]:
        x = left + 8 + (point[0] - low[0]) / span[0] * (plot_w - 16)
        y = top + plot_h - 8 - (point[1] - low[1]) / span[1] * (plot_h - 16)
        return round(float(x), 1), round(float(y), 1)

    def dots(rows: np.ndarray, colour: str, radius: float, opacity: float) -> str:
        circles = "".join("<circle cx='%s' cy='%s' r='%s'/>" % (*xy(p), radius) for p in rows)
        return f"<g fill='{colour}' fill-opacity='{opacity}'>{circles}</g>"

    labels = "".join(
        "<circle cx='{0}' cy='{1}' r='5' fill='{3}' stroke='#fff' stroke-width='1'/>"
        "<text x='{4}' y='{5}' font-size='12' font-weight='bold' fill='{3}' stroke='#fff' stroke-width='3' "
        "paint-order='stroke'>{2}</text>".format(*xy(p), _e(position), PICK, xy(p)[0] + 6, xy(p)[1] - 5)
        for p, position in zip(picked, batch["position"])
    )
    legend_x = width - right + 18
    legend = "".join(
        f"<circle cx='{legend_x}' cy='{top + 14 + 20 * i}' r='{r}' fill='{colour}'/>"
        f"<text x='{legend_x + 12}' y='{top + 18 + 20 * i}' font-size='12'>{_e(text)}</text>"
        for i, (text, colour, r) in enumerate(
            [
                (f"pool sample ({len(context.pool_smiles)})", POOL, 3),
                (f"training sample ({n_training})", TRAINING, 3),
                (f"picks ({len(batch)})", PICK, 5),
            ]
        )
    )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' font-family='Helvetica,Arial,sans-serif' role='img' "
        f"aria-label='chemical space map'>"
        f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='#fff' stroke='#888'/>"
        f"{dots(points[n_training:], POOL, 2.2, 0.8)}{dots(points[:n_training], TRAINING, 2.2, 0.55)}{labels}"
        f"<text x='{left + plot_w / 2}' y='{height - 12}' font-size='13' text-anchor='middle'>"
        f"PC1 ({explained[0] * 100:.1f} % of variance)</text>"
        f"<text transform='translate(18 {top + plot_h / 2}) rotate(-90)' font-size='13' text-anchor='middle'>"
        f"PC2 ({explained[1] * 100:.1f} % of variance)</text>{legend}</svg>"
        "<p class=muted>PCA of Morgan fingerprints (radius 2, 2048 bits) fitted on the training and pool samples; "
        "the picks are projected onto the same axes.</p>"
    )


def _neighbours_of(neighbours: pd.DataFrame, inchikey: str) -> pd.DataFrame:
    if neighbours.empty:
        return pd.DataFrame(columns=["neighbour", "smiles", "value", "similarity"])
    return neighbours[neighbours["inchikey"] == inchikey].sort_values("neighbour")


def card(row: dict[str, Any], *, neighbours: pd.DataFrame, context: ReportContext) -> str:
    """One pick: structure with its alerts, properties, prediction and its nearest labelled neighbours."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(row["smiles"])
    alerts = _names(row.get("alerts"))
    highlights = alert_atoms(mol, alerts) if mol is not None and alerts else {}
    colours = {name: HIGHLIGHTS[i % len(HIGHLIGHTS)] for i, name in enumerate(alerts)}
    alert_list = (
        "".join(
            f"<div><span class=swatch style='background:{_css(colours[name]) if name in highlights else '#fff'}'>"
            f"</span><code>{_e(name)}</code></div>"
            for name in alerts
        )
        if alerts
        else " none"
    )
    uncertainty = "" if pd.isna(row.get("uncertainty")) else f" \u00b1 {_number(row['uncertainty'], 3)}"
    ad = _number(row["ad_similarity"], 2)
    outside = pd.notna(row["ad_similarity"]) and row["ad_similarity"] < AD_LOW
    ad_note = " <span class=low>low: outside the domain</span>" if outside else ""
    facts = (
        f"<p class=pred><b>{_e(context.label)}</b> {_number(row['prediction'], 3)}{uncertainty} "
        f"<small>{_e(context.units)}</small></p>"
        f"<table>"
        f"<tr><th>acquisition</th><td>{_number(row['acquisition_score'], 3)} (pool rank {_e(row['rank'])})</td></tr>"
        f"<tr><th>AD similarity</th><td>{ad}{ad_note}</td></tr>"
        f"<tr><th>scaffold</th><td><code>{_e(row.get('scaffold') or 'acyclic')}</code></td></tr>"
        f"</table><div class=alerts><b>alerts</b>{alert_list}</div>"
    )
    return (
        f"<section class=card><h3><span class=pos>{_e(row['position'])}</span> <code>{_e(row['inchikey'])}</code>"
        f"{'' if row.get('passes_filters', True) else ' <span class=low>fails the filters</span>'}</h3>"
        f"<div class=main>{depiction(mol, width=250, height=220, highlights=highlights, colours=colours)}<div>{facts}</div></div>"
        f"{properties_table(row)}<div class=smiles>{_e(row['smiles'])}</div>"
        f"{neighbour_strip(neighbours, context=context)}</section>"
    )


def properties_table(row: dict[str, Any]) -> str:
    """The pick's key properties in two compact rows."""
    cells = [
        ("MW", _number(row["mol_weight"], 1)),
        ("cLogP", _number(row["clogp"], 2)),
        ("TPSA", _number(row["tpsa"], 1)),
        ("HBD/HBA", f"{_number(row['hbd'], 0)}/{_number(row['hba'], 0)}"),
        ("RotB", _number(row["rotatable_bonds"], 0)),
        ("charge", _number(row["formal_charge"], 0)),
        ("QED", _number(row["qed"], 2)),
        ("SA", _number(row["sa_score"], 2)),
        ("Ro5 viol.", _number(row["ro5_violations"], 0)),
    ]
    head = "".join(f"<th>{name}</th>" for name, _ in cells)
    values = "".join(f"<td class=num>{value}</td>" for _, value in cells)
    return f"<table class='grid props'><tr>{head}</tr><tr>{values}</tr></table>"


def neighbour_strip(neighbours: pd.DataFrame, *, context: ReportContext) -> str:
    """The pick's nearest labelled training molecules, small, with measured value and similarity."""
    from rdkit import Chem

    if neighbours.empty:
        return "<p class=muted>No labelled training neighbour.</p>"
    figures = "".join(
        f"<figure>{depiction(Chem.MolFromSmiles(n['smiles']), width=190, height=130)}<figcaption>"
        f"{_e(context.label)} = {_measured(n['value'])}, Tanimoto {_number(n['similarity'], 2)}"
        f"<br><code>{_e(n['smiles'])}</code></figcaption></figure>"
        for n in neighbours.to_dict("records")
    )
    return f"<b class=near>nearest labelled training molecules</b><div class=neighbours>{figures}</div>"


def alert_atoms(mol: Any, names: Sequence[str]) -> dict[str, list[int]]:
    """The atoms of each of ``names`` in ``mol``; a name no catalog matches (e.g. a custom SMARTS) is left out."""
    from molpipe.chem.filters import FAMILIES, AlertMatcher

    sets = {name.split(":", 1)[0] for name in names}  # match only the families the pick's alerts come from
    found = AlertMatcher(families=tuple(f for f, members in FAMILIES.items() if sets & set(members))).atoms(mol)
    return {name: found[name] for name in names if found.get(name)}


def _css(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(channel * 255):02x}" for channel in rgb)


def depiction(
    mol: Any,
    *,
    width: int,
    height: int,
    highlights: dict[str, list[int]] | None = None,
    colours: dict[str, tuple] | None = None,
) -> str:
    """An inline SVG of a parsed molecule, each alert's atoms and the bonds between them in its colour (empty if
    the molecule did not parse)."""
    from rdkit.Chem.Draw import rdMolDraw2D

    if mol is None:
        return ""
    atom_colours: dict[int, tuple] = {}
    bond_colours: dict[int, tuple] = {}
    for name, atoms in (highlights or {}).items():
        colour = (colours or {}).get(name, HIGHLIGHTS[0])
        atom_colours.update({atom: colour for atom in atoms})
        members = set(atoms)
        bond_colours.update(
            {
                bond.GetIdx(): colour
                for bond in mol.GetBonds()
                if bond.GetBeginAtomIdx() in members and bond.GetEndAtomIdx() in members
            }
        )
    drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
    drawer.drawOptions().clearBackground = False
    drawer.DrawMolecule(
        mol,
        highlightAtoms=list(atom_colours),
        highlightAtomColors=atom_colours,
        highlightBonds=list(bond_colours),
        highlightBondColors=bond_colours,
    )
    drawer.FinishDrawing()
    svg = drawer.GetDrawingText()
    return svg[svg.index("<svg") :]
