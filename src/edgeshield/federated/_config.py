"""Configuration of a federated run: one frozen dataclass, saved next to the run's results."""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from edgeshield.errors import ConfigError
from edgeshield.federated._server_opt import ServerOptimizer
from edgeshield.usecase import PublicPretraining

__all__ = [
    "Aggregator",
    "ClientDP",
    "DPTrainable",
    "FederatedConfig",
    "MaliciousPlant",
    "PlantBehaviour",
    "RecordDP",
]

Vector = npt.NDArray[np.float32]


class Aggregator(enum.Enum):
    """How the server combines plant updates (or bucket means) into the global model."""

    FEDAVG = "fedavg"
    KRUM = "krum"
    MULTI_KRUM = "multi-krum"
    MEDIAN = "median"
    TRIMMED_MEAN = "trimmed-mean"
    BULYAN = "bulyan"

    @property
    def robust(self) -> bool:
        """True for the Byzantine-robust rules (all but FedAvg)."""
        return self is not Aggregator.FEDAVG


class DPTrainable(enum.Enum):
    """Which parameters DP-SGD trains in the plants; the rest stay as the global model has them.

    Why: DP-SGD's noise has the same scale in every trained coordinate while the clipped
    gradient's norm is shared among them, so fine-tuning only the output layer of a publicly
    pretrained model (its feature layers frozen) keeps more signal per unit of epsilon. On the
    demo's small network it did not raise failure F1 (``benchmarks/pretraining.py``): the
    frozen features limit what the output layer can learn.
    """

    ALL = "all"
    HEAD = "head"


@runtime_checkable
class PlantBehaviour(Protocol):
    """What a (malicious) plant does to its data before training and to its update after.

    The red team (:mod:`edgeshield.redteam`) implements the attacks; the federated client only
    calls these two methods, so honest plants and attackers run the same client code.
    """

    @property
    def name(self) -> str:
        """Short name of the behaviour (recorded in the run's config)."""
        ...

    def poison_data(self, x: Vector, y: Vector, rng: np.random.Generator) -> tuple[Vector, Vector]:
        """Return the (possibly poisoned) training rows."""
        ...

    def poison_update(
        self, global_params: list[Vector], local_params: list[Vector]
    ) -> list[Vector]:
        """Return the parameters the plant reports, given the global and its trained ones."""
        ...


def _refuse_non_finite(config: object) -> None:
    """Refuse NaN or infinite float settings (``x <= 0`` lets NaN through every range check)."""
    for item in fields(config):  # type: ignore[arg-type]
        value = getattr(config, item.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{item.name} must be finite, got {value}")


@dataclass(frozen=True, kw_only=True)
class MaliciousPlant:
    """A plant (by its index in the run's plant order) that follows ``behaviour``."""

    plant: int
    behaviour: PlantBehaviour


@dataclass(frozen=True, kw_only=True)
class RecordDP:
    """Record-level DP-SGD inside each plant with Opacus.

    Parameters
    ----------
    noise_multiplier
        Gaussian noise standard deviation relative to ``max_grad_norm``.
    max_grad_norm
        Per-sample gradient clipping norm.
    delta
        The delta at which each plant's epsilon is reported.
    reproducible
        Demos and benchmarks only: draw the noise and the Poisson batches from the run's seed,
        so one seed gives one model. Anyone who knows the seed can then recompute the noise,
        which voids the guarantee. Off (default): fresh OS entropy per plant and round.
    sample_rate
        Public Poisson sampling rate of every DP-SGD step: each plant includes each of its rows
        with this probability and takes ``int(1 / sample_rate)`` steps per local epoch, so the
        accountant needs no plant's row count and every plant has the same epsilon.
    trainable
        The parameters DP-SGD trains (:class:`DPTrainable`): all (default) or only the output
        layer, the layers before it kept as received. Epsilon is the same either way (the
        accountant counts steps, not parameters); frozen parameters are sent back unchanged.
    """

    noise_multiplier: float = 1.0
    max_grad_norm: float = 1.0
    delta: float = 1e-5
    reproducible: bool = False
    sample_rate: float = 0.02
    trainable: DPTrainable = DPTrainable.ALL

    def __post_init__(self) -> None:
        _refuse_non_finite(self)
        if not isinstance(self.trainable, DPTrainable):
            raise ConfigError(f"trainable must be a DPTrainable, got {self.trainable!r}")
        if self.noise_multiplier <= 0 or self.max_grad_norm <= 0:
            raise ConfigError("record-level DP needs a positive noise multiplier and clip norm")
        if not 0 < self.delta < 1:
            raise ConfigError(f"delta must lie in (0, 1), got {self.delta}")
        if not 0 < self.sample_rate <= 0.5:
            raise ConfigError(f"sample_rate must lie in (0, 0.5], got {self.sample_rate}")


@dataclass(frozen=True, kw_only=True)
class ClientDP:
    """Client-level DP: each plant's update is clipped, the server adds Gaussian noise.

    Uses Flower's ``DifferentialPrivacyClientSideFixedClipping`` wrapper and
    ``fixedclipping_mod`` (clipping happens on the plant, before SecAgg+ masking).
    """

    noise_multiplier: float = 1.0
    clipping_norm: float = 1.0
    delta: float = 1e-5

    def __post_init__(self) -> None:
        _refuse_non_finite(self)
        if self.noise_multiplier <= 0 or self.clipping_norm <= 0:
            raise ConfigError("client-level DP needs a positive noise multiplier and clip norm")
        if not 0 < self.delta < 1:
            raise ConfigError(f"delta must lie in (0, 1), got {self.delta}")


@dataclass(frozen=True, kw_only=True)
class FederatedConfig:
    """Everything that defines a federated run; runs are reproducible from it.

    Parameters
    ----------
    plants
        Number of plants (Flower clients); the first ``plants`` of the fleet or database.
    rounds
        Federated rounds.
    local_epochs, batch_size, learning_rate, weight_decay, hidden, bins
        Local training (the use case's :func:`~edgeshield.usecase.fit_mlp`) and model shape.
    lr_decay
        The plants' learning rate in round ``r`` is ``learning_rate * lr_decay ** (r - 1)``
        (each round starts a fresh Adam, whose first steps are large; decay lets FedAvg settle).
    proximal_mu
        FedProx (Li et al., "Federated Optimization in Heterogeneous Networks", MLSys 2020):
        each plant adds ``proximal_mu / 2 * ||w - w_global||^2`` to its local loss, which
        curbs the drift of non-IID plants away from the global model; ``0`` (the default) is
        FedAvg's local training. Without record-level DP only (DP-SGD does not add the term).
    server_momentum
        FedAvgM (Hsu, Qi, Brown, "Measuring the Effects of Non-Identical Data Distribution for
        Federated Visual Classification", 2019): the server applies the aggregated update with
        heavy-ball momentum; ``0`` is plain FedAvg. Only with the ``sgd`` server optimizer.
    server_optimizer, server_lr, server_tau
        How the server applies the robust aggregate's update ``aggregate - global`` (a
        pseudo-gradient) to the global model (:class:`ServerOptimizer`): SGD with learning rate
        ``server_lr`` (``1`` and no momentum: plain FedAvg, the default), or FedAdam / FedYogi
        (Reddi et al., "Adaptive Federated Optimization", ICLR 2021) with server learning rate
        ``server_lr`` (at most 10) and adaptivity ``server_tau`` (in ``(0, 1]``; unused by SGD).
        It runs after the robust aggregation (and before the ``after_aggregate`` hook) on what
        the plants sent, so it is post-processing: each plant's DP guarantee is unchanged. On
        the demo's configuration it did not raise F1 (``benchmarks/pretraining.py``).
    release_average
        The released model (the run's classifier, the per-round test figures, digests and
        threshold) is the mean of the global models of the last ``release_average`` rounds
        (tail averaging, Polyak and Juditsky 1992), which damps the round-to-round swing of the
        last global model. The plants keep training from the last global model and, without
        record-level DP, choose the threshold on the released model. Post-processing of models
        the server already holds: each plant's DP guarantee is unchanged. ``1`` (the default)
        releases the last global model; at most ``rounds``.
    secure
        SecAgg+ (on by default): the server only learns sums of masked, quantized updates.
    secagg_shares
        Fraction of the (bucket's) plants each plant shares its keys with (Flower's
        ``num_shares`` as a fraction).
    secagg_threshold
        Fraction of the shares needed to reconstruct a dropped plant's mask; the run survives
        up to ``1 - secagg_threshold`` of the plants dropping out mid-round.
    secagg_clipping_range
        Parameters are clipped to ``[-range, range]`` before quantization.
    aggregator
        FedAvg or a Byzantine-robust rule. With ``secure`` a robust rule needs ``bucket_size``:
        after unmasking the server only has the sum, so it would silently be FedAvg.
    assumed_malicious
        The ``f`` that Krum, Multi-Krum and Bulyan assume (counted in aggregator inputs).
    trim_fraction
        Share cut from each end by the trimmed mean.
    bucket_size
        Bucketing (Karimireddy, He, Jaggi, ICLR 2022): plants are shuffled into buckets of
        this size every round, SecAgg+ runs inside each bucket and the robust aggregator
        combines the bucket means. ``None`` disables bucketing.
    update_clip_norm
        L2 clipping of each plant's update before masking (with bucketing and by default
        ``5.0`` there); ``None`` leaves updates unclipped.
    record_dp, client_dp
        Optional record-level (Opacus DP-SGD) and client-level DP.
    malicious
        Plants that follow an attack (see :mod:`edgeshield.redteam`).
    dropout
        Number of plants (the last ones) that crash mid-round in every round, after their
        SecAgg+ keys were shared: the dropout case SecAgg+ must survive.
    test_fraction
        Share of each plant's rows kept out of training for the held-out test set.
    reference_rows
        Rows of the vendor's public reference set on which the server fits the encoder.
    pretraining
        Public pretraining of the initial model (default: the shipped UCI AI4I 2020 file);
        its calibration rows also give the threshold under record-level DP. ``None`` starts
        from a random model.
    seed
        Seed of data splits, initial model, bucketing and client training.
    stage_wait
        Seconds each stage (every round's training, every evaluation) waits for plants that are
        not connected before it proceeds with those that are, if at least :attr:`min_plants`;
        with fewer the run fails. Deployed plants drop out; simulated ones are all there.
    """

    plants: int = 5
    rounds: int = 10
    local_epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 3e-3
    lr_decay: float = 1.0
    proximal_mu: float = 0.0
    server_momentum: float = 0.0
    server_optimizer: ServerOptimizer = ServerOptimizer.SGD
    server_lr: float = 1.0
    server_tau: float = 1e-3
    weight_decay: float = 1e-5
    release_average: int = 1
    hidden: tuple[int, ...] = (32,)
    bins: int = 16
    secure: bool = True
    secagg_shares: float = 1.0
    secagg_threshold: float = 0.6
    secagg_clipping_range: float = 8.0
    aggregator: Aggregator = Aggregator.FEDAVG
    assumed_malicious: int = 1
    trim_fraction: float = 0.2
    bucket_size: int | None = None
    update_clip_norm: float | None = None
    record_dp: RecordDP | None = None
    client_dp: ClientDP | None = None
    malicious: tuple[MaliciousPlant, ...] = field(default_factory=tuple)
    dropout: int = 0
    test_fraction: float = 0.25
    reference_rows: int = 2000
    pretraining: PublicPretraining | None = field(default_factory=PublicPretraining)
    seed: int = 0
    stage_wait: float = 120.0

    def __post_init__(self) -> None:
        _refuse_non_finite(self)
        if self.plants < 2:
            raise ConfigError(f"a federation needs at least 2 plants, got {self.plants}")
        if self.rounds < 1 or self.local_epochs < 1 or self.batch_size < 1:
            raise ConfigError("rounds, local_epochs and batch_size must be at least 1")
        if self.learning_rate <= 0 or self.weight_decay < 0:
            raise ConfigError("learning_rate must be positive and weight_decay non-negative")
        if not 0 <= self.server_momentum < 1:
            raise ConfigError(f"server_momentum must lie in [0, 1), got {self.server_momentum}")
        self._check_server_optimizer()
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(f"lr_decay must lie in (0, 1], got {self.lr_decay}")
        self._check_proximal()
        if not 1 <= self.release_average <= self.rounds:
            raise ConfigError(
                f"release_average must lie in [1, rounds={self.rounds}], got {self.release_average}"
            )
        if not 0 < self.secagg_shares <= 1 or not 0 < self.secagg_threshold <= 1:
            raise ConfigError("secagg_shares and secagg_threshold are fractions in (0, 1]")
        if self.secagg_clipping_range <= 0:
            raise ConfigError("secagg_clipping_range must be positive")
        if self.assumed_malicious < 0 or not 0 <= self.trim_fraction < 0.5:
            raise ConfigError("assumed_malicious must be >= 0 and trim_fraction in [0, 0.5)")
        if self.bucket_size is not None and not 1 <= self.bucket_size <= self.plants:
            raise ConfigError(f"bucket_size must lie in [1, plants], got {self.bucket_size}")
        if self.secure and self.bucket_size is not None and self.bucket_size < 2:
            raise ConfigError("SecAgg+ inside a bucket needs buckets of at least 2 plants")
        if self.secure and self.aggregator.robust and self.bucket_size is None:
            raise ConfigError(
                f"{self.aggregator.value} on top of SecAgg+ would silently be FedAvg (the server"
                " only sees the sum); set bucket_size for bucketed secure aggregation, or"
                " secure=False"
            )
        if self.client_dp is not None and (self.aggregator.robust or self.bucket_size):
            raise ConfigError("client-level DP is accounted for FedAvg without bucketing only")
        if self.update_clip_norm is not None and self.update_clip_norm <= 0:
            raise ConfigError("update_clip_norm must be positive")
        if not 0 <= self.dropout < self.plants:
            raise ConfigError(f"dropout must lie in [0, plants), got {self.dropout}")
        seen = [m.plant for m in self.malicious]
        if len(set(seen)) != len(seen) or any(not 0 <= p < self.plants for p in seen):
            raise ConfigError(f"malicious plants must be distinct indices below {self.plants}")
        if not 0 < self.stage_wait <= 3600:
            raise ConfigError(f"stage_wait must lie in (0, 3600] seconds, got {self.stage_wait}")
        if not 0.05 <= self.test_fraction <= 0.5 or self.reference_rows < 200:
            raise ConfigError("test_fraction must lie in [0.05, 0.5] and reference_rows >= 200")
        self._check_robust_inputs()

    def _check_proximal(self) -> None:
        """Refuse a FedProx ``proximal_mu`` that is negative, not finite, or asked of DP-SGD."""
        if not (np.isfinite(self.proximal_mu) and self.proximal_mu >= 0):
            raise ConfigError(f"proximal_mu must be finite and >= 0, got {self.proximal_mu}")
        if self.proximal_mu > 0 and self.record_dp is not None:
            raise ConfigError(
                "proximal_mu (FedProx) applies to the plants' non-DP training only; record-level"
                " DP-SGD does not add the proximal term"
            )

    def _check_server_optimizer(self) -> None:
        """Refuse a server optimizer setting that is not a finite positive step or mixes rules."""
        if not isinstance(self.server_optimizer, ServerOptimizer):
            raise ConfigError(
                f"server_optimizer must be a ServerOptimizer, got {self.server_optimizer!r}"
            )
        if not (np.isfinite(self.server_lr) and 0 < self.server_lr <= 10):
            raise ConfigError(f"server_lr must lie in (0, 10], got {self.server_lr}")
        if not (np.isfinite(self.server_tau) and 0 < self.server_tau <= 1):
            raise ConfigError(f"server_tau must lie in (0, 1], got {self.server_tau}")
        if self.server_optimizer is not ServerOptimizer.SGD and self.server_momentum > 0:
            raise ConfigError(
                "server_momentum is FedAvgM's (server_optimizer sgd);"
                f" {self.server_optimizer.value} has its own first moment (beta1 0.9)"
            )

    def _check_robust_inputs(self) -> None:
        """Refuse a robust rule that can never tolerate what it claims to (every entry point).

        A median or trimmed mean over two inputs is their mean, so bucketing needs at least
        three buckets; Krum / Multi-Krum need ``n >= 2f + 3`` inputs and Bulyan ``n >= 4f + 3``
        (counted in buckets when bucketing, after the simulated dropouts).
        """
        if not self.aggregator.robust:
            return
        buckets = self.plants // self.bucket_size if self.bucket_size else self.plants
        if self.aggregator in (Aggregator.MEDIAN, Aggregator.TRIMMED_MEAN) and buckets < 3:
            raise ConfigError(
                f"{self.aggregator.value} needs at least 3 inputs, got {buckets} (the"
                f" {self.aggregator.value} of two buckets is their mean); use more plants or a"
                " smaller bucket_size"
            )
        n, f = self.plants - self.dropout, self.assumed_malicious
        if self.bucket_size is not None:
            n = max(n // self.bucket_size, 1)
        if self.aggregator in (Aggregator.KRUM, Aggregator.MULTI_KRUM) and n < 2 * f + 3:
            raise ConfigError(f"{self.aggregator.value} needs n >= 2f+3 inputs, got n={n}, f={f}")
        if self.aggregator is Aggregator.BULYAN and n < 4 * f + 3:
            raise ConfigError(f"bulyan needs n >= 4f+3 inputs, got n={n}, f={f}")

    @property
    def min_plants(self) -> int:
        """The fewest connected plants a stage proceeds with (the dropout threshold).

        SecAgg+'s reconstruction threshold over all plants, as Flower computes it
        (``round(secagg_threshold * plants)``, at least 2): with fewer survivors SecAgg+ could
        not unmask the sum anyway, and without SecAgg+ the same bound keeps a round from
        resting on one or two plants.
        """
        return min(self.plants, max(2, round(self.secagg_threshold * self.plants)))

    @property
    def clip_norm(self) -> float | None:
        """The update-norm clip the plants apply before masking, if any."""
        if self.client_dp is not None:
            return self.client_dp.clipping_norm
        if self.update_clip_norm is not None:
            return self.update_clip_norm
        return 5.0 if self.bucket_size is not None else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, saved as ``config.json`` with the run."""
        out = asdict(self)
        out["aggregator"] = self.aggregator.value
        out["server_optimizer"] = self.server_optimizer.value
        out["hidden"] = list(self.hidden)
        if self.record_dp is not None:
            out["record_dp"]["trainable"] = self.record_dp.trainable.value
        if self.pretraining is not None:
            out["pretraining"]["source"] = self.pretraining.source.value
        out["malicious"] = [
            {"plant": m.plant, "behaviour": m.behaviour.name} for m in self.malicious
        ]
        return out
