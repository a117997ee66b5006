"""Plant data in a SQL database through SQLAlchemy (SQLite by default, any SQLAlchemy URL).

Columns are stored under SQL-safe names and read back in the UCI layout, so a plant's rows
survive a round trip unchanged. SAP HANA works through the ``edgeshield[hana]`` extra.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from edgeshield.errors import ConfigError, DataError, StorageError
from edgeshield.usecase import _columns as col
from edgeshield.usecase._csvio import validate_frame
from edgeshield.usecase._plants import PlantProfile

__all__ = ["PlantDatabase", "sqlite_url"]

_SQL_NAMES: dict[str, str] = {
    col.UDI: "udi",
    col.PRODUCT_ID: "product_id",
    col.TYPE: "product_type",
    col.AIR_TEMPERATURE: "air_temperature_k",
    col.PROCESS_TEMPERATURE: "process_temperature_k",
    col.ROTATIONAL_SPEED: "rotational_speed_rpm",
    col.TORQUE: "torque_nm",
    col.TOOL_WEAR: "tool_wear_min",
    col.MACHINE_FAILURE: "machine_failure",
    **{mode: mode.lower() for mode in col.FAILURE_MODES},
}
_UCI_NAMES = {v: k for k, v in _SQL_NAMES.items()}


def sqlite_url(path: str | Path) -> str:
    """SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{Path(path)}"


def _metadata() -> tuple[sa.MetaData, sa.Table, sa.Table]:
    metadata = sa.MetaData()
    plants = sa.Table(
        "plants",
        metadata,
        sa.Column("plant_id", sa.String(64), primary_key=True),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("ambient_offset_k", sa.Float, nullable=False),
        sa.Column("mix_l", sa.Float, nullable=False),
        sa.Column("mix_m", sa.Float, nullable=False),
        sa.Column("mix_h", sa.Float, nullable=False),
        sa.Column("tool_replacement_mean_min", sa.Float, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
    )
    readings = sa.Table(
        "sensor_readings",
        metadata,
        sa.Column("plant_id", sa.String(64), nullable=False, index=True),
        sa.Column("udi", sa.Integer, nullable=False),
        sa.Column("product_id", sa.String(16), nullable=False),
        sa.Column("product_type", sa.String(1), nullable=False),
        sa.Column("air_temperature_k", sa.Float, nullable=False),
        sa.Column("process_temperature_k", sa.Float, nullable=False),
        sa.Column("rotational_speed_rpm", sa.Integer, nullable=False),
        sa.Column("torque_nm", sa.Float, nullable=False),
        sa.Column("tool_wear_min", sa.Integer, nullable=False),
        sa.Column("machine_failure", sa.SmallInteger, nullable=False),
        *[sa.Column(m.lower(), sa.SmallInteger, nullable=False) for m in col.FAILURE_MODES],
        sa.PrimaryKeyConstraint("plant_id", "udi"),
    )
    return metadata, plants, readings


class PlantDatabase:
    """Plant profiles and sensor readings in one SQL database.

    Parameters
    ----------
    url
        Any SQLAlchemy URL, e.g. ``sqlite:///runs/x/plants.db`` or ``hana://u:p@host:port``.
    """

    def __init__(self, url: str) -> None:
        try:
            self._engine = sa.create_engine(url)
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise ConfigError(f"bad database URL {url!r}: {exc}") from exc
        except ImportError as exc:
            raise ConfigError(f"database driver for {url!r} is not installed: {exc}") from exc
        self.url = url
        self._metadata, self._plants, self._readings = _metadata()
        try:
            self._metadata.create_all(self._engine)
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise StorageError(f"cannot open database {url!r}: {exc.__class__.__name__}") from exc

    def __enter__(self) -> PlantDatabase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool."""
        self._engine.dispose()

    def write_plant(
        self, plant_id: str, frame: pd.DataFrame, profile: PlantProfile | None = None
    ) -> int:
        """Store (replace) one plant's rows, and its profile when given; return the row count."""
        data = validate_frame(frame).rename(columns=_SQL_NAMES)
        data.insert(0, "plant_id", plant_id)
        try:
            with self._engine.begin() as conn:
                conn.execute(sa.delete(self._readings).where(self._readings.c.plant_id == plant_id))
                conn.execute(sa.delete(self._plants).where(self._plants.c.plant_id == plant_id))
                if profile is not None:
                    conn.execute(
                        sa.insert(self._plants).values(
                            plant_id=plant_id,
                            rows=profile.rows,
                            ambient_offset_k=profile.ambient_offset_k,
                            mix_l=profile.type_mix[0],
                            mix_m=profile.type_mix[1],
                            mix_h=profile.type_mix[2],
                            tool_replacement_mean_min=profile.tool_replacement_mean_min,
                            seed=profile.seed,
                        )
                    )
                records = [
                    {str(k): v for k, v in r.items()} for r in data.to_dict(orient="records")
                ]
                conn.execute(sa.insert(self._readings), records)
        except SQLAlchemyError as exc:
            raise StorageError(
                f"cannot write plant {plant_id!r}: {exc.__class__.__name__}"
            ) from exc
        return len(data)

    def write_fleet(self, profiles: Iterable[PlantProfile], frames: dict[str, pd.DataFrame]) -> int:
        """Store every plant of a fleet; return the total row count."""
        return sum(self.write_plant(p.plant_id, frames[p.plant_id], p) for p in profiles)

    def plant_ids(self) -> list[str]:
        """Identifiers of the plants that have rows, sorted."""
        query = sa.select(self._readings.c.plant_id).distinct().order_by(self._readings.c.plant_id)
        try:
            with self._engine.connect() as conn:
                return [str(row[0]) for row in conn.execute(query)]
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read plant list: {exc.__class__.__name__}") from exc

    def profiles(self) -> list[PlantProfile]:
        """Stored plant profiles, sorted by plant id."""
        query = sa.select(self._plants).order_by(self._plants.c.plant_id)
        try:
            with self._engine.connect() as conn:
                rows = list(conn.execute(query).mappings())
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read plant profiles: {exc.__class__.__name__}") from exc
        return [
            PlantProfile(
                plant_id=str(r["plant_id"]),
                rows=int(r["rows"]),
                ambient_offset_k=float(r["ambient_offset_k"]),
                type_mix=(float(r["mix_l"]), float(r["mix_m"]), float(r["mix_h"])),
                tool_replacement_mean_min=float(r["tool_replacement_mean_min"]),
                seed=int(r["seed"]),
            )
            for r in rows
        ]

    def read_plant(self, plant_id: str) -> pd.DataFrame:
        """One plant's rows in the UCI layout, ordered by UDI.

        Raises
        ------
        DataError
            The database holds no rows for ``plant_id``.
        """
        query = (
            sa.select(self._readings)
            .where(self._readings.c.plant_id == plant_id)
            .order_by(self._readings.c.udi)
        )
        try:
            with self._engine.connect() as conn:
                frame = pd.DataFrame(list(conn.execute(query).mappings()))
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read plant {plant_id!r}: {exc.__class__.__name__}") from exc
        if frame.empty:
            raise DataError(f"no rows for plant {plant_id!r} in {self.url}")
        frame = frame.drop(columns=["plant_id"]).rename(columns=_UCI_NAMES)
        return validate_frame(frame)
