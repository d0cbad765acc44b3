"""A registered model, alias, version or run a user named, looked up: one that is not there is one line saying
what is (MLflow's own error is a traceback through its REST or SQL layer)."""

from __future__ import annotations

NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"


def registered_model(client, name: str):
    """``name``'s registered model; a ``ValueError`` listing the registered models when there is none."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != NOT_FOUND:
            raise
    raise ValueError(f"no registered model {name!r} ({_registered(client)})") from None


def missing(client, name: str, what: str) -> str:
    """Why ``name`` has no ``what`` (``alias 'champion'``, ``version 3``), with what the registry holds of it."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return f"model {name!r} has no {what}: no model of that name is registered ({_registered(client)})"
    aliases = ", ".join(f"{alias} v{version}" for alias, version in sorted(model.aliases.items())) or "none"
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
    return (
        f"model {name!r} has no {what} (its aliases: {aliases}; versions: {', '.join(map(str, versions)) or 'none'}): "
        "train, validate and promote one first"
    )


def existing_run(client, run_id: str, *, flag: str):
    """The tracking store's run ``run_id`` (given as ``flag``); a ``ValueError`` naming it when there is none."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code != NOT_FOUND:
            raise
    raise ValueError(
        f"no MLflow run {run_id!r} ({flag}): a scoring run's id is its candidates' scoring_run_id"
    ) from None


def _registered(client) -> str:
    names = sorted(model.name for model in client.search_registered_models(max_results=100))
    return f"registered: {', '.join(names)}" if names else "none is: `molpipe train` registers one"
