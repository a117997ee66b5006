"""False-positive audit: honest models must not be declared OWNED more often than stated.

Issue 18: honest models (other split and init seeds, the public AI4I file or generated
fleets, other MLP widths, scikit-learn models, distilled from a clean model, and trained by a
federation of plants: FedAvg with SecAgg+, with and without public pretraining, and with
record-level DP-SGD) are tested
against many fresh owner keys; the count of false OWNED verdicts must be consistent with the
stated false-positive rate by a one-sided binomial test at 1 %. Models are trained once per
module and reused across keys; the full grid is in ``benchmarks/ownership.py``.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pandas as pd
import pytest

from edgeshield.errors import ConfigError
from edgeshield.federated import Engine, FederatedConfig, RecordDP, run_federated
from edgeshield.ownership import (
    NullModelKind,
    PredictFn,
    SensorEnvelope,
    WatermarkKey,
    null_models_needed,
    train_null_model,
    train_null_models,
)
from edgeshield.redteam import (
    FalseOwned,
    FalsePositiveAudit,
    RemovalAttack,
    RemovalKind,
    false_positive_audit,
    remove_watermark,
)
from edgeshield.usecase import (
    FleetConfig,
    TrainConfig,
    make_fleet,
    stratified_split,
    train_classifier,
)

FPR = 0.05
"""Stated false-positive rate of the audit: 19 null models support it (1/(N+1) = 0.05)."""
KEYS = 25
TRIGGERS = 30


def _key(i: int) -> WatermarkKey:
    return WatermarkKey.from_bytes(hashlib.sha256(f"audit-key-{i}".encode()).digest())


@pytest.fixture(scope="module")
def owner_rows() -> pd.DataFrame:
    fleet = make_fleet(FleetConfig(plants=2, total_rows=2_000), seed=50)
    return stratified_split(fleet.combined(), seed=50)[0]


@pytest.fixture(scope="module")
def nulls() -> dict[str, PredictFn]:
    fleet = make_fleet(FleetConfig(plants=3, total_rows=2_400), seed=60)
    kinds = (NullModelKind.MLP_NARROW, NullModelKind.LOGISTIC, NullModelKind.RANDOM_FOREST)
    return train_null_models(fleet.frames, null_models_needed(FPR), kinds=kinds, epochs=6, seed=60)


@pytest.fixture(scope="module")
def honest(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, PredictFn]:
    """Honest models of every kind the audit covers, trained once."""
    models: dict[str, PredictFn] = {}
    fleet = make_fleet(FleetConfig(plants=2, total_rows=2_000), seed=70)
    rows = fleet.combined()
    sources = {"fleet": rows}
    try:
        real = request.getfixturevalue("real_data")
        sources["ai4i"] = real.sample(n=2_500, random_state=0)
    except pytest.skip.Exception:
        pass
    for source, data in sources.items():
        for split_seed, init_seed in ((0, 0), (0, 1), (1, 0)):
            train = stratified_split(data, seed=split_seed)[0]
            for hidden in ((16,), (32,)):
                config = TrainConfig(hidden=hidden, epochs=6)
                name = f"mlp{hidden}/{source}/split{split_seed}/init{init_seed}"
                models[name] = train_classifier(train, config, seed=init_seed).predict
        clean = train_classifier(data, TrainConfig(epochs=6), seed=3)
        distil = RemovalAttack(kind=RemovalKind.DISTILL, data_fraction=0.5, epochs=6)
        models[f"distilled/{source}"] = remove_watermark(clean, distil, data, seed=4).predict
        for kind in (NullModelKind.GRADIENT_BOOSTING, NullModelKind.LOGISTIC):
            models[f"{kind.value}/{source}"] = train_null_model(kind, data, seed=5)
    federation = make_fleet(FleetConfig(plants=3, total_rows=2_400), seed=80)
    base = {"plants": 3, "rounds": 3, "local_epochs": 2, "reference_rows": 500}
    for name, extra in (
        ("federated/pretrained", {}),
        ("federated/from-scratch", {"pretraining": None}),
        ("federated/dp", {"record_dp": RecordDP(noise_multiplier=1.0, max_grad_norm=1.0)}),
    ):
        run_dir = tmp_path_factory.mktemp(name.replace("/", "-"))
        config = FederatedConfig(**base, **extra)
        result = run_federated(config, federation, run_dir, engine=Engine.IN_PROCESS)
        models[name] = result.classifier.predict
    return models


@pytest.mark.slow
def test_false_owned_count_is_consistent_with_the_stated_fpr(
    owner_rows: pd.DataFrame, nulls: dict[str, PredictFn], honest: dict[str, PredictFn]
) -> None:
    envelope = SensorEnvelope.fit(owner_rows)
    keys = [_key(i) for i in range(KEYS)]
    audit = false_positive_audit(
        honest, nulls, keys, envelope=envelope, fpr=FPR, triggers=TRIGGERS, probes=100
    )
    assert audit.pairs == KEYS * len(honest) >= 250
    assert audit.binomial_tail >= 0.01, f"{len(audit.false_owned)} false OWNED: {audit.false_owned}"
    # 19 null models support no p-value below 1/20: no verdict at a smaller stated FPR
    assert audit.smallest_p_value >= 1 / (len(nulls) + 1)
    assert any(name.startswith("federated/") for name in honest)


def test_the_audit_bounds_and_tests_the_false_owned_count() -> None:
    """The audit's arithmetic: 0 of 300 gives the rule-of-three bound 1 - 0.05^(1/300); 30 of
    300 at a stated 5 % is inconsistent (binomial tail < 1 %) and the bound says so."""
    clean = FalsePositiveAudit(
        stated_fpr=0.05,
        keys=10,
        models=("a", "b"),
        null_models=19,
        pairs=300,
        false_owned=(),
        smallest_p_value=0.2,
    )
    assert clean.rate == 0.0
    assert clean.rate_upper_95 == pytest.approx(1 - 0.05 ** (1 / 300), rel=1e-9)
    assert clean.binomial_tail == 1.0
    assert clean.holds
    accused = tuple(FalseOwned(key_index=i, model="b", matches=30, p_value=0.05) for i in range(30))
    noisy = replace(clean, false_owned=accused)
    assert noisy.rate == pytest.approx(0.1)
    assert noisy.binomial_tail < 0.01
    assert noisy.rate_upper_95 > 0.1
    assert not noisy.holds
    assert noisy.models_accused == ("b",)
    assert noisy.as_dict()["false_owned"][0] == {
        "key_index": 0,
        "model": "b",
        "matches": 30,
        "p_value": 0.05,
    }
    with pytest.raises(ConfigError):
        false_positive_audit({}, {}, [_key(0)], envelope=None, fpr=0.05)  # type: ignore[arg-type]
