import numpy as np
import pandas as pd
import pytest

from edgeshield.errors import ConfigError
from edgeshield.usecase import UCI_COLUMNS, GeneratorConfig, generate, validate_frame
from edgeshield.usecase._rules import heat_dissipation_failure, overstrain_failure, power_failure

SENSORS = [
    "Air temperature [K]",
    "Process temperature [K]",
    "Rotational speed [rpm]",
    "Torque [Nm]",
    "Tool wear [min]",
]


@pytest.fixture(scope="module")
def runs() -> list[pd.DataFrame]:
    return [generate(seed=s) for s in range(8)]


def test_columns_and_schema() -> None:
    frame = generate(GeneratorConfig(rows=500), seed=1)
    assert tuple(frame.columns) == UCI_COLUMNS
    assert len(frame) == 500
    validate_frame(frame)  # raises on any schema problem
    assert frame["UDI"].tolist() == list(range(1, 501))
    assert all(pid[0] == t for pid, t in zip(frame["Product ID"], frame["Type"], strict=True))


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    a, b, c = generate(seed=3), generate(seed=3), generate(seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_labels_follow_the_rules_and_machine_failure_is_any_mode() -> None:
    frame = generate(seed=5)
    air, process = frame[SENSORS[0]].to_numpy(), frame[SENSORS[1]].to_numpy()
    speed, torque = frame[SENSORS[2]].to_numpy(dtype=float), frame[SENSORS[3]].to_numpy()
    wear, types = frame[SENSORS[4]].to_numpy(dtype=float), frame["Type"].to_numpy(dtype=str)
    assert np.array_equal(frame["HDF"] == 1, heat_dissipation_failure(air, process, speed))
    assert np.array_equal(frame["PWF"] == 1, power_failure(torque, speed))
    assert np.array_equal(frame["OSF"] == 1, overstrain_failure(wear, torque, types))
    any_mode = frame[["TWF", "HDF", "PWF", "OSF", "RNF"]].max(axis=1)
    assert np.array_equal(frame["Machine failure"], any_mode)


def test_tool_wear_process(runs: list[pd.DataFrame]) -> None:
    frame = runs[0]
    wear = frame["Tool wear [min]"].to_numpy()
    steps = np.diff(wear)
    prev_type = frame["Type"].to_numpy()[:-1]
    growing = steps >= 0
    expected = np.vectorize({"L": 2, "M": 3, "H": 5}.__getitem__)(prev_type)
    assert np.array_equal(steps[growing], expected[growing])
    resets = np.flatnonzero(~growing)
    assert np.all(wear[resets + 1] == 0)
    # Tool-wear failures happen only on the last row before a replacement.
    twf_rows = np.flatnonzero(frame["TWF"].to_numpy()[:-1] == 1)
    assert set(twf_rows) <= set(resets)
    rate = np.mean([f["TWF"].sum() / np.sum(np.diff(f["Tool wear [min]"]) < 0) for f in runs])
    assert rate == pytest.approx(0.39, abs=0.08)


def test_type_mix_and_correlations(runs: list[pd.DataFrame]) -> None:
    shares = pd.concat(runs)["Type"].value_counts(normalize=True)
    assert shares["L"] == pytest.approx(0.6, abs=0.01)
    assert shares["M"] == pytest.approx(0.3, abs=0.01)
    assert shares["H"] == pytest.approx(0.1, abs=0.01)
    for frame in runs:
        diff = frame[SENSORS[1]] - frame[SENSORS[0]]
        assert np.corrcoef(diff, frame[SENSORS[0]])[0, 1] == pytest.approx(-0.70, abs=0.03)
        assert np.corrcoef(frame[SENSORS[2]], frame[SENSORS[3]])[0, 1] == pytest.approx(
            -0.875, abs=0.03
        )
        assert frame["Torque [Nm]"].min() > 0


def test_hotter_plant_has_more_heat_failures() -> None:
    cool = [generate(GeneratorConfig(ambient_offset_k=-2.0), seed=s)["HDF"].sum() for s in range(4)]
    hot = [generate(GeneratorConfig(ambient_offset_k=2.0), seed=s)["HDF"].sum() for s in range(4)]
    assert sum(hot) > 2 * sum(cool)


def test_fidelity_against_the_real_file(runs: list[pd.DataFrame], real_data: pd.DataFrame) -> None:
    real_counts = real_data[["TWF", "PWF", "OSF"]].sum()
    gen_counts = pd.DataFrame([r[["TWF", "PWF", "OSF"]].sum() for r in runs]).mean()
    for mode in ("TWF", "PWF", "OSF"):
        assert gen_counts[mode] == pytest.approx(real_counts[mode], rel=0.20), mode
    gen_rate = np.mean([r["Machine failure"].mean() for r in runs])
    assert gen_rate == pytest.approx(real_data["Machine failure"].mean(), abs=0.01)
    for column in SENSORS:
        gen_mean = np.mean([r[column].mean() for r in runs])
        gen_sd = np.mean([r[column].std() for r in runs])
        assert gen_mean == pytest.approx(real_data[column].mean(), rel=0.05), column
        assert gen_sd == pytest.approx(real_data[column].std(), rel=0.05), column


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rows": 0},
        {"type_mix": (0.5, -0.1, 0.6)},
        {"temperature_difference_air_correlation": 1.5},
        {"tool_failure_probability": 1.2},
        {"tool_replacement_mean_min": 0.0},
    ],
)
def test_bad_config_is_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        GeneratorConfig(**kwargs)  # type: ignore[arg-type]


def test_tiny_runs_work() -> None:
    for rows in (1, 2, 3):
        assert len(generate(GeneratorConfig(rows=rows), seed=0)) == rows
