"""IPGuard-style boundary fingerprints: copies match, independent models do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edgeshield.errors import ConfigError, OwnershipError
from edgeshield.ownership import (
    Fingerprint,
    PredictFn,
    fingerprint,
    fingerprint_auc,
    match_fingerprint,
)
from edgeshield.redteam import RemovalAttack, RemovalKind, remove_watermark
from edgeshield.usecase import FailureClassifier


@pytest.fixture(scope="module")
def fp(marked: FailureClassifier, split: tuple[pd.DataFrame, pd.DataFrame]) -> Fingerprint:
    return fingerprint(marked, split[1], n=40, seed=0)


def test_copies_match_and_independent_models_do_not(
    fp: Fingerprint,
    marked: FailureClassifier,
    nulls: dict[str, PredictFn],
    split: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    assert len(fp) == 40
    assert 0 < fp.labels.mean() < 1
    assert match_fingerprint(marked, fp) == 1.0
    pruned = remove_watermark(marked, RemovalAttack(kind=RemovalKind.PRUNE, sparsity=0.1), split[0])
    copies = [match_fingerprint(pruned, fp), match_fingerprint(marked, fp)]
    independent = [match_fingerprint(predict, fp) for predict in nulls.values()]
    assert min(copies) > np.mean(independent)
    assert fingerprint_auc(copies, independent) > 0.9


def test_fingerprint_round_trips(
    fp: Fingerprint, marked: FailureClassifier, tmp_path: Path
) -> None:
    again = Fingerprint.load(fp.save(tmp_path / "fp.json"))
    assert np.array_equal(again.labels, fp.labels)
    assert match_fingerprint(marked, again) == 1.0
    (tmp_path / "bad.json").write_text('{"format": "x"}')
    with pytest.raises(OwnershipError, match="fingerprint"):
        Fingerprint.load(tmp_path / "bad.json")


def test_a_constant_model_has_no_boundary(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    with pytest.raises(OwnershipError, match="same label"):
        fingerprint(lambda frame: np.zeros(len(frame), dtype=int), split[1])


@pytest.mark.parametrize(("n", "margin"), [(1, 0.05), (10, 0.0), (10, 0.5)])
def test_bad_arguments(
    marked: FailureClassifier, split: tuple[pd.DataFrame, pd.DataFrame], n: int, margin: float
) -> None:
    with pytest.raises(ConfigError):
        fingerprint(marked, split[1], n=n, margin=margin)
    with pytest.raises(ConfigError):
        fingerprint_auc([], [0.5])
