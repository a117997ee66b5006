"""The guarded inference service: licences, quotas, extraction detection, output hardening.

:func:`create_app` builds the FastAPI service from :class:`GuardSettings` (or a
:class:`GuardService` for tests): the model is opened from a sealed bundle with the device key
and a live licence (:func:`open_classifier`; :func:`seal_classifier` seals one with its model
card). Each request passes API-key authentication (:class:`ClientRegistry`, keys stored
hashed), quotas and token buckets, PRADA extraction detection (:func:`prada_observe`), the
DAWN-style API watermark (:class:`ApiWatermark`, verified with :func:`verify_api_watermark`)
and the client's output tier (:func:`harden`). State lives in :class:`GuardStore`.
"""

from __future__ import annotations

from edgeshield.guard._alarms import AlarmReview, clear_alarm, review_alarms
from edgeshield.guard._clients import ClientRegistry, ClientSpec, hash_api_key, new_api_key
from edgeshield.guard._hardening import HardeningConfig, harden, reverse_sigmoid
from edgeshield.guard._ledger_gate import (
    LedgerLicenceGate,
    LicenceGate,
    LicenceStatus,
    gate_from_licence,
)
from edgeshield.guard._linking import ClientLink, flag_linked, linked_clients
from edgeshield.guard._metrics import GuardMetrics
from edgeshield.guard._model import (
    CARD_METADATA_PREFIX,
    GuardedModel,
    card_from_metadata,
    card_metadata,
    open_classifier,
    seal_classifier,
)
from edgeshield.guard._prada import PradaConfig, PradaState, PradaUpdate, prada_observe
from edgeshield.guard._schema import (
    MAX_BATCH,
    SENSOR_RANGES,
    OutputTier,
    Prediction,
    PredictRequest,
    PredictResponse,
    RequestSchema,
    SensorRecord,
    records_frame,
    records_from_frame,
    request_schema,
)
from edgeshield.guard._service import (
    AlarmAction,
    GuardConfig,
    GuardService,
    PradaLayout,
    prada_inputs,
)
from edgeshield.guard._settings import GuardSettings
from edgeshield.guard._store import AuditRecord, ClientState, GuardStore, WatermarkRecord
from edgeshield.guard._watermark import (
    CONTROL_RATE,
    MAX_WATERMARK_RATE,
    ApiWatermark,
    CellKind,
    CellLayout,
    ClientCells,
    FlipBudget,
    WatermarkEvidence,
    budget_cells,
    canonical_query,
    verify_api_watermark,
)
from edgeshield.guard.api._body import restore_recursion_limit
from edgeshield.guard.api.app import build_service, create_app

__all__ = [
    "CARD_METADATA_PREFIX",
    "CONTROL_RATE",
    "MAX_BATCH",
    "MAX_WATERMARK_RATE",
    "SENSOR_RANGES",
    "AlarmAction",
    "AlarmReview",
    "ApiWatermark",
    "AuditRecord",
    "CellKind",
    "CellLayout",
    "ClientCells",
    "ClientLink",
    "ClientRegistry",
    "ClientSpec",
    "ClientState",
    "FlipBudget",
    "GuardConfig",
    "GuardMetrics",
    "GuardService",
    "GuardSettings",
    "GuardStore",
    "GuardedModel",
    "HardeningConfig",
    "LedgerLicenceGate",
    "LicenceGate",
    "LicenceStatus",
    "OutputTier",
    "PradaConfig",
    "PradaLayout",
    "PradaState",
    "PradaUpdate",
    "PredictRequest",
    "PredictResponse",
    "Prediction",
    "RequestSchema",
    "SensorRecord",
    "WatermarkEvidence",
    "WatermarkRecord",
    "budget_cells",
    "build_service",
    "canonical_query",
    "card_from_metadata",
    "card_metadata",
    "clear_alarm",
    "create_app",
    "flag_linked",
    "gate_from_licence",
    "harden",
    "hash_api_key",
    "linked_clients",
    "new_api_key",
    "open_classifier",
    "prada_inputs",
    "prada_observe",
    "records_frame",
    "records_from_frame",
    "request_schema",
    "restore_recursion_limit",
    "reverse_sigmoid",
    "review_alarms",
    "seal_classifier",
    "verify_api_watermark",
]
