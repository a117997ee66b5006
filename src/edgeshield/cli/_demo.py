"""``edgeshield demo``: the end-to-end chain of custody on embedded defaults."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgeshield.cli._data import SchemaOption, load_schema_option
from edgeshield.cli._limits import ROWS_MAX, SEED_MAX
from edgeshield.cli._render import console, progress
from edgeshield.demo import (
    MAX_TRIGGERS,
    MIN_TRIGGERS,
    DemoConfig,
    PoisonKind,
    run_demo,
    write_report,
)
from edgeshield.errors import ConfigError, DemoError
from edgeshield.federated import DPTrainable, Engine
from edgeshield.usecase import PublicSource, is_default_schema

__all__ = ["demo"]

_KEYS_ENV = "EDGESHIELD_PRIVATE_KEYS"
"""Keys for --rpc-url, comma- or space-separated (never on the command line, where ps shows it)."""


def _private_keys() -> tuple[str, ...]:
    """The signing keys from the environment: the demo's list, else the ledger commands' one key."""
    text = os.environ.get(_KEYS_ENV) or os.environ.get("EDGESHIELD_PRIVATE_KEY", "")
    return tuple(key for key in re.split(r"[\s,]+", text) if key)


def demo(
    plants: Annotated[int, typer.Option(min=3, help="Number of plants.")] = 6,
    rows: Annotated[
        int,
        typer.Option(
            min=900,
            max=ROWS_MAX,
            help="Rows over all generated AI4I plants (--data: the file decides).",
        ),
    ] = 48_000,
    rounds: Annotated[int, typer.Option(min=1, help="Federated rounds.")] = 8,
    epochs: Annotated[int, typer.Option(min=1, help="Local epochs per round.")] = 3,
    malicious: Annotated[int, typer.Option(min=0, help="Malicious plants.")] = 1,
    poison: Annotated[
        PoisonKind,
        typer.Option("--attack", "--poison", help="The malicious plants' attack (as fl run)."),
    ] = PoisonKind.SIGN_FLIP,
    bucket_size: Annotated[int, typer.Option(min=1, help="SecAgg+ bucket size.")] = 2,
    batch_size: Annotated[int, typer.Option(min=1, help="Local (DP-SGD) batch size.")] = 128,
    dp: Annotated[
        float,
        typer.Option(min=0.0, help="Record-level DP-SGD noise multiplier; 0 turns DP off."),
    ] = 2.0,
    dp_trainable: Annotated[
        DPTrainable,
        typer.Option(help="What DP-SGD fine-tunes: every layer, or only the output layer."),
    ] = DPTrainable.ALL,
    hidden: Annotated[
        str,
        typer.Option(
            help="Hidden-layer widths of the failure classifier, comma-separated (e.g. 256 or "
            "128,128)."
        ),
    ] = ",".join(map(str, DemoConfig().hidden)),
    bins: Annotated[
        int,
        typer.Option(min=2, max=64, help="Piecewise-linear bins per numeric feature."),
    ] = DemoConfig().bins,
    reproducible_dp: Annotated[
        bool,
        typer.Option(
            help="Draw the DP noise from --seed, so runs repeat (demo only: the seed gives the "
            "noise away)."
        ),
    ] = False,
    compare_fedavg: Annotated[
        bool, typer.Option(help="Also train plain FedAvg under the same attack.")
    ] = True,
    price_protections: Annotated[
        bool,
        typer.Option(
            help="Also train central, federated-without-DP and DP-without-watermark reference "
            "models (in a second process) for the report's price table."
        ),
    ] = True,
    engine: Annotated[
        Engine,
        typer.Option(help="Flower runtime (in-process by default for speed; fl run uses Ray)."),
    ] = Engine.IN_PROCESS,
    null_models: Annotated[int, typer.Option(min=3, help="Null models of the test.")] = 20,
    triggers: Annotated[
        int,
        typer.Option(min=MIN_TRIGGERS, max=MAX_TRIGGERS, help="The owner's watermark triggers."),
    ] = DemoConfig().triggers,
    attack_budget: Annotated[int, typer.Option(min=100, help="Jacobian attacker queries.")] = 600,
    thief_queries: Annotated[int, typer.Option(min=100, help="Natural-query thief.")] = 2000,
    benign_queries: Annotated[int, typer.Option(min=100, help="Benign client queries.")] = 400,
    seed: Annotated[
        int, typer.Option(min=0, max=SEED_MAX, help="Random seed of data, training and attacks.")
    ] = 0,
    runs_dir: Annotated[Path, typer.Option(help="Where run directories are created.")] = Path(
        "runs"
    ),
    rpc_url: Annotated[
        str | None,
        typer.Option(
            "--rpc-url",
            help=f"Ethereum JSON-RPC node (default: embedded). Signs with ${_KEYS_ENV} (owner, "
            "licensee, gateway-a, gateway-b, then one per plant) or the node's unlocked accounts.",
        ),
    ] = None,
    schema: SchemaOption = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="CSV of --schema whose rows become the plants, a public reference set and test "
            "rows (needed for a schema other than AI4I 2020, whose plants are generated).",
        ),
    ] = None,
    split_by: Annotated[
        str | None,
        typer.Option(
            "--split-by",
            help="Split --data into plants by this column (one value per plant; default: at "
            "random), as data import --split does.",
        ),
    ] = None,
) -> None:
    """Run the whole chain of custody, check every step, and write the evidence report.

    AI4I 2020 (the default ``--schema``) runs on generated plants, pretrained on the public UCI
    file. Any other schema runs on the rows of ``--data``: the report names the schema, its
    digest and positive class, and says which steps it could not run (no public pretraining,
    no price table of reference models).
    """
    keys = _private_keys() if rpc_url else ()
    layout = load_schema_option(schema)
    other = not is_default_schema(layout)
    config = DemoConfig(
        plants=plants,
        rows=rows,
        rounds=rounds,
        local_epochs=epochs,
        batch_size=batch_size,
        malicious=malicious,
        poison=poison,
        bucket_size=bucket_size,
        dp_noise=dp or None,
        dp_trainable=dp_trainable,
        hidden=_widths(hidden),
        bins=bins,
        reproducible_dp=reproducible_dp,
        compare_fedavg=compare_fedavg,
        price_protections=price_protections,
        engine=engine,
        null_models=null_models,
        triggers=triggers,
        attack_budget=attack_budget,
        thief_queries=thief_queries,
        benign_queries=benign_queries,
        seed=seed,
        rpc_url=rpc_url,
        private_keys=keys,
        schema=layout if other else None,
        data=data,
        split_by=split_by,
        pretrain=None if other else PublicSource.AI4I_2020,
    )
    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    with progress() as bar:
        task = bar.add_task("demo", total=1.0)

        def on_progress(step: str, done: float) -> None:
            bar.update(task, description=step, completed=done)

        result = run_demo(config, runs_dir / run_id, on_progress)
    report = write_report(result)
    summary = Table(title=f"EdgeShield demo ({result.seconds:.0f} s)")
    summary.add_column("#", justify="right")
    summary.add_column("step")
    summary.add_column("outcome")
    for i, step in enumerate(result.steps, 1):
        summary.add_row(str(i), step.title, step.outcome)
    console.print(summary)
    console.print(f"verdict: {report.verdict}")
    console.print(f"report: {report.html}  (and {report.markdown.name})")
    if result.failed is not None:
        raise DemoError(result.failed)


def _widths(text: str) -> tuple[int, ...]:
    """``--hidden 128,128`` as widths; anything else is one ConfigError line."""
    try:
        return tuple(int(w) for w in text.split(","))
    except ValueError:
        raise ConfigError(
            f"--hidden takes comma-separated layer widths such as 256 or 128,128, got {text!r}"
        ) from None
