"""Online serving: ``molpipe serve`` against ``mlflow models serve --env-manager local``, same model, same run.

The servers run on loopback on the same registered model (the ``champion`` of a temporary sqlite registry: a
fp-mlp trained on tests/data/hiv_sample.csv in about a minute, or ``--home``/``--model`` of an existing store):
``mlflow models serve``, ``molpipe serve`` as configured by default (a worker process per core)
and ``molpipe serve --workers 1`` (in-process, ``--threads`` prediction threads; ``--no-threads-server`` skips
it). A bounded closed-loop load generator
(``--concurrency`` clients, each sending its next request when the last one is answered, until ``--seconds`` or
``--max-requests``) sends each the same SMILES stream, the servers taking ``--rounds`` interleaved turns so that a
change in the machine's load falls on all of them alike:

* ``single``: one SMILES per request (``POST /predict`` vs ``/invocations`` with one row);
* ``batch``: ``--batch-size`` SMILES per request (``POST /predict/batch`` vs ``/invocations`` with that many rows);
* ``invalid``: as ``single`` with every tenth SMILES unparsable or chemically impossible; the molpipe server must
  answer those 422 and never 5xx.

SMILES are distinct molecules of the bundled MoleculeNet HIV library (41k), so nothing is answered from a cache.
Prints p50/p95/p99 latency, requests/s, molecules/s and the servers' CPU per molecule per server and scenario,
molpipe's ratios to MLflow, and how many cores the run could actually get (on a shared machine, fewer than it has).

    python benchmarks/serve.py                      # ~8 min on 2 cores
    python benchmarks/serve.py --seconds 30 --concurrency 16 --json
    python benchmarks/serve.py --concurrency 32 --no-threads-server   # a 16-core server: clients >= 2 x cores
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
INVALID = ["C1CC", "not a smiles", "CN(C)(C)(C)C", "c1cccc1", "C(C)(C)(C)(C)C", "[Xx]", "CC(", "N1=CC=CC=C1=N"]


@dataclass
class Result:
    server: str
    scenario: str
    requests: int
    molecules: int
    seconds: float  # the measurement windows, added up
    drain_seconds: float  # waiting for the answers outstanding at the ends of the windows
    statuses: dict[str, int]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    requests_per_s: float = 0.0
    molecules_per_s: float = 0.0
    server_5xx: int = 0
    transport_errors: int = 0
    server_cpu_ms_per_request: float = 0.0  # the server's processes, all cores: contention does not change it much
    server_cpu_ms_per_molecule: float = 0.0
    client_cpu_ms_per_request: float = 0.0


# --- the model ---------------------------------------------------------------------------------------------------


def train_model(home: Path, name: str, seeds: tuple[int, ...] = (0,)) -> list[str]:
    """Ingest, featurize, split tests/data/hiv_sample.csv and register a small fp-mlp as ``name@champion``; with
    more ``seeds``, one more version per seed (the last one ``name@challenger``). Returns the versions, in order."""
    from molpipe.config import load_settings
    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.ingest.job import ingest
    from molpipe.registry import lifecycle
    from molpipe.runtime.engine import session
    from molpipe.split.job import split
    from molpipe.train.job import TrainRequest, train
    from molpipe.train.loop import TrainConfig

    settings = load_settings(environ={}).replace(home=str(home), workers=1)
    with session(settings) as (_, catalog):
        ingest(catalog, path=ROOT / "tests" / "data" / "hiv_sample.csv", library="hiv", label_cols=["HIV_active"])
        featurize(catalog, library="hiv", featurizers=parse_featurizers("morgan,rdkit2d"), workers=1)
        split(catalog, library="hiv", method="random", seed=0)
        versions = []
        for seed in seeds:
            config = TrainConfig(
                model="fp-mlp", model_params={"hidden": 256}, epochs=5, batch_size=32, patience=5, seed=seed
            )
            versions.append(str(train(catalog, TrainRequest("hiv", name, num_processes=1), config).version))
            if len(versions) == 1:
                lifecycle.promote(name, force=True)
    return versions


def library_smiles(n: int, seed: int = 0) -> list[str]:
    with gzip.open(ROOT / "src" / "molpipe" / "data" / "hiv.csv.gz", "rt") as handle:
        lines = handle.read().splitlines()
    header = lines[0].split(",")
    column = header.index("smiles")
    smiles = list(dict.fromkeys(line.split(",")[column] for line in lines[1:]))
    random.Random(seed).shuffle(smiles)
    return smiles[:n]


# --- the servers -------------------------------------------------------------------------------------------------


def environment(home: Path) -> dict[str, str]:
    """This process's environment for a ``molpipe`` or ``mlflow`` command on ``home``'s sqlite registry, with this
    checkout's code and this interpreter's scripts."""
    store = f"sqlite:///{home / 'mlflow.db'}"
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "MOLPIPE_HOME": str(home),
        "MLFLOW_TRACKING_URI": store,
        "MLFLOW_REGISTRY_URI": store,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], env: dict[str, str], ready_url: str, log: Path, timeout_s: float = 300):
    process = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(ready_url, timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise TimeoutError(f"{ready_url} not ready in {timeout_s} s; see {log}")


def process_tree(pid: int) -> dict[int, list[str]]:
    """A process and every live descendant (a server's forkserver and worker pool): pid -> the fields of its
    ``/proc/<pid>/stat`` after the command name (``[1]`` the parent, ``[11]``/``[12]`` user/system ticks)."""
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            stats[int(stat.parent.name)] = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, fields in stats.items():
            if int(fields[1]) == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return {p: stats[p] for p in tree if p in stats}


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and every live descendant (a server's worker pool)."""
    ticks = os.sysconf("SC_CLK_TCK")
    return sum((int(fields[11]) + int(fields[12])) / ticks for fields in process_tree(pid).values())


def _spin(seconds: float) -> float:
    started, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        pass
    return time.process_time() - cpu


def available_cores(seconds: float = 2.0) -> float:
    """How many cores this run can actually get now: one busy process per core, CPU seconds they obtained over
    wall seconds. On a shared machine this is what every server below competes for (with the load generator)."""
    import multiprocessing

    n = len(os.sched_getaffinity(0))
    with multiprocessing.get_context("spawn").Pool(n) as pool:
        return round(sum(pool.map(_spin, [seconds] * n)) / seconds, 2)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- the load generator ------------------------------------------------------------------------------------------


class Connection:
    """A keep-alive HTTP/1.1 connection on asyncio streams: little client CPU, so the servers get the cores."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        status, _, data = await self.request("POST", path, body)
        return status, data

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on the connection (opened on first use): status, headers (lower-case names) and body."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        if method != "GET":
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        self.writer.write((head + "\r\n").encode() + body)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        if headers.get("transfer-encoding") == "chunked":
            data = b""
            while size := int((await self.reader.readline()).strip(), 16):
                data += await self.reader.readexactly(size + 2)
            await self.reader.readline()
        else:
            data = await self.reader.readexactly(int(headers.get("content-length", 0)))
        if headers.get("connection") == "close":
            await self.close()
        return status, headers, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def closed_loop(
    port: int, path: str, bodies: list[tuple[bytes, int]], concurrency: int, seconds: float, max_requests: int
) -> tuple:
    """Send ``bodies`` in order from ``concurrency`` clients until time or requests run out. Returns (latencies in
    s, statuses, molecules sent, elapsed s, window s, requests and molecules answered within the window); the
    window is the time given, or less when the requests ran out first: the answers still outstanding at its end
    (the drain) count for latency and CPU, not for throughput."""
    latencies: list[float] = []
    statuses: list[int] = []
    molecules = in_window = molecules_in_window = 0
    next_body = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def client() -> None:
        nonlocal next_body, molecules, in_window, molecules_in_window
        connection = Connection(port)
        while time.perf_counter() < deadline and next_body < min(max_requests, len(bodies)):
            body, n = bodies[next_body]
            next_body += 1
            sent = time.perf_counter()
            try:
                status, _ = await connection.post(path, body)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                status = -1
                await connection.close()
            answered = time.perf_counter()
            latencies.append(answered - sent)
            statuses.append(status)
            molecules += n
            if answered <= deadline:
                in_window += 1
                molecules_in_window += n
        await connection.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return latencies, statuses, molecules, elapsed, min(elapsed, seconds), in_window, molecules_in_window


def measured(pid: int, port: int, path: str, bodies, concurrency: int, seconds: float, max_requests: int):
    """:func:`closed_loop` plus the CPU seconds the server (and its workers) and this client spent on it."""
    server_before, client_before = tree_cpu_s(pid), time.process_time()
    outcome = asyncio.run(closed_loop(port, path, bodies, concurrency, seconds, max_requests))
    return (*outcome, tree_cpu_s(pid) - server_before, time.process_time() - client_before)


def summarize(server: str, scenario: str, rounds: list[tuple]) -> Result:
    """One result from the rounds of one server and scenario (latencies pooled, times and CPU added up)."""
    latencies = [x for r in rounds for x in r[0]]
    statuses = [x for r in rounds for x in r[1]]
    molecules, elapsed, window, in_window, molecules_in_window, server_cpu, client_cpu = (
        sum(r[i] for r in rounds) for i in range(2, 9)
    )
    ms = np.array(latencies) * 1000
    counts: dict[str, int] = {}
    for status in statuses:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return Result(
        server=server,
        scenario=scenario,
        requests=len(statuses),
        molecules=molecules,
        seconds=round(window, 2),
        drain_seconds=round(elapsed - window, 2),
        statuses=counts,
        p50_ms=round(float(np.percentile(ms, 50)), 1),
        p95_ms=round(float(np.percentile(ms, 95)), 1),
        p99_ms=round(float(np.percentile(ms, 99)), 1),
        max_ms=round(float(ms.max()), 1),
        requests_per_s=round(in_window / window, 1),
        molecules_per_s=round(molecules_in_window / window, 1),
        server_5xx=sum(1 for s in statuses if s >= 500),
        transport_errors=sum(1 for s in statuses if s < 0),
        server_cpu_ms_per_request=round(server_cpu * 1000 / len(statuses), 2),
        server_cpu_ms_per_molecule=round(server_cpu * 1000 / molecules, 2),
        client_cpu_ms_per_request=round(client_cpu * 1000 / len(statuses), 2),
    )


# --- the run -----------------------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    baseline: bool  # mlflow's /invocations

    def path(self, kind: str) -> str:
        return "/invocations" if self.baseline else ("/predict/batch" if kind == "batch" else "/predict")


def bodies_for(kind: str, smiles: list[str], batch_size: int, baseline: bool) -> list[tuple[bytes, int]]:
    def encode(items: list[str]) -> bytes:
        if baseline:
            return json.dumps({"dataframe_split": {"columns": ["smiles"], "data": [[s] for s in items]}}).encode()
        return json.dumps({"smiles": items if kind == "batch" else items[0]}).encode()

    size = batch_size if kind == "batch" else 1
    return [(encode(smiles[i : i + size]), size) for i in range(0, len(smiles) - size + 1, size)]


def start_servers(args, env: dict[str, str], work: Path) -> list[Server]:
    def molpipe(name: str, workers: int) -> Server:
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "molpipe",
            "serve",
            "--model",
            f"{args.model}@champion",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--threads",
            str(args.threads),
            "--micro-batch",
            str(args.micro_batch),
            "--poll-s",
            "0",
        ]
        limits = {"MOLPIPE_SERVE__MAX_CONCURRENCY": str(max(64, 4 * args.concurrency))}
        log = work / f"{name.replace(' ', '-')}.log"
        return Server(name, port, start(command, {**env, **limits}, f"http://127.0.0.1:{port}/ready", log), False)

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        f"models:/{args.model}@champion",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "--workers",
        str(args.baseline_workers),
    ]
    servers = [
        Server(
            "mlflow models serve",
            port,
            start(command, env, f"http://127.0.0.1:{port}/ping", work / "mlflow-serve.log"),
            True,
        )
    ]
    servers.append(molpipe("molpipe serve", args.workers))
    if args.threads_server:
        servers.append(molpipe("molpipe serve (threads)", 1))
    return servers


def run_scenario(scenario: str, smiles: list[str], servers: list[Server], args) -> list[Result]:
    """The servers take turns, ``--rounds`` short turns each in rotating order, so that a change in the machine's
    load during the run falls on every server alike; each turn starts at the same place of the SMILES stream."""
    kind = "batch" if scenario == "batch" else "single"
    bodies = {s.name: bodies_for(kind, smiles, args.batch_size, s.baseline) for s in servers}
    warm = 2 * args.concurrency
    for server in servers:  # the end of the stream, never reached by a timed turn: nothing is answered twice
        asyncio.run(
            closed_loop(server.port, server.path(kind), bodies[server.name][-warm:], args.concurrency, 120, warm)
        )
    rounds: dict[str, list[tuple]] = {s.name: [] for s in servers}
    offset = 0
    for turn in range(args.rounds):
        order = servers[turn % len(servers) :] + servers[: turn % len(servers)]
        consumed = 0
        for server in order:
            stream = bodies[server.name][offset:-warm]
            seconds = args.batch_seconds if kind == "batch" else args.seconds
            outcome = measured(
                server.process.pid,
                server.port,
                server.path(kind),
                stream,
                args.concurrency,
                seconds / args.rounds,
                args.max_requests // args.rounds,
            )
            rounds[server.name].append(outcome)
            consumed = max(consumed, len(outcome[1]))
        offset += consumed
    results = [summarize(s.name, scenario, rounds[s.name]) for s in servers]
    for result in results:
        print(json.dumps(asdict(result)), file=sys.stderr)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", help="an existing MOLPIPE_HOME whose registry holds --model (default: train one)")
    parser.add_argument("--model", default="hiv_fp_serve_bench", help="registered model name (served @champion)")
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="per server and scenario, over all rounds")
    parser.add_argument("--batch-seconds", type=float, default=40.0, help="the same for batch requests (slower)")
    parser.add_argument("--rounds", type=int, default=4, help="turns per server and scenario (interleaved)")
    parser.add_argument("--max-requests", type=int, default=20_000, help="per server and scenario")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0, help="molpipe serve --workers (default 0: one per core)")
    parser.add_argument("--threads", type=int, default=8, help="molpipe serve --threads (default 8)")
    parser.add_argument("--micro-batch", type=int, default=1, help="molpipe serve --micro-batch (default 1: off)")
    parser.add_argument(
        "--threads-server",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run molpipe serve --workers 1 (in-process, --threads threads)",
    )
    parser.add_argument("--baseline-workers", type=int, default=1, help="mlflow models serve --workers (default 1)")
    parser.add_argument("--scenarios", default="single,batch,invalid")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()

    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    work = Path(tempfile.mkdtemp(prefix="molpipe-serve-bench-"))
    home = Path(args.home).resolve() if args.home else work / "home"
    if not args.home:
        started = time.monotonic()
        train_model(home, args.model)
        print(f"trained and registered {args.model}@champion in {time.monotonic() - started:.0f} s", file=sys.stderr)
    env = environment(home)
    pool = library_smiles(200_000)
    servers = start_servers(args, env, work)
    load_before, cores_before = os.getloadavg()[0], available_cores()
    results: list[Result] = []
    try:
        offset = 0
        for scenario in args.scenarios.split(","):
            per_request = args.batch_size if scenario == "batch" else 1
            needed = (args.max_requests + 2 * args.concurrency) * per_request
            smiles = [pool[(offset + i) % len(pool)] for i in range(needed)]
            offset += needed
            if scenario == "invalid":
                smiles = [INVALID[(i // 10) % len(INVALID)] if i % 10 == 9 else s for i, s in enumerate(smiles)]
            results += run_scenario(scenario, smiles, servers, args)
    finally:
        for server in servers:
            stop(server.process)
    report = report_of(results, args, load_before, cores_before)
    print(format_report(report))
    if args.json:
        print(json.dumps(report))
    if not args.home:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report_of(results: list[Result], args, load_before: float, cores_before: float) -> dict:
    by = {(r.server, r.scenario): r for r in results}
    ratios = {}
    for scenario in args.scenarios.split(","):
        theirs = by.get(("mlflow models serve", scenario))
        for name in ("molpipe serve", "molpipe serve (threads)"):
            ours = by.get((name, scenario))
            if ours and theirs:
                ratios.setdefault(scenario, {})[name] = {
                    "throughput_ratio": round(ours.requests_per_s / theirs.requests_per_s, 2)
                    if theirs.requests_per_s
                    else None,
                    "p99_ratio": round(ours.p99_ms / theirs.p99_ms, 2),
                    "server_cpu_per_molecule_ratio": round(
                        ours.server_cpu_ms_per_molecule / theirs.server_cpu_ms_per_molecule, 2
                    ),
                    "molpipe_5xx": ours.server_5xx,
                }
    return {
        "cores": len(os.sched_getaffinity(0)),
        "load_average_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "available_cores": {"before": cores_before, "after": available_cores()},
        "concurrency": args.concurrency,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "threads": args.threads,
        "micro_batch": args.micro_batch,
        "baseline_workers": args.baseline_workers,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "batch_seconds": args.batch_seconds,
        "results": [asdict(r) for r in results],
        "ratios": ratios,
    }


def format_report(report: dict) -> str:
    load, free = report["load_average_1m"], report["available_cores"]
    lines = [
        (
            f"closed loop, {report['concurrency']} clients, {report['rounds']} interleaved turns of "
            f"{report['seconds'] / report['rounds']:g} s (batch {report['batch_seconds'] / report['rounds']:g} s) per "
            f"server and scenario; {report['cores']} cores, of which "
            f"{free['before']} / {free['after']} available (before / after; 1-min load {load['before']} / "
            f"{load['after']}); molpipe serve --workers {report['workers']} --threads {report['threads']} "
            f"--micro-batch {report['micro_batch']}, "
            f"mlflow models serve --workers {report['baseline_workers']}"
        ),
        (
            f"{'scenario':<10} {'server':<24} {'requests':>8} {'req/s':>8} {'mol/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
            f"{'p99 ms':>8} {'cpu ms/mol':>10}  statuses"
        ),
    ]
    for r in report["results"]:
        lines.append(
            f"{r['scenario']:<10} {r['server']:<24} {r['requests']:>8} {r['requests_per_s']:>8.1f} "
            f"{r['molecules_per_s']:>8.1f} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} "
            f"{r['server_cpu_ms_per_molecule']:>10.2f}  {r['statuses']}"
        )
        if r["requests"] and not r["requests_per_s"]:
            lines.append(
                f"  ^ no answer came back within a turn (p50 {r['p50_ms']:.0f} ms): lengthen the turns "
                "(--seconds, --batch-seconds) or lower --concurrency to measure its throughput"
            )
    for scenario, by_server in report["ratios"].items():
        for name, ratio in by_server.items():
            lines.append(
                f"{scenario}: {name} / mlflow: throughput {ratio['throughput_ratio']}x, p99 "
                f"{ratio['p99_ratio']:.2f}x, server CPU per molecule {ratio['server_cpu_per_molecule_ratio']:.2f}x, "
                f"5xx {ratio['molpipe_5xx']}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
