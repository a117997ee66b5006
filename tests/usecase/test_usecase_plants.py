import pandas as pd
import pytest

from edgeshield.errors import ConfigError
from edgeshield.usecase import (
    PLANT_COLUMN,
    FleetConfig,
    leave_one_plant_out,
    make_fleet,
    stratified_split,
)


def test_fleet_is_deterministic_and_sized() -> None:
    config = FleetConfig(plants=4, total_rows=4000)
    a, b = make_fleet(config, seed=1), make_fleet(config, seed=1)
    assert a.profiles == b.profiles
    assert sum(len(f) for f in a.frames.values()) == 4000
    assert all(len(f) >= config.min_rows for f in a.frames.values())
    pd.testing.assert_frame_equal(a.combined(), b.combined())
    assert a.profiles != make_fleet(config, seed=2).profiles


def test_plants_differ_physically() -> None:
    fleet = make_fleet(FleetConfig(plants=5, total_rows=10_000), seed=0)
    offsets = [p.ambient_offset_k for p in fleet.profiles]
    assert max(offsets) - min(offsets) > 1.0
    for p in fleet.profiles:
        air = fleet.frames[p.plant_id]["Air temperature [K]"].mean()
        assert air == pytest.approx(300 + p.ambient_offset_k, abs=0.05)
        shares = fleet.frames[p.plant_id]["Type"].value_counts(normalize=True)
        assert shares.get("L", 0) == pytest.approx(p.type_mix[0], abs=0.05)
    hottest = max(fleet.profiles, key=lambda p: p.ambient_offset_k).plant_id
    coolest = min(fleet.profiles, key=lambda p: p.ambient_offset_k).plant_id
    assert fleet.frames[hottest]["HDF"].mean() > fleet.frames[coolest]["HDF"].mean()


def test_combined_has_plant_column_and_udis_are_unique() -> None:
    combined = make_fleet(FleetConfig(plants=3, total_rows=900, min_rows=100), seed=0).combined()
    assert combined.columns[0] == PLANT_COLUMN
    assert combined["UDI"].is_unique


def test_leave_one_plant_out() -> None:
    fleet = make_fleet(FleetConfig(plants=3, total_rows=900, min_rows=100), seed=0)
    folds = list(leave_one_plant_out(fleet))
    assert [held for held, _, _ in folds] == fleet.plant_ids
    for held, train, test in folds:
        assert len(train) + len(test) == 900
        assert set(test["UDI"]) == set(fleet.frames[held]["UDI"])
        assert not set(train["UDI"]) & set(test["UDI"])


def test_stratified_split_keeps_failure_rate() -> None:
    frame = make_fleet(seed=0).combined()
    _, test = stratified_split(frame, test_fraction=0.25, seed=0)
    assert len(test) == 2500
    assert test["Machine failure"].mean() == pytest.approx(
        frame["Machine failure"].mean(), abs=0.002
    )
    with pytest.raises(ConfigError):
        stratified_split(frame, test_fraction=1.0)


@pytest.mark.parametrize(
    "kwargs", [{"plants": 0}, {"plants": 10, "total_rows": 100}, {"mix_concentration": 0.0}]
)
def test_bad_fleet_config(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        FleetConfig(**kwargs)  # type: ignore[arg-type]
