"""``edgeshield ownership verify-api``: test a black-box copy against the API watermark.

The owner points it at the guard's state (the recorded marked and control queries of one
client, or of all) and at the suspect: a URL answering EdgeShield's ``/v1/predict`` or a local
model directory. The watermark secret comes from ``EDGESHIELD_GUARD_WATERMARK_SECRET``, as for
``guard serve``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from edgeshield.cli._data import SchemaOption, load_schema_option
from edgeshield.cli._outputs import check_writable, replace_file
from edgeshield.cli._render import console
from edgeshield.errors import ConfigError

__all__ = ["verify_api_cmd"]

SECRET_ENV = "EDGESHIELD_GUARD_WATERMARK_SECRET"  # noqa: S105 (a variable name)


def verify_api_cmd(
    db: Annotated[str, typer.Option("--db", help="SQLAlchemy URL of the guard's state.")],
    client: Annotated[
        str | None,
        typer.Option("--client", help="Client whose answers were stolen (default: all)."),
    ] = None,
    suspect_url: Annotated[
        str | None, typer.Option("--suspect-url", help="Base URL of the suspect's predict API.")
    ] = None,
    suspect_key: Annotated[
        str | None, typer.Option("--suspect-key", help="X-API-Key for --suspect-url, if any.")
    ] = None,
    suspect_model: Annotated[
        Path | None, typer.Option("--suspect-model", help="A local model directory.")
    ] = None,
    alpha: Annotated[float, typer.Option(help="Claim ownership at p <= alpha.")] = 1e-6,
    out: Annotated[Path | None, typer.Option("--out", help="Write the evidence as JSON.")] = None,
    schema: SchemaOption = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out.")] = False,
) -> None:
    """Test whether a suspect reproduces the API watermark's marked answers (per-model test)."""
    if out is not None:
        check_writable(out, force=force, what="evidence")
    import numpy as np

    from edgeshield.guard import (
        ApiWatermark,
        CellLayout,
        GuardStore,
        request_schema,
        verify_api_watermark,
    )

    if (suspect_url is None) == (suspect_model is None):
        raise ConfigError("give exactly one of --suspect-url and --suspect-model")
    if not 0.0 < alpha < 1.0:
        raise ConfigError("--alpha must lie in (0, 1)")
    secret = os.environ.get(SECRET_ENV, "")
    if len(secret.encode()) < 32:
        raise ConfigError(f"{SECRET_ENV} must hold the service's watermark secret (32+ bytes)")
    requests = request_schema(load_schema_option(schema))
    watermark = ApiWatermark(secret.encode(), layout=CellLayout.of(requests))
    store = GuardStore(db, create=False)
    try:
        book = store.watermark_records(client)
    finally:
        store.close()
    if not book:
        raise ConfigError("the guard's state holds no watermark records for that client")
    try:
        queries = requests.frame(requests.validate([m.query for m in book]))
    except ValueError as exc:  # pydantic's ValidationError is one
        raise ConfigError(
            f"the recorded queries do not fit dataset schema {requests.dataset.name!r} "
            "(pass the served model's --schema)"
        ) from exc
    served = np.asarray([m.served_label for m in book], dtype=np.int64)
    if suspect_model is not None:
        from edgeshield.usecase import load_classifier

        predict = load_classifier(suspect_model).predict
        evidence = verify_api_watermark(predict, queries, served, watermark=watermark)
        where = str(suspect_model)
    else:
        import httpx

        from edgeshield.redteam import GuardClient

        with httpx.Client(base_url=str(suspect_url), timeout=60) as http:
            remote = GuardClient(http, suspect_key or "-", batch=100, schema=requests)
            evidence = verify_api_watermark(
                lambda f: remote.query(f).labels,
                queries,
                served,
                watermark=watermark,
            )
        where = str(suspect_url)
    verdict = "OWNED" if evidence.p_value <= alpha else "NOT SHOWN"
    console.print(
        f"{verdict}: {where} disagrees with the clean answer on {evidence.matches} of "
        f"{evidence.queries} marked cells and {evidence.control_disagreements} of "
        f"{evidence.controls} control cells; p = {evidence.p_value:.3g} (alpha {alpha:g})"
    )
    if out is not None:
        body = {"suspect": where, "verdict": verdict, **evidence.as_dict()}
        replace_file(out, json.dumps(body).encode("utf-8"))
