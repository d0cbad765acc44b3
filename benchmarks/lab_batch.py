"""What a medicinal chemist would strike from a lab batch, checked with RDKit's own functions (not molpipe's filters).

    python benchmarks/lab_batch.py reports/batch-ID.csv [more.csv ...] [--json]

For each batch file (``molpipe select``'s CSV; only its ``smiles`` column is read, so a batch picked before molpipe
had filters is checked the same way) it counts the picks that carry a PAINS (A, B or C) or Brenk alert in RDKit's
``FilterCatalog``, weigh over 600 Da, have QED below 0.3, or fall outside any window of the ``drug-like`` profile
(recomputed here from RDKit's descriptor functions), and the share of picks with any of the first three: the
issue's measure of a batch the lab would not order.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd
from rdkit import Chem, RDConfig
from rdkit.Chem import QED, Crippen, Descriptors, FilterCatalog, rdMolDescriptors

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.append(os.path.join(RDConfig.RDContribDir, "SA_Score"))


def catalog() -> FilterCatalog.FilterCatalog:
    params = FilterCatalog.FilterCatalogParams()
    for name in ("PAINS_A", "PAINS_B", "PAINS_C", "BRENK"):
        params.AddCatalog(getattr(FilterCatalog.FilterCatalogParams.FilterCatalogs, name))
    return FilterCatalog.FilterCatalog(params)


def measures(mol) -> dict[str, float]:
    import sascorer  # type: ignore[import-not-found]

    return {
        "mol_weight": Descriptors.MolWt(mol),
        "clogp": Crippen.MolLogP(mol),
        "tpsa": rdMolDescriptors.CalcTPSA(mol),
        "hbd": rdMolDescriptors.CalcNumHBD(mol),
        "hba": rdMolDescriptors.CalcNumHBA(mol),
        "rotatable_bonds": rdMolDescriptors.CalcNumRotatableBonds(mol),
        "formal_charge": Chem.GetFormalCharge(mol),
        "heavy_atoms": mol.GetNumHeavyAtoms(),
        "qed": QED.qed(mol),
        "sa_score": sascorer.calculateScore(mol),
    }


def check(path: Path) -> dict:
    from molpipe.chem.filters import PROFILES  # the windows only; the values are computed above

    alerts = catalog()
    windows = PROFILES["drug-like"].windows
    rows = []
    for smiles in pd.read_csv(path)["smiles"]:
        mol = Chem.MolFromSmiles(smiles)
        values = measures(mol)
        outside = [
            name
            for name, low, high in windows
            if (low is not None and values[name] < low) or (high is not None and values[name] > high)
        ]
        rows.append(
            {
                "alert": bool(alerts.HasMatch(mol)),
                "over_600": values["mol_weight"] > 600,
                "qed_below_0.3": values["qed"] < 0.3,
                "outside_drug_like": bool(outside),
            }
        )
    frame = pd.DataFrame(rows)
    struck = frame["alert"] | frame["over_600"] | frame["qed_below_0.3"]
    return {
        "batch": str(path),
        "picks": len(frame),
        "with_pains_or_brenk_alert": int(frame["alert"].sum()),
        "over_600_da": int(frame["over_600"].sum()),
        "qed_below_0.3": int(frame["qed_below_0.3"].sum()),
        "any_of_these": int(struck.sum()),
        "outside_drug_like_windows": int(frame["outside_drug_like"].sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("batches", nargs="+", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [check(path) for path in args.batches]
    for row in results:
        print(
            f"{row['batch']}: {row['any_of_these']} of {row['picks']} picks have a PAINS/Brenk alert, MW > 600 or "
            f"QED < 0.3 (alerts {row['with_pains_or_brenk_alert']}, over 600 Da {row['over_600_da']}, QED < 0.3 "
            f"{row['qed_below_0.3']}); {row['outside_drug_like_windows']} outside the drug-like windows"
        )
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
