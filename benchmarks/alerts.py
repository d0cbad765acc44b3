"""Medicinal-chemistry filter cost per molecule: molpipe's chem.filters against plain RDKit, same molecules, one run.

    python benchmarks/alerts.py [--n 5000] [--pool PATH] [--alerts pains,brenk,nih] [--json]

It takes the first N SMILES of the pool (default: the 1.58M-molecule ZINC pool in ../shared/datasets, else
tests/data/zinc_sample.csv.gz), parses them, and measures in ms/molecule, each on freshly parsed molecules (RDKit
caches some descriptors on a molecule):

  (a) baseline alerts:  RDKit's FilterCatalog.GetMatches, one catalog per alert set, every entry matched;
  (b) baseline props:   the same properties computed by plain RDKit calls (QED.qed, the Contrib SA score, ...);
  (c) names():          molpipe's AlertMatcher.names (a pattern-fingerprint screen before matching);
  (d) properties():     molpipe's properties;
  (e) assess():         molpipe's assess (alerts, properties, verdict of the drug-like profile);

and the ratios baseline / molpipe. It also checks that (c) gives the baseline's alert names on every molecule.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

DEFAULT_POOL = ROOT.parent / "shared" / "datasets" / "moses_zinc" / "zinc_clean_leads_1.58M.csv.gz"
FALLBACK_POOL = ROOT / "tests" / "data" / "zinc_sample.csv.gz"


def read_smiles(pool: Path, n: int) -> list[str]:
    opener = gzip.open if pool.suffix == ".gz" else open
    with opener(pool, "rt") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        column = next(i for i, name in enumerate(header) if "smiles" in name.lower())
        return [row[column] for _, row in zip(range(n), reader)]


def per_molecule(smiles: list[str], compute) -> float:
    """ms/molecule of ``compute`` over freshly parsed molecules (parsing not timed)."""
    from rdkit import Chem

    mols = [mol for mol in (Chem.MolFromSmiles(s) for s in smiles) if mol is not None]
    start = time.perf_counter()
    for mol in mols:
        compute(mol)
    return (time.perf_counter() - start) / len(mols) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--pool", type=Path, default=DEFAULT_POOL if DEFAULT_POOL.is_file() else FALLBACK_POOL)
    parser.add_argument("--alerts", default="pains,brenk,nih", help="alert families (molpipe.chem.filters.FAMILIES)")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()

    from rdkit import Chem, RDLogger
    from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors

    from molpipe.chem import filters

    RDLogger.DisableLog("rdApp.*")
    smiles = read_smiles(args.pool, args.n)
    families = tuple(args.alerts.split(","))
    matcher = filters.AlertMatcher(families)
    profile = filters.PROFILES["drug-like"]
    catalogs = [(name, filters._catalog(name)) for family in families for name in filters.FAMILIES[family]]
    sascorer = filters._sascorer()

    def baseline_alerts(mol):
        out: list[str] = []
        for set_name, catalog in catalogs:
            for entry in catalog.GetMatches(mol):
                name = f"{set_name}:{entry.GetDescription()}"
                if name not in out:
                    out.append(name)
        return out

    def baseline_properties(mol):
        return (
            Descriptors.MolWt(mol),
            Crippen.MolLogP(mol),
            rdMolDescriptors.CalcTPSA(mol),
            rdMolDescriptors.CalcNumHBD(mol),
            rdMolDescriptors.CalcNumHBA(mol),
            rdMolDescriptors.CalcNumRotatableBonds(mol),
            Chem.GetFormalCharge(mol),
            mol.GetNumHeavyAtoms(),
            QED.qed(mol),
            sascorer.calculateScore(mol),
        )

    # warm up: catalogs, screens, the SA fragment table
    for mol in [Chem.MolFromSmiles(s) for s in smiles[:20]]:
        baseline_alerts(mol), baseline_properties(mol), filters.assess(mol, matcher=matcher, judged_by=profile)

    mols = [mol for mol in (Chem.MolFromSmiles(s) for s in smiles) if mol is not None]
    differ = sum(1 for mol in mols if matcher.names(mol) != baseline_alerts(mol))

    figures = {
        "baseline_alerts_ms": per_molecule(smiles, baseline_alerts),
        "names_ms": per_molecule(smiles, matcher.names),
        "baseline_properties_ms": per_molecule(smiles, baseline_properties),
        "properties_ms": per_molecule(smiles, filters.properties),
        "assess_ms": per_molecule(smiles, lambda mol: filters.assess(mol, matcher=matcher, judged_by=profile)),
    }
    figures["baseline_ms"] = figures["baseline_alerts_ms"] + figures["baseline_properties_ms"]
    result = {
        "pool": str(args.pool),
        "molecules": len(mols),
        "alerts": list(families),
        **{key: round(value, 4) for key, value in figures.items()},
        "names_speedup": round(figures["baseline_alerts_ms"] / figures["names_ms"], 2),
        "properties_speedup": round(figures["baseline_properties_ms"] / figures["properties_ms"], 2),
        "assess_speedup": round(figures["baseline_ms"] / figures["assess_ms"], 2),
        "names_differ": differ,
    }
    print(f"{len(mols)} molecules of {args.pool.name}, alerts {', '.join(families)}")
    print(f"  alerts      baseline {figures['baseline_alerts_ms']:.3f} ms/mol   names()      {figures['names_ms']:.3f}")
    print(
        f"  properties  baseline {figures['baseline_properties_ms']:.3f} ms/mol   properties() "
        f"{figures['properties_ms']:.3f}"
    )
    print(f"  together    baseline {figures['baseline_ms']:.3f} ms/mol   assess()     {figures['assess_ms']:.3f}")
    print(
        f"  speed-up    names {result['names_speedup']}x, properties {result['properties_speedup']}x, "
        f"assess {result['assess_speedup']}x; molecules whose alert names differ: {differ}"
    )
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
