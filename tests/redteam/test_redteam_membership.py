"""Membership-inference audit: the attacks find memorized rows, and DP-SGD hides them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from edgeshield.errors import ConfigError, DataError
from edgeshield.federated import FederatedConfig, RecordDP, server_encoder
from edgeshield.redteam import MembershipAuditConfig, membership_audit
from edgeshield.usecase import MACHINE_FAILURE, FleetConfig, make_fleet

ENCODER = server_encoder(FederatedConfig(reference_rows=500))


def _noisy_labels(rows: int) -> pd.DataFrame:
    """Rows whose labels are coin flips: a model can only fit them by memorizing."""
    frame = make_fleet(FleetConfig(plants=2, total_rows=rows), seed=3).combined()
    frame[MACHINE_FAILURE] = np.random.default_rng(0).integers(0, 2, len(frame))
    return frame


AUDIT = MembershipAuditConfig(pool_rows=160, epochs=60, hidden=(64,), targets=2, seed=1)


@pytest.fixture(scope="module")
def memorizing() -> tuple[object, object]:
    frame = _noisy_labels(600)
    plain = membership_audit(frame, ENCODER, AUDIT)
    private = membership_audit(
        frame,
        ENCODER,
        # fewer, larger DP-SGD steps than the plain audit: Opacus steps are what cost the time
        # here, and the private models need not memorize (the attacks must fail on them; they
        # sat at chance with 30 epochs as with these 10, at a third of the time)
        MembershipAuditConfig(
            pool_rows=160,
            epochs=10,
            batch_size=64,
            hidden=(64,),
            targets=2,
            seed=1,
            dp=RecordDP(noise_multiplier=3.0, max_grad_norm=0.5),
        ),
    )
    return plain, private


def test_lira_and_loss_attacks_detect_a_memorizing_model(memorizing) -> None:
    plain, _ = memorizing
    assert plain.train_accuracy > plain.test_accuracy + 0.2
    assert plain.lira.auc > 0.7
    assert plain.loss_threshold.auc > 0.6
    assert plain.lira.tpr_at_1pct_fpr > 0.01
    assert plain.epsilon is None
    assert plain.models == 10


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_dp_sgd_brings_the_attacks_close_to_chance(memorizing) -> None:
    plain, private = memorizing
    assert private.epsilon is not None
    assert 0 < private.epsilon < 20
    assert private.lira.auc < 0.6
    assert private.lira.auc < plain.lira.auc
    assert private.as_dict()["delta"] == 1e-5


@pytest.mark.parametrize(
    "kwargs",
    [{"shadows": 4}, {"shadows": 9}, {"targets": 0}, {"pool_rows": 10}, {"learning_rate": 0.0}],
)
def test_bad_audit_settings_raise(kwargs) -> None:
    with pytest.raises(ConfigError):
        MembershipAuditConfig(**kwargs)


def test_too_few_rows_raise() -> None:
    with pytest.raises(DataError, match="needs 160 rows"):
        membership_audit(_noisy_labels(600).head(100), ENCODER, AUDIT)
