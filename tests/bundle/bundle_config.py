"""The Databricks Asset Bundle as the Databricks CLI would see it for one target, without a workspace.

What the CLI does and this does too: read ``databricks.yml`` and the files its ``include`` globs match; merge their
``resources``, ``variables`` and ``targets``; apply a target (its variables, ``run_as``, extra resources); resolve
``${var.*}``, ``${bundle.*}``, ``${workspace.*}`` and ``${resources.<type>.<key>.<field>}`` (failing on anything that
does not resolve); and take relative paths relative to the file that wrote them. What it does not do: talk to a
workspace, prefix names in development mode, or build the wheel.
"""

from __future__ import annotations

import copy
import glob
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REFERENCE = re.compile(r"\$\{([A-Za-z_][\w.\-\[\]]*)\}")
DYNAMIC = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")  # job run-time values: {{job.parameters.x}}, {{tasks.t.values.k}}
FAKE_USER = "someone@example.com"
FAKE_ID = 4242  # what ${resources.jobs.<key>.id} becomes (an id only exists once deployed)


@dataclass
class Bundle:
    root: Path
    files: list[Path]  # databricks.yml first, then the included files
    config: dict[str, Any]  # every file merged
    origin: dict[tuple[str, str], Path] = field(default_factory=dict)  # (resource type, key) -> file that defines it

    def target(self, name: str, cli_vars: dict[str, Any] | None = None) -> Target:
        """The bundle for one target; ``cli_vars`` are what ``--var name=value`` would give."""
        return Target.of(self, name, cli_vars or {})


def load(root: Path) -> Bundle:
    main = root / "databricks.yml"
    config = _read(main)
    files = [main]
    for pattern in config.get("include", []):
        files += sorted(Path(p) for p in glob.glob(str(root / pattern)))
    merged: dict[str, Any] = {}
    origin: dict[tuple[str, str], Path] = {}
    for path in files:
        part = _read(path)
        for kind, resources in (part.get("resources") or {}).items():
            for key in resources:
                if (kind, key) in origin:
                    raise ValueError(f"resources.{kind}.{key} is defined in {origin[(kind, key)]} and {path}")
                origin[(kind, key)] = path
        for kind, resources in _target_resources(part):
            for key in resources:
                origin.setdefault((kind, key), path)
        _merge(merged, part)
    return Bundle(root, files, merged, origin)


def _target_resources(part: dict[str, Any]):
    for target in (part.get("targets") or {}).values():
        yield from ((target or {}).get("resources") or {}).items()


def _read(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return yaml.safe_load(handle) or {}


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


@dataclass
class Target:
    bundle: Bundle
    name: str
    mode: str | None
    variables: dict[str, Any]
    resources: dict[str, dict[str, Any]]  # resolved
    run_as: dict[str, Any] | None
    workspace: dict[str, Any]

    @classmethod
    def of(cls, bundle: Bundle, name: str, cli_vars: dict[str, Any]) -> Target:
        config = bundle.config
        targets = config.get("targets") or {}
        if name not in targets:
            raise KeyError(f"no target {name!r}; targets: {', '.join(targets)}")
        target = targets[name] or {}
        variables = {}
        for key, spec in (config.get("variables") or {}).items():
            if key in cli_vars:
                variables[key] = cli_vars[key]
            elif key in (target.get("variables") or {}):
                override = target["variables"][key]
                variables[key] = (
                    override["default"] if isinstance(override, dict) and "default" in override else override
                )
            elif "default" in (spec or {}):
                variables[key] = spec["default"]
            else:
                raise ValueError(f"target {name}: no value assigned to required variable {key!r}")
        unknown = (set(target.get("variables") or {}) | set(cli_vars)) - set(config.get("variables") or {})
        if unknown:
            raise ValueError(f"target {name} sets undeclared variables {sorted(unknown)}")
        resources = copy.deepcopy(config.get("resources") or {})
        _merge(resources, target.get("resources") or {})
        workspace = {**(config.get("workspace") or {}), **(target.get("workspace") or {})}
        workspace.setdefault("current_user", {"userName": FAKE_USER, "short_name": "someone"})
        workspace.setdefault("root_path", f"/Workspace/Users/{FAKE_USER}/.bundle/{config['bundle']['name']}/{name}")
        self = cls(bundle, name, target.get("mode"), variables, {}, None, workspace)
        context = {
            "var": variables,
            "bundle": {"name": config["bundle"]["name"], "target": name},
            "workspace": workspace,
        }
        self.variables = _resolve(variables, context, "variables")
        context["var"] = self.variables
        context["workspace"] = _resolve(workspace, context, "workspace")
        # resources may refer to each other (names, ids): resolve their names first, then everything
        context["resources"] = {
            kind: {
                key: {"name": _resolve(spec.get("name"), context, f"resources.{kind}.{key}.name"), "id": FAKE_ID}
                for key, spec in items.items()
            }
            for kind, items in resources.items()
        }
        for kind, key, spec in _python_resources(bundle, name, self.variables):
            resources.setdefault(kind, {})[key] = spec
            context["resources"].setdefault(kind, {})[key] = {
                "name": _resolve(spec.get("name"), context, f"resources.{kind}.{key}.name"),
                "id": FAKE_ID,
            }
        self.resources = _resolve(resources, context, "resources")
        self.run_as = _resolve(target.get("run_as") or config.get("run_as"), context, "run_as")
        return self

    def path(self, kind: str, key: str, relative: str) -> Path:
        """A path written in a resource, as the CLI reads it: relative to the file that defines the resource."""
        return (self.bundle.origin[(kind, key)].parent / relative).resolve()


PYTHON_KINDS = ("jobs", "experiments", "registered_models", "model_serving_endpoints", "schemas", "volumes")


def _python_resources(bundle: Bundle, target: str, variables: dict[str, Any]):
    """What the ``python.resources`` functions add for this target (the CLI runs them with the target's variables)."""
    import importlib.util

    from databricks.bundles.core import Bundle as PythonBundle

    for reference in (bundle.config.get("python") or {}).get("resources", []):
        module_name, function = reference.split(":")
        path = bundle.root / f"{module_name.replace('.', '/')}.py"
        spec = importlib.util.spec_from_file_location(f"bundle_{module_name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        loaded = getattr(module, function)(PythonBundle(target=target, variables=variables))
        for kind in PYTHON_KINDS:
            for key, resource in getattr(loaded, kind).items():
                bundle.origin.setdefault((kind, key), path)
                yield kind, key, resource.as_dict()


def _resolve(value: Any, context: dict[str, Any], where: str) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, context, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, context, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    for _ in range(10):  # a variable's value may itself hold references
        whole = REFERENCE.fullmatch(value)
        if whole:  # a whole-string reference keeps its type (a number, a complex variable)
            found = _lookup(whole.group(1), context, where)
            if not isinstance(found, str):
                return _resolve(found, context, where)
            value = found
            continue
        replaced = REFERENCE.sub(lambda m: str(_lookup(m.group(1), context, where)), value)
        if replaced == value:
            return value
        value = replaced
    raise ValueError(f"{where}: references do not settle: {value!r}")


def _lookup(path: str, context: dict[str, Any], where: str) -> Any:
    node: Any = context
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ValueError(f"{where}: ${{{path}}} does not resolve")
        node = node[part]
    if node is None:
        raise ValueError(f"{where}: ${{{path}}} is empty")
    return node


def dynamic_references(value: Any) -> list[str]:
    """Every ``{{...}}`` run-time reference in a resolved value."""
    if isinstance(value, dict):
        return [r for v in value.values() for r in dynamic_references(v)]
    if isinstance(value, list):
        return [r for v in value for r in dynamic_references(v)]
    return DYNAMIC.findall(value) if isinstance(value, str) else []
