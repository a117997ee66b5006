"""Run a federation in Flower's simulation engine and collect a :class:`FederatedResult`."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from edgeshield.errors import ConfigError, EdgeShieldError, FederatedError
from edgeshield.federated._client import ClientSettings, make_client_app
from edgeshield.federated._config import FederatedConfig
from edgeshield.federated._engine import Engine, run_in_process
from edgeshield.federated._local import get_arrays, set_arrays
from edgeshield.federated._release import privacy_statement
from edgeshield.federated._server import AfterAggregate, RoundRecord, ServerPlan, make_server_app
from edgeshield.federated._start import server_encoder, server_start
from edgeshield.usecase import (
    DatasetSchema,
    FailureClassifier,
    FailureMLP,
    Fleet,
    PlantDatabase,
    TrainConfig,
    default_schema,
    is_default_schema,
    labels,
    save_classifier,
    sqlite_url,
    stratified_split,
)

__all__ = ["FederatedResult", "quiet_flower", "run_federated", "server_encoder"]


@dataclass(frozen=True, kw_only=True)
class FederatedResult:
    """The outcome of a federated run.

    ``classifier`` is the global model with the server's encoder and the threshold the plants'
    pooled counts chose; ``rounds`` one :class:`RoundRecord` per round (with the SHA-256 digest
    of the global weights, for the ledger's round audit); ``epsilon`` the final cumulative
    epsilon (record-level: worst plant, client-level), ``None`` without DP.
    """

    config: FederatedConfig
    classifier: FailureClassifier
    rounds: tuple[RoundRecord, ...]
    record_epsilon: float | None
    client_epsilon: float | None
    plant_ids: tuple[str, ...]
    run_dir: Path
    public: dict[str, Any] | None = None

    @property
    def digests(self) -> list[str]:
        """SHA-256 digest of the global weights after each round."""
        return [r.digest for r in self.rounds]

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (written to ``summary.json`` in the run directory)."""
        last = self.rounds[-1]
        return {
            "config": self.config.to_dict(),
            "plants": list(self.plant_ids),
            "dataset_schema": {
                "name": self.classifier.schema.name,
                "sha256": self.classifier.schema.digest,
            },
            "test_f1": last.test_f1,
            "test_pr_auc": last.test_pr_auc,
            "threshold": last.threshold,
            "record_epsilon": self.record_epsilon,
            "client_epsilon": self.client_epsilon,
            "privacy": privacy_statement(self.config),
            "public_pretraining": self.public,
            "rounds": [r.as_dict() for r in self.rounds],
        }


_QUIET = {
    "FLWR_TELEMETRY_ENABLED": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DEDUP_LOGS": "0",
    "RAY_DISABLE_IMPORT_WARNING": "1",
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
}


@contextmanager
def quiet_flower() -> Iterator[None]:
    """Within the block: no Flower telemetry, Ray dashboard or usage stats, quieter logs.

    The environment (which Ray's processes inherit) and the ``flwr`` logger level are put back
    when the block ends, so a caller's own settings survive a run.
    """
    saved = {name: os.environ.get(name) for name in _QUIET}
    logger = logging.getLogger("flwr")
    level = logger.level
    os.environ.update(_QUIET)
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _prepare_data(
    config: FederatedConfig,
    source: Fleet | str,
    run_dir: Path,
    test_frame: pd.DataFrame | None,
    schema: DatasetSchema,
) -> tuple[str, tuple[str, ...], pd.DataFrame | None]:
    if isinstance(source, Fleet):
        if not is_default_schema(schema):
            raise ConfigError(
                f"generated plants are AI4I 2020 data; schema {schema.name!r} trains on plants"
                " imported into a database (data import --schema, then --db-url)"
            )
        if len(source.plant_ids) < config.plants:
            raise ConfigError(
                f"the fleet has {len(source.plant_ids)} plants, config wants {config.plants}"
            )
        url = sqlite_url(run_dir / "plants.sqlite")
        train: dict[str, pd.DataFrame] = {}
        tests = []
        ids = tuple(source.plant_ids[: config.plants])
        for pid in ids:
            tr, te = stratified_split(
                source.frames[pid], test_fraction=config.test_fraction, seed=config.seed
            )
            train[pid] = tr
            tests.append(te)
        profiles = [p for p in source.profiles if p.plant_id in ids]
        with PlantDatabase(url) as db:
            db.write_fleet(profiles, train)
        if test_frame is None:
            test_frame = pd.concat(tests, ignore_index=True)
        return url, ids, test_frame
    with PlantDatabase(source, create=False, schema=schema) as db:
        all_ids = db.plant_ids()
        if len(all_ids) < config.plants:
            raise ConfigError(
                f"the database has {len(all_ids)} plants with {schema.name!r} rows, the run"
                f" wants {config.plants} (import them with data import --schema {schema.name})"
            )
        ids = tuple(all_ids[: config.plants])
        try:  # the schema must read the stored rows before Flower starts
            db.read_plant(ids[0])
        except EdgeShieldError as exc:
            raise ConfigError(
                f"the rows of {ids[0]} in table {schema.table_name!r} do not read by schema"
                f" {schema.name!r} ({exc}); import the plants with the schema you train with"
            ) from exc
    return source, ids, test_frame


def run_federated(
    config: FederatedConfig,
    source: Fleet | str,
    run_dir: str | Path,
    *,
    test_frame: pd.DataFrame | None = None,
    on_round: Callable[[RoundRecord], None] | None = None,
    after_aggregate: AfterAggregate | None = None,
    before_training: AfterAggregate | None = None,
    num_cpus: int = 2,
    engine: Engine = Engine.SIMULATION,
    schema: DatasetSchema | None = None,
    reference: pd.DataFrame | None = None,
) -> FederatedResult:
    """Train the failure classifier across plants in Flower's simulation engine.

    Parameters
    ----------
    config
        The run's configuration (saved as ``config.json`` in ``run_dir``).
    source
        A :class:`~edgeshield.usecase.Fleet` (its rows are split per plant into training rows,
        written to ``run_dir/plants.sqlite``, and a held-out test set) or the SQLAlchemy URL
        of a plant database (all its rows train; pass ``test_frame`` for test metrics).
    run_dir
        Directory for the plant database, ``config.json``, ``summary.json`` and ``model/``.
    on_round
        Called on the server after each round with its :class:`RoundRecord`.
    after_aggregate
        Server-side hook ``(round, {name: array}) -> {name: array}`` applied to the global
        weights after each aggregation (e.g. an aggregator-side watermark); its output is the
        new global model, sent to the plants next round and digested in the round record.
    before_training
        Server-side hook of the same form, applied once to the start model (called with round
        ``0``, after public pretraining, before any plant trains); its output is what the
        plants receive in round 1 (e.g. the owner's watermark embedded with the public rows,
        see :attr:`~edgeshield.ownership.WaffleConfig.start`).
    num_cpus
        CPUs Ray may use (one plant runs per CPU at a time).
    engine
        Flower's simulation engine (Ray, the default) or the in-process grid (same apps, no
        Ray start-up; for benchmarks on small machines).
    schema
        The dataset schema the plants' rows follow (AI4I 2020 unless given); the model's
        features and target come from it and its card records it. Another schema needs a
        database ``source`` (generated plants are AI4I), ``reference`` rows and no public
        pretraining (see :func:`~edgeshield.federated.server_start`).
    reference
        Public rows in the schema's layout (never a plant's) on which the server fits the
        encoder and, under record-level DP, chooses the threshold; replaces the generated
        AI4I reference set.

    Raises
    ------
    ConfigError
        Generated plants or public pretraining with a schema other than AI4I, no reference
        rows for such a schema, or too few plants in the database.
    AggregationError
        SecAgg+ could not reconstruct, a robust rule's precondition failed, or the global
        model did not change in a round.
    FederatedError
        The simulation ended without completing every round.
    """
    with quiet_flower():
        return _run(
            config,
            source,
            run_dir,
            test_frame=test_frame,
            on_round=on_round,
            after_aggregate=after_aggregate,
            before_training=before_training,
            num_cpus=num_cpus,
            engine=engine,
            schema=schema or default_schema(),
            reference=reference,
        )


@contextmanager
def _keep_sigterm_handler() -> Iterator[None]:
    """Keep the caller's SIGTERM handler while Ray starts (``ray.init`` replaces it).

    Ray's driver handler calls ``sys.exit``: a ``SystemExit`` that Flower's simulation loop
    does not stop on, so ``fl run`` hung after SIGTERM with Ray's workers left behind. The
    CLI's handler turns SIGTERM into the same interrupt as Ctrl-C, which the loop ends on.
    """
    import signal

    import ray._private.utils as ray_utils

    before = signal.getsignal(signal.SIGTERM)
    if not callable(before):  # the default action: nothing of ours to keep
        yield
        return
    original = ray_utils.set_sigterm_handler
    ray_utils.set_sigterm_handler = lambda _handler: None
    try:
        yield
    finally:
        ray_utils.set_sigterm_handler = original


def _stop_ray() -> None:
    """Shut Ray down if Flower's engine left it running (an interrupt in the middle of a run)."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


def _run(
    config: FederatedConfig,
    source: Fleet | str,
    run_dir: str | Path,
    *,
    test_frame: pd.DataFrame | None,
    on_round: Callable[[RoundRecord], None] | None,
    after_aggregate: AfterAggregate | None,
    before_training: AfterAggregate | None,
    num_cpus: int,
    engine: Engine,
    schema: DatasetSchema,
    reference: pd.DataFrame | None,
) -> FederatedResult:
    # Ray's driver otherwise installs a C-level SIGTERM handler that dumps a stack and exits
    # at once: the CLI's handler (temporary outputs removed, Ray shut down, one error line)
    # would never run. Read by Ray at import and at init.
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    from flwr.simulation import run_simulation

    run_path = Path(run_dir)
    run_path.mkdir(parents=True, exist_ok=True)
    (run_path / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    url, plant_ids, test = _prepare_data(config, source, run_path, test_frame, schema)
    start = server_start(config, schema=schema, reference=reference)
    encoder, model = start.encoder, start.model
    if before_training is not None:
        names = list(model.state_dict().keys())
        hooked = before_training(0, dict(zip(names, get_arrays(model), strict=True)))
        set_arrays(model, [np.asarray(hooked[n], dtype=np.float32) for n in names])
        model.eval()
    plan = ServerPlan(
        config=config,
        encoder=encoder,
        initial=get_arrays(model),
        names=list(model.state_dict().keys()),
        test_x=None if test is None else encoder.transform(test),
        test_y=None if test is None else labels(test, schema),
        public_x=start.public_x,
        public_y=start.public_y,
        after_aggregate=after_aggregate,
        on_round=on_round,
    )
    settings = ClientSettings(
        db_url=url,
        plant_ids=plant_ids,
        malicious=config.malicious,
        dropout=frozenset(range(config.plants - config.dropout, config.plants)),
        schema=schema,
    )
    backend: Any = {
        "init_args": {
            "num_cpus": num_cpus,
            "include_dashboard": False,
            "logging_level": "error",
            "log_to_driver": False,
        },
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
    }
    try:
        if engine is Engine.IN_PROCESS:
            run_in_process(make_server_app(plan), make_client_app(settings), config.plants)
        else:
            with _keep_sigterm_handler():
                run_simulation(
                    server_app=make_server_app(plan),
                    client_app=make_client_app(settings),
                    num_supernodes=config.plants,
                    backend_config=backend,
                )
    except FederatedError:
        raise
    except Exception as exc:
        if isinstance(plan.error, FederatedError):
            raise plan.error from exc
        raise FederatedError(f"the Flower simulation failed: {exc}") from exc
    except BaseException:  # an interrupt: Ray's workers must not outlive the command
        _stop_ray()
        raise
    if isinstance(plan.error, FederatedError):
        raise plan.error
    if plan.error is not None:
        raise FederatedError(f"the server app failed: {plan.error!r}") from plan.error
    if len(plan.rounds) != config.rounds or plan.final is None:
        raise FederatedError(
            f"the simulation ended after {len(plan.rounds)} of {config.rounds} rounds"
        )
    final = FailureMLP(encoder.width, config.hidden, seed=config.seed)
    final.load_state_dict(
        {n: torch.as_tensor(np.asarray(a)) for n, a in zip(plan.names, plan.final, strict=True)}
    )
    final.eval()
    classifier = FailureClassifier(
        model=final,
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
        metrics={
            "federated_rounds": config.rounds,
            "test_f1": plan.rounds[-1].test_f1,
            "privacy": privacy_statement(config),
            "public_pretraining": start.public_card,
        },
    )
    result = FederatedResult(
        config=config,
        classifier=classifier,
        rounds=tuple(plan.rounds),
        record_epsilon=plan.rounds[-1].record_epsilon,
        client_epsilon=plan.rounds[-1].client_epsilon,
        plant_ids=plant_ids,
        run_dir=run_path,
        public=start.public_card,
    )
    save_classifier(classifier, run_path / "model")
    (run_path / "summary.json").write_text(json.dumps(result.summary(), indent=2, default=str))
    return result
