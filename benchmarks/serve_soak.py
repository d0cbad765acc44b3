"""Serving soak: ``molpipe serve`` under mixed valid and invalid requests for half an hour, its champion moved every
minute; no request may fail, memory must stay level, and the latency is reported minute by minute.

Setup (~2 min on 2 cores, not part of the soak): a temporary home whose sqlite registry holds two versions of one
fp-mlp (trained twice on tests/data/hiv_sample.csv, seeds 0 and 1: v1 ``champion``, v2 ``challenger``), and
``molpipe serve --model NAME@champion`` on a loopback port with its default configuration except ``--poll-s``
(5 s instead of 30, so that it follows each move within seconds). Every ``--move-every-s`` the champion moves to the
other version as a user moves it: ``molpipe promote --version 2 --force`` and ``molpipe rollback`` in turn (before
each promotion after the first, the ``challenger`` alias is pointed at v2 again, as a new training does; ``--force``
because models trained for seconds on a 1k-molecule sample are not meant to pass ``molpipe validate``: the gate is
not what is soaked). ``--concurrency`` closed-loop clients, each sending its next request when the last is answered,
draw for ``--minutes`` from this mix:

* ``single`` (55 %): a valid SMILES, ``POST /predict``: 200, a prediction, a known ``version`` (and the same in
  ``X-Model-Version``);
* ``batch`` (6 %): ``--batch-size`` SMILES, ``POST /predict/batch``, about one in ten invalid, empty or too long:
  200, each item valid or invalid as it should be, invalid ones with their reason;
* ``invalid`` (12 %): an unparsable or chemically impossible SMILES, ``POST /predict``: 422 with its reason
  (``unparsable``, ``sanitization_failed``, ...), the same reason every time;
* ``malformed`` (12 %): a body that is not JSON, not an object, has an unknown field, a number, an empty, too long
  or missing SMILES, text/plain, an empty or oversized list: 422 with a ``detail``;
* ``oversized`` (2 %): a body one byte over ``serve.max_body_bytes``: 413;
* ``probe`` (13 %): ``GET /health``, ``/ready`` (naming a known version) or ``/metrics``: 200.

The valid SMILES are the distinct molecules of the bundled MoleculeNet HIV library (the first ``--molecules`` of a
shuffle) that the served model answered valid in a warm-up pass, each version's predictions kept: the same molecule
answered by the same version must get the same prediction, so an answer that names one version but came from the
other is caught. A request **fails** on: a connection error or no answer within ``--timeout-s``, any 5xx, a status
other than its kind's, a body that is not what its kind expects, a prediction that names no or an unknown version or
disagrees with that version's earlier prediction, and an answer from the old version to a request sent after the
server had already answered from the new one (a stale swap). A move's swap lag runs from the registry saying the
alias has moved (the soak asks it every 0.25 s while the command runs) to the first answer from the new version;
it must be within ``--poll-s`` + ``--swap-margin-s``.

Prints a table per minute (requests, failures, p50/p99 latency of single predictions, p99 of batches and of all
requests; the median of the minute's memory samples, every ``--sample-s``, summed over the server's process tree:
RSS, PSS, anonymous PSS, and the server process's own RSS; the load average, the versions seen, the moves and their
swap lags), then totals, the moves, the memory trend (first and last minute, slope in MB/min over the run and over
its second half) and the verdict; ``--json`` prints one JSON object as the last line. Exit status 1 when a request
failed, a move could not be made, a swap was late, the server did not end on the champion, or the anonymous memory
(the heaps: PSS also moves with the other processes on the machine that map the same libraries) grew by more than
``--max-growth-mb-per-min`` over the second half of a run of at least 4 minutes. Loopback only, bounded in time
(the moves stop ``--poll-s`` + ``--swap-margin-s`` before the end); the server and the temporary home are removed at
the end, also on Ctrl-C or SIGTERM (``--keep`` keeps the home and the server's log).

    python benchmarks/serve_soak.py                                   # 30 min (+ ~2 min setup)
    python benchmarks/serve_soak.py --minutes 3 --move-every-s 20 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from serve import (
    INVALID,
    Connection,
    available_cores,
    environment,
    free_port,
    library_smiles,
    process_tree,
    start,
    stop,
    train_model,
)

MIX = {"single": 55, "batch": 6, "invalid": 12, "malformed": 12, "oversized": 2, "probe": 13}
JSON = "application/json"
# what an invalid SMILES may be rejected for: the chemistry's reasons, never the model's or a worker's failure
CHEMISTRY = {"empty", "unparsable", "sanitization_failed", "too_large", "standardization_failed", "inchi_failed"}
FAILURES = ("connection", "timeout", "5xx", "status", "body", "version", "inconsistent", "stale_version")


@dataclass(frozen=True)
class Planned:
    """One request to send and what its answer must be."""

    kind: str
    method: str
    path: str
    body: bytes = b""
    content_type: str = JSON
    expect: int = 200
    smiles: tuple[str, ...] = ()  # single, invalid, batch: the SMILES sent
    case: str = ""  # malformed and probe: which one


@dataclass(slots=True)
class Answer:
    kind: str
    sent: float  # seconds since the soak started
    answered: float
    status: int  # -1: no answer
    version: str | None  # the model version the answer names
    failure: str | None = None  # the failure's category (FAILURES), None for a good answer


@dataclass
class Move:
    """One move of the champion alias; times in seconds since the soak started."""

    at_s: float  # the command started
    moved_s: float | None  # the registry said the alias had moved (polled every 0.25 s)
    done_s: float  # the command exited
    command: str
    target: str
    previous: str
    ok: bool
    output: str = ""
    lag_s: float | None = None  # from moved_s to the first answer from target: the swap lag
    old_last_s: float | None = None  # from moved_s to the last answer from previous (requests already running)
    failures_around: int = 0  # failed requests from at_s to 5 s after the swap
    stale: int = 0  # answers from previous to requests sent after target had answered
    late: bool = False  # no answer from target within the deadline (or never)


@dataclass
class Soak:
    """Everything the clients, the mover and the sampler share."""

    port: int
    pid: int
    versions: tuple[str, str]
    t0: float
    deadline: float
    timeout_s: float
    answers: list[Answer] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)  # the first failures, in words
    samples: list[dict] = field(default_factory=list)  # memory and load, every --sample-s
    moves: list[Move] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def failed(self, answer: Answer, detail: str) -> None:
        if len(self.examples) < 20:
            self.examples.append(f"{answer.answered:.1f} s {answer.kind}: {detail[:300]}")


# --- what is sent and what must come back ------------------------------------------------------------------------


class Mix:
    """Draws the requests, and judges their answers against what each kind must get."""

    def __init__(self, *, pool: list[str], reasons: dict[str, str], versions, options, batch_size: int):
        self.pool = pool  # SMILES the model answered valid
        self.reasons = reasons  # invalid SMILES -> the reason they are rejected for
        self.versions = set(versions)
        self.batch_size = batch_size
        self.too_long = "C" * (options.max_smiles_length + 1)
        self.item_reasons = {**reasons, "": "empty", self.too_long: "too_long"}
        self.predictions: dict[tuple[str, str], float] = {}  # (version, SMILES) -> the prediction it first gave
        self.malformed = [
            ("not_json", "/predict", b'{"smiles": "CCO"', JSON),
            ("not_an_object", "/predict", b'["CCO"]', JSON),
            ("unknown_field", "/predict", b'{"smile": "CCO"}', JSON),
            ("missing", "/predict", b"{}", JSON),
            ("number", "/predict", b'{"smiles": 5}', JSON),
            ("empty", "/predict", b'{"smiles": ""}', JSON),
            ("too_long", "/predict", json.dumps({"smiles": self.too_long}).encode(), JSON),
            ("text_plain", "/predict", b"CCO", "text/plain"),
            ("batch_not_a_list", "/predict/batch", b'{"smiles": "CCO"}', JSON),
            ("batch_empty", "/predict/batch", b'{"smiles": []}', JSON),
            (
                "batch_too_many",
                "/predict/batch",
                json.dumps({"smiles": ["CCO"] * (options.max_batch + 1)}).encode(),
                JSON,
            ),
        ]
        # valid JSON, one byte over the limit: answered 413 from its Content-Length before the body is read
        padding = options.max_body_bytes + 1 - len(b'{"smiles": ""}')
        self.oversized = b'{"smiles": "' + b"C" * padding + b'"}'
        self.kinds, self.weights = list(MIX), list(MIX.values())

    def draw(self, rng: random.Random) -> Planned:
        kind = rng.choices(self.kinds, self.weights)[0]
        if kind == "single":
            smiles = rng.choice(self.pool)
            return Planned(kind, "POST", "/predict", json.dumps({"smiles": smiles}).encode(), smiles=(smiles,))
        if kind == "invalid":
            smiles = rng.choice(INVALID)
            body = json.dumps({"smiles": smiles}).encode()
            return Planned(kind, "POST", "/predict", body, expect=422, smiles=(smiles,))
        if kind == "batch":
            odd = [*INVALID, "", self.too_long]
            items = tuple(
                rng.choice(odd) if rng.random() < 0.1 else rng.choice(self.pool) for _ in range(self.batch_size)
            )
            return Planned(kind, "POST", "/predict/batch", json.dumps({"smiles": list(items)}).encode(), smiles=items)
        if kind == "malformed":
            case, path, body, content_type = rng.choice(self.malformed)
            return Planned(kind, "POST", path, body, content_type, expect=422, case=case)
        if kind == "oversized":
            return Planned(kind, "POST", "/predict", self.oversized, expect=413)
        route = rng.choice(["/health", "/ready", "/metrics"])
        return Planned(kind, "GET", route, case=route)

    def judge(self, planned: Planned, status: int, headers: dict[str, str], data: bytes) -> tuple[str | None, str]:
        """One answer: (failure category, what was wrong) if it fails, else (None, the version it names or "")."""
        try:
            return self._judge(planned, status, headers, data)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a body of another shape than the route's
            return "body", f"{type(exc).__name__}: {exc}: {data[:200]!r}"

    def _judge(self, planned: Planned, status: int, headers: dict[str, str], data: bytes) -> tuple[str | None, str]:
        if status >= 500:
            return "5xx", f"{status} {data[:200]!r}"
        if status != planned.expect:
            return "status", f"{status}, expected {planned.expect}: {planned.case} {data[:200]!r}"
        if planned.case == "/metrics":
            ok = b"molpipe_serve_requests_total" in data
            return (None, "") if ok else ("body", "no molpipe_serve_requests_total")
        try:
            body = json.loads(data)
        except ValueError:
            return "body", f"not JSON: {data[:200]!r}"
        if planned.kind in ("malformed", "oversized"):
            ok = isinstance(body, dict) and isinstance(body.get("detail"), str) and body["detail"]
            return (None, "") if ok else ("body", f"no detail: {body}")
        if planned.case == "/health":
            return (None, "") if body == {"status": "ok"} else ("body", f"{body}")
        version = body.get("version")
        if version not in self.versions:
            return "version", f"names version {version!r}, not one of {sorted(self.versions)}"
        if planned.case == "/ready":
            return (None, version) if body.get("ready") is True else ("body", f"{body}")
        if headers.get("x-model-version") != version:
            return "version", f"X-Model-Version {headers.get('x-model-version')!r} but the body names {version!r}"
        if planned.kind == "invalid":
            reason = self.reasons[planned.smiles[0]]
            if body.get("reason") != reason or not str(body.get("detail", "")).startswith(f"{reason}:"):
                return "body", f"{planned.smiles[0]!r}: expected reason {reason!r}, got {body}"
            return None, version
        if planned.kind == "single":
            return self._prediction(version, planned.smiles[0], body.get("prediction"))
        results = body.get("results") or []
        if body.get("n") != len(planned.smiles) or len(results) != len(planned.smiles):
            return "body", f"{len(planned.smiles)} SMILES sent, n={body.get('n')}, {len(results)} results"
        for item, smiles in zip(results, planned.smiles):
            if item.get("smiles") != smiles:
                return "body", f"item {item.get('index')} is for another SMILES"
            reason = self.item_reasons.get(smiles)
            if reason is None:
                failure = self._prediction(version, smiles, item.get("prediction") if item.get("valid") else None)
                if failure[0]:
                    return failure
            elif item.get("valid") or not str(item.get("error", "")).startswith(f"{reason}:"):
                return "body", f"item {item.get('index')}: expected error {reason!r}, got {item}"
        return None, version

    def _prediction(self, version: str, smiles: str, value) -> tuple[str | None, str]:
        if not isinstance(value, float):
            return "body", f"a valid SMILES without a prediction ({value!r})"
        first = self.predictions.setdefault((version, smiles), value)
        if not math.isclose(value, first, rel_tol=1e-4, abs_tol=1e-6):
            return "inconsistent", f"v{version} predicted {value} for a SMILES it answered {first} before"
        return None, version


async def warm_up(port: int, smiles: list[str], mix_versions, timeout_s: float) -> tuple[list[str], dict, dict]:
    """The SMILES the model answers valid (and its predictions of them), and each invalid one's reason."""
    connection = Connection(port)
    pool, predictions, reasons = [], {}, {}
    try:
        for i in range(0, len(smiles), 200):
            body = json.dumps({"smiles": smiles[i : i + 200]}).encode()
            status, _, data = await asyncio.wait_for(connection.request("POST", "/predict/batch", body), timeout_s)
            if status != 200:
                raise RuntimeError(f"warm-up batch answered {status}: {data[:300]!r}")
            answer = json.loads(data)
            for item in answer["results"]:
                if item["valid"]:
                    pool.append(item["smiles"])
                    predictions[(answer["version"], item["smiles"])] = item["prediction"]
        for each in INVALID:
            status, _, data = await connection.request("POST", "/predict", json.dumps({"smiles": each}).encode())
            answer = json.loads(data)
            if status != 422 or answer.get("reason") not in CHEMISTRY or answer.get("version") not in mix_versions:
                raise RuntimeError(f"{each!r} answered {status} {answer}, not 422 with a chemistry reason")
            reasons[each] = answer["reason"]
    finally:
        await connection.close()
    return pool, predictions, reasons


# --- the soak ----------------------------------------------------------------------------------------------------


async def client(index: int, soak: Soak, mix: Mix, seed: int) -> None:
    rng = random.Random(seed * 1_000 + index)
    connection = Connection(soak.port)
    try:
        while time.monotonic() < soak.deadline:
            planned = mix.draw(rng)
            sent = soak.now()
            status = -1
            try:
                status, headers, data = await asyncio.wait_for(
                    connection.request(planned.method, planned.path, planned.body, planned.content_type), soak.timeout_s
                )
            except TimeoutError:
                failure, detail = "timeout", f"no answer within {soak.timeout_s:g} s"
                await connection.close()
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:  # no HTTP answer
                failure, detail = "connection", f"{type(exc).__name__}: {exc}"
                await connection.close()
            else:
                failure, detail = mix.judge(planned, status, headers, data)
            answer = Answer(planned.kind, sent, soak.now(), status, None if failure else (detail or None), failure)
            soak.answers.append(answer)
            if failure:
                soak.failed(answer, f"{failure}: {detail}")
    finally:
        await connection.close()


def memory_mb(pid: int) -> dict:
    """RSS, PSS and anonymous PSS (MB) summed over the server's process tree (the server, its forkserver and the
    prediction workers of the model or models loaded), the server process's own RSS, and how many processes there
    are. PSS shares the libraries' pages with every process on the machine that maps them (others' torch and
    RDKit too), so it moves with them; the anonymous part (the heaps) is shared only within the tree."""
    rss = pss = anon = main = 0
    has_pss = True
    tree = process_tree(pid)
    for p in tree:
        try:
            kb = _kb(Path(f"/proc/{p}/status").read_text(), "VmRSS:")
        except OSError:
            continue
        rss += kb
        main += kb if p == pid else 0
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            has_pss = False
            continue
        pss += _kb(rollup, "Pss:")
        anon += _kb(rollup, "Pss_Anon:")
    return {
        "rss_mb": rss / 1024,
        "pss_mb": pss / 1024 if has_pss else None,
        "anon_mb": anon / 1024 if has_pss else None,
        "main_rss_mb": main / 1024,
        "processes": len(tree),
    }


def _kb(text: str, key: str) -> int:
    match = re.search(rf"^{key}\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


async def sampler(soak: Soak, every_s: float) -> None:
    while time.monotonic() < soak.deadline:
        memory = await asyncio.to_thread(memory_mb, soak.pid)
        soak.samples.append({"t": soak.now(), **memory, "load_1m": os.getloadavg()[0]})
        await asyncio.sleep(every_s)


class Registry:
    """The soak's own registry calls (the moves themselves are ``molpipe`` commands): what a new training does,
    pointing ``challenger`` at a version, and where ``champion`` points."""

    def __init__(self, home: Path, name: str):
        import mlflow

        store = f"sqlite:///{home / 'mlflow.db'}"
        self.client = mlflow.MlflowClient(tracking_uri=store, registry_uri=store)
        self.name = name
        self.champion()  # connect now, not during the soak

    def challenge(self, version: str) -> None:
        self.client.set_registered_model_alias(self.name, "challenger", version)

    def champion(self) -> str:
        return str(self.client.get_model_version_by_alias(self.name, "champion").version)


async def mover(soak: Soak, *, name: str, env: dict[str, str], every_s: float, last_s: float, registry) -> None:
    """Move the champion every ``every_s`` (the last move by ``last_s``), promote and rollback in turn."""
    first, second = soak.versions
    current = first
    for k in range(1, int(last_s // every_s) + 1):
        await asyncio.sleep(max(0.0, soak.t0 + k * every_s - time.monotonic()))
        at = soak.now()
        target = second if current == first else first
        if current == first:
            command = ["promote", "--model", name, "--version", second, "--force", "--json"]
        else:
            command = ["rollback", "--model", name, "--json"]
        watch = asyncio.create_task(alias_moved(soak, registry, target))
        try:
            if current == first and k > 1:  # the last promotion deleted the alias: point it at v2 again
                await asyncio.to_thread(registry.challenge, second)
            ok, output = await molpipe_command(command, env)
            moved = await asyncio.wait_for(watch, 10) if ok else None
        except Exception as exc:  # noqa: BLE001 (a move that could not be made is reported, the soak goes on)
            ok, output, moved = False, f"{type(exc).__name__}: {exc}", None
        finally:
            watch.cancel()
        tail = output.strip().splitlines()[-1:] or [""]
        move = Move(at, moved, soak.now(), f"molpipe {' '.join(command)}", target, current, ok, tail[0][-300:])
        soak.moves.append(move)
        print(
            f"[{soak.now():7.1f} s] molpipe {command[0]} -> v{target}: {'ok' if ok else 'FAILED ' + tail[0][-300:]}",
            file=sys.stderr,
        )
        if ok:
            current = target


async def alias_moved(soak: Soak, registry, target: str, every_s: float = 0.25) -> float:
    """When the registry first says the champion is ``target``."""
    while True:
        try:
            if await asyncio.to_thread(registry.champion) == target:
                return soak.now()
        except Exception:  # noqa: BLE001 (the registry busy with the command's own writes: ask again)
            pass
        await asyncio.sleep(every_s)


async def molpipe_command(command: list[str], env: dict[str, str], timeout_s: float = 120) -> tuple[bool, str]:
    """Run ``molpipe COMMAND``: (exit status 0, its output)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "molpipe",
        *command,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        return False, f"timed out after {timeout_s:g} s"
    return process.returncode == 0, output.decode(errors="replace")


async def reporter(soak: Soak, minutes: int) -> None:
    """A progress line on stderr at the end of every minute."""
    for minute in range(minutes):
        await asyncio.sleep(max(0.0, soak.t0 + 60 * (minute + 1) + 1 - time.monotonic()))
        row = minute_row(minute, soak, minutes)
        print(
            f"[{soak.now():7.1f} s] minute {minute + 1}: {row['requests']} requests, {row['failures']} failed, "
            f"single p99 {row['single_p99_ms']} ms, RSS {row['rss_mb']} MB, anon {row['anon_mb']} MB, "
            f"versions {row['versions']}, load {row['load_1m']}",
            file=sys.stderr,
        )


async def soak_run(soak: Soak, mix: Mix, args, *, name: str, env: dict[str, str], registry) -> None:
    tasks = [asyncio.create_task(sampler(soak, args.sample_s)), asyncio.create_task(reporter(soak, args.minutes))]
    last_move = args.minutes * 60 - args.poll_s - args.swap_margin_s
    tasks.append(
        asyncio.create_task(
            mover(soak, name=name, env=env, every_s=args.move_every_s, last_s=last_move, registry=registry)
        )
    )
    try:
        await asyncio.gather(*(client(i, soak, mix, args.seed) for i in range(args.concurrency)))
        await asyncio.wait_for(tasks[2], 180)  # a move still running
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- the report --------------------------------------------------------------------------------------------------


def percentile_ms(seconds: list[float], q: float) -> float | None:
    return round(float(np.percentile(seconds, q)) * 1000, 1) if seconds else None


def minute_row(minute: int, soak: Soak, minutes: int) -> dict:
    """One minute's figures: the answers that came back in it (the last minute also takes those drained after the
    end), the memory samples taken in it (their median: a swap's moment with two models loaded is not the level)."""
    lo, hi = 60 * minute, 60 * (minute + 1) if minute < minutes - 1 else math.inf
    answers = [a for a in soak.answers if lo <= a.answered < hi]
    latency = {kind: [a.answered - a.sent for a in answers if a.kind == kind and not a.failure] for kind in MIX}
    samples = [s for s in soak.samples if lo <= s["t"] < hi]

    def median(key: str) -> float | None:
        values = [s[key] for s in samples if s[key] is not None]
        return round(float(np.median(values))) if values else None

    moves = [m for m in soak.moves if lo <= m.at_s < hi]
    return {
        "minute": minute + 1,
        "requests": len(answers),
        "by_kind": dict(Counter(a.kind for a in answers)),
        "failures": sum(1 for a in answers if a.failure),
        "single_p50_ms": percentile_ms(latency["single"], 50),
        "single_p99_ms": percentile_ms(latency["single"], 99),
        "batch_p99_ms": percentile_ms(latency["batch"], 99),
        "all_p99_ms": percentile_ms([a.answered - a.sent for a in answers if not a.failure], 99),
        "rss_mb": median("rss_mb"),
        "rss_max_mb": round(max(s["rss_mb"] for s in samples)) if samples else None,
        "pss_mb": median("pss_mb"),
        "anon_mb": median("anon_mb"),
        "main_rss_mb": median("main_rss_mb"),
        "processes": median("processes"),
        "load_1m": round(float(np.mean([s["load_1m"] for s in samples])), 2) if samples else None,
        "versions": sorted({a.version for a in answers if a.version}, key=int),
        "moves": [f"v{m.target} +{m.lag_s:.1f} s" if m.lag_s is not None else f"v{m.target} NOT SEEN" for m in moves],
    }


def judge_swaps(soak: Soak, *, end_s: float, deadline_s: float) -> None:
    """Each move's swap lag, the old version's last answer, the failures around it, and its stale answers.

    Until the server swaps, the previous version is the current one, so the first answer from the target to a
    request sent after the move's command started marks the swap (an answer from the target to an older request
    may be one from before the previous move, still running). A request sent after that answer came back must get
    the target: an answer from the previous version to it is stale, a failure. A move whose previous one had not
    been followed before it started cannot be told apart from it, and counts as late."""
    made = [m for m in soak.moves if m.ok]
    swapped_at = -math.inf  # the previous move's first answer from its target
    for move, after in zip(made, [*made[1:], None]):
        until = after.at_s if after else end_s
        sent = [a for a in soak.answers if move.at_s < a.sent < until and a.version]
        first_new = min((a.answered for a in sent if a.version == move.target), default=None)
        if first_new is None or swapped_at >= move.at_s:
            move.late, swapped_at = True, math.inf
            continue
        swapped_at = first_new
        since = move.moved_s if move.moved_s is not None else move.done_s
        move.lag_s = round(first_new - since, 2)
        move.late = move.lag_s > deadline_s
        old = [a.answered for a in soak.answers if a.version == move.previous and move.at_s < a.answered < until]
        move.old_last_s = round(max(old) - since, 2) if old else None
        for a in sent:
            if a.version == move.previous and a.sent > first_new:
                a.failure, a.version = "stale_version", None
                move.stale += 1
                soak.failed(a, f"stale_version: v{move.previous} answered after v{move.target} had")
        move.failures_around = sum(1 for a in soak.answers if a.failure and move.at_s <= a.answered <= first_new + 5)


def slope_mb_per_min(rows: list[dict], key: str) -> float | None:
    points = [(r["minute"], r[key]) for r in rows if r[key] is not None]
    if len(points) < 2:
        return None
    x, y = zip(*points)
    return round(float(np.polyfit(x, y, 1)[0]), 2)


def metric_values(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric in a Prometheus text exposition."""
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, _, value = line.rpartition(" ")
            found[key[len(name) :]] = float(value)
    return found


def server_log(log: Path) -> dict:
    """What the server's own log says: each swap's load time, and its error lines."""
    swaps, errors, refresh_failures = [], [], 0
    with log.open(errors="replace") as lines:
        for line in lines:
            if not line.startswith("{"):
                if "Traceback" in line:
                    errors.append(line.strip()[:300])
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "model_swap":
                swaps.append(entry.get("load_s"))
            elif entry.get("event") == "model_refresh_failed":
                refresh_failures += 1
            if entry.get("level") in ("error", "critical") and len(errors) < 10:
                errors.append(f"{entry.get('message')}: {str(entry.get('error') or entry.get('exception', ''))[:300]}")
    return {"swap_load_s": swaps, "refresh_failures": refresh_failures, "error_lines": errors}


MEMORY = {"rss_mb": "RSS", "pss_mb": "PSS", "anon_mb": "anonymous PSS", "main_rss_mb": "the server process's RSS"}


def trend(rows: list[dict], key: str) -> dict:
    """One memory measure over the run: first and last minute, slope over all minutes and over the second half."""
    half = rows[len(rows) // 2 :]
    return {
        "first_mb": rows[0][key] if rows else None,
        "last_mb": rows[-1][key] if rows else None,
        "slope_mb_per_min": slope_mb_per_min(rows, key),
        "second_half_slope_mb_per_min": slope_mb_per_min(half, key) if len(rows) >= 4 else None,
    }


def report_of(soak: Soak, args, *, setup: dict, end_metrics: str, ready: dict, log: dict) -> dict:
    rows = [minute_row(m, soak, args.minutes) for m in range(args.minutes)]
    failures = Counter(a.failure for a in soak.answers if a.failure)
    single_p99 = [r["single_p99_ms"] for r in rows if r["single_p99_ms"] is not None]
    memory = {key: trend(rows, key) for key in MEMORY}
    # judged on the heaps (a leak grows them); PSS also moves with other processes mapping the same libraries
    judged = "anon_mb" if all(r["anon_mb"] is not None for r in rows) else "rss_mb"
    growth = memory[judged]["second_half_slope_mb_per_min"]
    lags = [m.lag_s for m in soak.moves if m.lag_s is not None]
    loads = [s["load_1m"] for s in soak.samples]
    statuses = Counter(str(a.status) for a in soak.answers)
    passed = {
        "server_ran_throughout": setup["server_exit_status"] is None,
        "no_failed_request": not failures,
        "every_move_made": all(m.ok for m in soak.moves),
        "every_swap_in_time": not any(m.late for m in soak.moves),
        "memory_level": None if growth is None else growth <= args.max_growth_mb_per_min,
        "server_ended_on_the_champion": ready.get("version") == setup["champion_at_end"],
    }
    return {
        "minutes": args.minutes,
        "concurrency": args.concurrency,
        "move_every_s": args.move_every_s,
        "poll_s": args.poll_s,
        "swap_deadline_s": args.poll_s + args.swap_margin_s,
        "batch_size": args.batch_size,
        "cores": len(os.sched_getaffinity(0)),
        "available_cores": setup["available_cores"],
        "load_1m": {
            "before": setup["load_before"],
            "mean": round(float(np.mean(loads)), 2) if loads else None,
            "max": round(max(loads), 2) if loads else None,
        },
        "setup": {k: v for k, v in setup.items() if k not in ("available_cores", "load_before")},
        "requests": len(soak.answers),
        "requests_per_s": round(len(soak.answers) / (args.minutes * 60), 1),
        "by_kind": dict(Counter(a.kind for a in soak.answers)),
        "statuses": dict(sorted(statuses.items())),
        "failures": sum(failures.values()),
        "failures_by_kind": dict(Counter(a.kind for a in soak.answers if a.failure)),
        "failures_by_category": {category: failures[category] for category in FAILURES if failures[category]},
        "failure_examples": soak.examples,
        "single_p99_ms_range": [min(single_p99), max(single_p99)] if single_p99 else None,
        "moves": [asdict(m) for m in soak.moves],
        "swap_lag_s": {"min": min(lags), "median": float(np.median(lags)), "max": max(lags)} if lags else None,
        "memory": {
            **memory,
            "judged_on": judged,
            "max_growth_mb_per_min": args.max_growth_mb_per_min,
            "peak_rss_mb": max((r["rss_max_mb"] for r in rows if r["rss_max_mb"] is not None), default=None),
        },
        "server": {
            "swaps_total": sum(metric_values(end_metrics, "molpipe_serve_model_swaps_total").values()),
            "load_failures_total": sum(metric_values(end_metrics, "molpipe_serve_model_load_failures_total").values()),
            "ready_at_end": ready,
            **log,
        },
        "per_minute": rows,
        "verdict": passed,
        "passed": all(v is not False for v in passed.values()),
    }


def format_report(report: dict) -> str:
    load, memory, free = report["load_1m"], report["memory"], report["available_cores"]
    lines = [
        (
            f"serving soak: {report['minutes']} min, {report['concurrency']} closed-loop clients, champion moved every "
            f"{report['move_every_s']:g} s, poll {report['poll_s']:g} s; {report['cores']} cores, {free['before']} / "
            f"{free['after']} available (before / after), 1-min load {load['before']} before, {load['mean']} mean, "
            f"{load['max']} max during"
        ),
        "latency in ms (single: valid single SMILES); memory in MB, the minute's median, summed over the server's "
        "process tree (anon: anonymous PSS; main: the server process)",
        (
            f"{'min':>3} {'requests':>8} {'failed':>6} {'single p50':>10} {'p99':>6} {'batch p99':>9} {'all p99':>7} "
            f"{'RSS':>6} {'PSS':>5} {'anon':>5} {'main':>5} {'load':>5}  {'versions':<8} moves (swap lag)"
        ),
    ]

    def number(value, width: int) -> str:
        return f"{'-' if value is None else f'{value:,.0f}':>{width}}"

    for r in report["per_minute"]:
        load_1m = "-" if r["load_1m"] is None else f"{r['load_1m']:.2f}"
        lines.append(
            f"{r['minute']:>3} {r['requests']:>8,} {r['failures']:>6} {number(r['single_p50_ms'], 10)} "
            f"{number(r['single_p99_ms'], 6)} {number(r['batch_p99_ms'], 9)} {number(r['all_p99_ms'], 7)} "
            f"{number(r['rss_mb'], 6)} {number(r['pss_mb'], 5)} {number(r['anon_mb'], 5)} "
            f"{number(r['main_rss_mb'], 5)} {load_1m:>5}  {','.join(r['versions']):<8} {', '.join(r['moves'])}"
        )
    lags = report["swap_lag_s"]
    server = report["server"]
    moves = report["moves"]
    lines += [
        (
            f"requests: {report['requests']:,} ({report['requests_per_s']}/s) "
            + ", ".join(f"{k} {v:,}" for k, v in report["by_kind"].items())
            + f"; statuses {report['statuses']}"
        ),
        (
            f"failed: {report['failures']}"
            + (f" {report['failures_by_category']} by kind {report['failures_by_kind']}" if report["failures"] else "")
        ),
        *(f"  {example}" for example in report["failure_examples"][:10]),
        (
            f"moves: {len(moves)}, {sum(m['ok'] for m in moves)} made; swap lag "
            + (f"{lags['min']:.1f} / {lags['median']:.1f} / {lags['max']:.1f} s (min / median / max)" if lags else "-")
            + f" against {report['swap_deadline_s']:g} s, {sum(m['late'] for m in moves)} late, "
            f"{sum(m['stale'] for m in moves)} stale answers; the commands took "
            f"{_span([m['done_s'] - m['at_s'] for m in moves])} s"
        ),
        (
            f"server: {server['swaps_total']:.0f} swaps, {server['load_failures_total']:.0f} load failures, swap load "
            f"{_span(server['swap_load_s'])} s, {len(server['error_lines'])} error lines; ended on "
            f"v{server['ready_at_end'].get('version')}"
        ),
        *(
            f"memory, {label}: {m['first_mb']} -> {m['last_mb']} MB, slope {m['slope_mb_per_min']} MB/min (second "
            f"half {m['second_half_slope_mb_per_min']})"
            for key, label in MEMORY.items()
            for m in [memory[key]]
        ),
        (
            f"memory judged on {MEMORY[memory['judged_on']]}: second-half slope at most "
            f"{memory['max_growth_mb_per_min']:g} MB/min; peak RSS {memory['peak_rss_mb']} MB"
        ),
        (
            f"single p99 per minute {report['single_p99_ms_range']} ms; verdict: "
            + ", ".join(f"{k} {'-' if v is None else 'yes' if v else 'NO'}" for k, v in report["verdict"].items())
            + f" -> {'PASSED' if report['passed'] else 'FAILED'}"
        ),
    ]
    return "\n".join(lines)


def _span(values: list) -> str:
    values = [v for v in values if v is not None]
    return f"{min(values):.1f}-{max(values):.1f}" if values else "-"


# --- the run -----------------------------------------------------------------------------------------------------


def get(port: int, path: str) -> tuple[int, bytes]:
    async def once():
        connection = Connection(port)
        try:
            status, _, data = await connection.request("GET", path)
            return status, data
        finally:
            await connection.close()

    return asyncio.run(once())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=30, help="how long the load runs (default 30)")
    parser.add_argument("--move-every-s", type=float, default=60.0, help="seconds between champion moves")
    parser.add_argument("--poll-s", type=float, default=5.0, help="molpipe serve --poll-s (its default is 30)")
    parser.add_argument("--swap-margin-s", type=float, default=30.0, help="a swap may take --poll-s + this")
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop clients")
    parser.add_argument("--batch-size", type=int, default=16, help="SMILES per batch request")
    parser.add_argument("--molecules", type=int, default=2_000, help="library SMILES tried for the valid pool")
    parser.add_argument("--timeout-s", type=float, default=60.0, help="a request with no answer by then failed")
    parser.add_argument("--sample-s", type=float, default=5.0, help="seconds between memory samples")
    parser.add_argument("--max-growth-mb-per-min", type=float, default=2.0, help="memory slope allowed (second half)")
    parser.add_argument("--model", default="hiv_fp_serve_soak", help="registered model name")
    parser.add_argument("--seed", type=int, default=0, help="of the request mix")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home and the server's log")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()

    from molpipe.config import ServeOptions

    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM cleans up as Ctrl-C does
    work = Path(tempfile.mkdtemp(prefix="molpipe-serve-soak-"))
    home, log = work / "home", work / "serve.log"
    server = None
    try:
        started = time.monotonic()
        versions = train_model(home, args.model, seeds=(0, 1))
        print(
            f"trained {args.model} v{versions[0]} (champion), v{versions[1]} (challenger) in "
            f"{time.monotonic() - started:.0f} s",
            file=sys.stderr,
        )
        env = {**environment(home), "TMPDIR": str(work / "tmp")}  # the server's model downloads, removed with work
        (work / "tmp").mkdir()
        registry = Registry(home, args.model)
        port = free_port()
        flags = f"--model {args.model}@champion --host 127.0.0.1 --port {port} --poll-s {args.poll_s:g}"
        command = [sys.executable, "-m", "molpipe", "serve", *flags.split()]
        started = time.monotonic()
        server = start(command, env, f"http://127.0.0.1:{port}/ready", log)
        print(f"molpipe serve ready in {time.monotonic() - started:.0f} s; warming up", file=sys.stderr)
        options = ServeOptions()
        pool, predictions, reasons = asyncio.run(
            warm_up(port, library_smiles(args.molecules, seed=args.seed), versions, options.timeout_s * 4)
        )
        mix = Mix(pool=pool, reasons=reasons, versions=versions, options=options, batch_size=args.batch_size)
        mix.predictions.update(predictions)
        setup = {
            "versions": versions,
            "valid_pool": len(pool),
            "library_smiles_tried": args.molecules,
            "invalid_reasons": reasons,
            "server_command": " ".join(command[2:]),
            "load_before": round(os.getloadavg()[0], 2),
            "available_cores": {"before": available_cores()},
        }
        t0 = time.monotonic()
        soak = Soak(port, server.pid, tuple(versions), t0, t0 + args.minutes * 60, args.timeout_s)
        asyncio.run(soak_run(soak, mix, args, name=args.model, env=env, registry=registry))
        end_s = soak.now()
        judge_swaps(soak, end_s=end_s, deadline_s=args.poll_s + args.swap_margin_s)
        setup["available_cores"]["after"] = available_cores()
        made = [m for m in soak.moves if m.ok]
        setup["champion_at_end"] = made[-1].target if made else versions[0]
        setup["server_exit_status"] = server.poll()  # None: still running, as it must be
        metrics_text, ready = b"", {}
        if server.poll() is None:
            _, metrics_text = get(port, "/metrics")
            status, ready_text = get(port, "/ready")
            ready = {k: json.loads(ready_text).get(k) for k in ("model", "version", "alias")} if status == 200 else {}
        stop(server)
        server = None
        report = report_of(soak, args, setup=setup, end_metrics=metrics_text.decode(), ready=ready, log=server_log(log))
    except KeyboardInterrupt:
        print("interrupted: no report", file=sys.stderr)
        return 130
    finally:
        if server is not None:
            stop(server)
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(format_report(report))
    if args.json:
        print(json.dumps(report))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
