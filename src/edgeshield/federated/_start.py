"""The server's starting point: encoder, initial model (publicly pretrained) and public rows.

Why apart: the simulation (``_run.py``) and the deployment engine (``_deploy.py``) must start
from the same model and choose thresholds on the same public rows.

For AI4I 2020 (the default schema) the public rows are generated (the vendor's reference set)
or the shipped UCI file (public pretraining). Any other dataset schema has no such rows: the
operator supplies a public reference set in the schema's layout (``reference``), on which the
server fits the encoder and, under record-level DP, chooses the threshold. Plant rows are
never used for either, so epsilon keeps covering everything a plant sends.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch

from edgeshield.errors import ConfigError
from edgeshield.federated._config import FederatedConfig
from edgeshield.usecase import (
    DatasetSchema,
    FailureMLP,
    FeatureEncoder,
    GeneratorConfig,
    PublicPretraining,
    default_schema,
    generate,
    is_default_schema,
    labels,
    pretrain,
    public_data,
)

__all__ = [
    "REFERENCE_SEED",
    "ServerStart",
    "check_start",
    "server_encoder",
    "server_public_rows",
    "server_start",
]

#: Fewest rows of each class an operator's public reference set must hold.
MIN_REFERENCE_CLASS_ROWS = 5

#: Seed offset of the vendor's public reference set (independent of any plant's data).
REFERENCE_SEED = 7919


def server_encoder(config: FederatedConfig) -> FeatureEncoder:
    """The encoder the server fits on its own public reference set (never on plant data)."""
    reference = generate(
        GeneratorConfig(rows=config.reference_rows), seed=config.seed + REFERENCE_SEED
    )
    return FeatureEncoder.fit(reference, bins=config.bins)


def server_public_rows(config: FederatedConfig) -> pd.DataFrame:
    """The public rows the server trains the start model on (none of them a plant's).

    Why: a server-side hook that re-trains the global model (the owner's watermark) mixes
    these rows in to hold the decision where pretraining put it; they are the pretraining
    rows (never the calibration rows the threshold is chosen on), or the generated
    reference set when the run starts without pretraining.
    """
    if config.pretraining is None:
        return generate(
            GeneratorConfig(rows=config.reference_rows), seed=config.seed + REFERENCE_SEED
        )
    return public_data(config.pretraining, seed=config.seed + REFERENCE_SEED).train


@dataclass(frozen=True, kw_only=True)
class ServerStart:
    """What the server holds before round 1 (all of it from public data)."""

    encoder: FeatureEncoder
    model: FailureMLP
    public_x: npt.NDArray[np.float32]
    public_y: npt.NDArray[np.float32]
    public_card: dict[str, Any] | None


@functools.lru_cache(maxsize=4)
def _pretrained(
    pretraining: PublicPretraining,
    reference_rows: int,
    bins: int,
    hidden: tuple[int, ...],
    seed: int,
) -> tuple[dict[str, torch.Tensor], pd.DataFrame, dict[str, Any]]:
    """Pretrained weights, calibration rows and card (cached: equal inputs, equal model)."""
    config = FederatedConfig(reference_rows=reference_rows, bins=bins, hidden=hidden, seed=seed)
    encoder = server_encoder(config)
    model = FailureMLP(encoder.width, hidden, seed=seed)
    public = public_data(pretraining, seed=seed + REFERENCE_SEED)
    pretrain(model, encoder, public, pretraining, seed=seed)
    model.eval()
    return model.state_dict(), public.calibration, public.card()


def _check_reference(reference: pd.DataFrame, schema: DatasetSchema) -> None:
    """Refuse a reference set that cannot place bin edges or choose a threshold."""
    y = labels(reference, schema)
    if min(int(y.sum()), int(y.size - y.sum())) < MIN_REFERENCE_CLASS_ROWS:
        raise ConfigError(
            f"the public reference set needs at least {MIN_REFERENCE_CLASS_ROWS} rows of each"
            f" class ({schema.target.column} = {schema.target.positive!r} and not), got"
            f" {int(y.sum())} of {y.size}"
        )


def check_start(
    config: FederatedConfig,
    *,
    schema: DatasetSchema | None = None,
    reference: pd.DataFrame | None = None,
) -> DatasetSchema:
    """Refuse a start that :func:`server_start` cannot make; return the schema in force.

    Why apart: ``fl app`` checks the run before it writes the app, without pretraining.
    """
    layout = schema or default_schema()
    if config.pretraining is not None and not is_default_schema(layout):
        raise ConfigError(
            f"public pretraining ({config.pretraining.source.value}) is AI4I 2020 data; a model"
            f" for schema {layout.name!r} starts from scratch (--pretrain none)"
        )
    if reference is not None:
        if config.pretraining is not None:
            raise ConfigError(
                "a public reference set replaces the generated one and cannot be combined with"
                " public pretraining (--pretrain none)"
            )
        _check_reference(reference, layout)
    elif not is_default_schema(layout):
        raise ConfigError(
            f"schema {layout.name!r} has no generated public rows: give the server a public"
            " reference set in its layout (--reference FILE) to fit the encoder and, under DP,"
            " choose the threshold on (plant rows are never used for either)"
        )
    return layout


def server_start(
    config: FederatedConfig,
    *,
    schema: DatasetSchema | None = None,
    reference: pd.DataFrame | None = None,
) -> ServerStart:
    """Fit the encoder, build the initial model and pretrain it on public data if configured.

    The public rows returned (the pretraining source's calibration rows, the operator's
    ``reference`` rows, or the generated reference set) are where the server chooses the
    threshold under DP. Pretraining is deterministic, so its result is cached per process for
    equal inputs.

    Raises
    ------
    ConfigError
        A schema other than AI4I 2020 without ``reference`` rows or with public (AI4I)
        pretraining; ``reference`` with public pretraining; a reference set without at least
        :data:`MIN_REFERENCE_CLASS_ROWS` rows of each class.
    """
    layout = check_start(config, schema=schema, reference=reference)
    if reference is not None:
        encoder = FeatureEncoder.fit(reference, bins=config.bins, schema=layout)
        return ServerStart(
            encoder=encoder,
            model=FailureMLP(encoder.width, config.hidden, seed=config.seed),
            public_x=encoder.transform(reference),
            public_y=labels(reference, layout),
            public_card=None,
        )
    encoder = server_encoder(config)
    model = FailureMLP(encoder.width, config.hidden, seed=config.seed)
    card: dict[str, Any] | None = None
    if config.pretraining is not None:
        state, calibration, card = _pretrained(
            config.pretraining, config.reference_rows, config.bins, config.hidden, config.seed
        )
        model.load_state_dict({k: v.clone() for k, v in state.items()})
        model.eval()
        card = dict(card)
    else:
        calibration = generate(
            GeneratorConfig(rows=config.reference_rows), seed=config.seed + REFERENCE_SEED
        )
    return ServerStart(
        encoder=encoder,
        model=model,
        public_x=encoder.transform(calibration),
        public_y=labels(calibration),
        public_card=card,
    )
