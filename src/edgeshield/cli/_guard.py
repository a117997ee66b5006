"""``edgeshield guard``: seal a classifier for the guard, manage clients, serve, attack."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import httpx
import numpy as np
import pandas as pd
import typer
from pydantic import ValidationError
from rich.table import Table

from edgeshield.cli._data import SchemaOption, load_schema_option
from edgeshield.cli._guard_alarms import alarms_cmd, clear_alarm_cmd, links_cmd
from edgeshield.cli._limits import ROWS_MAX, SEED_MAX
from edgeshield.cli._outputs import check_writable, replace_file
from edgeshield.cli._render import console
from edgeshield.errors import ConfigError, GuardError, redact_urls
from edgeshield.guard import (
    AlarmAction,
    ClientRegistry,
    GuardSettings,
    OutputTier,
    create_app,
    request_schema,
    restore_recursion_limit,
    seal_classifier,
)
from edgeshield.redteam import AttackKind, ExtractionConfig, GuardClient, run_extraction
from edgeshield.usecase import (
    DatasetSchema,
    GeneratorConfig,
    generate,
    is_default_schema,
    load_classifier,
    read_table,
    read_uci_csv,
)
from edgeshield.vault import DevicePublicKey, OwnerKey

__all__ = ["app"]

app = typer.Typer(
    help="The guarded inference service: seal, clients, serve, and the extraction red team.",
    no_args_is_help=True,
)


@app.command(name="seal")
def seal_cmd(
    model_dir: Annotated[Path, typer.Argument(help="Directory written by `edgeshield train`.")],
    out: Annotated[Path, typer.Option("--out", help="Bundle file to write.")],
    owner_key: Annotated[Path, typer.Option("--owner-key", help="Owner private key (PEM).")],
    recipient: Annotated[
        list[Path], typer.Option("--recipient", help="Device public key (PEM); repeatable.")
    ],
    model_id: Annotated[str, typer.Option("--model-id", help="Name of the model.")] = (
        "failure-classifier"
    ),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing bundle.")] = False,
) -> None:
    """Seal a trained classifier with its model card in the signed bundle metadata."""
    check_writable(out, force=force, what="bundle")
    classifier = load_classifier(model_dir)
    bundle = seal_classifier(
        classifier,
        owner_key=OwnerKey.load(owner_key),
        recipients=[DevicePublicKey.load(p) for p in recipient],
        model_id=model_id,
    )
    try:
        replace_file(out, bundle)
    except OSError as exc:
        raise GuardError(f"cannot write bundle {out}: {exc}") from exc
    console.print(f"sealed {model_dir} with its model card into {out} ({len(bundle)} bytes)")
    console.print(f"model digest {classifier.model_digest}")


@app.command(name="add-client")
def add_client_cmd(
    clients: Annotated[Path, typer.Option("--clients", help="Client file (JSON, hashes only).")],
    client_id: Annotated[str, typer.Option("--id", help="Client name.")],
    tier: Annotated[OutputTier, typer.Option("--tier", help="Output tier.")] = (
        OutputTier.LABEL_ONLY
    ),
    rate: Annotated[float, typer.Option("--rate", help="Records per second.")] = 50.0,
    burst: Annotated[float, typer.Option("--burst", help="Token-bucket size.")] = 500.0,
    quota: Annotated[int | None, typer.Option("--quota", help="Lifetime records.")] = None,
) -> None:
    """Register a client; its API key is printed once and stored only as a hash."""
    registry = ClientRegistry.load(clients)
    key = registry.add(client_id, tier=tier, rate_per_s=rate, burst=burst, quota=quota)
    registry.save(clients)
    console.print(f"client {client_id} ({tier.value}) added to {clients}")
    console.print(f"api key (shown once): {key}", soft_wrap=True)


@app.command(name="revoke-client")
def revoke_client_cmd(
    clients: Annotated[Path, typer.Option("--clients", help="Client file (JSON, hashes only).")],
    client_id: Annotated[str, typer.Option("--id", help="Client name.")],
) -> None:
    """Revoke a client's key; a running guard refuses it from its next request on."""
    registry = ClientRegistry.load(clients)
    registry.remove(client_id)
    registry.save(clients)
    console.print(f"client {client_id} revoked in {clients}")


@app.command(name="rotate-key")
def rotate_key_cmd(
    clients: Annotated[Path, typer.Option("--clients", help="Client file (JSON, hashes only).")],
    client_id: Annotated[str, typer.Option("--id", help="Client name.")],
) -> None:
    """Give a client a new key (printed once); the old key stops working without a restart."""
    registry = ClientRegistry.load(clients)
    key = registry.rotate(client_id)
    registry.save(clients)
    console.print(f"client {client_id}: new key in {clients}; the old key no longer works")
    console.print(f"api key (shown once): {key}", soft_wrap=True)


_SECRET_VAR = "EDGESHIELD_GUARD_WATERMARK_SECRET"  # noqa: S105 - a variable name


def _settings_error(exc: ValidationError) -> ConfigError:
    """One line naming each bad setting (pydantic's own message spans several)."""
    parts = []
    for error in exc.errors():
        name = ".".join(str(x) for x in error.get("loc", ())) or "settings"
        parts.append(f"{name}: {error.get('msg', 'invalid')}")
    return ConfigError("invalid guard settings: " + "; ".join(parts))


@app.command(name="serve")
def serve_cmd(
    bundle: Annotated[Path, typer.Option("--bundle", help="Sealed bundle.")],
    device_key: Annotated[Path, typer.Option("--device-key", help="Device private key (PEM).")],
    owner_public: Annotated[
        Path, typer.Option("--owner-public", help="The owner's public key (PEM).")
    ],
    licence: Annotated[Path, typer.Option("--licence", help="Licence token file.")],
    clients: Annotated[Path, typer.Option("--clients", help="Client file.")],
    database_url: Annotated[
        str, typer.Option("--db-url", "--db", help="SQLAlchemy URL of the shared state.")
    ] = "sqlite:///guard-state.db",
    card: Annotated[
        Path | None, typer.Option("--card", help="Model card, if not in the bundle.")
    ] = None,
    alarm_action: Annotated[
        AlarmAction, typer.Option("--alarm-action", help="Reaction to an extraction alarm.")
    ] = AlarmAction.THROTTLE,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Uvicorn worker processes.")
    ] = 1,
    rpc_url: Annotated[
        str | None,
        typer.Option("--rpc-url", help="JSON-RPC node holding the licence's ModelLicence."),
    ] = None,
    device_address: Annotated[
        str | None,
        typer.Option("--device-address", help="This gateway's account on the ledger (0x...)."),
    ] = None,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log", help="A line per request (never its body or key)."
        ),
    ] = True,
) -> None:
    """Serve the sealed model; refuses to start without a valid licence.

    The watermark secret comes from ``EDGESHIELD_GUARD_WATERMARK_SECRET`` and the operator
    token (metrics, health details, OpenAPI) from ``EDGESHIELD_GUARD_OPERATOR_TOKEN``: never
    options, so they stay out of the process list. A licence with a ledger reference needs
    ``--rpc-url`` and ``--device-address``; the contract is checked before serving and on
    requests (state, pause, expiry, device, model digest).
    """
    import uvicorn

    from edgeshield._http import MAX_HEAD_BYTES, BoundedHTTPProtocol
    from edgeshield._http import PROTOCOL as HTTP_PROTOCOL

    if not os.environ.get(_SECRET_VAR):
        raise ConfigError(
            f"{_SECRET_VAR} is not set: export a random secret of at least 32 characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    values: dict[str, object] = {
        "bundle": bundle,
        "device_key": device_key,
        "owner_public_key": owner_public,
        "licence": licence,
        "clients": clients,
        "database_url": database_url,
        "alarm_action": alarm_action,
        "card": card,
        "rpc_url": rpc_url,
        "device_address": device_address,
    }
    try:
        settings = GuardSettings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise _settings_error(exc) from exc
    application = create_app(settings)  # fails here, before binding, on any bad input
    log_level = "info" if access_log else "warning"
    console.print(
        f"guard: listening on http://{host}:{port} ({workers} worker"
        f"{'s' if workers > 1 else ''}); state {redact_urls(settings.database_url)}; "
        f"alarm action {alarm_action.value}; access log {'on' if access_log else 'off'}",
        soft_wrap=True,
    )
    if workers > 1:
        # The supervisor becomes `python -m uvicorn` (this process, by exec): its workers
        # start from the light factory and never import the CLI, and SIGTERM reaches uvicorn.
        application.state.guard.store.close()
        env = dict(os.environ)
        for name, value in values.items():
            if value is not None:
                env[f"EDGESHIELD_GUARD_{name.upper()}"] = str(value)
        argv = [
            sys.executable, "-m", "uvicorn", "--factory",
            "edgeshield.guard.api.worker:create_worker_app",
            "--host", host, "--port", str(port), "--workers", str(workers),
            "--log-level", log_level, "--timeout-graceful-shutdown", "5",
            "--http", HTTP_PROTOCOL, "--h11-max-incomplete-event-size", str(MAX_HEAD_BYTES),
            "--timeout-worker-healthcheck", "30",
        ] + ([] if access_log else ["--no-access-log"])  # fmt: skip
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, argv, env)  # noqa: S606 - argv is fixed, no shell
    restore_recursion_limit()  # py_ecc (ledger stack) raised it when the CLI loaded
    uvicorn.run(
        application,
        host=host,
        port=port,
        http=BoundedHTTPProtocol,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=5,
    )


def _frame_or_generated(
    path: Path | None, seed: int, rows: int, dataset: DatasetSchema, option: str
) -> pd.DataFrame:
    """Rows from ``path`` in ``dataset``'s layout, else (AI4I only) ``rows`` generated ones."""
    ai4i = is_default_schema(dataset)
    if path is not None:
        return read_uci_csv(path) if ai4i else read_table(path, dataset)
    if not ai4i:
        raise ConfigError(
            f"{option} is needed for schema {dataset.name!r}: only AI4I 2020 rows can be generated"
        )
    return generate(GeneratorConfig(rows=rows), seed=seed)


_ATTACK_KEY = "EDGESHIELD_GUARD_ATTACK_KEY"
_EVAL_KEY = "EDGESHIELD_GUARD_ATTACK_EVAL_KEY"


def _attack_key(key_file: Path | None) -> str:
    """The attacker's API key from ``key_file`` or the environment, never from argv."""
    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the API key from {key_file}: {exc}") from exc
        if not key:
            raise ConfigError(f"{key_file} holds no API key")
        return key
    key = os.environ.get(_ATTACK_KEY, "").strip()
    if not key:
        raise ConfigError(f"no API key: pass --key-file or set {_ATTACK_KEY}")
    return key


@app.command(name="attack")
def attack_cmd(
    url: Annotated[str, typer.Option("--url", help="Base URL of the guard.")],
    kind: Annotated[AttackKind, typer.Option("--kind", help="Extraction attack.")],
    budget: Annotated[
        list[int], typer.Option("--budget", help="Query budget; repeat for a curve.")
    ],
    pool: Annotated[
        Path | None,
        typer.Option(
            "--pool", help="Attacker's own readings (CSV of --schema; AI4I: generated if absent)."
        ),
    ] = None,
    eval_csv: Annotated[
        Path | None,
        typer.Option(
            "--eval",
            help="Labelled rows to measure fidelity (CSV of --schema; AI4I: generated if absent).",
        ),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file", help=f"File holding the attacker's API key (or ${_ATTACK_KEY})."
        ),
    ] = None,
    eval_rows: Annotated[
        int, typer.Option("--eval-rows", min=1, max=ROWS_MAX, help="Generated eval rows.")
    ] = 500,
    batch: Annotated[int, typer.Option("--batch", help="Records per request.")] = 50,
    seed: Annotated[int, typer.Option("--seed", min=0, max=SEED_MAX)] = 0,
    schema: SchemaOption = None,
) -> None:
    """Run an extraction attack against a running guard and print fidelity per budget.

    The attacker works in the served model's request space (``--schema``, as the API's
    OpenAPI document publishes it): for AI4I 2020 its rows may be generated; for any other
    schema it brings its own readings (``--pool``) and labelled rows (``--eval``).
    API keys never come from the command line (the process list shows it): the attacker's key
    is read from ``--key-file`` or ``EDGESHIELD_GUARD_ATTACK_KEY``, the key that labels the
    evaluation rows from ``EDGESHIELD_GUARD_ATTACK_EVAL_KEY`` (default: the attacker's).
    """
    key = _attack_key(key_file)
    eval_key = os.environ.get(_EVAL_KEY) or None
    dataset = load_schema_option(schema)
    requests = request_schema(dataset)
    attacker_pool = _frame_or_generated(pool, 1000 + seed, max(budget) + 200, dataset, "--pool")
    eval_frame = _frame_or_generated(eval_csv, 2000 + seed, eval_rows, dataset, "--eval")
    config = ExtractionConfig(kind=kind, budgets=tuple(sorted(budget)), seed=seed)
    if kind is AttackKind.JACOBIAN and len(attacker_pool) < config.seed_size:
        raise ConfigError(
            f"--pool holds {len(attacker_pool)} rows; the Jacobian attack starts from "
            f"{config.seed_size}"
        )
    with httpx.Client(base_url=url, timeout=30.0) as http:
        victim = (
            GuardClient(http, eval_key or key, batch=batch, schema=requests)
            .query(eval_frame)
            .labels
        )
        report = run_extraction(
            GuardClient(http, key, batch=batch, schema=requests),
            config,
            attacker_pool=attacker_pool,
            eval_frame=eval_frame,
            victim_eval_labels=np.asarray(victim),
        )
    table = Table(title=f"{kind.value} extraction against {url}")
    for name in ("budget", "queries", "agreement", "on failures", "macro", "surrogate F1"):
        table.add_column(name, justify="right")
    for p in report.points:
        f = p.fidelity
        table.add_row(
            str(p.budget),
            str(p.queries),
            f"{f.agreement:.3f}",
            f"{f.failure_agreement:.3f}",
            f"{f.macro_agreement:.3f}",
            f"{f.surrogate_f1:.3f}",
        )
    console.print(table)
    if report.refused_at is not None:
        console.print(f"refused after {report.refused_at} queries: {report.refusal}")
    if report.throttled_requests:
        console.print(f"throttled {report.throttled_requests} times")


app.command(name="alarms")(alarms_cmd)
app.command(name="clear-alarm")(clear_alarm_cmd)
app.command(name="links")(links_cmd)
