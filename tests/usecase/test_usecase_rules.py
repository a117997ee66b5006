import numpy as np
import pandas as pd
import pytest

from edgeshield.usecase._rules import (
    heat_dissipation_failure,
    mechanical_power_w,
    overstrain_failure,
    power_failure,
)


@pytest.mark.parametrize(
    ("air", "process", "speed", "expected"),
    [
        (300.0, 308.5, 1379.0, True),  # both conditions hold
        (300.0, 308.6, 1379.0, False),  # difference exactly 8.6 K is not below the limit
        (300.0, 308.5, 1380.0, False),  # speed exactly 1380 rpm is not below the limit
        (302.3, 310.8, 1300.0, True),  # 8.5 K after floating-point subtraction
        (300.0, 312.0, 1200.0, False),
    ],
)
def test_heat_dissipation_rule(air: float, process: float, speed: float, expected: bool) -> None:
    got = heat_dissipation_failure(np.array([air]), np.array([process]), np.array([speed]))
    assert bool(got[0]) is expected


@pytest.mark.parametrize(
    ("torque", "speed", "expected"),
    [
        (10.0, 3000.0, True),  # 3142 W < 3500 W
        (20.0, 1700.0, False),  # 3560 W
        (60.0, 1500.0, True),  # 9425 W > 9000 W
        (57.0, 1500.0, False),  # 8954 W
    ],
)
def test_power_rule(torque: float, speed: float, expected: bool) -> None:
    assert bool(power_failure(np.array([torque]), np.array([speed]))[0]) is expected


def test_mechanical_power_is_torque_times_angular_speed() -> None:
    assert mechanical_power_w(np.array([40.0]), np.array([1500.0]))[0] == pytest.approx(
        40.0 * 1500.0 * 2 * np.pi / 60
    )


@pytest.mark.parametrize(
    ("ptype", "wear", "torque", "expected"),
    [
        ("L", 200, 55.1, True),  # 11,020 > 11,000
        ("L", 200, 54.9, False),
        ("M", 200, 60.1, True),  # 12,020 > 12,000
        ("M", 200, 59.9, False),
        ("H", 200, 65.1, True),  # 13,020 > 13,000
        ("H", 200, 64.9, False),
    ],
)
def test_overstrain_rule_per_type(ptype: str, wear: int, torque: float, expected: bool) -> None:
    got = overstrain_failure(np.array([float(wear)]), np.array([torque]), np.array([ptype]))
    assert bool(got[0]) is expected


def test_rules_reproduce_real_labels_exactly(real_data: pd.DataFrame) -> None:
    air = real_data["Air temperature [K]"].to_numpy()
    process = real_data["Process temperature [K]"].to_numpy()
    speed = real_data["Rotational speed [rpm]"].to_numpy(dtype=float)
    torque = real_data["Torque [Nm]"].to_numpy()
    wear = real_data["Tool wear [min]"].to_numpy(dtype=float)
    types = real_data["Type"].to_numpy(dtype=str)
    assert np.array_equal(heat_dissipation_failure(air, process, speed), real_data["HDF"] == 1)
    assert np.array_equal(power_failure(torque, speed), real_data["PWF"] == 1)
    assert np.array_equal(overstrain_failure(wear, torque, types), real_data["OSF"] == 1)
