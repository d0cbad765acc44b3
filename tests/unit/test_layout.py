"""The tree reads as the pipeline: no import cycles between molpipe's modules (imports inside functions count too),
and a package imports only itself and the packages upstream of it."""

import ast
from pathlib import Path

import molpipe

ROOT = Path(molpipe.__file__).parent
# upstream first: a package may import only those before it (the top-level shims for pickled paths sit outside)
ORDER = (
    "config",
    "registries",
    "lake",
    "runtime",
    "chem",
    "ingest",
    "featurize",
    "split",
    "models",
    "registry",
    "train",
    "score",
    "lab",
    "monitor",
    "serve",
    "databricks",
    "cli",
)


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])]
                )
            out |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {module for module in out if module in known and module != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def test_no_import_cycles():
    graph = _graph()
    cycles, state = [], {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_packages_depend_only_upstream():
    def package(module: str) -> str:
        return module.split(".")[1] if "." in module else module

    upstream_violations = sorted(
        f"{name} imports {dependency}"
        for name, dependencies in _graph().items()
        if package(name) in ORDER
        for dependency in dependencies
        if package(dependency) in ORDER and ORDER.index(package(dependency)) > ORDER.index(package(name))
    )
    assert upstream_violations == []
    loose = sorted(path.name for path in ROOT.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "config.py", "predict.py", "pyfunc.py", "registries.py"]
