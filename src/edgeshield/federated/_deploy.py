"""Beyond one machine: the same apps on Flower's deployment engine (SuperLink + SuperNodes).

:func:`generate_tls` makes the certificate authority and the SuperLink certificate (pyca
cryptography), :func:`generate_supernode_keys` the SuperNodes' authentication keys, and
:func:`write_flower_app` the Flower App directory (``pyproject.toml`` + a two-line module) that
``flwr run`` packages. The ServerApp (:func:`deployment_server_app`) reads the run's
:class:`FederatedConfig` and the vendor's :class:`PlantRoster` from the run config, samples only
the roster's nodes, and writes ``summary.json`` and ``model/`` to the run directory; each
SuperNode's ClientApp reads its plant's database from ``--node-config`` (the ``plant-id`` it
reports there is never what the server names it by). The run's dataset schema and, for a
schema other than AI4I, the operator's public reference rows travel in the app config (signed
with the app); each plant reads its rows by its own schema (``fl plant --schema``) and refuses
a run for another one.
"""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import json
import math
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flwr.app import Context, Message, RecordDict
from flwr.proto.node_pb2 import NodeInfo
from flwr.server import Grid, ServerApp
from flwr.supercore.run import Run

from edgeshield.errors import ConfigError, FederatedError
from edgeshield.federated._config import (
    Aggregator,
    ClientDP,
    DPTrainable,
    FederatedConfig,
    RecordDP,
)
from edgeshield.federated._local import get_arrays
from edgeshield.federated._release import privacy_statement
from edgeshield.federated._roster import PlantRoster
from edgeshield.federated._server import ServerPlan, _main
from edgeshield.federated._server_opt import ServerOptimizer
from edgeshield.federated._start import check_start, server_start
from edgeshield.federated._trust import redact_urls
from edgeshield.usecase import (
    DatasetSchema,
    FailureClassifier,
    PublicPretraining,
    PublicSource,
    TrainConfig,
    default_schema,
    save_classifier,
    schema_from_dict,
    validate_frame,
)

__all__ = [
    "TlsFiles",
    "app_data",
    "config_from_dict",
    "deployment_server_app",
    "generate_supernode_keys",
    "generate_tls",
    "write_flower_app",
]


@dataclass(frozen=True, kw_only=True)
class TlsFiles:
    """PEM files: the CA certificate (for SuperNodes and ``flwr``), the SuperLink's pair."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def generate_tls(
    directory: str | Path,
    *,
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
    days: int = 30,
    now: dt.datetime | None = None,
) -> TlsFiles:
    """Create a CA and a SuperLink certificate for ``hosts`` (P-256 ECDSA, SHA-256)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    start = now or dt.datetime.now(dt.UTC)
    end = start + dt.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("EdgeShield federation CA"))
        .issuer_name(_name("EdgeShield federation CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(
        ca_cert=out / "ca.crt", server_cert=out / "server.pem", server_key=out / "server.key"
    )
    files.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.server_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.server_key.chmod(0o600)
    return files


def generate_supernode_keys(directory: str | Path, name: str) -> tuple[Path, Path]:
    """An ECDSA P-256 key pair for SuperNode authentication, both in OpenSSH format."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = out / f"{name}.key", out / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
    )
    return private, public


_PYPROJECT = """[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "edgeshield-fl"
version = "1.0.0"
description = "EdgeShield federated failure classifier (Flower app)"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "edgeshield"

[tool.flwr.app.components]
serverapp = "edgeshield_fl_app:serverapp"
clientapp = "edgeshield_fl_app:clientapp"

[tool.flwr.app.config]
config-json = '{config}'
roster-json = '{roster}'
run-dir = '{run_dir}'
schema-json = '{schema}'
reference-json = '{reference}'
"""

_MODULE = '''"""EdgeShield's Flower apps, as loaded by the SuperLink and the SuperNodes."""

from edgeshield.federated import deployment_server_app, make_client_app

serverapp = deployment_server_app()
clientapp = make_client_app()
'''


def write_flower_app(
    directory: str | Path,
    config: FederatedConfig,
    run_dir: str | Path,
    *,
    roster: PlantRoster,
    schema: DatasetSchema | None = None,
    reference: pd.DataFrame | None = None,
) -> Path:
    """Write the Flower App directory that ``flwr run`` packages and submits.

    ``roster`` (from ``fl register``) names the plants the ServerApp may sample; it must
    hold at least ``config.plants`` of them. ``schema`` (AI4I 2020 unless given) and the
    public ``reference`` rows (see :func:`~edgeshield.federated.server_start`) go into the
    app config, so the signature covers them.
    """
    layout = check_start(config, schema=schema, reference=reference)
    if config.malicious:
        raise ConfigError("malicious plants are simulation-only; a real attacker runs its own code")
    if len(roster.plants) < config.plants:
        raise ConfigError(
            f"the plant roster holds {len(roster.plants)} plants, the run needs {config.plants};"
            " register the plants first (edgeshield fl register)"
        )
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(config.to_dict())
    schema_json = json.dumps(layout.as_dict())
    rows = "" if reference is None else reference.to_json(orient="split", double_precision=15)
    if any("'" in text for text in (payload, str(run_dir), schema_json, rows)):
        raise ConfigError(
            "the configuration, run directory, schema and reference rows must not contain"
            " single quotes"
        )
    (out / "pyproject.toml").write_text(
        _PYPROJECT.format(
            config=payload,
            roster=json.dumps(roster.to_dict()),
            run_dir=Path(run_dir).resolve(),
            schema=schema_json,
            reference=rows,
        )
    )
    (out / "edgeshield_fl_app.py").write_text(_MODULE)
    return out


def config_from_dict(data: dict[str, Any]) -> FederatedConfig:
    """Inverse of :meth:`FederatedConfig.to_dict` (without malicious plants)."""
    try:
        fields = dict(data)
        fields.pop("malicious", None)
        fields["aggregator"] = Aggregator(fields["aggregator"])
        if "server_optimizer" in fields:
            fields["server_optimizer"] = ServerOptimizer(fields["server_optimizer"])
        fields["hidden"] = tuple(int(h) for h in fields["hidden"])
        if fields.get("record_dp") is not None:
            dp = dict(fields["record_dp"])
            dp["trainable"] = DPTrainable(dp.get("trainable", DPTrainable.ALL.value))
            fields["record_dp"] = RecordDP(**dp)
        if fields.get("client_dp") is not None:
            fields["client_dp"] = ClientDP(**fields["client_dp"])
        if fields.get("pretraining") is not None:
            pre = dict(fields["pretraining"])
            fields["pretraining"] = PublicPretraining(
                **{**pre, "source": PublicSource(pre["source"])}
            )
        return FederatedConfig(**fields)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"not a federated configuration: {exc}") from exc


def app_data(run_config: dict[str, Any]) -> tuple[DatasetSchema, pd.DataFrame | None]:
    """The dataset schema and public reference rows an app config carries (AI4I, none if not)."""
    try:
        text = str(run_config.get("schema-json", ""))
        schema = schema_from_dict(json.loads(text), source="app config") if text else None
        rows = str(run_config.get("reference-json", ""))
        reference = None
        if rows:
            frame = pd.read_json(io.StringIO(rows), orient="split", dtype=False)
            reference = validate_frame(frame, schema or default_schema())
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"the app config's schema or reference rows are malformed: {exc}"
        ) from exc
    return schema or default_schema(), reference


def _finite(value: Any) -> Any:
    """``summary.json`` is strict JSON: NaN and infinities become ``null``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _privacy(config: FederatedConfig, plan: ServerPlan) -> dict[str, Any]:
    """What the run's epsilon means: the parameters and the unit it protects."""
    last = plan.rounds[-1]
    if config.record_dp is not None:
        # the statement's epsilon is the accountant's over the rounds completed, the same for
        # every plant (public quantities only), and says what it covers and what it does not
        return {
            "level": "record",
            "sigma": config.record_dp.noise_multiplier,
            **privacy_statement(config, rounds=len(plan.rounds)),
        }
    if config.client_dp is not None:
        return {
            "level": "client",
            "epsilon": last.client_epsilon,
            "delta": config.client_dp.delta,
            "sigma": config.client_dp.noise_multiplier,
            "clip": config.client_dp.clipping_norm,
            "covers": "one plant's whole update in every round (RDP accountant, sampling rate 1)",
        }
    return {
        "level": "none",
        "epsilon": None,
        "delta": None,
        "sigma": None,
        "clip": None,
        "covers": "nothing: no differential privacy in this run",
    }


def _participation(config: FederatedConfig, roster: PlantRoster) -> dict[str, Any]:
    """Who may take part, and the dropout rule the run followed (stated in the summary)."""
    return {
        "roster": list(roster.plant_ids),
        "selected_by": "registered SuperNode key (the roster); reported plant ids are ignored",
        "min_plants": config.min_plants,
        "stage_wait_seconds": config.stage_wait,
        "rule": (
            f"every stage waits up to {config.stage_wait:g} s for every plant, then goes on"
            f" with the plants still connected if at least {config.min_plants} of"
            f" {config.plants} (the SecAgg+ reconstruction threshold); with fewer the run fails"
        ),
    }


class _PromptGrid(Grid):
    """The SuperLink's grid, pulling replies every ``poll`` seconds instead of every 3 s.

    Flower 1.42's ``HttpGrid.send_and_receive`` sleeps 3 s between pulls, and a SecAgg+ round
    is five exchanges (four SecAgg+ stages and the evaluation), so the wait alone cost up to
    15 s a round; everything else is delegated unchanged.
    """

    def __init__(self, inner: Grid, poll: float = 0.25) -> None:
        self.inner, self.poll = inner, poll

    def set_run(self, run: Run) -> None:
        self.inner.set_run(run)

    @property
    def run(self) -> Run:
        return self.inner.run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return self.inner.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        return self.inner.get_node_ids()

    def get_nodes(self) -> Iterable[NodeInfo]:
        return self.inner.get_nodes()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self.inner.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self.inner.pull_messages(message_ids)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Push, then pull until every reply arrived or ``timeout`` passed (as Flower does)."""
        pending = {i for i in self.push_messages(messages) if i}
        deadline = None if timeout is None else time.monotonic() + timeout
        replies: list[Message] = []
        while pending and (deadline is None or time.monotonic() < deadline):
            pulled = list(self.pull_messages(pending))
            replies.extend(pulled)
            pending.difference_update(m.metadata.reply_to_message_id for m in pulled)
            if pending:
                time.sleep(self.poll)
        return replies


def _fresh(run_dir: Path) -> Path:
    """The temporary sibling the run writes into; ``run_dir`` itself must not exist yet."""
    if run_dir.exists():
        raise FederatedError(
            f"the run directory {run_dir} already exists; every run needs a fresh one"
        )
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.", dir=run_dir.parent))


def _fail(run_dir: Path, partial: Path, message: str) -> None:
    shutil.rmtree(partial, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "error.json").write_text(json.dumps({"error": redact_urls(message)}))


def deployment_server_app() -> ServerApp:
    """The ServerApp for the deployment engine; results go to the run config's ``run-dir``.

    The run writes into a temporary sibling directory and renames it to ``run-dir`` only
    when it succeeded, so ``model/`` exists only for a finished run; a failed run leaves
    ``run-dir/error.json`` alone. An existing ``run-dir`` is refused.
    """
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        config = config_from_dict(json.loads(str(context.run_config["config-json"])))
        run_dir = Path(str(context.run_config["run-dir"]))
        if "roster-json" not in context.run_config:
            raise ConfigError("the run has no plant roster; write the app with fl app --roster")
        roster = PlantRoster.from_dict(json.loads(str(context.run_config["roster-json"])))
        schema, reference = app_data(dict(context.run_config))
        partial = _fresh(run_dir)
        start = server_start(config, schema=schema, reference=reference)
        encoder, model = start.encoder, start.model
        plan = ServerPlan(
            config=config,
            encoder=encoder,
            initial=get_arrays(model),
            names=list(model.state_dict().keys()),
            test_x=None,
            test_y=None,
            public_x=start.public_x,
            public_y=start.public_y,
            roster=roster,
        )
        try:
            _main(plan, _PromptGrid(grid), context)
            if plan.final is None or not plan.rounds:
                raise FederatedError("the deployment run ended without a completed round")
        except Exception as exc:
            _fail(run_dir, partial, f"{type(exc).__name__}: {exc}")
            raise
        model.load_state_dict(
            {n: torch.as_tensor(np.asarray(a)) for n, a in zip(plan.names, plan.final, strict=True)}
        )
        privacy = _privacy(config, plan)
        plants = plan.rounds[-1].plants
        f1s = [float(m["f1"]) for m in plants.values() if math.isfinite(float(m["f1"]))]
        classifier = FailureClassifier(
            model=model,
            encoder=encoder,
            threshold=plan.threshold,
            config=TrainConfig(
                hidden=config.hidden,
                bins=config.bins,
                epochs=config.local_epochs * config.rounds,
                batch_size=config.batch_size,
                learning_rate=config.learning_rate,
                weight_decay=config.weight_decay,
            ),
            seed=config.seed,
            metrics=_finite(
                {
                    "federated_rounds": config.rounds,
                    "local_epochs": config.local_epochs,
                    "plants_last_round": plan.rounds[-1].participants,
                    "absent_last_round": plan.rounds[-1].absent,
                    "mean_plant_validation_f1": sum(f1s) / len(f1s) if f1s else None,
                    "dp_level": privacy["level"],
                    "dp_epsilon": privacy["epsilon"],
                    "dp_delta": privacy["delta"],
                    "dp_sigma": privacy["sigma"],
                    "dp_clip": privacy["clip"],
                    "dp_trainable": privacy.get("trainable"),
                    "public_pretraining": start.public_card,
                }
            ),
        )
        save_classifier(classifier, partial / "model")
        summary = {
            "config": config.to_dict(),
            "dataset_schema": {"name": schema.name, "sha256": schema.digest},
            "privacy": privacy,
            "participation": _participation(config, roster),
            "public_pretraining": start.public_card,
            "rounds": [r.as_dict() for r in plan.rounds],
        }
        (partial / "summary.json").write_text(
            json.dumps(_finite(summary), indent=2, default=str, allow_nan=False)
        )
        partial.rename(run_dir)

    return app
