"""A guard serves a model of any declared dataset schema: request fields, ranges and cells.

The breast-cancer schema (data nobody here wrote) stands for "your data": its model is sealed,
opened and served; the request model, its OpenAPI description, PRADA and the API watermark all
follow the model card's schema, and an AI4I record is refused by it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from guard_kit import NOW, SECRET, Kit, fixed_clock

from edgeshield.errors import ConfigError
from edgeshield.guard import (
    ApiWatermark,
    CellKind,
    CellLayout,
    ClientCells,
    ClientRegistry,
    GuardService,
    GuardStore,
    OutputTier,
    create_app,
    open_classifier,
    records_from_frame,
    request_schema,
    seal_classifier,
)
from edgeshield.usecase import (
    FailureClassifier,
    TrainConfig,
    load_schema,
    read_table,
    train_classifier,
)
from edgeshield.vault import inspect_bundle, issue_licence

OPERATOR_TOKEN = "operator-token-for-the-schema-tests-0123456789"


@pytest.fixture(scope="module")
def cancer(breast_cancer_csv: Path) -> tuple[FailureClassifier, pd.DataFrame]:
    schema = load_schema("breast_cancer")
    rows = read_table(breast_cancer_csv, schema)
    classifier = train_classifier(rows, TrainConfig(epochs=3, hidden=(8,)), seed=0, schema=schema)
    return classifier, rows


def _service(kit: Kit, classifier: FailureClassifier, db: Path) -> tuple[GuardService, str]:
    bundle = seal_classifier(
        classifier,
        owner_key=kit.owner,
        recipients=[kit.device.public_key()],
        model_id="cancer-classifier",
        clock=fixed_clock(),
    )
    licence = issue_licence(
        kit.owner,
        device=kit.device.public_key(),
        model_digest=inspect_bundle(bundle).model_digest,
        not_before=NOW - timedelta(days=1),
        expires=NOW + timedelta(days=1),
    )
    model = open_classifier(
        bundle,
        device_key=kit.device,
        owner_public_key=kit.owner.public_key(),
        licence=licence,
        clock=fixed_clock(),
    )
    registry = ClientRegistry()
    key = registry.add("clinic", tier=OutputTier.FULL, rate_per_s=1e6, burst=1e6)
    service = GuardService(
        model,
        clients=registry,
        store=GuardStore(f"sqlite:///{db}"),
        watermark_secret=SECRET,
        licence_clock=fixed_clock(),
    )
    return service, key


@pytest.fixture
def served(
    kit: Kit, cancer: tuple[FailureClassifier, pd.DataFrame], tmp_path: Path
) -> Iterator[tuple[TestClient, str, GuardService]]:
    service, key = _service(kit, cancer[0], tmp_path / "g.db")
    app = create_app(service=service, operator_token=OPERATOR_TOKEN)
    with TestClient(app) as client:
        yield client, key, service


def test_serves_the_schema_s_records_and_answers_like_the_model(
    served: tuple[TestClient, str, GuardService], cancer: tuple[FailureClassifier, pd.DataFrame]
) -> None:
    client, key, service = served
    classifier, rows = cancer
    frame = rows.iloc[:200]
    records = service.request_schema.records(frame)
    assert set(records[0]) == {c.name for c in service.request_schema.inputs}
    assert "mean_radius" in records[0]
    assert "diagnosis" not in records[0]
    response = client.post("/v1/predict", json={"records": records}, headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    labels = np.asarray([p["label"] for p in response.json()["predictions"]])
    clean = classifier.predict(frame)
    mark = service.watermark
    assert mark is not None
    cells = mark.cells(service.request_schema.validate(records))
    served_labels, honoured = ClientCells().serve(mark, np.asarray(clean, dtype=np.int64), cells)
    # every answer is the model's, except exactly those in cells the client's flip budget
    # honoured as marked (flipped), as the in-memory rule replays it
    assert np.array_equal(labels, served_labels)
    assert np.array_equal(labels != clean, honoured == CellKind.MARKED)


def test_refuses_records_of_another_schema_and_out_of_range_values(
    served: tuple[TestClient, str, GuardService], kit: Kit
) -> None:
    client, key, service = served
    good = service.request_schema.records(
        pd.DataFrame({c.header: [1.0] for c in service.request_schema.inputs})
    )[0]
    headers = {"X-API-Key": key}
    ai4i = records_from_frame(kit.frames["plant-3"].iloc[:1])
    cases = {
        "an AI4I record": ai4i[0],
        "a negative measurement": {**good, "mean_radius": -1.0},
        "a number as text": {**good, "mean_radius": "1.0"},
        "a boolean": {**good, "mean_radius": True},
        "a missing field": {k: v for k, v in good.items() if k != "mean_radius"},
        "an extra field": {**good, "diagnosis": "benign"},
    }
    for case, record in cases.items():
        response = client.post("/v1/predict", json={"records": [record]}, headers=headers)
        assert response.status_code == 422, (case, response.text)
    response = client.post("/v1/predict", json={"records": [good]}, headers=headers)
    assert response.status_code == 200, response.text


def test_openapi_publishes_the_schema_s_fields(
    served: tuple[TestClient, str, GuardService],
) -> None:
    client, _, _ = served
    spec = client.get("/openapi.json", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    assert spec.status_code == 200
    record = spec.json()["components"]["schemas"]["Record"]
    assert record["additionalProperties"] is False
    assert "mean_radius" in record["properties"]
    assert "torque_nm" not in record["properties"]
    assert record["properties"]["mean_radius"]["minimum"] == 0
    assert set(record["required"]) == set(record["properties"])


def test_ai4i_keeps_its_fields_ranges_and_cells() -> None:
    schema = request_schema()
    assert [c.name for c in schema.inputs] == [
        "type",
        "air_temperature_k",
        "process_temperature_k",
        "rotational_speed_rpm",
        "torque_nm",
        "tool_wear_min",
    ]
    assert schema.ranges["torque_nm"] == (0.0, 200.0)
    assert CellLayout.of(schema).widths == (1.0, 1.0, 25.0, 2.0, 10.0)


def test_near_duplicate_records_share_a_cell_in_any_schema(
    cancer: tuple[FailureClassifier, pd.DataFrame],
) -> None:
    classifier, rows = cancer
    schema = request_schema(classifier.schema)
    mark = ApiWatermark(SECRET, layout=CellLayout.of(schema))
    frame = rows.iloc[:300]
    nudged = frame.copy()
    nudged["mean radius"] = nudged["mean radius"] + 1e-6
    first = mark.frame_cells(frame)
    assert (
        first == mark.frame_cells(nudged)
        or sum(a != b for a, b in zip(first, mark.frame_cells(nudged), strict=True)) <= 3
    )
    assert first == mark.cells(schema.validate(schema.records(frame)))
    assert len(set(first)) > 250  # 30 measurements: almost every record is a cell of its own


def test_an_open_range_without_a_cell_width_is_refused_at_start(
    kit: Kit, tmp_path: Path, breast_cancer_csv: Path
) -> None:
    path = tmp_path / "bare.yaml"
    path.write_text(
        "format: edgeshield.dataset-schema/1\n"
        "name: bare\n"
        "columns:\n"
        "  mean_radius: {header: mean radius, type: float, range: [0, null]}\n"
        "  diagnosis: {type: category, levels: [malignant, benign]}\n"
        "target: {column: diagnosis, positive: malignant}\n"
        "features: [mean_radius]\n"
    )
    schema = load_schema(path)
    rows = read_table(breast_cancer_csv, schema)
    classifier = train_classifier(rows, TrainConfig(epochs=1, hidden=(4,)), seed=0, schema=schema)
    with pytest.raises(ConfigError, match="cell width for column 'mean_radius'"):
        _service(kit, classifier, tmp_path / "g.db")
