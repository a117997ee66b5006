"""Plant data in a SQL database through SQLAlchemy (SQLite by default, any SQLAlchemy URL).

Each dataset schema has its own readings table (AI4I 2020's is ``sensor_readings``); columns
are stored under the schema's SQL names and read back in its layout, so a plant's rows survive
a round trip unchanged. SAP HANA works through the ``edgeshield[hana]`` extra.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from edgeshield.errors import ConfigError, DataError, SchemaError, StorageError, redact_urls
from edgeshield.usecase._plants import PlantProfile
from edgeshield.usecase._schema import Column, ColumnType, DatasetSchema
from edgeshield.usecase._schema_load import default_schema
from edgeshield.usecase._tabular import conform

__all__ = ["IfPlantExists", "PlantDatabase", "sqlite_url"]


class IfPlantExists(enum.Enum):
    """What :meth:`PlantDatabase.write_plant` does when the plant already has rows."""

    FAIL = "fail"
    """Refuse with :class:`~edgeshield.errors.StorageError` (nothing is changed)."""
    REPLACE = "replace"
    """Delete the plant's rows and profile, then write the new ones."""
    APPEND = "append"
    """Keep the stored rows and add the new ones (their UDIs must not collide)."""


def sqlite_url(path: str | Path) -> str:
    """SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{Path(path)}"


def _sqlite_file(url: str) -> Path | None:
    """The file of an on-disk SQLite URL, else None (also for a URL that does not parse)."""
    try:
        parsed = sa.engine.make_url(url)
    except (ArgumentError, ValueError):
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(str(database))


def _require_existing_sqlite(url: str) -> None:
    """Refuse a SQLite URL whose file does not exist (reading must not create one)."""
    try:
        sa.engine.make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(redact_urls(f"bad database URL {url!r}: {exc}")) from exc
    file = _sqlite_file(url)
    if file is not None and not file.is_file():
        raise StorageError(f"no such database file: {file}")


ROW_INDEX = "row_index"
"""Row key of a schema without an ``id`` column: the row's position within its plant."""


def _sql_type(column: Column) -> sa.types.TypeEngine[Any]:
    if column.type is ColumnType.FLOAT:
        return sa.Float()
    if column.type is ColumnType.BINARY:
        return sa.SmallInteger()
    if column.type is ColumnType.INTEGER:
        return sa.Integer()
    if column.type is ColumnType.CATEGORY:
        return sa.String(max(len(level) for level in column.levels))
    return sa.String(255)


QUARANTINE_TABLE = "quarantined_rows"
"""Rows that ``--on-bad-row quarantine`` set aside, with the reason, for every schema."""


def _metadata(schema: DatasetSchema) -> tuple[sa.MetaData, sa.Table, sa.Table]:
    """The plant-profile table and the schema's own readings table (one table per schema).

    For AI4I 2020 this is the ``sensor_readings`` table EdgeShield has always written.
    """
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
    key = schema.column(schema.id_column).sql_name if schema.id_column else ROW_INDEX
    extra = [] if schema.id_column else [sa.Column(ROW_INDEX, sa.BigInteger, nullable=False)]
    readings = sa.Table(
        schema.table_name,
        metadata,
        sa.Column("plant_id", sa.String(64), nullable=False, index=True),
        *extra,
        *[sa.Column(c.sql_name, _sql_type(c), nullable=not c.required) for c in schema.columns],
        sa.PrimaryKeyConstraint("plant_id", key),
    )
    sa.Table(
        QUARANTINE_TABLE,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("plant_id", sa.String(64), nullable=False, index=True),
        sa.Column("dataset", sa.String(64), nullable=False),
        sa.Column("row", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
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
    schema
        The dataset schema of the rows (AI4I 2020 unless given); each schema has its own
        readings table, so plants of different data sets can share one database.
    """

    def __init__(
        self, url: str, *, create: bool = True, schema: DatasetSchema | None = None
    ) -> None:
        self.schema = schema or default_schema()
        if not create:
            _require_existing_sqlite(url)
        try:
            self._engine = sa.create_engine(url)
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise ConfigError(redact_urls(f"bad database URL {url!r}: {exc}")) from exc
        except ImportError as exc:
            raise ConfigError(
                redact_urls(f"database driver for {url!r} is not installed: {exc}")
            ) from exc
        file = _sqlite_file(url)
        self._created = file if file is not None and not file.exists() else None
        """A SQLite file this object creates: removed again if the ``with`` block fails."""
        self.url = url
        self.display_url = self._engine.url.render_as_string(hide_password=True)
        """The URL with its password masked: the only form that goes into messages."""
        self._metadata, self._plants, self._readings = _metadata(self.schema)
        self._key = self._readings.primary_key.columns.values()[1]
        self._quarantine = self._metadata.tables[QUARANTINE_TABLE]
        try:
            self._metadata.create_all(self._engine)
        except SQLAlchemyError as exc:
            self._engine.dispose()
            self._remove_created()
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
        if exc_type is not None:  # refused, failed or interrupted: leave no new empty file
            self._remove_created()

    def _remove_created(self) -> None:
        if self._created is None:
            return
        for suffix in ("", "-journal", "-wal", "-shm"):
            self._created.with_name(self._created.name + suffix).unlink(missing_ok=True)
        self._created = None

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
        quarantined: pd.DataFrame | None = None,
    ) -> int:
        """Store one plant's rows, and its profile when given; return the rows written.

        The write is one transaction: on any error (a refused plant, a UDI collision on
        append) the database is left as it was. Values are checked against the schema's
        types, not its ranges (importers check those, see :func:`read_table`).
        ``quarantined`` rows (as :func:`~edgeshield.usecase.screen_table` returns them) go to
        the side table ``quarantined_rows`` in the same transaction; replacing a plant also
        drops its earlier quarantined rows of this schema.

        Raises
        ------
        SchemaError
            ``frame`` is not in the schema's layout or holds no rows.
        StorageError
            The plant exists and ``if_exists`` is ``FAIL``, the appended UDIs collide with
            stored ones, or the database refused the write.
        """
        sql_names = {c.header: c.sql_name for c in self.schema.columns}
        data = conform(frame, self.schema).rename(columns=sql_names)
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
                if self.schema.id_column is None:
                    start = conn.execute(
                        sa.select(sa.func.max(self._key)).where(where)
                    ).scalar_one()
                    first = 0 if start is None else int(start) + 1
                    data.insert(1, ROW_INDEX, range(first, first + len(data)))
                if if_exists is not IfPlantExists.APPEND:
                    conn.execute(sa.delete(self._quarantine).where(self._quarantine_of(plant_id)))
                if quarantined is not None and len(quarantined):
                    conn.execute(
                        sa.insert(self._quarantine),
                        [
                            {
                                "plant_id": plant_id,
                                "dataset": self.schema.name,
                                "row": int(r["row"]),
                                "reason": str(r["reason"]),
                                "record": str(r["record"]),
                            }
                            for r in quarantined.to_dict(orient="records")
                        ],
                    )
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
            ident = self.schema.id_column
            key = self.schema.column(ident).header if ident else ROW_INDEX
            raise StorageError(
                f"cannot write plant {plant_id!r}: a {key} is already stored for this plant, or "
                f"the table {self._readings.name!r} was created for another layout"
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

    def _quarantine_of(self, plant_id: str) -> sa.ColumnElement[bool]:
        table = self._quarantine
        return sa.and_(table.c.plant_id == plant_id, table.c.dataset == self.schema.name)

    def quarantined(self, plant_id: str) -> pd.DataFrame:
        """A plant's quarantined rows of this schema: ``row``, ``reason``, ``record``."""
        table = self._quarantine
        query = (
            sa.select(table.c.row, table.c.reason, table.c.record)
            .where(self._quarantine_of(plant_id))
            .order_by(table.c.id)
        )
        try:
            with self._engine.connect() as conn:
                rows = [dict(r) for r in conn.execute(query).mappings()]
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read quarantined rows: {exc.__class__.__name__}") from exc
        return pd.DataFrame(rows, columns=["row", "reason", "record"])

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
        """One plant's rows in the schema's layout, in key (UDI or import) order.

        Raises
        ------
        DataError
            The database holds no rows for ``plant_id``.
        """
        query = (
            sa.select(self._readings)
            .where(self._readings.c.plant_id == plant_id)
            .order_by(self._key)
        )
        try:
            with self._engine.connect() as conn:
                frame = pd.DataFrame(list(conn.execute(query).mappings()))
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read plant {plant_id!r}: {exc.__class__.__name__}") from exc
        if frame.empty:
            raise DataError(f"no rows for plant {plant_id!r} in {self.display_url}")
        headers = {c.sql_name: c.header for c in self.schema.columns}
        frame = frame.drop(columns=["plant_id"]).rename(columns=headers)
        absent = [
            c.header for c in self.schema.columns if not c.required and frame[c.header].isna().all()
        ]
        return conform(frame.drop(columns=absent), self.schema)
