"""``molpipe status``: the deployed pipeline on Databricks at a glance."""

from __future__ import annotations

import argparse
from typing import Any

from molpipe.cli.common import job, report
from molpipe.config import Settings


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = job(
        sub,
        "status",
        "the deployed pipeline on Databricks: jobs and their last runs, the serving endpoint, the champion",
    )
    p.add_argument(
        "--model", help="registered model: catalog.schema.name, or a name in $MOLPIPE_CATALOG.$MOLPIPE_SCHEMA"
    )
    p.add_argument("--endpoint", help="serving endpoint name (default: <model name>-champion when --model is given)")
    p.add_argument(
        "--tag", default="project=molpipe", help="KEY=VALUE tag of the bundle's jobs (default project=molpipe)"
    )
    p.add_argument("--profile", help="~/.databrickscfg profile (default: the SDK's own authentication)")
    p.set_defaults(handler=_status)


def _status(args, settings: Settings) -> dict[str, Any]:
    from databricks.sdk import WorkspaceClient

    from molpipe.databricks.workspace_status import workspace_status

    key, sep, value = args.tag.partition("=")
    if not sep:
        raise ValueError(f"--tag takes KEY=VALUE, got {args.tag!r}")
    model = args.model
    if model and "." not in model:
        if not settings.catalog:
            raise ValueError(
                f"--model {model!r}: give catalog.schema.name, or set MOLPIPE_CATALOG (and MOLPIPE_SCHEMA)"
            )
        model = f"{settings.catalog}.{settings.schema}.{model}"
    endpoint = args.endpoint or (f"{model.rsplit('.', 1)[-1]}-champion" if model else None)
    return report(args, workspace_status(WorkspaceClient(profile=args.profile), (key, value), model, endpoint))
