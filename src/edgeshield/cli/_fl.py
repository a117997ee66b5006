"""``edgeshield fl``: federated training across plants on Flower (simulation engine)."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgeshield.cli._render import console
from edgeshield.federated import (
    Aggregator,
    ClientDP,
    Engine,
    FederatedConfig,
    MaliciousPlant,
    PlantBehaviour,
    RecordDP,
    RoundRecord,
    generate_supernode_keys,
    generate_tls,
    run_federated,
    write_flower_app,
)
from edgeshield.redteam import Backdoor, LabelFlip, ModelReplacement, SignFlip
from edgeshield.usecase import Fleet, FleetConfig, PublicPretraining, PublicSource, make_fleet

__all__ = ["app"]

app = typer.Typer(help="Federated training across plants (Flower).", no_args_is_help=True)


class Attack(enum.Enum):
    """Attack of the malicious plants (see edgeshield.redteam)."""

    SIGN_FLIP = "sign-flip"
    MODEL_REPLACEMENT = "model-replacement"
    LABEL_FLIP = "label-flip"
    BACKDOOR = "backdoor"


class Start(enum.Enum):
    """Public pretraining before the federation (the vendor's public data), or none."""

    AI4I_2020 = "ai4i2020"
    GENERATED = "generated"
    NONE = "none"


def _pretraining(start: Start) -> PublicPretraining | None:
    if start is Start.NONE:
        return None
    return PublicPretraining(source=PublicSource(start.value))


def _behaviour(attack: Attack, plants: int) -> PlantBehaviour:
    if attack is Attack.SIGN_FLIP:
        return SignFlip()
    if attack is Attack.MODEL_REPLACEMENT:
        return ModelReplacement(boost=float(plants))
    if attack is Attack.LABEL_FLIP:
        return LabelFlip()
    return Backdoor()


def _round_line(record: RoundRecord) -> None:
    eps = record.record_epsilon if record.record_epsilon is not None else record.client_epsilon
    console.print(
        f"round {record.round}: test F1 {record.test_f1:.3f}, PR-AUC {record.test_pr_auc:.3f},"
        f" {record.participants} plants, {record.failures} dropped"
        + (f", epsilon {eps:.2f}" if eps is not None else "")
        + f", {record.digest[:19]}…"
    )


@app.command(name="run")
def run_cmd(
    out: Annotated[Path, typer.Option("--out", help="Run directory (config, model, summary).")],
    plants: Annotated[int, typer.Option(min=2, help="Plants (Flower clients).")] = 5,
    rounds: Annotated[int, typer.Option(min=1, help="Federated rounds.")] = 10,
    epochs: Annotated[int, typer.Option(min=1, help="Local epochs per round.")] = 5,
    secure: Annotated[bool, typer.Option("--secure/--no-secure", help="SecAgg+.")] = True,
    shares: Annotated[float, typer.Option(help="SecAgg+ shares (fraction of plants).")] = 1.0,
    threshold: Annotated[
        float, typer.Option(help="SecAgg+ reconstruction threshold (fraction of shares).")
    ] = 0.6,
    aggregator: Annotated[Aggregator, typer.Option(help="Aggregation rule.")] = Aggregator.FEDAVG,
    assumed_malicious: Annotated[int, typer.Option(min=0, help="f for Krum/Bulyan.")] = 1,
    bucket_size: Annotated[
        int | None, typer.Option(min=1, help="Bucketed secure aggregation: bucket size k.")
    ] = None,
    dp: Annotated[
        float | None, typer.Option("--dp", help="Record-level DP-SGD noise multiplier (Opacus).")
    ] = None,
    dp_clip: Annotated[float, typer.Option(help="Per-sample gradient clip for --dp.")] = 1.0,
    dp_rate: Annotated[
        float, typer.Option(help="Public Poisson sampling rate of --dp's DP-SGD steps.")
    ] = 0.02,
    pretrain: Annotated[
        Start, typer.Option(help="Public pretraining source of the initial model.")
    ] = Start.AI4I_2020,
    client_dp: Annotated[
        float | None, typer.Option("--client-dp", help="Client-level DP noise multiplier.")
    ] = None,
    client_clip: Annotated[float, typer.Option(help="Update clip for --client-dp.")] = 1.0,
    malicious: Annotated[int, typer.Option(min=0, help="Malicious plants (the first ones).")] = 0,
    attack: Annotated[Attack, typer.Option(help="Attack of the malicious plants.")] = (
        Attack.SIGN_FLIP
    ),
    dropout: Annotated[int, typer.Option(min=0, help="Plants crashing mid-round.")] = 0,
    rows: Annotated[int, typer.Option(min=500, help="Generated rows over all plants.")] = 10_000,
    db_url: Annotated[
        str | None, typer.Option("--db-url", help="Plant database instead of generated data.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    engine: Annotated[
        Engine, typer.Option(help="Flower simulation engine (Ray) or the in-process grid.")
    ] = Engine.SIMULATION,
) -> None:
    """Train the failure classifier across plants in Flower's simulation engine."""
    config = FederatedConfig(
        plants=plants,
        rounds=rounds,
        local_epochs=epochs,
        secure=secure,
        secagg_shares=shares,
        secagg_threshold=threshold,
        aggregator=aggregator,
        assumed_malicious=assumed_malicious,
        bucket_size=bucket_size,
        record_dp=None
        if dp is None
        else RecordDP(noise_multiplier=dp, max_grad_norm=dp_clip, sample_rate=dp_rate),
        client_dp=None
        if client_dp is None
        else ClientDP(noise_multiplier=client_dp, clipping_norm=client_clip),
        malicious=tuple(
            MaliciousPlant(plant=i, behaviour=_behaviour(attack, plants)) for i in range(malicious)
        ),
        dropout=dropout,
        pretraining=_pretraining(pretrain),
        seed=seed,
    )
    source: Fleet | str = (
        db_url
        if db_url is not None
        else make_fleet(FleetConfig(plants=plants, total_rows=rows), seed=seed)
    )
    result = run_federated(config, source, out, on_round=_round_line, engine=engine)
    table = Table(title="Per-plant validation metrics (last round)")
    for column in ("plant", "F1", "PR-AUC", "rows"):
        table.add_column(column)
    for plant, m in sorted(result.rounds[-1].plants.items()):
        table.add_row(plant, f"{m['f1']:.3f}", f"{m['pr_auc']:.3f}", f"{int(m['rows'])}")
    if result.rounds[-1].plants:
        console.print(table)
    privacy = result.summary()["privacy"]
    if privacy.get("record_dp"):
        console.print(
            f"record-level DP: epsilon {privacy['epsilon']:.2f} at delta {privacy['delta']:g},"
            f" sigma {privacy['noise_multiplier']:g}, clip {privacy['clip']:g}, Poisson rate"
            f" {privacy['sample_rate']:g}, {privacy['accountant']}; covers {privacy['covers']}"
        )
    eps = result.record_epsilon if result.record_epsilon is not None else result.client_epsilon
    console.print(
        f"global model: test F1 {result.rounds[-1].test_f1:.3f}, threshold"
        f" {result.classifier.threshold:.3f}"
        + (f", epsilon {eps:.2f} at delta 1e-5" if eps is not None else ", no DP")
        + f"; saved to {out / 'model'}"
    )


@app.command(name="certs")
def certs_cmd(
    out: Annotated[Path, typer.Option("--out", help="Directory for ca.crt, server.pem/.key.")],
    host: Annotated[
        list[str] | None, typer.Option("--host", help="SuperLink host name or IP (repeatable).")
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="Validity in days.")] = 30,
) -> None:
    """Create the federation's CA and the SuperLink's TLS certificate."""
    files = generate_tls(out, hosts=tuple(host or ["127.0.0.1", "localhost"]), days=days)
    console.print(f"CA: {files.ca_cert}\nSuperLink: {files.server_cert}, {files.server_key}")


@app.command(name="node-keys")
def node_keys_cmd(
    out: Annotated[Path, typer.Option("--out", help="Directory for the key pair.")],
    name: Annotated[str, typer.Option(help="File name stem, e.g. the plant id.")],
) -> None:
    """Create a SuperNode's authentication key pair (register the .pub with the SuperLink)."""
    private, public = generate_supernode_keys(out, name)
    console.print(f"private: {private}\npublic: {public}")


@app.command(name="app")
def app_cmd(
    out: Annotated[Path, typer.Option("--out", help="Flower App directory to write.")],
    run_dir: Annotated[Path, typer.Option("--run-dir", help="Where the ServerApp writes.")],
    plants: Annotated[int, typer.Option(min=2, help="Plants (SuperNodes) per round.")] = 5,
    rounds: Annotated[int, typer.Option(min=1, help="Federated rounds.")] = 10,
    epochs: Annotated[int, typer.Option(min=1, help="Local epochs per round.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    pretrain: Annotated[
        Start, typer.Option(help="Public pretraining source of the initial model.")
    ] = Start.AI4I_2020,
) -> None:
    """Write the Flower App that `flwr run` submits to a SuperLink (SecAgg+ FedAvg)."""
    config = FederatedConfig(
        plants=plants,
        rounds=rounds,
        local_epochs=epochs,
        pretraining=_pretraining(pretrain),
        seed=seed,
    )
    console.print(f"Flower App written to {write_flower_app(out, config, run_dir)}")
