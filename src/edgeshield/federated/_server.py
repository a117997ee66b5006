"""The Flower ServerApp: strategy, SecAgg+ (flat or bucketed) and the no-silent-failure guard.

The server owns a public reference set from which it fits the feature encoder (never on plant
data) and sends it to the plants in every instruction. It chooses the decision threshold from
TP/FP/FN counts the plants report on their validation rows, or under record-level DP from its
public calibration rows (plants then release nothing but the model, see ``_release.py``),
evaluates the released model (the global model, or the mean of the last
``release_average`` rounds' global models) on its held-out test set, and records a SHA-256
digest of its weights after every round.

With a :class:`~edgeshield.federated.PlantRoster` (the deployment engine) plants are known by
their registered SuperNode key: only nodes in the roster are sampled, and every result is named
by the roster, never by the ``plant`` a node reports. Every stage waits a bounded time
(``stage_wait``) for missing plants, then goes on with those connected if at least
``min_plants`` (the dropout threshold), so a plant that died mid-round does not stall the run.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import torch
from flwr.app import Context
from flwr.common import (
    EvaluateIns,
    EvaluateRes,
    FitIns,
    FitRes,
    Parameters,
    Scalar,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server import Grid, LegacyContext, ServerApp, ServerConfig
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import DifferentialPrivacyClientSideFixedClipping, Strategy
from flwr.server.workflow import DefaultWorkflow
from flwr.server.workflow.default_workflows import default_evaluate_workflow, default_fit_workflow
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

from edgeshield.errors import AggregationError, FederatedError
from edgeshield.federated._accounting import rdp_epsilon
from edgeshield.federated._aggregators import aggregate, bucket_partition
from edgeshield.federated._bucketed import (
    _BucketedSecAggWorkflow,
    _current_round,
    _global,
    _secagg,
    _set_global,
)
from edgeshield.federated._config import FederatedConfig
from edgeshield.federated._local import THRESHOLD_GRID, flatten, unflatten, weights_digest
from edgeshield.federated._release import public_threshold, record_epsilon
from edgeshield.federated._roster import PlantRoster
from edgeshield.federated._server_opt import ServerOptimizer, ServerOptimizerState, server_step
from edgeshield.usecase import FailureMLP, FeatureEncoder, failure_metrics

__all__ = ["AfterAggregate", "RoundRecord", "ServerPlan", "make_server_app"]

logger = logging.getLogger(__name__)

Arrays = list[npt.NDArray[np.float32]]

#: Server-side hook run on the global weights after each round's aggregation (e.g. the
#: owner's aggregator-side watermark): receives the round and ``{name: array}`` in
#: ``state_dict`` order, returns the weights to use as the new global model.
AfterAggregate = Callable[
    [int, dict[str, npt.NDArray[np.float32]]], dict[str, npt.NDArray[np.float32]]
]


@dataclass(frozen=True, kw_only=True)
class RoundRecord:
    """What one federated round produced (all figures on the round's released model).

    The released model is the global model, or with ``release_average`` the mean of the last
    rounds' global models.

    ``plants`` maps each plant to its validation metrics (``f1``, ``pr_auc``, ``rows``);
    ``contributors`` are the plants whose update is in the round's aggregate and ``absent``
    the roster's plants that are not (deployment only: without a roster it stays empty);
    ``epsilon`` is the cumulative (record-level: worst plant; client-level) epsilon so far.
    """

    round: int
    digest: str
    threshold: float
    test_f1: float
    test_pr_auc: float
    plants: dict[str, dict[str, float]]
    participants: int
    failures: int
    contributors: list[str]
    absent: list[str]
    buckets: list[list[str]]
    record_epsilon: float | None
    client_epsilon: float | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(kw_only=True)
class ServerPlan:
    """Everything the ServerApp needs, built by :func:`~edgeshield.federated.run_federated`."""

    config: FederatedConfig
    encoder: FeatureEncoder
    initial: Arrays
    names: list[str]
    test_x: npt.NDArray[np.float32] | None
    test_y: npt.NDArray[np.float32] | None
    public_x: npt.NDArray[np.float32] | None = None
    public_y: npt.NDArray[np.float32] | None = None
    roster: PlantRoster | None = None
    after_aggregate: AfterAggregate | None = None
    on_round: Callable[[RoundRecord], None] | None = None
    rounds: list[RoundRecord] = field(default_factory=list)
    final: Arrays | None = None
    threshold: float = 0.5
    error: BaseException | None = None


class EdgeStrategy(Strategy):
    """All plants every round; robust aggregation; threshold from pooled plant counts.

    ``grid`` gives the nodes' registered keys for the plan's roster; without a roster
    (simulation, in-process grid: the plants are the server's own code) the plants' reported
    names are used.
    """

    def __init__(self, plan: ServerPlan, grid: Grid | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.grid = grid
        self.known: dict[int, str] = {}
        self.config = plan.config
        self.threshold = 0.5
        self.round_start = time.perf_counter()
        self.aggregated: set[int] = set()
        self.round_failures: dict[int, int] = {}
        self.round_participants: dict[int, int] = {}
        self.round_contributors: dict[int, list[str]] = {}
        self.round_buckets: dict[int, list[list[str]]] = {}
        self.plant_steps: dict[str, int] = {}
        self.plant_rows: dict[str, int] = {}
        self.plant_metrics: dict[str, dict[str, float]] = {}
        self.optimizer_state = ServerOptimizerState()
        self.recent: deque[Arrays] = deque(maxlen=self.config.release_average)
        self.released: Arrays | None = None
        self._common: dict[str, Scalar] = {
            "encoder": json.dumps(plan.encoder.to_dict()),
            "hidden": json.dumps(list(self.config.hidden)),
            "seed": self.config.seed,
            "schema": plan.encoder.schema.digest,
        }

    def __repr__(self) -> str:
        return f"EdgeStrategy({self.config.aggregator.value})"

    def initialize_parameters(self, client_manager: ClientManager) -> Parameters | None:
        """The server's seeded initial model."""
        return ndarrays_to_parameters(self.plan.initial)

    def plant_name(self, proxy: ClientProxy, metrics: dict[str, Scalar]) -> str:
        """Who sent a result: the roster's plant for its node, else (simulation) its report."""
        if self.plan.roster is not None:
            return self.known.get(int(proxy.node_id), f"unknown-node-{proxy.node_id}")
        return str(metrics.get("plant", "?"))

    def _eligible(self, client_manager: ClientManager) -> list[ClientProxy]:
        """Connected nodes that may be sampled, in a stable order (by plant, else node ID)."""
        # all() makes Flower's compat layer refresh the connected nodes from the grid first
        connected = sorted(client_manager.all().values(), key=lambda c: c.node_id)
        if self.plan.roster is None:
            return connected
        if self.grid is None:
            raise FederatedError("a plant roster needs the grid's node keys")
        self.known = self.plan.roster.resolve(self.grid.get_nodes())
        eligible = [c for c in connected if int(c.node_id) in self.known]
        return sorted(eligible, key=lambda c: self.known[int(c.node_id)])

    def _clients(self, client_manager: ClientManager) -> list[ClientProxy]:
        """The plants of one stage: all of them, or after ``stage_wait`` those connected.

        Fails with :class:`FederatedError` when fewer than ``min_plants`` are connected then.
        """
        c = self.config
        deadline = time.monotonic() + c.stage_wait
        chosen = self._eligible(client_manager)
        while len(chosen) < c.plants and time.monotonic() < deadline:
            time.sleep(0.5)
            chosen = self._eligible(client_manager)
        if len(chosen) < c.min_plants:
            raise FederatedError(
                f"only {len(chosen)} of {c.plants} plants connected after waiting"
                f" {c.stage_wait:g} s; a stage needs at least {c.min_plants}"
            )
        if len(chosen) < c.plants:
            logger.warning(
                "%d of %d plants connected after %g s: going on without the others",
                len(chosen),
                c.plants,
                c.stage_wait,
            )
        return chosen[: c.plants]

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        """Send the global model and the training recipe to every plant."""
        c = self.config
        fit_cfg: dict[str, Scalar] = {
            **self._common,
            "round": server_round,
            "epochs": c.local_epochs,
            "batch_size": c.batch_size,
            "lr": c.learning_rate * c.lr_decay ** (server_round - 1),
            "wd": c.weight_decay,
            "prox_mu": c.proximal_mu,
        }
        if c.record_dp is not None:
            fit_cfg["dp_noise"] = c.record_dp.noise_multiplier
            fit_cfg["dp_clip"] = c.record_dp.max_grad_norm
            fit_cfg["dp_delta"] = c.record_dp.delta
            fit_cfg["dp_sample_rate"] = c.record_dp.sample_rate
            fit_cfg["dp_reproducible"] = c.record_dp.reproducible
            fit_cfg["dp_trainable"] = c.record_dp.trainable.value
        if c.clip_norm is not None and c.client_dp is None:
            fit_cfg[KEY_CLIPPING_NORM] = c.clip_norm
        return [(p, FitIns(parameters, dict(fit_cfg))) for p in self._clients(client_manager)]

    def observe_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[Any],
    ) -> None:
        """Bookkeeping of one round's (or bucket's) fit results: rows, DP steps, failures."""
        self.round_failures[server_round] = self.round_failures.get(server_round, 0) + len(failures)
        self.round_participants[server_round] = self.round_participants.get(server_round, 0) + len(
            results
        )
        names = self.round_contributors.setdefault(server_round, [])
        for proxy, res in results:
            plant = self.plant_name(proxy, res.metrics)
            names.append(plant)
            self.plant_steps[plant] = self.plant_steps.get(plant, 0) + int(
                cast(int, res.metrics.get("steps", 0))
            )
            self.plant_rows[plant] = int(cast(int, res.metrics.get("rows", res.num_examples)))

    def combine(self, server_round: int, results: list[tuple[ClientProxy, FitRes]]) -> Arrays:
        """Aggregate plant parameters (plain mode) with the configured rule and bucketing."""
        c = self.config
        if not results:
            raise AggregationError(f"round {server_round}: no plant returned an update")
        arrays = [parameters_to_ndarrays(r.parameters) for _, r in results]
        vectors = [flatten(a) for a in arrays]
        weights = [float(r.num_examples) for _, r in results]
        if c.bucket_size is not None and not c.secure:
            rng = np.random.default_rng([c.seed, server_round])
            buckets = bucket_partition(len(vectors), c.bucket_size, rng)
            plants = [self.plant_name(p, r.metrics) for p, r in results]
            self.round_buckets[server_round] = [[plants[i] for i in b] for b in buckets]
            vectors = [np.mean([vectors[i] for i in b], axis=0) for b in buckets]
            weights = [float(sum(weights[i] for i in b)) for b in buckets]
        combined = aggregate(
            vectors,
            c.aggregator,
            f=c.assumed_malicious,
            trim_fraction=c.trim_fraction,
            weights=weights,
        )
        return unflatten(combined, arrays[0])

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[Any],
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        """Aggregate one round; under SecAgg+ every result carries the same unmasked mean."""
        self.observe_fit(server_round, results, failures)
        combined = self.combine(server_round, results)
        self.aggregated.add(server_round)
        return ndarrays_to_parameters(combined), {}

    def release(self, global_arrays: Arrays) -> Arrays:
        """The released model after a round: the mean of the last ``release_average`` globals."""
        self.recent.append([np.array(a, dtype=np.float32, copy=True) for a in global_arrays])
        if len(self.recent) == 1:
            self.released = self.recent[0]
        else:
            self.released = [
                np.mean(np.stack(layer), axis=0).astype(np.float32)
                for layer in zip(*self.recent, strict=True)
            ]
        return self.released

    def configure_evaluate(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, EvaluateIns]]:
        """Every plant evaluates the released model on its validation rows (none under DP)."""
        if self.config.record_dp is not None:
            return []  # the threshold comes from public data; plants release nothing more
        if self.released is not None:
            parameters = ndarrays_to_parameters(self.released)
        cfg: dict[str, Scalar] = {**self._common, "threshold": self.threshold, "private": False}
        return [(p, EvaluateIns(parameters, dict(cfg))) for p in self._clients(client_manager)]

    def aggregate_evaluate(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, EvaluateRes]],
        failures: list[Any],
    ) -> tuple[float | None, dict[str, Scalar]]:
        """Per-plant metrics, and the threshold that maximizes F1 on the pooled counts."""
        if not results:
            return None, {}
        total = np.zeros((3, THRESHOLD_GRID.size), dtype=np.int64)
        self.plant_metrics = {}
        for proxy, res in results:
            counts = np.asarray(json.loads(str(res.metrics["counts"])), dtype=np.int64)
            if counts.shape == total.shape:
                total += counts
            self.plant_metrics[self.plant_name(proxy, res.metrics)] = {
                "f1": float(cast(float, res.metrics["f1"])),
                "pr_auc": float(cast(float, res.metrics["pr_auc"])),
                "rows": float(res.num_examples),
            }
        tp, fp, fn = total
        f1 = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
        best = np.flatnonzero(f1 == f1.max())
        self.threshold = float(THRESHOLD_GRID[best[len(best) // 2]])
        rows = sum(r.num_examples for _, r in results)
        loss = sum(r.loss * r.num_examples for _, r in results) / max(rows, 1)
        return float(loss), {}

    def evaluate(
        self, server_round: int, parameters: Parameters
    ) -> tuple[float, dict[str, Scalar]] | None:
        """Centralized evaluation happens after the plants' threshold vote (see workflow)."""
        return None


class _GuardedFit:
    """Runs a fit workflow and stops the run when it did not produce a new global model."""

    def __init__(self, inner: Callable[[Grid, Context], None], strategy: EdgeStrategy) -> None:
        self.inner = inner
        self.strategy = strategy

    def __call__(self, grid: Grid, context: Context) -> None:
        server_round = _current_round(context)
        self.strategy.round_start = time.perf_counter()
        before = _global(context)
        self.inner(grid, context)
        if server_round not in self.strategy.aggregated:
            raise AggregationError(
                f"round {server_round}: secure aggregation halted without a result (SecAgg+"
                " could not reconstruct: too many plants dropped out for the threshold"
                f" {self.strategy.config.secagg_threshold:.0%} of shares)"
            )
        after = _global(context)
        plan = self.strategy.plan
        c = self.strategy.config
        plain = c.server_optimizer is ServerOptimizer.SGD and c.server_lr == 1
        if not (plain and c.server_momentum == 0):  # FedAvgM, FedAdam, FedYogi on the delta
            after = server_step(
                c.server_optimizer,
                before,
                after,
                self.strategy.optimizer_state,
                lr=c.server_lr,
                tau=c.server_tau,
                momentum=c.server_momentum,
            )
            _set_global(context, after)
        if plan.after_aggregate is not None:
            named = dict(zip(plan.names, after, strict=True))
            hooked = plan.after_aggregate(server_round, named)
            after = [np.asarray(hooked[n], dtype=np.float32) for n in plan.names]
            _set_global(context, after)
        if all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)):
            raise AggregationError(f"round {server_round}: the global model did not change")
        if not all(np.all(np.isfinite(a)) for a in after):
            raise AggregationError(f"round {server_round}: the global model is not finite")
        self.strategy.release(after)


class _RecordingEvaluate:
    """Federated evaluation, then the held-out test metrics and the round record."""

    def __init__(self, strategy: EdgeStrategy) -> None:
        self.strategy = strategy

    def __call__(self, grid: Grid, context: Context) -> None:
        default_evaluate_workflow(grid, context)
        s, plan, c = self.strategy, self.strategy.plan, self.strategy.config
        server_round = _current_round(context)
        arrays = s.released if s.released is not None else _global(context)
        state = {n: torch.as_tensor(a) for n, a in zip(plan.names, arrays, strict=True)}
        f1 = pr_auc = float("nan")
        model = FailureMLP(plan.encoder.width, c.hidden, seed=0)
        model.load_state_dict(state)
        if c.record_dp is not None and plan.public_x is not None and plan.public_y is not None:
            s.threshold = public_threshold(plan.public_y, model.predict_proba(plan.public_x))
        if plan.test_x is not None and plan.test_y is not None:
            m = failure_metrics(
                plan.test_y, model.predict_proba(plan.test_x), threshold=s.threshold
            )
            f1, pr_auc = m.f1, m.pr_auc
        record_eps = None
        if c.record_dp is not None:  # public inputs only: rate, steps, rounds, sigma
            record_eps = record_epsilon(
                c.record_dp, rounds=server_round, local_epochs=c.local_epochs
            )
        client_eps = None
        if c.client_dp is not None:  # every plant's update in every round: rate 1
            client_eps = rdp_epsilon(
                noise_multiplier=c.client_dp.noise_multiplier,
                sample_rate=1.0,
                steps=server_round,
                delta=c.client_dp.delta,
            )
        contributors = sorted(s.round_contributors.get(server_round, []))
        roster = plan.roster.plant_ids if plan.roster is not None else ()
        record = RoundRecord(
            round=server_round,
            digest=weights_digest(state),
            threshold=s.threshold,
            test_f1=f1,
            test_pr_auc=pr_auc,
            plants=dict(s.plant_metrics),
            participants=s.round_participants.get(server_round, 0),
            failures=c.plants - s.round_participants.get(server_round, 0),
            contributors=contributors,
            absent=[p for p in roster if p not in contributors],
            buckets=s.round_buckets.get(server_round, []),
            record_epsilon=record_eps,
            client_epsilon=client_eps,
            seconds=time.perf_counter() - s.round_start,
        )
        plan.rounds.append(record)
        plan.final = arrays
        plan.threshold = s.threshold
        if plan.on_round is not None:
            plan.on_round(record)


def make_server_app(plan: ServerPlan) -> ServerApp:
    """The ServerApp for ``plan``: legacy strategy API (what SecAgg+ needs in Flower 1.42)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            _main(plan, grid, context)
        except BaseException as exc:
            plan.error = exc
            raise

    return app


def _main(plan: ServerPlan, grid: Grid, context: Context) -> None:
    c = plan.config
    strategy = EdgeStrategy(plan, grid)
    outer: Strategy = strategy
    if c.client_dp is not None:
        outer = DifferentialPrivacyClientSideFixedClipping(
            strategy,
            noise_multiplier=c.client_dp.noise_multiplier,
            clipping_norm=c.client_dp.clipping_norm,
            num_sampled_clients=c.plants,
        )
    legacy = LegacyContext(
        context=context, config=ServerConfig(num_rounds=c.rounds), strategy=outer
    )
    fit: Callable[[Grid, Context], None]
    if c.secure and c.bucket_size is not None:
        fit = _BucketedSecAggWorkflow(strategy)
    elif c.secure:
        fit = _secagg(c)
    else:
        fit = default_fit_workflow
    workflow = DefaultWorkflow(
        fit_workflow=_GuardedFit(fit, strategy), evaluate_workflow=_RecordingEvaluate(strategy)
    )
    workflow(grid, legacy)
