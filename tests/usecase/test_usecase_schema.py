import tomllib
from importlib import resources
from pathlib import Path

import pytest

from edgeshield.errors import ConfigError, StorageError
from edgeshield.usecase import (
    FEATURE_NAMES,
    UCI_COLUMNS,
    ColumnType,
    default_schema,
    load_schema,
    schema_from_dict,
    shipped_schema_text,
)

REPO = Path(__file__).resolve().parents[2]

MINIMAL = """\
format: edgeshield.dataset-schema/1
name: pumps
columns:
  pressure_bar: {header: "Pressure [bar]", type: float, unit: bar, range: [0, 400]}
  flow: {type: integer, range: [0, null]}
  site: {type: category, levels: [north, south]}
  broken: {type: binary}
derived:
  load: pressure_bar * flow
target: {column: broken, positive: 1}
features: [site, pressure_bar, load]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_default_schema_is_ai4i_with_the_classic_features() -> None:
    schema = default_schema()
    assert schema.name == "ai4i2020"
    assert schema.feature_names == FEATURE_NAMES
    assert tuple(c.header for c in schema.columns) == UCI_COLUMNS
    assert schema.table_name == "sensor_readings"
    assert [c.header for c in schema.columns if not c.required] == list(UCI_COLUMNS[-5:])


def test_minimal_schema_orders_numeric_features_before_one_hot(tmp_path: Path) -> None:
    schema = load_schema(_write(tmp_path, MINIMAL))
    assert schema.feature_names == ("pressure_bar", "load", "site_north", "site_south")
    assert schema.column("flow").type is ColumnType.INTEGER
    assert schema.column("flow").header == "flow"  # the name when no header is given
    assert schema.column("pressure_bar").maximum == 400.0
    assert schema.table_name == "rows_pumps"
    assert schema.header_map["Pressure [bar]"] == "Pressure [bar]"
    assert schema.header_map["pressure_bar"] == "Pressure [bar]"


def test_canonical_form_round_trips_with_the_same_digest(tmp_path: Path) -> None:
    for schema in (default_schema(), load_schema(_write(tmp_path, MINIMAL))):
        again = schema_from_dict(schema.as_dict())
        assert again == schema
        assert again.digest == schema.digest


def test_digest_changes_with_any_declared_value(tmp_path: Path) -> None:
    one = load_schema(_write(tmp_path, MINIMAL))
    two = load_schema(_write(tmp_path, MINIMAL.replace("[0, 400]", "[0, 401]")))
    assert one.digest != two.digest


def test_extends_replaces_whole_sections_of_a_shipped_schema(tmp_path: Path) -> None:
    text = (
        "extends: ai4i2020\ncsv: {separator: ';', decimal: ','}\nmapping: {Drehmoment: torque_nm}\n"
    )
    schema = load_schema(_write(tmp_path, text))
    assert schema.csv.separator == ";"
    assert schema.csv.decimal == ","
    assert schema.csv.encoding == "utf-8"
    assert schema.header_map["Drehmoment"] == "Torque [Nm]"
    assert schema.feature_names == FEATURE_NAMES
    assert schema.digest != default_schema().digest


def test_shipped_schema_by_name_and_its_text() -> None:
    assert load_schema("ai4i2020") is default_schema()
    text = shipped_schema_text("ai4i2020")
    assert text is not None
    assert "Air temperature [K]" in text
    assert shipped_schema_text("no-such-schema") is None


def test_every_shipped_schema_is_declared_package_data() -> None:
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["edgeshield"]
    folder = resources.files("edgeshield.usecase") / "schemas"
    shipped = [p.name for p in folder.iterdir() if p.name.endswith(".yaml")]
    assert shipped
    assert "usecase/schemas/*.yaml" in patterns


def test_missing_schema_file_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no such schema file"):
        load_schema(tmp_path / "absent.yaml")


def _edit(old: str, new: str) -> str:
    assert old in MINIMAL
    return MINIMAL.replace(old, new)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "s.yaml: the schema file is empty"),
        ("a: [", "s.yaml:1: not valid YAML"),
        ("- 1\n- 2\n", "s.yaml:1: (top level): expected a mapping"),
        (MINIMAL + "colums: {}\n", "s.yaml:12: colums: unknown key"),
        (_edit("format: edgeshield.dataset-schema/1\n", ""), "format: expected format"),
        (_edit("name: pumps", "name: Pumps!"), "s.yaml:2: name: 'Pumps!' is not a name"),
        (_edit("name: pumps", "name: pumps\nname: again"), "s.yaml:3: name: duplicate key"),
        (_edit("type: integer", "type: int"), "s.yaml:5: columns.flow.type: unknown type 'int'"),
        (_edit("[0, 400]", "[400, 0]"), "s.yaml:4: columns.pressure_bar.range: low 400.0"),
        (_edit("[0, 400]", "[0]"), "columns.pressure_bar.range: expected [low, high]"),
        (_edit("[0, 400]", "[0, high]"), "columns.pressure_bar.range.1: expected a number"),
        (_edit(", levels: [north, south]", ""), "columns.site.levels: a category column needs"),
        (_edit("{type: binary}", "{type: binary, range: [0, 1]}"), "only integer and float"),
        (_edit("{type: binary}", "{type: binary, requried: false}"), "broken.requried: unknown"),
        (_edit("  flow:", "  Flow:"), "columns.Flow: 'Flow' is not a name"),
        (_edit("  flow:", "  row_index:"), "columns.row_index: 'row_index' is reserved"),
        (_edit("levels: [north, south]", "levels: [north, north]"), "repeats an entry"),
        (_edit("{type: binary}", "{type: binary, header: flow}"), "header 'flow' also names"),
        (_edit("pressure_bar * flow", "pressure_bar ** flow"), "s.yaml:9: derived.load: a number"),
        (_edit("pressure_bar * flow", "pressure_bar * site"), "'site' is not a numeric column"),
        (_edit("pressure_bar * flow", "os.system(1)"), "unexpected character '.'"),
        (_edit("  load:", "  flow:"), "derived.flow: 'flow' is already a column"),
        (_edit("column: broken", "column: nope"), "s.yaml:10: target.column: 'nope' is not"),
        (_edit("column: broken", "column: pressure_bar"), "the target must be"),
        (_edit("positive: 1", "positive: 2"), "target.positive: a binary target's positive"),
        (_edit("positive: 1", "positive: yes"), "target.positive: expected a whole number"),
        (_edit("[site, pressure_bar, load]", "[site, pressure, load]"), "features.1: 'pressure'"),
        (_edit("[site, pressure_bar, load]", "[site, broken]"), "features.1: the target cannot"),
        (_edit("[site, pressure_bar, load]", "[site]"), "at least one numeric input"),
        (_edit("[site, pressure_bar, load]", "[]"), "features: list at least one model input"),
        (MINIMAL + "csv: {separator: ';;'}\n", "s.yaml:12: csv.separator: expected one char"),
        (MINIMAL + "csv: {decimal: ';'}\n", "csv.decimal: expected '.' or ','"),
        (MINIMAL + "csv: {decimal: ','}\n", "the decimal mark cannot also be the separator"),
        (MINIMAL + "csv: {encoding: klingon}\n", "csv.encoding: unknown text encoding"),
        # accepted, then a LookupError at import
        (MINIMAL + "csv: {encoding: rot13}\n", "csv.encoding: 'rot13' is not a text encoding"),
        (MINIMAL + "csv: {encoding: hex}\n", "csv.encoding: 'hex' is not a text encoding"),
        # accepted, then an InvalidRequestError (or a write into SQLite's catalogue) at import
        (MINIMAL + "table: plants\n", "table: 'plants' is a table EdgeShield or the database"),
        (MINIMAL + "table: quarantined_rows\n", "'quarantined_rows' is a table EdgeShield"),
        (MINIMAL + "table: sqlite_master\n", "'sqlite_master' is a table EdgeShield"),
        (MINIMAL + "mapping: {Druck: pressure}\n", "s.yaml:12: mapping.Druck: 'pressure' is not"),
        (MINIMAL + "id: pressure_bar\n", "s.yaml:12: id: 'pressure_bar' is not an integer"),
        (MINIMAL + "table: 'drop table'\n", "table: 'drop table' is not a name"),
        ("extends: nope\n", "s.yaml:1: extends: expected one of ai4i2020"),
        ("x: &a [1]\ny: *a\n", "anchors and aliases are not supported"),
        ("a: !!python/object:os.system x\n", "s.yaml:1: not valid YAML"),
    ],
)
def test_bad_schema_names_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_schema(_write(tmp_path, text))
    assert message in str(caught.value)
