"""The industrial use case: AI4I-2020-style plant data and the machine-failure classifier.

Schema: a :class:`DatasetSchema` (:func:`load_schema` from YAML, :func:`default_schema` for AI4I
2020) declares the columns, ranges, target, derived features and CSV dialect; :func:`read_table`
imports a CSV through one. Data: :func:`generate` one production line, :func:`make_fleet`
several physically different plants, :class:`PlantDatabase` to store them in SQL,
:func:`read_uci_csv` for the UCI file.
Model: :func:`train_classifier` (a PyTorch MLP), :func:`pretrain` on :func:`public_data` (the
shipped UCI file), :func:`save_classifier` / :func:`load_classifier` (safetensors + JSON model
card), :func:`failure_metrics`.
"""

from __future__ import annotations

from edgeshield.usecase._classifier import FailureClassifier, data_digest, train_classifier
from edgeshield.usecase._columns import (
    FAILURE_MODES,
    MACHINE_FAILURE,
    PRODUCT_TYPES,
    SENSOR_COLUMNS,
    TYPE,
    UCI_COLUMNS,
)
from edgeshield.usecase._csvio import read_uci_csv, validate_frame, write_uci_csv
from edgeshield.usecase._features import FEATURE_NAMES, FeatureEncoder, feature_matrix, labels
from edgeshield.usecase._generator import (
    GeneratorConfig,
    dashboard_polls,
    generate,
    steady_trace,
)
from edgeshield.usecase._metrics import FailureMetrics, best_f1_threshold, failure_metrics
from edgeshield.usecase._model import FailureMLP, TrainConfig, fit_mlp, positive_weight
from edgeshield.usecase._persist import (
    CARD_FILE,
    WEIGHTS_FILE,
    classifier_from_parts,
    load_classifier,
    save_classifier,
)
from edgeshield.usecase._plants import (
    PLANT_COLUMN,
    Fleet,
    FleetConfig,
    PlantProfile,
    leave_one_plant_out,
    make_fleet,
    split_rows,
    stratified_split,
)
from edgeshield.usecase._pretrain import (
    PublicData,
    PublicPretraining,
    PublicSource,
    pretrain,
    public_data,
)
from edgeshield.usecase._rules import (
    HDF_MAX_SPEED_RPM,
    HDF_MAX_TEMPERATURE_DIFFERENCE_K,
    OSF_LIMITS_MIN_NM,
    PWF_MAX_POWER_W,
    PWF_MIN_POWER_W,
    heat_dissipation_failure,
    mechanical_power_w,
    overstrain_failure,
    power_failure,
)
from edgeshield.usecase._schema import Column, ColumnType, DatasetSchema
from edgeshield.usecase._schema_load import (
    default_schema,
    is_default_schema,
    load_schema,
    schema_from_dict,
    shipped_schema_text,
)
from edgeshield.usecase._storage import IfPlantExists, PlantDatabase, sqlite_url
from edgeshield.usecase._tabular import read_table, screen_table

__all__ = [
    "CARD_FILE",
    "FAILURE_MODES",
    "FEATURE_NAMES",
    "HDF_MAX_SPEED_RPM",
    "HDF_MAX_TEMPERATURE_DIFFERENCE_K",
    "MACHINE_FAILURE",
    "OSF_LIMITS_MIN_NM",
    "PLANT_COLUMN",
    "PRODUCT_TYPES",
    "PWF_MAX_POWER_W",
    "PWF_MIN_POWER_W",
    "SENSOR_COLUMNS",
    "TYPE",
    "UCI_COLUMNS",
    "WEIGHTS_FILE",
    "Column",
    "ColumnType",
    "DatasetSchema",
    "FailureClassifier",
    "FailureMLP",
    "FailureMetrics",
    "FeatureEncoder",
    "Fleet",
    "FleetConfig",
    "GeneratorConfig",
    "IfPlantExists",
    "PlantDatabase",
    "PlantProfile",
    "PublicData",
    "PublicPretraining",
    "PublicSource",
    "TrainConfig",
    "best_f1_threshold",
    "classifier_from_parts",
    "dashboard_polls",
    "data_digest",
    "default_schema",
    "failure_metrics",
    "feature_matrix",
    "fit_mlp",
    "generate",
    "heat_dissipation_failure",
    "is_default_schema",
    "labels",
    "leave_one_plant_out",
    "load_classifier",
    "load_schema",
    "make_fleet",
    "mechanical_power_w",
    "overstrain_failure",
    "positive_weight",
    "power_failure",
    "pretrain",
    "public_data",
    "read_table",
    "read_uci_csv",
    "save_classifier",
    "schema_from_dict",
    "screen_table",
    "shipped_schema_text",
    "split_rows",
    "sqlite_url",
    "steady_trace",
    "stratified_split",
    "train_classifier",
    "validate_frame",
    "write_uci_csv",
]
