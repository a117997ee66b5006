"""The baseline of ``benchmarks/guard.py``: the same model served plain by FastAPI.

Same request schema and validation, same model code path, no authentication, quotas,
detection, watermark, hardening or state. Started by the benchmark with
``uvicorn --factory guard_plain:create_plain_app`` (model directory in ``EDGESHIELD_PLAIN_MODEL``).
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from edgeshield.guard import OutputTier, Prediction, PredictRequest, PredictResponse, records_frame
from edgeshield.usecase import load_classifier


def create_plain_app() -> FastAPI:
    classifier = load_classifier(os.environ["EDGESHIELD_PLAIN_MODEL"])
    app = FastAPI(title="plain")

    @app.post("/v1/predict")
    def predict(body: PredictRequest) -> PredictResponse:
        p = classifier.predict_proba(records_frame(body.records))
        labels = p >= classifier.threshold
        return PredictResponse(
            model_id="plain",
            tier=OutputTier.FULL,
            predictions=[
                Prediction(label=int(y), probabilities=[float(1 - q), float(q)])
                for y, q in zip(labels, p, strict=True)
            ],
        )

    @app.get("/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
