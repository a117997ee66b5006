"""Public pretraining: the vendor trains the failure classifier on public data first.

Why: DP-SGD from a random start spends its privacy budget learning what public data already
teaches (the failure physics); fine-tuning a publicly pretrained model under DP keeps most of
the non-private accuracy (Tramer and Boneh, "Differentially Private Learning Needs Better
Features (or Much More Data)", ICLR 2021; Ganesh et al., "Why Is Public Pretraining Necessary
for Private Model Training?", ICML 2023). Two public sources: the published UCI AI4I 2020
file shipped with the package (CC BY 4.0, see ``data/ATTRIBUTION.md``), or rows generated
from the published failure physics (:func:`~edgeshield.usecase.generate` with its defaults).
Neither is any plant's data, so neither costs privacy budget.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from importlib import resources

import pandas as pd

from edgeshield.errors import ConfigError
from edgeshield.usecase._csvio import read_uci_csv
from edgeshield.usecase._features import FeatureEncoder, labels
from edgeshield.usecase._generator import GeneratorConfig, generate
from edgeshield.usecase._model import FailureMLP, fit_mlp
from edgeshield.usecase._plants import stratified_split

__all__ = ["PublicData", "PublicPretraining", "PublicSource", "pretrain", "public_data"]

#: SHA-256 of the shipped copy of the UCI file (checked on every load).
AI4I_SHA256 = "86a781eb21879efff711de9011a8d37973ceb083b61871fed9f8b6bef2c058ea"


class PublicSource(enum.Enum):
    """Where the vendor's public rows come from."""

    AI4I_2020 = "ai4i2020"
    """The published UCI AI4I 2020 file (real machines; differs from every plant)."""
    GENERATED = "generated"
    """Rows generated from the published failure physics with the default line parameters."""


@dataclass(frozen=True, kw_only=True)
class PublicPretraining:
    """How the vendor pretrains before the federation.

    Parameters
    ----------
    source
        The public data.
    epochs, batch_size, learning_rate
        Non-private training on the public rows (Adam, as :func:`fit_mlp`).
    calibration_fraction
        Share of the public rows held out of pretraining, on which the server chooses the
        decision threshold (public, so choosing it costs no privacy budget).
    rows
        Rows generated for :attr:`PublicSource.GENERATED` (ignored for the file).
    """

    source: PublicSource = PublicSource.AI4I_2020
    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 3e-3
    calibration_fraction: float = 0.3
    rows: int = 10_000

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ConfigError("pretraining needs epochs, batch_size >= 1 and a positive rate")
        if not 0.1 <= self.calibration_fraction <= 0.5:
            raise ConfigError("calibration_fraction must lie in [0.1, 0.5]")
        if self.rows < 1000:
            raise ConfigError(f"generated public data needs at least 1000 rows, got {self.rows}")


@dataclass(frozen=True, kw_only=True)
class PublicData:
    """Public rows, split into pretraining and threshold-calibration rows, with provenance."""

    source: PublicSource
    train: pd.DataFrame
    calibration: pd.DataFrame
    sha256: str
    size_bytes: int
    rows: int

    def card(self) -> dict[str, object]:
        """Provenance for the model card: source, digest, size."""
        return {
            "source": self.source.value,
            "description": (
                "UCI AI4I 2020 Predictive Maintenance Dataset (S. Matzka, 2020), CC BY 4.0"
                if self.source is PublicSource.AI4I_2020
                else "rows generated from the published AI4I failure physics"
            ),
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "rows": self.rows,
            "pretraining_rows": len(self.train),
            "calibration_rows": len(self.calibration),
        }


def _ai4i_bytes() -> bytes:
    data = resources.files("edgeshield.usecase").joinpath("data/ai4i2020.csv").read_bytes()
    if hashlib.sha256(data).hexdigest() != AI4I_SHA256:
        raise ConfigError("the shipped ai4i2020.csv does not match its recorded SHA-256")
    return data


def public_data(config: PublicPretraining, *, seed: int) -> PublicData:
    """Load (or generate) the public rows and split off the calibration rows.

    Raises
    ------
    ConfigError
        The shipped file does not match its digest.
    """
    if config.source is PublicSource.AI4I_2020:
        data = _ai4i_bytes()
        path = resources.files("edgeshield.usecase").joinpath("data/ai4i2020.csv")
        with resources.as_file(path) as real:
            frame = read_uci_csv(real)
    else:
        frame = generate(GeneratorConfig(rows=config.rows), seed=seed)
        data = frame.to_csv(index=False).encode()
    train, calibration = stratified_split(
        frame, test_fraction=config.calibration_fraction, seed=seed
    )
    return PublicData(
        source=config.source,
        train=train,
        calibration=calibration,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        rows=len(frame),
    )


def pretrain(
    model: FailureMLP,
    encoder: FeatureEncoder,
    data: PublicData,
    config: PublicPretraining,
    *,
    seed: int,
) -> list[float]:
    """Train ``model`` in place on the public pretraining rows; return the loss per epoch."""
    return fit_mlp(
        model,
        encoder.transform(data.train),
        labels(data.train),
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        seed=seed,
    )
