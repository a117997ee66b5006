"""Bucketed secure aggregation on Flower: SecAgg+ inside each bucket, a robust rule across them.

Why apart from the server app: one SecAgg+ run per bucket needs its own small strategy and the
workflow's state helpers (current round, global weights), which the server's other workflows
share from here.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt
from flwr.app import Context
from flwr.common import (
    FitIns,
    FitRes,
    Parameters,
    Scalar,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.compat.common import recorddict_compat as compat
from flwr.server import Grid, LegacyContext
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import Strategy
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD, Key

from edgeshield.errors import AggregationError
from edgeshield.federated._aggregators import aggregate, bucket_partition
from edgeshield.federated._config import FederatedConfig
from edgeshield.federated._local import Arrays, flatten, unflatten

__all__: list[str] = []


class EdgeStrategy(Protocol):
    """What the bucketed rounds need of the server's strategy (``_server.EdgeStrategy``).

    A protocol rather than an import: the server module imports this one, not the reverse.
    """

    config: FederatedConfig
    aggregated: set[int]
    round_buckets: dict[int, list[list[str]]]

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]: ...

    def observe_fit(
        self, server_round: int, results: list[tuple[ClientProxy, FitRes]], failures: list[Any]
    ) -> None: ...

    def plant_name(self, proxy: ClientProxy, metrics: dict[str, Scalar]) -> str: ...


class _BucketStrategy(Strategy):
    """Strategy seen by one bucket's SecAgg+ run: its plants, and it keeps the unmasked mean."""

    def __init__(self, parent: EdgeStrategy, instructions: list[tuple[ClientProxy, FitIns]]):
        super().__init__()
        self.parent = parent
        self.instructions = instructions
        self.result: Arrays | None = None
        self.weight = 0.0
        self.plants: list[str] = []

    def initialize_parameters(self, client_manager: ClientManager) -> Parameters | None:
        return None

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        return self.instructions

    def aggregate_fit(
        self, server_round: int, results: list[tuple[ClientProxy, FitRes]], failures: list[Any]
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        self.parent.observe_fit(server_round, results, failures)
        if results:
            self.result = parameters_to_ndarrays(results[0][1].parameters)
            self.weight = float(sum(r.num_examples for _, r in results))
            self.plants = [self.parent.plant_name(p, r.metrics) for p, r in results]
        return None, {}

    def configure_evaluate(self, *args: Any) -> list[Any]:
        return []

    def aggregate_evaluate(self, *args: Any) -> tuple[float | None, dict[str, Scalar]]:
        return None, {}

    def evaluate(self, *args: Any) -> None:
        return None


class _SecAggPlus(SecAggPlusWorkflow):
    """Flower's SecAgg+ workflow, surviving plants that drop out before they shared their keys.

    Flower 1.42 counts every node sampled at the setup stage as "dead" at the unmask stage if
    it did not send a masked vector, and asks the survivors for its key shares. A node that
    dropped before the share-keys stage never sent shares, so the survivors fail (they hold
    none) and the round halts, although no survivor masked its vector with that node (they mask
    only with the nodes whose shares they received). After the share-keys stage this workflow
    therefore keeps as sampled, and as anyone's neighbours, only the nodes that shared their
    keys: the unmask stage then removes exactly the masks that are in the sum (a later dropout's
    pairwise masks with the survivors; its masks with another later dropout cancel, as in
    Flower), and asks for no share the server would not have asked for otherwise.
    """

    def share_keys_stage(self, grid: Grid, context: LegacyContext, state: Any) -> bool:
        """Flower's share-keys stage; then forget the nodes that shared no keys."""
        ok = bool(super().share_keys_stage(grid, context, state))
        shared = set(state.active_node_ids)
        state.sampled_node_ids = shared
        state.nid_to_neighbours = {
            nid: neighbours & shared
            for nid, neighbours in state.nid_to_neighbours.items()
            if nid in shared
        }
        return ok


def _secagg(config: FederatedConfig) -> SecAggPlusWorkflow:
    return _SecAggPlus(
        num_shares=float(config.secagg_shares),
        reconstruction_threshold=float(config.secagg_threshold),
        clipping_range=config.secagg_clipping_range,
        max_weight=10_000.0,
    )


def _current_round(context: Context) -> int:
    return int(cast(int, context.state.config_records[MAIN_CONFIGS_RECORD][Key.CURRENT_ROUND]))


def _global(context: Context) -> Arrays:
    record = context.state.array_records[MAIN_PARAMS_RECORD]
    return cast(Arrays, parameters_to_ndarrays(compat.arrayrecord_to_parameters(record, True)))


def _set_global(context: Context, arrays: Arrays) -> None:
    context.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(
        ndarrays_to_parameters(arrays), True
    )


class _BucketedSecAggWorkflow:
    """Bucketed secure aggregation: SecAgg+ inside each bucket, a robust rule across buckets."""

    def __init__(self, strategy: EdgeStrategy) -> None:
        self.strategy = strategy

    def __call__(self, grid: Grid, context: Context) -> None:
        legacy = cast(LegacyContext, context)
        c = self.strategy.config
        server_round = _current_round(context)
        params = compat.arrayrecord_to_parameters(
            context.state.array_records[MAIN_PARAMS_RECORD], True
        )
        instructions = self.strategy.configure_fit(server_round, params, legacy.client_manager)
        rng = np.random.default_rng([c.seed, server_round])
        assert c.bucket_size is not None
        buckets = bucket_partition(len(instructions), c.bucket_size, rng)
        means: list[npt.NDArray[np.float64]] = []
        weights: list[float] = []
        names: list[list[str]] = []
        like: Arrays | None = None
        original = legacy.strategy
        try:
            for j, bucket in enumerate(buckets):
                inner = _BucketStrategy(self.strategy, [instructions[i] for i in bucket])
                legacy.strategy = inner
                _secagg(c)(grid, legacy)
                if inner.result is None:
                    raise AggregationError(
                        f"round {server_round}: SecAgg+ could not reconstruct bucket {j}"
                        f" ({len(bucket)} plants; too many dropped out for the threshold"
                        f" {c.secagg_threshold:.0%} of shares)"
                    )
                like = inner.result
                means.append(flatten(inner.result))
                weights.append(inner.weight)
                names.append(inner.plants)
        finally:
            legacy.strategy = original
        assert like is not None
        combined = aggregate(
            means,
            c.aggregator,
            f=c.assumed_malicious,
            trim_fraction=c.trim_fraction,
            weights=weights,
        )
        self.strategy.round_buckets[server_round] = names
        _set_global(context, unflatten(combined, like))
        self.strategy.aggregated.add(server_round)
