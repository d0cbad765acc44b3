"""What the wheel the bundle installs asks of a Databricks cluster, and what local installs pin.

The wheel's requirements are read from its metadata as the build backend writes it: setuptools'
``prepare_metadata_for_build_wheel`` (PEP 517), run from the repository root in a subprocess with the virtualenv's
setuptools. That is what ``pip wheel --no-build-isolation`` does before it builds, without building: no network, no
copy of the sources, under a second (``pip wheel`` builds the whole wheel, ``build/`` in the tree included), and the
egg-info it needs goes to the output folder, not into the repository.
"""

from __future__ import annotations

import email.parser
import subprocess
import sys

import pytest
from packaging.requirements import Requirement  # pytest's own dependency
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from .bundle_config import load
from .test_bundle import BUNDLE, CLI_VARS, REPO, TARGETS

pytestmark = pytest.mark.bundle

SPARK = {"pyspark", "pyspark-client", "pyspark-connect", "delta-spark", "pysail"}  # the runtime brings its own Spark
RUNTIME_ML = {"torch", "mlflow", "transformers", "pandas", "numpy", "pyarrow"}  # the ML runtime ships these
LOCAL_ENGINES = {"pysail", "pyspark", "delta-spark"}
# the Python of each Databricks runtime the bundle may name (its release notes, "System environment"): add the one
# you move to
RUNTIME_PYTHON = {"17.3": "3.12.3"}


@pytest.fixture(scope="module")
def metadata(tmp_path_factory):
    out = tmp_path_factory.mktemp("metadata")
    build = f"import setuptools.build_meta as b; print(b.prepare_metadata_for_build_wheel({str(out)!r}))"
    result = subprocess.run(
        [sys.executable, "-c", build], check=False, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    dist_info = result.stdout.strip().splitlines()[-1]
    return email.parser.Parser().parsestr((out / dist_info / "METADATA").read_text())


def _requirements(metadata, extra: str | None = None) -> list[Requirement]:
    """The wheel's own requirements (no marker naming an extra), or those one extra adds."""
    found = [Requirement(line) for line in metadata.get_all("Requires-Dist", [])]
    if extra is None:
        return [r for r in found if r.marker is None or "extra" not in str(r.marker)]
    return [r for r in found if r.marker is not None and r.marker.evaluate({"extra": extra})]


def _names(requirements) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements}


def test_the_wheel_requires_no_spark_and_pins_nothing_the_ml_runtime_ships(metadata):
    required = _requirements(metadata)
    assert required, "no Requires-Dist in the wheel's metadata"
    assert not _names(required) & SPARK, "a pip-installed Spark over the runtime's breaks the cluster"
    assert RUNTIME_ML <= _names(required)
    for requirement in required:
        if canonicalize_name(requirement.name) in RUNTIME_ML:  # an exact pin reinstalls it on every cluster start
            assert not any(s.operator in ("==", "===") for s in requirement.specifier), str(requirement)


def test_the_local_extra_brings_both_local_engines(metadata):
    assert "local" in metadata.get_all("Provides-Extra", [])
    assert LOCAL_ENGINES <= _names(_requirements(metadata, "local"))


def test_the_wheel_installs_on_the_python_of_the_bundles_runtimes(metadata):
    requires_python = SpecifierSet(metadata["Requires-Python"])
    assert requires_python.contains("3.12"), requires_python
    bundle = load(BUNDLE)
    runtimes = {
        target.variables[key]
        for target in (bundle.target(name, CLI_VARS.get(name)) for name in TARGETS)
        for key in ("spark_version", "train_spark_version")
    }
    for runtime in runtimes:
        version = runtime.split(".x-")[0]
        assert version in RUNTIME_PYTHON, f"{runtime}: which Python does Databricks Runtime {version} run?"
        assert requires_python.contains(RUNTIME_PYTHON[version]), f"{runtime} runs Python {RUNTIME_PYTHON[version]}"


def test_constraints_pin_every_package_exactly_and_torch_stays_2_13_0():
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            specifiers = list(requirement.specifier)
            assert len(specifiers) == 1 and specifiers[0].operator == "==", f"not an exact pin: {line}"
            name = canonicalize_name(requirement.name)
            assert name not in pins, f"{name} pinned twice"
            pins[name] = specifiers[0].version
    assert pins["torch"] == "2.13.0"
    assert LOCAL_ENGINES <= set(pins)
