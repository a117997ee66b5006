import numpy as np
import pandas as pd
import pytest

from edgeshield.errors import ConfigError
from edgeshield.usecase import (
    UCI_COLUMNS,
    GeneratorConfig,
    dashboard_polls,
    generate,
    steady_trace,
    validate_frame,
)
from edgeshield.usecase._rules import heat_dissipation_failure, overstrain_failure, power_failure

SENSORS = [
    "Air temperature [K]",
    "Process temperature [K]",
    "Rotational speed [rpm]",
    "Torque [Nm]",
    "Tool wear [min]",
]


# The published summary of the real AI4I 2020 file (UCI; Matzka, AI4I 2020): 10,000 rows,
# failures by mode, and each sensor's mean and standard deviation (rounded).
PUBLISHED_MODES = {"TWF": 46, "HDF": 115, "PWF": 95, "OSF": 98, "RNF": 19}
PUBLISHED_FAILURE_RATE = 0.0339
PUBLISHED_SENSORS = {
    "Air temperature [K]": (300.005, 2.000),
    "Process temperature [K]": (310.006, 1.484),
    "Rotational speed [rpm]": (1538.78, 179.28),
    "Torque [Nm]": (39.987, 9.969),
    "Tool wear [min]": (107.95, 63.65),
}


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


def assert_like_the_real_file(
    rows: int, counts: pd.Series, rate: float, moments: dict[str, tuple[float, float]]
) -> None:
    """Failure counts (per 10,000 rows), failure rate and sensor moments match the summary."""
    for mode in ("TWF", "PWF", "OSF"):
        per_10k = counts[mode] * 10_000 / rows
        assert per_10k == pytest.approx(PUBLISHED_MODES[mode], rel=0.20), mode
    assert rate == pytest.approx(PUBLISHED_FAILURE_RATE, abs=0.01)
    for column, (mean, sd) in PUBLISHED_SENSORS.items():
        assert moments[column][0] == pytest.approx(mean, rel=0.05), column
        assert moments[column][1] == pytest.approx(sd, rel=0.05), column


def test_fidelity_against_the_real_file(runs: list[pd.DataFrame]) -> None:
    """The generator against the real file's published summary (8 runs of 10,000 rows)."""
    assert_like_the_real_file(
        10_000,
        pd.DataFrame([r[["TWF", "PWF", "OSF"]].sum() for r in runs]).mean(),
        float(np.mean([r["Machine failure"].mean() for r in runs])),
        {
            c: (np.mean([r[c].mean() for r in runs]), np.mean([r[c].std() for r in runs]))
            for c in SENSORS
        },
    )


def test_the_ai4i_data_matches_the_published_summary(real_data: pd.DataFrame) -> None:
    """The real file (which pins the summary above) or, where absent, the generated stand-in."""
    assert_like_the_real_file(
        len(real_data),
        real_data[["TWF", "PWF", "OSF"]].sum(),
        float(real_data["Machine failure"].mean()),
        {c: (real_data[c].mean(), real_data[c].std()) for c in SENSORS},
    )


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


def test_steady_machines_and_dashboards_read_at_sensor_resolution() -> None:
    """Benign traffic shapes for the guard's detector: one operating point, jitter, rounding."""
    trace = steady_trace(120, seed=3)
    assert len(trace) == 120
    assert (trace["Rotational speed [rpm]"] == trace["Rotational speed [rpm]"].round()).all()
    assert (trace["Torque [Nm]"] * 10 == (trace["Torque [Nm]"] * 10).round()).all()
    assert trace["Torque [Nm]"].std() < 0.5  # one operating point
    wear = trace["Tool wear [min]"]
    assert wear.iloc[59] == wear.iloc[0]
    assert wear.iloc[60] == wear.iloc[0] + 1
    polls = dashboard_polls(3, 4, seed=1)
    assert len(polls) == 12
    first, second = polls.iloc[:4], polls.iloc[4:8]  # one poll = every machine once, in order
    assert (abs(first["Torque [Nm]"].to_numpy() - second["Torque [Nm]"].to_numpy()) < 1).all()
    assert first["Torque [Nm]"].nunique() > 1
