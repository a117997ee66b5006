"""Shared fixtures: the real AI4I 2020 file when it is present beside the project."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = (
    Path(os.environ.get("EDGESHIELD_SHARED", REPO.parent / "shared")) / "data" / "ai4i2020.csv"
)


@pytest.fixture(scope="session")
def real_data_path() -> Path:
    """Path of the real UCI file; tests that need it are skipped where it is absent."""
    if not REAL_DATA.is_file():
        pytest.skip(f"real AI4I 2020 file not found at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture(scope="session")
def real_data(real_data_path: Path) -> pd.DataFrame:
    """The real file, read by EdgeShield's own importer."""
    from edgeshield.usecase import read_uci_csv

    return read_uci_csv(real_data_path)
