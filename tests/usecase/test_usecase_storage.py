from pathlib import Path

import pandas as pd
import pytest

from edgeshield.errors import ConfigError, DataError, StorageError
from edgeshield.usecase import (
    FAILURE_MODES,
    FleetConfig,
    IfPlantExists,
    PlantDatabase,
    load_schema,
    make_fleet,
    read_table,
    sqlite_url,
)


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


def test_another_schema_gets_its_own_table_and_round_trips(
    tmp_path: Path, breast_cancer_csv: Path
) -> None:
    schema = load_schema("breast_cancer")
    frame = read_table(breast_cancer_csv, schema)
    url = sqlite_url(tmp_path / "p.db")
    with PlantDatabase(url, schema=schema) as db:
        assert db.write_plant("clinic-1", frame.head(300), if_exists=IfPlantExists.FAIL) == 300
        assert db.write_plant("clinic-1", frame.iloc[300:], if_exists=IfPlantExists.APPEND) == 269
        pd.testing.assert_frame_equal(db.read_plant("clinic-1"), frame)
    with PlantDatabase(url) as ai4i:  # the AI4I table of the same database stays empty
        assert ai4i.plant_ids() == []


def test_ai4i_rows_without_failure_modes_round_trip(tmp_path: Path) -> None:
    fleet = make_fleet(FleetConfig(plants=1, total_rows=120, min_rows=100), seed=1)
    frame = fleet.frames["plant-1"].drop(columns=list(FAILURE_MODES))
    with PlantDatabase(sqlite_url(tmp_path / "p.db")) as db:
        db.write_plant("p", frame)
        pd.testing.assert_frame_equal(db.read_plant("p"), frame)


def test_quarantined_rows_are_stored_beside_the_plant_and_replaced_with_it(
    tmp_path: Path,
) -> None:
    frame = make_fleet(FleetConfig(plants=1, total_rows=120, min_rows=100), seed=1).frames[
        "plant-1"
    ]
    bad = pd.DataFrame({"row": [4], "reason": ["too hot"], "record": ['{"UDI": 4}']})
    with PlantDatabase(sqlite_url(tmp_path / "p.db")) as db:
        db.write_plant("p", frame, if_exists=IfPlantExists.FAIL, quarantined=bad)
        pd.testing.assert_frame_equal(db.quarantined("p"), bad)
        with pytest.raises(StorageError, match="already holds"):
            db.write_plant("p", frame, if_exists=IfPlantExists.FAIL, quarantined=bad)
        assert len(db.quarantined("p")) == 1  # the refused write changed nothing
        db.write_plant("p", frame, if_exists=IfPlantExists.REPLACE)
        assert db.quarantined("p").empty


def test_a_database_file_the_failed_block_created_is_removed_and_an_old_one_kept(
    tmp_path: Path,
) -> None:
    """An interrupted or refused first import left an empty database file behind."""
    fleet = make_fleet(FleetConfig(plants=2, total_rows=400, min_rows=100), seed=0)

    def write_then_interrupt(url: str, plant: str) -> None:
        with PlantDatabase(url) as db:
            db.write_plant(plant, fleet.frames[plant])
            raise KeyboardInterrupt

    new = tmp_path / "new.db"
    with pytest.raises(KeyboardInterrupt):
        write_then_interrupt(sqlite_url(new), "plant-1")
    assert list(tmp_path.iterdir()) == []
    old = tmp_path / "old.db"
    with PlantDatabase(sqlite_url(old)) as db:
        db.write_plant("plant-1", fleet.frames["plant-1"])
    with pytest.raises(KeyboardInterrupt):
        write_then_interrupt(sqlite_url(old), "plant-2")
    with PlantDatabase(sqlite_url(old), create=False) as db:
        assert db.plant_ids() == ["plant-1", "plant-2"]  # written before the interrupt: kept
