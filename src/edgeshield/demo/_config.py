"""What the demonstrator runs: fleet, training, release, attacks and proof, in one config."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from edgeshield.errors import ConfigError
from edgeshield.federated import DPTrainable, Engine
from edgeshield.usecase import DatasetSchema, PublicSource, is_default_schema

__all__ = ["MAX_TRIGGERS", "MIN_TRIGGERS", "DemoConfig", "PoisonKind"]

MIN_TRIGGERS = 20
"""Fewest triggers the demo accepts: fewer cannot reach a p-value worth stating."""
MAX_TRIGGERS = 1000
"""Most triggers the demo accepts: the trigger set is learnt beside the public rows."""


class PoisonKind(enum.Enum):
    """The malicious plants' attack during federated training."""

    SIGN_FLIP = "sign-flip"
    MODEL_REPLACEMENT = "model-replacement"
    LABEL_FLIP = "label-flip"
    BACKDOOR = "backdoor"


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    """Everything the demo does; the defaults are the ``make demo`` run (a few minutes).

    Parameters
    ----------
    plants, rows
        Fleet size and rows over all plants (``rows``: generated AI4I plants only; with
        ``data`` the file decides).
    schema, data, split_by
        The dataset schema (``None``: AI4I 2020, whose plants the demo generates) and, for any
        other schema, the CSV its plants come from: a public reference set and held-out test
        rows are drawn from it first, then the rest is split into plants at random or by the
        ``split_by`` column (as ``data import --plants --split`` splits). Such a run starts
        from a random model (the public pretraining file is AI4I data) and its watermark
        triggers come from the schema's envelope fitted on the reference rows.
    rounds, local_epochs, batch_size
        Federated training schedule, and the plants' local (DP-SGD) batch size.
    malicious, poison
        Malicious plants (the first ones) and their attack.
    bucket_size
        Bucketed secure aggregation: SecAgg+ inside buckets of this size, median across them.
    dp_noise
        Record-level DP-SGD noise multiplier inside every plant (``None``: no DP); each
        plant's epsilon is reported at delta 1e-5. The default 2.0 with 48,000 rows and batch
        128 gave epsilon 2.2-3.6 (worst plant, seeds 0-2) for failure F1 0.46-0.53 against
        0.69-0.80 without DP; 12,000 rows and batch 64 gave epsilon 3.2-5.0 for F1 0.34-0.51
        (``benchmarks/demo_dp.py``: more rows lower the sampling rate, and so epsilon, and a
        larger batch lowers the noise per example). Since issue 14 the Poisson rate is public
        (``batch_size`` over a plant's expected training rows), so every plant has the same
        epsilon, and it covers everything a plant sends: under DP plants send no counts,
        metrics or row counts, and the server picks the threshold on public data.
    dp_trainable
        What DP-SGD fine-tunes in the plants: every layer (default) or only the output layer of
        the publicly pretrained model (:class:`~edgeshield.federated.DPTrainable`).
    hidden
        Hidden-layer widths of the failure classifier (the public start, the federated model
        and the price table's reference runs). One layer of 128 by default: wider than the
        library's 32 units, which DP-SGD fine-tunes better from the public start (10 seeds of
        ``benchmarks/pretraining.py``: failure F1 0.798 +- 0.029 unmarked with 8 bins, against
        0.758 +- 0.020 at 32 units over 16 bins; 256 units did no better than 128).
    bins
        Piecewise-linear bins per numeric feature in the model's input encoding
        (:class:`~edgeshield.usecase.FeatureEncoder`); 8 by default (16 at 128 units scored
        0.783 +- 0.022 on the same seeds).
    pretrain
        Start from a model the vendor pretrained on public data: the UCI AI4I 2020 file shipped
        with the package (default) or rows generated from the published physics; ``None``
        starts from a random model (required with a schema other than AI4I's).
    reproducible_dp
        Draw the DP noise from ``seed`` so one seed gives one model (demos and benchmarks only:
        a known seed gives away the noise). Off by default: with DP, runs differ.
    compare_fedavg
        Also train once with plain FedAvg under the same attack (for the "attack vs aggregator"
        comparison in the report).
    price_protections
        Also train, in a second process while the demo runs, the reference models of the
        price table: central on the pooled rows, and the same federated run without the
        watermark, without and with DP (:mod:`edgeshield.demo._reference`); with ``data``, on
        the same file's rows, split the same way.
    engine
        The Flower ServerApp and ClientApps on an in-process grid (default: no Ray start-up),
        or on Flower's simulation engine (Ray).
    null_models
        Independently trained models that calibrate the ownership test (at least 20 for a
        stated false-positive rate worth quoting).
    triggers
        The owner's watermark triggers (WAFFLE's trigger set and the ownership test's queries).
        100 by default: against 50, the same matches rate gives a far smaller p-value, and the
        mark cost no more F1 (``docs/results.md``, public pretraining).
    attack_budget, thief_queries, benign_queries
        Queries of the Jacobian attacker, of the natural-query thief, and of the benign client.
    seed
        Seed of data, training, attacks and the two watermark secrets (signing and device
        keys are always fresh random keys).
    rpc_url, private_keys
        An Ethereum JSON-RPC node instead of the embedded chain, and the keys to sign with.
    """

    plants: int = 6
    rows: int = 48_000
    rounds: int = 8
    local_epochs: int = 3
    batch_size: int = 128
    malicious: int = 1
    poison: PoisonKind = PoisonKind.SIGN_FLIP
    bucket_size: int = 2
    dp_noise: float | None = 2.0
    dp_trainable: DPTrainable = DPTrainable.ALL
    hidden: tuple[int, ...] = (128,)
    bins: int = 8
    reproducible_dp: bool = False
    pretrain: PublicSource | None = PublicSource.AI4I_2020
    compare_fedavg: bool = True
    price_protections: bool = True
    engine: Engine = Engine.IN_PROCESS
    null_models: int = 20
    triggers: int = 100
    attack_budget: int = 600
    thief_queries: int = 2000
    benign_queries: int = 400
    seed: int = 0
    rpc_url: str | None = None
    private_keys: tuple[str, ...] = ()
    schema: DatasetSchema | None = None
    data: Path | None = None
    split_by: str | None = None

    @property
    def generated(self) -> bool:
        """Whether the plants are generated AI4I 2020 data (no ``schema`` other than AI4I's)."""
        return self.schema is None or is_default_schema(self.schema)

    def __post_init__(self) -> None:
        if self.plants < 3:
            raise ConfigError(f"the demo needs at least 3 plants, got {self.plants}")
        if self.generated:
            if self.data is not None or self.split_by is not None:
                raise ConfigError(
                    "the demo generates AI4I 2020 plants; --data and --split-by are for a"
                    " schema other than AI4I's"
                )
            if self.rows < 300 * self.plants:
                raise ConfigError(f"the demo needs at least 300 rows per plant, got {self.rows}")
        else:
            name = self.schema.name if self.schema is not None else ""
            if self.data is None:
                raise ConfigError(
                    f"schema {name!r} has no generator: give the demo its rows (--data FILE)"
                )
            if self.pretrain is not None:
                raise ConfigError(
                    f"public pretraining ({self.pretrain.value}) is AI4I 2020 data; a model for"
                    f" schema {name!r} starts from a random model (pretrain None)"
                )
        if self.rounds < 1 or self.local_epochs < 1 or self.batch_size < 1:
            raise ConfigError("rounds, local_epochs and batch_size must be at least 1")
        if not 0 <= self.malicious < self.plants / 2:
            raise ConfigError(
                f"malicious plants must be fewer than half the plants, got {self.malicious}"
            )
        # A remainder joins other buckets (no plant is left alone in a bucket), so floor.
        buckets = self.plants // self.bucket_size if self.bucket_size >= 1 else 0
        if buckets < 3:
            raise ConfigError(
                f"bucket_size {self.bucket_size} leaves {buckets} bucket(s) of {self.plants} "
                "plants; the median across buckets needs at least 3"
            )
        if not isinstance(self.dp_trainable, DPTrainable):
            raise ConfigError(f"dp_trainable must be a DPTrainable, got {self.dp_trainable!r}")
        if not 1 <= len(self.hidden) <= 4 or not all(1 <= h <= 4096 for h in self.hidden):
            raise ConfigError(f"hidden must be 1 to 4 layer widths in [1, 4096], got {self.hidden}")
        if not 2 <= self.bins <= 64:
            raise ConfigError(f"bins must lie in [2, 64], got {self.bins}")
        if self.dp_noise is not None and self.dp_noise <= 0:
            raise ConfigError("dp_noise must be positive (or None for no DP)")
        if self.null_models < 3:
            raise ConfigError("the ownership test needs at least 3 null models")
        if not MIN_TRIGGERS <= self.triggers <= MAX_TRIGGERS:
            raise ConfigError(
                f"triggers must lie in [{MIN_TRIGGERS}, {MAX_TRIGGERS}], got {self.triggers}"
            )
        if min(self.attack_budget, self.thief_queries, self.benign_queries) < 100:
            raise ConfigError("attack, thief and benign budgets must be at least 100 queries")
