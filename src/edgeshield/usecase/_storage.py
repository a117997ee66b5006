"""Plant data in a SQL database through SQLAlchemy (SQLite by default, any SQLAlchemy URL).

Columns are stored under SQL-safe names and read back in the UCI layout, so a plant's rows
survive a round trip unchanged. SAP HANA works through the ``edgeshield[hana]`` extra.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from edgeshield.errors import ConfigError, DataError, SchemaError, StorageError
from edgeshield.usecase import _columns as col
from edgeshield.usecase._csvio import validate_frame
from edgeshield.usecase._plants import PlantProfile

__all__ = ["IfPlantExists", "PlantDatabase", "sqlite_url"]


class IfPlantExists(enum.Enum):
    """What :meth:`PlantDatabase.write_plant` does when the plant already has rows."""

    FAIL = "fail"
    """Refuse with :class:`~edgeshield.errors.StorageError` (nothing is changed)."""
    REPLACE = "replace"
    """Delete the plant's rows and profile, then write the new ones."""
    APPEND = "append"
    """Keep the stored rows and add the new ones (their UDIs must not collide)."""


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


def _require_existing_sqlite(url: str) -> None:
    """Refuse a SQLite URL whose file does not exist (reading must not create one)."""
    try:
        parsed = sa.engine.make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"bad database URL {url!r}: {exc}") from exc
    database = parsed.database
    on_disk = parsed.get_backend_name() == "sqlite" and database and database != ":memory:"
    if on_disk and not Path(str(database)).is_file():
        raise StorageError(f"no such database file: {database}")


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
    create
        Create the tables (and, for SQLite, the file) when they are missing. With ``False`` a
        SQLite file that does not exist is refused instead of being created empty, so that a
        mistyped URL given for reading never leaves a stray database behind.
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        if not create:
            _require_existing_sqlite(url)
        try:
            self._engine = sa.create_engine(url)
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise ConfigError(f"bad database URL {url!r}: {exc}") from exc
        except ImportError as exc:
            raise ConfigError(f"database driver for {url!r} is not installed: {exc}") from exc
        self.url = url
        self.display_url = self._engine.url.render_as_string(hide_password=True)
        """The URL with its password masked: the only form that goes into messages."""
        self._metadata, self._plants, self._readings = _metadata()
        try:
            self._metadata.create_all(self._engine)
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise StorageError(
                f"cannot open database {self.display_url!r}: {exc.__class__.__name__}"
            ) from exc

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
        self,
        plant_id: str,
        frame: pd.DataFrame,
        profile: PlantProfile | None = None,
        *,
        if_exists: IfPlantExists = IfPlantExists.REPLACE,
    ) -> int:
        """Store one plant's rows, and its profile when given; return the rows written.

        The write is one transaction: on any error (a refused plant, a UDI collision on
        append) the database is left as it was.

        Raises
        ------
        SchemaError
            ``frame`` is not in the UCI layout or holds no rows.
        StorageError
            The plant exists and ``if_exists`` is ``FAIL``, the appended UDIs collide with
            stored ones, or the database refused the write.
        """
        data = validate_frame(frame).rename(columns=_SQL_NAMES)
        if data.empty:
            raise SchemaError(f"no rows to write for plant {plant_id!r}")
        data.insert(0, "plant_id", plant_id)
        where = self._readings.c.plant_id == plant_id
        try:
            with self._engine.begin() as conn:
                stored = conn.execute(
                    sa.select(sa.func.count()).select_from(self._readings).where(where)
                ).scalar_one()
                if stored and if_exists is IfPlantExists.FAIL:
                    raise StorageError(
                        f"plant {plant_id!r} already holds {stored} rows in {self.display_url}; "
                        "pass --replace or --append"
                    )
                if if_exists is not IfPlantExists.APPEND:
                    conn.execute(sa.delete(self._readings).where(where))
                if profile is not None or if_exists is IfPlantExists.REPLACE:
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
        except sa.exc.IntegrityError as exc:
            raise StorageError(
                f"cannot write plant {plant_id!r}: a UDI is already stored for this plant"
            ) from exc
        except SQLAlchemyError as exc:
            raise StorageError(
                f"cannot write plant {plant_id!r}: {exc.__class__.__name__}"
            ) from exc
        return len(data)

    def write_fleet(
        self,
        profiles: Iterable[PlantProfile],
        frames: dict[str, pd.DataFrame],
        *,
        if_exists: IfPlantExists = IfPlantExists.REPLACE,
    ) -> int:
        """Store every plant of a fleet; return the total row count.

        With ``if_exists=FAIL`` every plant is checked before any is written, so a refused
        fleet changes nothing.
        """
        profiles = list(profiles)
        if if_exists is IfPlantExists.FAIL:
            taken = sorted({p.plant_id for p in profiles} & set(self.plant_ids()))
            if taken:
                raise StorageError(
                    f"plant(s) {', '.join(taken)} already hold rows in {self.display_url}; "
                    "pass --replace"
                )
        return sum(
            self.write_plant(p.plant_id, frames[p.plant_id], p, if_exists=if_exists)
            for p in profiles
        )

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
            raise DataError(f"no rows for plant {plant_id!r} in {self.display_url}")
        frame = frame.drop(columns=["plant_id"]).rename(columns=_UCI_NAMES)
        return validate_frame(frame)
