"""``edgeshield fl``: federated training across plants on Flower (simulation engine)."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from edgeshield.cli._data import SchemaOption, load_schema_option
from edgeshield.cli._limits import ROWS_MAX, SEED_MAX
from edgeshield.cli._outputs import check_writable, check_writable_all, staged_directory
from edgeshield.cli._render import console
from edgeshield.errors import ConfigError
from edgeshield.federated import (
    Aggregator,
    ClientDP,
    DPTrainable,
    Engine,
    FederatedConfig,
    MaliciousPlant,
    PlantBehaviour,
    PlantPolicy,
    PlantRoster,
    RecordDP,
    RoundRecord,
    ServerOptimizer,
    generate_supernode_keys,
    generate_tls,
    generate_vendor_key,
    load_vendor_key,
    run_federated,
    serve_plant,
    sign_app,
    write_flower_app,
)
from edgeshield.redteam import Backdoor, LabelFlip, ModelReplacement, SignFlip
from edgeshield.usecase import (
    DatasetSchema,
    Fleet,
    FleetConfig,
    PublicPretraining,
    PublicSource,
    default_schema,
    is_default_schema,
    load_schema,
    make_fleet,
    read_table,
)

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


# Options that `fl run` and `fl app` share, so that both paths take the same DP recipe.
DpNoise = Annotated[
    float | None, typer.Option("--dp", help="Record-level DP-SGD noise multiplier (Opacus).")
]
DpClip = Annotated[float, typer.Option(help="Per-sample gradient clip for --dp.")]
DpRate = Annotated[float, typer.Option(help="Public Poisson sampling rate of --dp's DP-SGD steps.")]
DpTrainable = Annotated[
    DPTrainable,
    typer.Option(
        help="What --dp's DP-SGD trains: every layer, or only the output layer of the"
        " (pretrained) model, the layers before it kept as received."
    ),
]
ServerOpt = Annotated[
    ServerOptimizer,
    typer.Option(
        "--server-opt",
        help="How the server applies the robust aggregate's update: sgd (FedAvg at"
        " --server-lr 1), adam (FedAdam) or yogi (FedYogi); post-processing, DP unchanged.",
    ),
]
ServerLr = Annotated[float, typer.Option(help="Server learning rate of --server-opt.")]
ServerTau = Annotated[float, typer.Option(help="Adaptivity tau of --server-opt adam and yogi.")]
ProximalMu = Annotated[
    float,
    typer.Option(
        "--proximal-mu",
        min=0.0,
        help="FedProx: each plant adds mu/2 ||w - w_global||^2 to its local loss (0: FedAvg;"
        " not with --dp).",
    ),
]
ReleaseAverage = Annotated[
    int,
    typer.Option(
        "--release-average",
        min=1,
        help="Release the mean of the last K rounds' global models (tail averaging;"
        " post-processing, DP unchanged; at most --rounds). 1: the last global model.",
    ),
]
Pretrain = Annotated[
    Start | None,
    typer.Option(
        help="Public pretraining source of the initial model (default: ai4i2020 for the AI4I"
        " schema, none for any other; public pretraining is AI4I data)."
    ),
]
Reference = Annotated[
    Path | None,
    typer.Option(
        "--reference",
        help="Public rows in the --schema layout (never a plant's) on which the server fits the"
        " encoder and, under --dp, chooses the threshold; required for a schema other than"
        " AI4I, whose generated reference set it replaces (needs --pretrain none).",
    ),
]


def _pretraining(start: Start | None, schema: DatasetSchema) -> PublicPretraining | None:
    """The public pretraining ``--pretrain`` asks for; AI4I data, so AI4I's schema only."""
    ai4i = is_default_schema(schema)
    if start is None:
        start = Start.AI4I_2020 if ai4i else Start.NONE
    if start is Start.NONE:
        return None
    if not ai4i:
        raise ConfigError(
            f"--pretrain {start.value} is AI4I 2020 data; schema {schema.name!r} starts from"
            " scratch (--pretrain none)"
        )
    return PublicPretraining(source=PublicSource(start.value))


def _reference(path: Path | None, schema: DatasetSchema) -> pd.DataFrame | None:
    """The operator's public reference rows, read and checked through the schema."""
    if path is None:
        if not is_default_schema(schema):
            raise ConfigError(
                f"schema {schema.name!r} needs --reference FILE: public rows in its layout on"
                " which the server fits the encoder and, under --dp, chooses the threshold"
                " (plant rows are never used for either)"
            )
        return None
    return read_table(path, schema)


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
    dp: DpNoise = None,
    dp_clip: DpClip = 1.0,
    dp_rate: DpRate = 0.02,
    dp_trainable: DpTrainable = DPTrainable.ALL,
    server_opt: ServerOpt = ServerOptimizer.SGD,
    server_lr: ServerLr = 1.0,
    server_tau: ServerTau = 1e-3,
    proximal_mu: ProximalMu = 0.0,
    release_average: ReleaseAverage = 1,
    pretrain: Pretrain = None,
    client_dp: Annotated[
        float | None, typer.Option("--client-dp", help="Client-level DP noise multiplier.")
    ] = None,
    client_clip: Annotated[float, typer.Option(help="Update clip for --client-dp.")] = 1.0,
    malicious: Annotated[int, typer.Option(min=0, help="Malicious plants (the first ones).")] = 0,
    attack: Annotated[Attack, typer.Option(help="Attack of the malicious plants.")] = (
        Attack.SIGN_FLIP
    ),
    dropout: Annotated[int, typer.Option(min=0, help="Plants crashing mid-round.")] = 0,
    rows: Annotated[
        int, typer.Option(min=500, max=ROWS_MAX, help="Generated rows over all plants.")
    ] = 10_000,
    db_url: Annotated[
        str | None,
        typer.Option(
            "--db-url", help="Plant database (data import --schema) instead of generated data."
        ),
    ] = None,
    schema: SchemaOption = None,
    reference: Reference = None,
    test: Annotated[
        Path | None,
        typer.Option(
            "--test", help="Held-out rows in the --schema layout for test metrics (with --db-url)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="Random seed.")] = 0,
    reproducible_dp: Annotated[
        bool,
        typer.Option(
            "--reproducible-dp",
            help="Draw --dp's noise and batches from --seed, so that runs repeat (tests and "
            "audits only: anyone with the seed can recompute the noise, which voids the DP "
            "guarantee).",
        ),
    ] = False,
    engine: Annotated[
        Engine,
        typer.Option(
            help="Flower simulation engine (Ray, the default here) or the in-process grid "
            "(the demo's default, for speed)."
        ),
    ] = Engine.SIMULATION,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing run directory at the end.")
    ] = False,
) -> None:
    """Train the failure classifier across plants in Flower's simulation engine.

    The run is written into a temporary sibling of ``--out`` that becomes ``--out`` only when
    it succeeded; a failed or interrupted run leaves nothing behind (Ray shut down). Each
    plant's rows follow ``--schema`` (AI4I 2020 by default; generated plants are AI4I only,
    any other schema trains on the plants of ``--db-url`` and needs ``--reference``).
    """
    layout = load_schema_option(schema)
    if db_url is None and not is_default_schema(layout):
        raise ConfigError(
            f"generated plants are AI4I 2020 data; schema {layout.name!r} needs --db-url with"
            " its plants (edgeshield data import --schema ... --plants N)"
        )
    if test is not None and db_url is None:
        raise ConfigError("--test goes with --db-url (generated plants hold out their own rows)")
    if reproducible_dp and dp is None:
        raise ConfigError("--reproducible-dp goes with --dp (it seeds DP-SGD's noise)")
    start = _pretraining(pretrain, layout)
    public = _reference(reference, layout)
    held_out = None if test is None else read_table(test, layout)
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
        server_optimizer=server_opt,
        server_lr=server_lr,
        server_tau=server_tau,
        proximal_mu=proximal_mu,
        release_average=release_average,
        record_dp=None
        if dp is None
        else RecordDP(
            noise_multiplier=dp,
            max_grad_norm=dp_clip,
            sample_rate=dp_rate,
            trainable=dp_trainable,
            reproducible=reproducible_dp,
        ),
        client_dp=None
        if client_dp is None
        else ClientDP(noise_multiplier=client_dp, clipping_norm=client_clip),
        malicious=tuple(
            MaliciousPlant(plant=i, behaviour=_behaviour(attack, plants)) for i in range(malicious)
        ),
        dropout=dropout,
        pretraining=start,
        seed=seed,
    )
    source: Fleet | str = (
        db_url
        if db_url is not None
        else make_fleet(FleetConfig(plants=plants, total_rows=rows), seed=seed)
    )
    check_writable(out, force=force, what="run directory")
    with staged_directory(out, force=force) as staging:
        result = run_federated(
            config,
            source,
            staging,
            on_round=_round_line,
            engine=engine,
            schema=layout,
            reference=public,
            test_frame=held_out,
        )
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
            f" {privacy['sample_rate']:g}, trains {privacy['trainable']} parameters,"
            f" {privacy['accountant']}; covers {privacy['covers']}"
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
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing CA (plants need the new ca.crt)."),
    ] = False,
) -> None:
    """Create the federation's CA and the SuperLink's TLS certificate."""
    names = ("ca.crt", "server.pem", "server.key")
    check_writable_all([out / n for n in names], force=force, what="TLS file")
    files = generate_tls(out, hosts=tuple(host or ["127.0.0.1", "localhost"]), days=days)
    console.print(f"CA: {files.ca_cert}\nSuperLink: {files.server_cert}, {files.server_key}")


@app.command(name="node-keys")
def node_keys_cmd(
    out: Annotated[Path, typer.Option("--out", help="Directory for the key pair.")],
    name: Annotated[str, typer.Option(help="File name stem, e.g. the plant id.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing key pair (re-register it).")
    ] = False,
) -> None:
    """Create a SuperNode's authentication key pair (register the .pub with the SuperLink)."""
    check_writable_all([out / f"{name}.key", out / f"{name}.pub"], force=force, what="node key")
    private, public = generate_supernode_keys(out, name)
    console.print(f"private: {private}\npublic: {public}")


@app.command(name="app")
def app_cmd(
    out: Annotated[Path, typer.Option("--out", help="Flower App directory to write.")],
    run_dir: Annotated[
        Path, typer.Option("--run-dir", help="Fresh directory where the ServerApp writes.")
    ],
    roster: Annotated[
        Path,
        typer.Option("--roster", help="Plant roster written by `fl register` (key -> plant)."),
    ],
    plants: Annotated[int, typer.Option(min=2, help="Plants (SuperNodes) per round.")] = 5,
    rounds: Annotated[int, typer.Option(min=1, help="Federated rounds.")] = 10,
    epochs: Annotated[int, typer.Option(min=1, help="Local epochs per round.")] = 5,
    secure: Annotated[bool, typer.Option("--secure/--no-secure", help="SecAgg+.")] = True,
    threshold: Annotated[
        float, typer.Option(help="SecAgg+ reconstruction threshold (fraction of shares).")
    ] = 0.6,
    aggregator: Annotated[Aggregator, typer.Option(help="Aggregation rule.")] = Aggregator.FEDAVG,
    assumed_malicious: Annotated[int, typer.Option(min=0, help="f for Krum/Bulyan.")] = 1,
    bucket_size: Annotated[
        int | None, typer.Option(min=1, help="Bucketed secure aggregation: bucket size k.")
    ] = None,
    dp: DpNoise = None,
    dp_clip: DpClip = 1.0,
    dp_rate: DpRate = 0.02,
    dp_trainable: DpTrainable = DPTrainable.ALL,
    server_opt: ServerOpt = ServerOptimizer.SGD,
    server_lr: ServerLr = 1.0,
    server_tau: ServerTau = 1e-3,
    proximal_mu: ProximalMu = 0.0,
    release_average: ReleaseAverage = 1,
    reference_rows: Annotated[
        int,
        typer.Option(min=200, max=ROWS_MAX, help="Rows of the server's public reference set."),
    ] = 2000,
    stage_wait: Annotated[
        float,
        typer.Option(
            min=1, help="Seconds a stage waits for missing plants before going on without them."
        ),
    ] = 120.0,
    sign_key: Annotated[
        Path | None,
        typer.Option("--sign-key", help="Vendor's Ed25519 key (fl vendor-key): sign the app."),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="Random seed.")] = 0,
    pretrain: Pretrain = None,
    schema: SchemaOption = None,
    reference: Reference = None,
) -> None:
    """Write the Flower App that `fl submit` (or `flwr run`) sends to a SuperLink.

    The dataset schema (``--schema``, AI4I 2020 by default) and the public ``--reference``
    rows travel in the app config, covered by the vendor's signature; every plant must run
    ``fl plant --schema`` with the same schema.
    """
    layout = load_schema_option(schema)
    start = _pretraining(pretrain, layout)
    public = _reference(reference, layout)
    config = FederatedConfig(
        plants=plants,
        rounds=rounds,
        local_epochs=epochs,
        secure=secure,
        secagg_threshold=threshold,
        aggregator=aggregator,
        assumed_malicious=assumed_malicious,
        bucket_size=bucket_size,
        server_optimizer=server_opt,
        server_lr=server_lr,
        server_tau=server_tau,
        proximal_mu=proximal_mu,
        release_average=release_average,
        record_dp=None
        if dp is None
        else RecordDP(
            noise_multiplier=dp,
            max_grad_norm=dp_clip,
            sample_rate=dp_rate,
            trainable=dp_trainable,
        ),
        reference_rows=reference_rows,
        pretraining=start,
        seed=seed,
        stage_wait=stage_wait,
    )
    if not roster.exists():
        raise ConfigError(f"no plant roster at {roster}; register the plants with fl register")
    written = write_flower_app(
        out, config, run_dir, roster=PlantRoster.load(roster), schema=layout, reference=public
    )
    console.print(f"Flower App written to {written}")
    if sign_key is not None:
        console.print(f"signed: {sign_app(written, sign_key)}")


@app.command(name="register")
def register_cmd(
    public_key: Annotated[Path, typer.Argument(help="The plant's SuperNode key (.pub).")],
    plant_id: Annotated[str, typer.Option("--plant-id", help="The plant this key belongs to.")],
    roster: Annotated[
        Path, typer.Option("--roster", help="Plant roster file to add the plant to.")
    ],
    superlink: Annotated[
        str | None, typer.Option("--superlink", help="Name in ~/.flwr/config.toml.")
    ] = None,
) -> None:
    """Register a plant's SuperNode key on the SuperLink and in the vendor's plant roster.

    The ServerApp samples only nodes whose registered key is in the roster and names them by
    it; a node's self-reported plant id is ignored. A plant id or key already in the roster
    is refused before anything is registered.
    """
    import json
    import subprocess
    import sys

    from edgeshield.errors import FederatedError

    try:
        key = public_key.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {public_key}: {exc.strerror}") from exc
    current = PlantRoster.load(roster)
    updated = current.with_plant(plant_id, key)  # refuses a taken plant id or key
    flwr = str(Path(sys.executable).parent / "flwr")
    target = [superlink] if superlink else []
    naming = ["--name", plant_id, "--format", "json"]
    out = subprocess.run(  # noqa: S603 - Flower's own CLI, fixed arguments
        [flwr, "supernode", "register", str(public_key), *target, *naming],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        data = json.loads(out.stdout)
    except json.JSONDecodeError:
        data = {"success": False, "error-message": (out.stderr or out.stdout).strip()}
    if out.returncode != 0 or not data.get("success", False):
        raise FederatedError(f"flwr supernode register failed: {data.get('error-message', data)}")
    updated.save(roster)
    console.print(
        f"plant {plant_id}: SuperNode {data['node-id']} registered; roster {roster} holds"
        f" {len(updated.plants)} plants"
    )


@app.command(name="vendor-key")
def vendor_key_cmd(
    out: Annotated[Path, typer.Option("--out", help="Directory for vendor.key / vendor.pub.")],
    name: Annotated[str, typer.Option(help="File name stem.")] = "vendor",
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing key pair (plants trust it).")
    ] = False,
) -> None:
    """Create the vendor's Ed25519 app-signing key pair (copy the .pub to every plant)."""
    private, public = generate_vendor_key(out, name, overwrite=force)
    console.print(f"private (keep on the vendor's workstation): {private}\npublic: {public}")


@app.command(name="sign")
def sign_cmd(
    app_dir: Annotated[Path, typer.Argument(help="Flower App directory (fl app --out).")],
    key: Annotated[Path, typer.Option("--key", help="Vendor's Ed25519 private key.")],
) -> None:
    """Sign a Flower App with the vendor's key; plants run only apps that verify."""
    console.print(f"signed: {sign_app(app_dir, key)}")


@app.command(name="plant")
def plant_cmd(
    vendor_key: Annotated[
        Path, typer.Option("--vendor-key", help="The vendor's Ed25519 public key (.pub).")
    ],
    runtime_api: Annotated[
        str, typer.Option("--runtime-api", help="The SuperNode's Runtime API (host:port).")
    ] = "127.0.0.1:9094",
    require_secagg: Annotated[
        bool,
        typer.Option("--require-secagg/--allow-plain", help="Refuse rounds without SecAgg+."),
    ] = True,
    min_dp_noise: Annotated[
        float | None,
        typer.Option("--min-dp-noise", help="Refuse training below this DP noise multiplier."),
    ] = None,
    max_dp_clip: Annotated[
        float | None,
        typer.Option("--max-dp-clip", help="Refuse DP-SGD with a larger per-sample clip."),
    ] = None,
    schema: Annotated[
        list[str] | None,
        typer.Option(
            "--schema",
            help="Dataset schema of the plant's rows: a YAML file or a shipped name (default:"
            " ai4i2020); repeat for a plant with rows of several schemas (a table each).",
        ),
    ] = None,
) -> None:
    """Run the plant's ClientApp tasks for a SuperNode started with `--isolation process`.

    Only apps signed by the vendor's key run, always with the ClientApp installed here (never
    code from the submitted app); instructions weaker than the plant's policy are refused. The
    plant reads its rows by the ``--schema`` a run trains on (AI4I 2020 by default) and
    refuses runs for any other.
    """
    import logging

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise
    policy = PlantPolicy(
        vendor_key=load_vendor_key(vendor_key),
        require_secagg=require_secagg,
        min_noise_multiplier=min_dp_noise,
        max_clip=max_dp_clip,
    )
    schemas = tuple(load_schema(name) for name in schema or ()) or (default_schema(),)
    serve_plant(runtime_api, policy, schemas=schemas)


@app.command(
    name="superlink",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def superlink_cmd(
    ctx: typer.Context,
    fleet_host: Annotated[
        str, typer.Option("--fleet-host", help="Address the plants' SuperNodes connect to.")
    ] = "0.0.0.0",  # noqa: S104 - the Fleet API is meant for the plants' network
    fleet_port: Annotated[
        int, typer.Option("--fleet-port", min=1, max=65535, help="Fleet API port.")
    ] = 9092,
) -> None:
    """Run Flower's SuperLink with the Control API on loopback and the Fleet API alone outside.

    Every other argument is passed to `flower-superlink` (its --host must be loopback).
    """
    import logging

    from edgeshield.federated import serve_superlink

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    serve_superlink(list(ctx.args), fleet_host=fleet_host, fleet_port=fleet_port)


class _RunStatus:
    """A run's status from the SuperLink's Control API, as ``flwr ls`` prints it.

    One client for the whole wait, in this process: spawning ``flwr ls`` every poll paid
    Flower's whole CLI start-up each time, most of a core for as long as a run lasted.
    Flower's own connection code: the SuperLink named in ``~/.flwr/config.toml``, its TLS
    root and any login tokens.
    """

    def __init__(self, superlink: str | None) -> None:
        self.superlink = superlink
        self.client: Any = None

    def __enter__(self) -> _RunStatus:
        from flwr.cli.flower_config import read_superlink_connection
        from flwr.cli.utils import init_http_client_from_connection

        from edgeshield.errors import FederatedError

        try:
            connection = read_superlink_connection(self.superlink)
            self.client = init_http_client_from_connection(connection)
        except Exception as exc:  # Flower's own errors (typer.Exit included)
            raise FederatedError(f"cannot follow the run on the SuperLink: {exc}") from exc
        return self

    def status(self, run_id: int) -> str:
        """``pending``, ``running``, ``finished:completed``, ``finished:failed``, ..."""
        from flwr.common.serde import run_from_proto
        from flwr.proto.control_pb2 import ListRunsRequest

        from edgeshield.errors import FederatedError

        try:
            response = self.client.ListRuns(ListRunsRequest(run_id=run_id))
            run = run_from_proto(next(iter(response.run_dict.values())))
        except Exception as exc:
            raise FederatedError(f"cannot read the status of run {run_id}: {exc}") from exc
        sub = run.status.sub_status
        return f"{run.status.status}:{sub}" if sub else str(run.status.status)

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()


@app.command(name="submit")
def submit_cmd(
    app_dir: Annotated[Path, typer.Argument(help="Signed Flower App directory (fl app).")],
    superlink: Annotated[
        str | None, typer.Option("--superlink", help="Name in ~/.flwr/config.toml.")
    ] = None,
    wait: Annotated[float, typer.Option(min=1, help="Seconds to wait for the run.")] = 3600,
) -> None:
    """Submit a deployed run, follow it, and fail loudly: exit 0 only when the model exists."""
    import json
    import subprocess
    import sys
    import time
    import tomllib

    from edgeshield.errors import FederatedError

    flwr = str(Path(sys.executable).parent / "flwr")
    target = [superlink] if superlink else []
    try:
        app_config = tomllib.loads((app_dir / "pyproject.toml").read_text())
        run_dir = Path(app_config["tool"]["flwr"]["app"]["config"]["run-dir"])
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{app_dir} is not an EdgeShield Flower App: {exc}") from exc
    if run_dir.exists():
        raise ConfigError(f"the run directory {run_dir} already exists; write a fresh app")

    def flwr_json(*args: str) -> dict[str, object]:
        out = subprocess.run(  # noqa: S603 - Flower's own CLI, fixed arguments
            [flwr, *args, "--format", "json"], capture_output=True, text=True, check=False
        )
        try:
            data = json.loads(out.stdout)
        except json.JSONDecodeError:
            data = {"success": False, "error-message": (out.stderr or out.stdout).strip()}
        if out.returncode != 0 or not data.get("success", True):
            raise FederatedError(f"flwr {args[0]} failed: {data.get('error-message', data)}")
        return dict(data)

    run_id = int(str(flwr_json("run", str(app_dir), *target)["run-id"]))
    console.print(f"run {run_id} submitted; results to {run_dir}")
    deadline, status = time.monotonic() + wait, ""
    with _RunStatus(superlink) as follow:
        while time.monotonic() < deadline:
            status = follow.status(run_id)
            if status.startswith("finished"):
                break
            time.sleep(2)
    error = run_dir / "error.json"
    if status != "finished:completed" or not (run_dir / "model").is_dir():
        reason = json.loads(error.read_text())["error"] if error.exists() else status
        raise FederatedError(f"run {run_id} failed ({status or 'no status'}): {reason}")
    console.print(f"run {run_id} completed: model in {run_dir / 'model'}")
