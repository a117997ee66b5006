"""The server's starting point: encoder, initial model (publicly pretrained) and public rows.

Why apart: the simulation (``_run.py``) and the deployment engine (``_deploy.py``) must start
from the same model and choose thresholds on the same public rows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch

from edgeshield.federated._config import FederatedConfig
from edgeshield.usecase import (
    FailureMLP,
    FeatureEncoder,
    GeneratorConfig,
    PublicPretraining,
    generate,
    labels,
    pretrain,
    public_data,
)

__all__ = [
    "REFERENCE_SEED",
    "ServerStart",
    "server_encoder",
    "server_public_rows",
    "server_start",
]

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


def server_start(config: FederatedConfig) -> ServerStart:
    """Fit the encoder, build the initial model and pretrain it on public data if configured.

    The public rows returned (the pretraining source's calibration rows, or the generated
    reference set without pretraining) are where the server chooses the threshold under DP.
    Pretraining is deterministic, so its result is cached per process for equal inputs.
    """
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
