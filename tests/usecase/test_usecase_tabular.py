import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edgeshield.errors import DataError, SchemaError
from edgeshield.usecase import (
    FAILURE_MODES,
    UCI_COLUMNS,
    default_schema,
    feature_matrix,
    load_schema,
    read_table,
    read_uci_csv,
    screen_table,
)

GERMAN_HEADERS = {
    "Air temperature [K]": "Lufttemperatur [K]",
    "Rotational speed [rpm]": "Drehzahl [U/min]",
    "Tool wear [min]": "Werkzeugverschleiß [min]",
}
GERMAN_SCHEMA = """\
extends: ai4i2020
csv: {separator: ";", decimal: ",", encoding: cp1252}
mapping:
  Lufttemperatur [K]: air_temperature_k
  Drehzahl [U/min]: rotational_speed_rpm
  Werkzeugverschleiß [min]: tool_wear_min
"""


@pytest.fixture(scope="module")
def raw(real_data_path: Path) -> pd.DataFrame:
    """The real AI4I file (or its stand-in) exactly as pandas reads it."""
    return pd.read_csv(real_data_path)


def _csv(
    tmp_path: Path,
    frame: pd.DataFrame,
    *,
    sep: str = ",",
    decimal: str = ".",
    encoding: str = "utf-8",
) -> Path:
    path = tmp_path / "plant.csv"
    frame.to_csv(path, index=False, sep=sep, decimal=decimal, encoding=encoding)
    return path


def test_real_file_without_failure_modes_is_accepted(
    tmp_path: Path, raw: pd.DataFrame, real_data: pd.DataFrame
) -> None:
    frame = read_uci_csv(_csv(tmp_path, raw.drop(columns=list(FAILURE_MODES))))
    assert tuple(frame.columns) == UCI_COLUMNS[: -len(FAILURE_MODES)]
    pd.testing.assert_frame_equal(frame, real_data.drop(columns=list(FAILURE_MODES)))
    assert np.array_equal(feature_matrix(frame), feature_matrix(real_data))


def test_snake_case_headers_are_accepted(
    tmp_path: Path, raw: pd.DataFrame, real_data: pd.DataFrame
) -> None:
    names = {c.header: c.name for c in default_schema().columns}
    frame = read_uci_csv(_csv(tmp_path, raw.rename(columns=names)))
    pd.testing.assert_frame_equal(frame, real_data)


def test_german_export_reads_through_its_schema(
    tmp_path: Path, raw: pd.DataFrame, real_data: pd.DataFrame
) -> None:
    (tmp_path / "de.yaml").write_text(GERMAN_SCHEMA, encoding="utf-8")
    german = raw.rename(columns=GERMAN_HEADERS)
    path = _csv(tmp_path, german, sep=";", decimal=",", encoding="cp1252")
    first = path.read_text(encoding="cp1252").splitlines()[1]
    assert first.count(";") == len(raw.columns) - 1
    assert "," in first  # decimal commas
    frame = read_table(path, load_schema(tmp_path / "de.yaml"))
    pd.testing.assert_frame_equal(frame, real_data)


def test_german_export_without_a_schema_says_which_separator_it_holds(
    tmp_path: Path, raw: pd.DataFrame
) -> None:
    with pytest.raises(SchemaError, match=r"header holds ';'.*csv.separator"):
        read_uci_csv(_csv(tmp_path, raw.head(20), sep=";", decimal=","))


def test_a_header_mapping_names_a_vendors_columns(tmp_path: Path, raw: pd.DataFrame) -> None:
    (tmp_path / "m.yaml").write_text("extends: ai4i2020\nmapping: {Drehmoment: torque_nm}\n")
    path = _csv(tmp_path, raw.head(30).rename(columns={"Torque [Nm]": "Drehmoment"}))
    frame = read_table(path, load_schema(tmp_path / "m.yaml"))
    assert frame["Torque [Nm]"].tolist() == raw["Torque [Nm]"].head(30).tolist()


def test_two_headers_for_one_column_are_refused(tmp_path: Path, raw: pd.DataFrame) -> None:
    frame = raw.head(20).assign(torque=raw["Torque [Nm]"].head(20))
    with pytest.raises(SchemaError, match=r"'Torque \[Nm\]' and 'torque' both map"):
        read_uci_csv(_csv(tmp_path, frame))


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("Torque [Nm]", -500.0, r"row 7, column 'Torque \[Nm\]': -500 is outside .*\[0, 200\] Nm"),
        ("Rotational speed [rpm]", 1e9, r"row 7, column 'Rotational speed \[rpm\]': 1000000000"),
        (
            "Air temperature [K]",
            25.1,
            r"row 7, column 'Air temperature \[K\]': 25.1 .*\[250, 350\] K",
        ),
        ("Tool wear [min]", -1, r"row 7, column 'Tool wear \[min\]'"),
        ("UDI", 0, r"row 7, column 'UDI': 0 is outside the physical range \[1, none\]"),
    ],
)
def test_out_of_range_value_is_refused_with_row_and_column(
    tmp_path: Path, raw: pd.DataFrame, column: str, value: float, message: str
) -> None:
    frame = raw.head(20).astype({column: np.float64})
    frame.loc[6, column] = value
    with pytest.raises(SchemaError, match=message):
        read_uci_csv(_csv(tmp_path, frame))


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            "Rotational speed [rpm]",
            "1551.7",
            r"'Rotational speed \[rpm\]' holds a fractional .*row 3",
        ),
        (
            "Tool wear [min]",
            "3.5",
            r"'Tool wear \[min\]' holds a fractional value \(3.5\) at row 3",
        ),
        ("Torque [Nm]", "", r"'Torque \[Nm\]' has an empty or non-numeric value at row 3"),
        ("Torque [Nm]", "inf", r"'Torque \[Nm\]' has an empty or non-numeric value at row 3"),
        ("Product ID", "", r"'Product ID' is empty at row 3"),
        ("Type", "X", r"'Type' \(product type\) has unknown value\(s\) \['X'\]"),
        ("Machine failure", "2", r"'Machine failure' must hold only 0 and 1"),
    ],
)
def test_value_that_does_not_fit_its_type_is_refused(
    tmp_path: Path, raw: pd.DataFrame, column: str, value: str, message: str
) -> None:
    frame = raw.head(20).astype({column: object})
    frame.loc[2, column] = value
    with pytest.raises(SchemaError, match=message):
        read_uci_csv(_csv(tmp_path, frame))


def test_non_finite_derived_feature_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "format: edgeshield.dataset-schema/1\nname: ratio\n"
        "columns: {a: {type: float}, b: {type: float}, y: {type: binary}}\n"
        "derived: {q: a / b}\ntarget: {column: y, positive: 1}\nfeatures: [a, q]\n"
    )
    path = _csv(tmp_path, pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 0.0], "y": [0, 1]}))
    with pytest.raises(SchemaError, match=r"row 2: derived feature 'q' \(a / b\) is not finite"):
        read_table(path, load_schema(tmp_path / "s.yaml"))


def test_file_in_another_encoding_is_a_data_error(tmp_path: Path, raw: pd.DataFrame) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(
        raw.head(5).assign(**{"Product ID": "Müller"}).to_csv(index=False).encode("utf-16")
    )
    with pytest.raises(DataError, match="not readable as utf-8"):
        read_uci_csv(path)


def test_screen_sets_each_bad_row_aside_with_its_first_reason(
    tmp_path: Path, raw: pd.DataFrame
) -> None:
    frame = raw.head(20).astype(object)
    frame.loc[2, "Torque [Nm]"] = -500.0
    frame.loc[4, "Rotational speed [rpm]"] = "1551.7"
    frame.loc[7, "Type"] = "X"
    frame.loc[9, "Product ID"] = ""
    frame.loc[9, "Torque [Nm]"] = 900.0  # the first reason of a row is the one reported
    good, bad = screen_table(_csv(tmp_path, frame), default_schema())
    assert bad["row"].tolist() == [3, 5, 8, 10]
    reasons = bad["reason"].tolist()
    assert reasons[0].startswith("row 3, column 'Torque [Nm]': -500 is outside")
    assert "fractional value (1551.7) at row 5" in reasons[1]
    assert "unknown value(s) ['X']" in reasons[2]
    assert reasons[3] == "column 'Product ID' is empty at row 10"
    assert json.loads(bad["record"].iloc[2])["Type"] == "X"
    kept = raw.head(20).drop(index=[2, 4, 7, 9]).reset_index(drop=True)
    pd.testing.assert_frame_equal(good, read_uci_csv(_csv(tmp_path, kept)))


def test_screen_still_refuses_a_missing_column(tmp_path: Path, raw: pd.DataFrame) -> None:
    with pytest.raises(SchemaError, match="missing column"):
        screen_table(_csv(tmp_path, raw.head(5).drop(columns=["Torque [Nm]"])), default_schema())


def test_a_whole_number_beyond_int64_is_refused_not_an_overflow(
    tmp_path: Path, raw: pd.DataFrame
) -> None:
    frame = raw.head(20).astype({"Rotational speed [rpm]": object})
    frame.loc[4, "Rotational speed [rpm]"] = "1" * 29
    with pytest.raises(
        SchemaError, match=r"'Rotational speed \[rpm\]' holds 1.11111e\+28 at row 5"
    ):
        read_uci_csv(_csv(tmp_path, frame))


def test_a_repeated_header_is_refused_not_dropped(tmp_path: Path, raw: pd.DataFrame) -> None:
    """pandas read the copy as 'Torque [Nm].1' and the schema then dropped it unseen."""
    frame = raw.head(20).assign(copy=0.0).rename(columns={"copy": "Torque [Nm]"})
    with pytest.raises(SchemaError, match=r"repeats the header\(s\) 'Torque \[Nm\]'"):
        read_uci_csv(_csv(tmp_path, frame))
