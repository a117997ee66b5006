from pathlib import Path

import pandas as pd
import pytest

from edgeshield.errors import DataError, SchemaError, StorageError
from edgeshield.usecase import UCI_COLUMNS, GeneratorConfig, generate, read_uci_csv, write_uci_csv


def test_reads_the_real_uci_file(real_data_path: Path) -> None:
    """The real file (10,000 rows, 339 failures) or its stand-in, as pandas reads it raw."""
    frame = read_uci_csv(real_data_path)
    raw = pd.read_csv(real_data_path)
    assert tuple(frame.columns) == UCI_COLUMNS
    assert len(frame) == len(raw) == 10_000
    assert int(frame["Machine failure"].sum()) == int(raw["Machine failure"].sum())
    if real_data_path.name == "ai4i2020.csv":  # the real file's published count
        assert int(frame["Machine failure"].sum()) == 339


def test_write_then_read_is_lossless(tmp_path: Path) -> None:
    frame = generate(GeneratorConfig(rows=300), seed=9)
    path = write_uci_csv(frame, tmp_path / "sub" / "plant.csv")
    pd.testing.assert_frame_equal(read_uci_csv(path), frame)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no such file"):
        read_uci_csv(tmp_path / "absent.csv")


def _write(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return path


def test_wrong_columns(tmp_path: Path) -> None:
    frame = generate(GeneratorConfig(rows=20), seed=0).drop(columns=["Torque [Nm]"])
    with pytest.raises(SchemaError, match="Torque"):
        read_uci_csv(_write(tmp_path, frame))


def test_non_numeric_value_names_column_and_row(tmp_path: Path) -> None:
    frame = generate(GeneratorConfig(rows=20), seed=0).astype({"Torque [Nm]": object})
    frame.loc[4, "Torque [Nm]"] = "forty"
    with pytest.raises(SchemaError, match=r"'Torque \[Nm\]'.*row 5"):
        read_uci_csv(_write(tmp_path, frame))


def test_bad_label_and_bad_type(tmp_path: Path) -> None:
    frame = generate(GeneratorConfig(rows=20), seed=0)
    frame.loc[0, "TWF"] = 2
    with pytest.raises(SchemaError, match="TWF"):
        read_uci_csv(_write(tmp_path, frame))
    frame = generate(GeneratorConfig(rows=20), seed=0)
    frame.loc[0, "Type"] = "X"
    with pytest.raises(SchemaError, match="product type"):
        read_uci_csv(_write(tmp_path, frame))


def test_binary_garbage_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError):
        read_uci_csv(path)
