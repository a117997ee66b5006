from pathlib import Path

import pandas as pd
import pytest

from edgeshield.errors import ConfigError, DataError, StorageError
from edgeshield.usecase import FleetConfig, PlantDatabase, make_fleet, sqlite_url


def test_fleet_round_trips_through_sqlite(tmp_path: Path) -> None:
    fleet = make_fleet(FleetConfig(plants=3, total_rows=900, min_rows=100), seed=2)
    with PlantDatabase(sqlite_url(tmp_path / "plants.db")) as db:
        assert db.write_fleet(fleet.profiles, fleet.frames) == 900
        assert db.plant_ids() == sorted(fleet.plant_ids)
        assert db.profiles() == sorted(fleet.profiles, key=lambda p: p.plant_id)
        for pid in fleet.plant_ids:
            pd.testing.assert_frame_equal(db.read_plant(pid), fleet.frames[pid])


def test_rewriting_a_plant_replaces_its_rows(tmp_path: Path) -> None:
    fleet = make_fleet(FleetConfig(plants=2, total_rows=400, min_rows=100), seed=0)
    url = sqlite_url(tmp_path / "p.db")
    with PlantDatabase(url) as db:
        db.write_fleet(fleet.profiles, fleet.frames)
        smaller = fleet.frames["plant-1"].head(10)
        db.write_plant("plant-1", smaller)
    with PlantDatabase(url) as db:  # persisted across connections
        assert len(db.read_plant("plant-1")) == 10
        assert len(db.read_plant("plant-2")) == len(fleet.frames["plant-2"])


def test_unknown_plant_is_a_data_error(tmp_path: Path) -> None:
    with PlantDatabase(sqlite_url(tmp_path / "p.db")) as db, pytest.raises(DataError, match="nope"):
        db.read_plant("nope")


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://x/y", ""])
def test_bad_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match=r"database URL|driver"):
        PlantDatabase(url)


def test_unreachable_database_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot open database"):
        PlantDatabase(sqlite_url(tmp_path / "no" / "such" / "dir" / "p.db"))
