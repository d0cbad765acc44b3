"""The lab batch report on real HIV molecules: the CSV, the HTML's content (neighbours, alerts, map, exclusions,
standalone) and what headless Chromium draws of it."""

import html
import re
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold

from molpipe.chem.filters import PROFILES, AlertMatcher, assess
from molpipe.lab.report import COLUMNS, ReportContext, write_batch
from molpipe.lab.space import chemical_space

# rows of tests/data/hiv_sample.csv that pass the drug-like profile; 169 (a copper complex) carries NIH alerts
PICKS = [2, 38, 67, 120, 153, 161, 169, 225]
EXCLUSIONS = {"alert:brenk": 40, "mol_weight>500": 12, "alert:pains": 3}


def batch_of(picks: pd.DataFrame) -> pd.DataFrame:
    """The picks as ``molpipe select`` hands them to the report: scores, scaffold and the filter columns."""
    matcher, profile = AlertMatcher(), PROFILES["drug-like"]
    rows = []
    for position, smiles in enumerate(picks["smiles"], start=1):
        mol = Chem.MolFromSmiles(smiles)
        verdict = assess(mol, matcher=matcher, judged_by=profile)
        rows.append(
            {
                "position": position,
                "inchikey": Chem.MolToInchiKey(mol),
                "smiles": smiles,
                "prediction": 0.9 - 0.05 * position,
                "uncertainty": None if position == 3 else 0.1 + 0.01 * position,
                "ad_similarity": 0.2 + 0.08 * position,
                "acquisition_score": 1.0 - 0.05 * position,
                "rank": 3 * position,
                "scaffold": MurckoScaffold.MurckoScaffoldSmiles(mol=mol),
                "alerts": verdict.alerts,
                **verdict.properties,
                "ro5_violations": verdict.ro5_violations,
                "passes_filters": verdict.passes,
                "filter_reasons": verdict.reasons,
            }
        )
    return pd.DataFrame(rows)


def nearest(batch: pd.DataFrame, training: pd.DataFrame) -> pd.DataFrame:
    """Each pick's three most similar training molecules, by RDKit's own Tanimoto."""
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fingerprints = [generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in training["smiles"]]
    rows = []
    for pick in batch.itertuples():
        similarity = np.array(
            DataStructs.BulkTanimotoSimilarity(generator.GetFingerprint(Chem.MolFromSmiles(pick.smiles)), fingerprints)
        )
        for neighbour, i in enumerate(np.argsort(-similarity, kind="stable")[:3], start=1):
            rows.append(
                {
                    "inchikey": pick.inchikey,
                    "neighbour": neighbour,
                    "smiles": training["smiles"].iloc[i],
                    "value": float(training["HIV_active"].iloc[i]),
                    "similarity": float(similarity[i]),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def report(data_dir, tmp_path_factory):
    sample = pd.read_csv(data_dir / "hiv_sample.csv")
    sample = sample[[Chem.MolFromSmiles(s) is not None for s in sample["smiles"]]]
    picks = sample.loc[PICKS]
    rest = sample.drop(index=PICKS)
    training, pool = rest.iloc[::2], rest.iloc[1::2]
    batch = batch_of(picks)
    context = ReportContext(
        label="HIV_active",
        units="probability of active",
        profile="drug-like",
        profile_description=PROFILES["drug-like"].description,
        considered=80,
        exclusions=EXCLUSIONS,
        neighbours=nearest(batch, training),
        training_smiles=list(training["smiles"]),
        pool_smiles=list(pool["smiles"]),
        diversity="sphere (Tanimoto 0.6), at most 2 per scaffold",
    )
    folder = tmp_path_factory.mktemp("batch")
    files = write_batch(batch, folder, batch_id="abc123", title="Lab batch abc123", context=context)
    return batch, context, files


def test_the_csv_has_one_row_per_pick_with_its_properties_and_alerts(report):
    batch, _, files = report
    frame = pd.read_csv(files["csv"])
    assert list(frame.columns) == COLUMNS
    assert len(frame) == len(batch)
    assert frame["position"].tolist() == list(range(1, len(batch) + 1))
    copper = frame.loc[frame["position"] == PICKS.index(169) + 1, "alerts"].iloc[0]
    assert copper == "; ".join(batch["alerts"].iloc[PICKS.index(169)]) and "nih:contains_metal" in copper


def test_the_html_explains_every_pick_and_is_standalone(report):
    batch, context, files = report
    text = open(files["html"], encoding="utf-8").read()
    for n in context.neighbours.itertuples():
        assert html.escape(n.smiles) in text
        assert f"Tanimoto {n.similarity:.2f}" in text
    assert "nih:contains_metal" in text and "class=swatch style='background:#" in text
    assert "PC1 (" in text and "% of variance)" in text
    assert text.count("<svg") == 1 + len(batch) + len(context.neighbours)  # the map, the picks, their neighbours
    exclusions = re.search(r"<table class='grid exclusions'>(.*?)</table>", text).group(1)
    assert [html.unescape(r) for r in re.findall(r"<code>([^<]+)</code>", exclusions)] == [
        "alert:brenk",
        "mol_weight>500",
        "alert:pains",
    ]
    assert "80 candidates considered" in text and "sphere (Tanimoto 0.6)" in text
    assert "<script" not in text.lower()
    without_namespaces = re.sub(r"xmlns(:\w+)?=(['\"])[^'\"]*\2", "", text)
    assert "http://" not in without_namespaces and "https://" not in without_namespaces


def test_the_map_is_deterministic_and_puts_the_picks_among_the_reference(report):
    batch, context, _ = report
    reference = [*context.training_smiles, *context.pool_smiles]
    first = chemical_space(reference=reference, picks=list(batch["smiles"]))
    second = chemical_space(reference=reference, picks=list(batch["smiles"]))
    np.testing.assert_array_equal(first[1], second[1])
    points, picked, explained = first
    assert points.shape == (len(reference), 2) and picked.shape == (len(batch), 2)
    assert explained[0] >= explained[1] > 0 and sum(explained) < 1
    assert np.allclose(points.mean(axis=0), 0, atol=1e-4)  # centred on the reference


def test_a_report_without_samples_neighbours_or_exclusions_still_reads(report, tmp_path):
    batch, context, _ = report
    bare = replace(context, exclusions={}, neighbours=context.neighbours.iloc[0:0], training_smiles=[], pool_smiles=[])
    files = write_batch(batch.head(1), tmp_path, batch_id="one", title="one pick", context=bare)
    text = open(files["html"], encoding="utf-8").read()
    assert "No candidate was excluded." in text and "No labelled training neighbour." in text
    assert "pool sample (0)" in text and "picks (1)" in text


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium to render the report")
def test_headless_chromium_draws_the_report(report, tmp_path, chromium):
    _, _, files = report
    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1400,3000", f"file://{files['html']}")
    assert shot.is_file()
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    assert (pixels.min(axis=1) < 245).mean() > 0.01  # more than 1 % of the page is not white
    assert len(np.unique(pixels[:: max(1, len(pixels) // 200_000)], axis=0)) > 20
    red = (pixels[:, 0] > 180) & (pixels[:, 1] < 80) & (pixels[:, 2] < 80)
    assert red.sum() > 100  # the picks' red
