"""One typed configuration, defaults in one place.

Precedence, lowest first: the defaults below, a TOML file (``$MOLPIPE_CONFIG`` or ``./molpipe.toml``), environment
variables, command-line flags. Environment variables are ``MOLPIPE_<FIELD>`` for top-level fields
(``MOLPIPE_HOME``, ``MOLPIPE_SPARK_REMOTE``, ``MOLPIPE_WORKERS``) and ``MOLPIPE_<SECTION>__<FIELD>`` inside a section
(``MOLPIPE_STANDARDIZE__MAX_HEAVY_ATOMS=150``). The TOML file uses the same names::

    home = "/data/molpipe"
    [standardize]
    canonical_tautomer = true
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_FEATURIZERS = "morgan,rdkit2d,maccs,graph"


@dataclass(frozen=True)
class StandardizeOptions:
    """How a structure is cleaned up before it is identified."""

    largest_fragment: bool = True
    neutralize: bool = True
    canonical_tautomer: bool = False
    max_heavy_atoms: int = 200


@dataclass(frozen=True)
class IngestOptions:
    chunk_rows: int = 50_000  # rows per staged Parquet part: bounds driver memory and sets the partition count


@dataclass(frozen=True)
class FeaturizeOptions:
    featurizers: str = DEFAULT_FEATURIZERS
    chunk_rows: int = 64  # molecules handed to a worker process at a time
    slice_rows: int = 50_000  # input rows per featurize round: peak memory follows the slice, not the library


@dataclass(frozen=True)
class SplitOptions:
    method: str = "scaffold"
    train: float = 0.8
    valid: float = 0.1
    test: float = 0.1
    pool_fraction: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class ValidationOptions:
    """What a challenger must reach to be promoted (``molpipe validate``), on the test split it was trained for."""

    min_roc_auc: float = 0.70  # classification: mean test ROC-AUC over labels
    max_rmse: float = 0.0  # regression: mean test RMSE over labels; 0 disables the absolute threshold
    margin: float = 0.01  # how much worse than the champion, on the same molecules, is still acceptable


@dataclass(frozen=True)
class ScoreOptions:
    """``molpipe score``: how the pool is scored and ranked."""

    acquisition: str = "ucb"  # greedy, ucb, ei, thompson, random
    uncertainty: str = "auto"  # ensemble, mc-dropout, none; auto: ensemble if the model has members, else mc-dropout
    mc_samples: int = 10  # forward passes per member with dropout on (mc-dropout)
    direction: str = "maximize"  # maximize or minimize the predicted value
    beta: float = 1.0  # ucb: mean + beta * std
    xi: float = 0.01  # ei: improvement required over the best training label
    seed: int = 0  # thompson, random, mc-dropout
    chunk_rows: int = 256  # molecules handed to a worker process at a time
    engine_partitions: int = (
        1  # embedded Sail's partitions per query for the job (0: one per core); see docs/scoring-and-lab.md
    )
    engine_memory_mb: int = 256  # embedded Sail's memory pool for the job: the ranking sort spills beyond it (0: none)
    slice_rows: int = 250_000  # pool molecules per scoring query where stored features are joined (the join holds one)
    coverage: float = 0.9  # of candidates' prediction_lower/upper (conformal; train reports its test coverage at it)


@dataclass(frozen=True)
class FilterOptions:
    """Medicinal-chemistry filters (:mod:`molpipe.chem.filters`): what scoring measures per candidate and the profile
    that ``candidates.passes_filters`` records and ``molpipe select`` applies by default."""

    profile: str = "drug-like"  # drug-like, lead-like, fragment or none
    alerts: str = "pains,brenk,nih"  # alert sets scoring matches (any of pains, brenk, nih, zinc, chembl)
    smarts_file: str = ""  # your own alerts, a CSV with name and smarts columns: matched in scoring, family "custom"


@dataclass(frozen=True)
class SelectOptions:
    """``molpipe select``: the lab batch."""

    k: int = 96
    diversity: str = "butina"  # butina, sphere, maxmin, scaffold or none (see molpipe.lab.diversity)
    similarity: float = 0.75  # butina/sphere: Tanimoto (Morgan) at which a candidate is too like a better one
    max_per_scaffold: int = 2  # picks sharing one Murcko scaffold (0: no cap)
    oversample: int = 10  # diversity picks from the k * oversample best-scored candidates that pass the filters


@dataclass(frozen=True)
class MonitorOptions:
    """When ``molpipe monitor`` calls a scoring run drifted from the model's training data and flags a retrain."""

    descriptors: str = "MolWt,MolLogP,TPSA,NumHDonors,NumHAcceptors,NumRotatableBonds,RingCount,FractionCSP3"
    bins: int = 10  # quantile bins of the reference distribution (plus one for missing values)
    psi_threshold: float = 0.2  # population stability index of any key descriptor above this: drift
    prediction_psi_threshold: float = 0.2  # PSI of the predictions against the model's held-out predictions
    ad_similarity: float = 0.35  # max Tanimoto to the training set below this: outside the applicability domain
    max_outside_ad: float = 0.5  # fraction of a run outside the applicability domain above this: drift
    reference_sample: int = 2000  # held-out molecules the model predicts to give the reference predictions
    min_molecules: int = 50  # fewer on either side: the measure is reported but never a reason to retrain


@dataclass(frozen=True)
class ServeOptions:
    """``molpipe serve``: the online prediction service (:mod:`molpipe.serve`)."""

    model: str = ""  # NAME@alias, NAME/version or NAME (the champion); --model overrides
    host: str = "127.0.0.1"  # loopback by default; 0.0.0.0 in the container
    port: int = 8000
    workers: int = 0  # prediction processes: 0 one per core; N > 1 a pool of N; 1 the server process itself
    threads: int = 8  # with workers = 1: prediction threads in the server process (RDKit releases the GIL)
    micro_batch: int = 1  # > 1: while every thread/worker is busy, waiting requests share calls of up to this many
    max_smiles_length: int = 2000  # characters per SMILES
    max_batch: int = 512  # SMILES per /predict/batch request
    max_body_bytes: int = 1_048_576  # request body
    max_concurrency: int = 64  # requests in flight before the server answers 503
    timeout_s: float = 30.0  # per request, from the body read to the answer
    poll_s: float = 30.0  # how often the registry is asked where the alias points; 0: never (no hot swap)
    auth_token_env: str = "MOLPIPE_SERVE_TOKEN"  # bearer auth is on when this variable holds a token...
    auth_token_file: str = ""  # ...or when this file (a mounted secret) does; the file wins
    cors_origins: str = ""  # comma-separated origins allowed by CORS; empty: CORS off
    log_smiles: bool = False  # SMILES may be proprietary: kept out of the logs unless asked for


@dataclass(frozen=True)
class MaintainOptions:
    """``molpipe maintain``: compaction and VACUUM of molpipe's Delta tables (:mod:`molpipe.lake.maintain`)."""

    retention_hours: int = 168  # files a newer version replaced stay this long (time travel, running jobs); 168-720
    history_entries: int = 10  # latest commits per table read before and after maintenance (it makes <= 4)
    tables_at_once: int = 4  # tables maintained concurrently: a Delta command mostly waits on planning and commit


@dataclass(frozen=True)
class ConcurrencyOptions:
    """Jobs that meet on the same tables or model (docs/data-and-tables.md#running-jobs-at-the-same-time)."""

    lock_wait_s: float = 600.0  # how long a job waits for another using its library, landing folder or model
    commit_retries: int = 8  # a Delta commit that a concurrent one made conflict is retried this many times...
    commit_backoff_s: float = 0.5  # ...after a random wait of up to this, doubled at each attempt (at most 30 s)


@dataclass(frozen=True)
class SparkServerOptions:
    """The Apache Spark Connect server molpipe starts itself for ``engine = "spark"`` (:mod:`molpipe.runtime.spark_server`)."""

    delta_version: str = "4.4.0"  # Delta Lake's jars (io.delta:delta-spark_<spark major.minor>_2.13), from Maven
    maven_repository: str = "https://repo1.maven.org/maven2/"  # where Ivy resolves them once (a mirror, if yours)
    jars_cache: str = ""  # resolved jars, shared by every home; empty: $XDG_CACHE_HOME/molpipe/spark (~/.cache/...)
    driver_memory: str = "2g"  # the server's JVM; with local[*] it also runs the tasks
    executor_memory: str = "1g"  # each executor JVM of local-cluster[...] or a standalone cluster
    # the driver's and executors' JVM flags: a job's many small queries each compile new code, and C2 compiling it
    # was a third of the server's CPU; 4x the JIT thresholds took 13 % less CPU (docs/engines.md)
    java_options: str = "-XX:CompileThresholdScaling=4"
    start_timeout_s: float = 600.0  # the first start resolves ~90 MB of jars
    conf: str = ""  # more Spark settings, "key=value,key=value"; they win over molpipe's


@dataclass(frozen=True)
class Settings:
    home: str = ".molpipe"  # local warehouse, MLflow store and staging area
    engine: str = "sail"  # sail: embedded, in-process; spark: an Apache Spark Connect server with Delta, started here
    spark_master: str = "local[*]"  # engine = spark: local[N], local-cluster[N,cores,MB] or spark://host:port
    spark_remote: str = ""  # sc://host:port of any Spark Connect server (wins over engine); on Databricks: its own
    catalog: str = ""  # Unity Catalog catalog; set on Databricks (tables become catalog.schema.name)
    schema: str = "molpipe"
    experiment: str = ""  # MLflow experiment for every run (the bundle's); empty: one per library and task
    workers: int = 0  # Python processes per UDF for chemistry; 0: every core with embedded Sail, 1 elsewhere
    udf_partitions: int = 0  # Spark engines: partitions a UDF's input is spread over; 0: a started server's task slots
    standardize: StandardizeOptions = field(default_factory=StandardizeOptions)
    ingest: IngestOptions = field(default_factory=IngestOptions)
    featurize: FeaturizeOptions = field(default_factory=FeaturizeOptions)
    split: SplitOptions = field(default_factory=SplitOptions)
    validation: ValidationOptions = field(default_factory=ValidationOptions)
    score: ScoreOptions = field(default_factory=ScoreOptions)
    filters: FilterOptions = field(default_factory=FilterOptions)
    select: SelectOptions = field(default_factory=SelectOptions)
    monitor: MonitorOptions = field(default_factory=MonitorOptions)
    serve: ServeOptions = field(default_factory=ServeOptions)
    maintain: MaintainOptions = field(default_factory=MaintainOptions)
    concurrency: ConcurrencyOptions = field(default_factory=ConcurrencyOptions)
    spark_server: SparkServerOptions = field(default_factory=SparkServerOptions)

    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser().resolve()

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


def load_settings(environ: typing.Mapping[str, str] | None = None, config_file: str | None = None) -> Settings:
    """Defaults, then the TOML file, then the environment."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = Path(config_file or environ.get("MOLPIPE_CONFIG") or "molpipe.toml")
    if path.is_file():
        with path.open("rb") as handle:
            try:
                values = tomllib.load(handle)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"config file {path}: not valid TOML ({exc})") from None
    elif config_file or environ.get("MOLPIPE_CONFIG"):
        raise FileNotFoundError(
            f"config file {path} {'is a folder' if path.is_dir() else 'does not exist'} (MOLPIPE_CONFIG)"
        )
    for key, raw in environ.items():
        if not key.startswith("MOLPIPE_") or key == "MOLPIPE_CONFIG":
            continue
        section, _, name = key[len("MOLPIPE_") :].lower().partition("__")
        if name:
            values.setdefault(section, {})[name] = raw
        else:
            values[section] = raw
    return _build(Settings, values, "")


def _build(cls: type, values: dict[str, Any], where: str):
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, raw in values.items():
        if key not in known:
            continue  # unrelated MOLPIPE_* variables (a user's own) are not ours to reject
        kind = hints[key]
        name = f"{where}{key}"
        if dataclasses.is_dataclass(kind):
            if not isinstance(raw, dict):
                raise ValueError(f"config: {name} is a section, not a value")
            kwargs[key] = _build(kind, raw, f"{name}.")
        else:
            kwargs[key] = _coerce(raw, kind, name)
    return cls(**kwargs)


def _coerce(raw: Any, kind: type, name: str) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        if kind is bool:
            if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"1", "true", "yes"}
        return kind(raw)
    except ValueError:
        raise ValueError(f"config: {name}={raw!r} is not a valid {kind.__name__} ({env_name(name)})") from None


def env_name(setting: str) -> str:
    """The environment variable of a setting: ``score.beta`` is ``MOLPIPE_SCORE__BETA``."""
    return "MOLPIPE_" + setting.upper().replace(".", "__")
