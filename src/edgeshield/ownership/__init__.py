"""Model ownership: trigger-set watermarks, fingerprints, calibrated tests and evidence.

Watermark: a :class:`WatermarkKey` derives plausible triggers (:func:`derive_triggers`) inside
an envelope of reference rows (:func:`fit_envelope`: AI4I's physics, any other schema's
:class:`TableEnvelope`),
embedded centrally (:func:`embed_watermark`) or by the federated aggregator
(:func:`waffle_hook`). Test: :func:`calibrate_null` measures independent models
(:func:`train_null_models`), :func:`verify_ownership` tests a suspect black-box.
"""

from __future__ import annotations

from edgeshield.ownership._commit import (
    CommitmentOpening,
    CommitmentReceipt,
    CommitmentStore,
    LedgerCommitmentStore,
    LocalCommitmentLog,
    RegistryLike,
    commitment,
    owner_salt,
)
from edgeshield.ownership._embed import (
    EmbedConfig,
    WaffleConfig,
    WeightsHook,
    embed_watermark,
    trigger_accuracy,
    waffle_hook,
)
from edgeshield.ownership._fingerprint import (
    Fingerprint,
    fingerprint,
    fingerprint_auc,
    match_fingerprint,
)
from edgeshield.ownership._key import KEY_BYTES, HmacDrbg, WatermarkKey
from edgeshield.ownership._nulls import (
    NullModelKind,
    SklearnFailureModel,
    train_null_model,
    train_null_models,
)
from edgeshield.ownership._report import EvidencePaths, OwnershipEvidence, write_evidence
from edgeshield.ownership._stats import (
    RHO_FLOOR,
    NullBound,
    NullDistribution,
    PredictFn,
    Suspect,
    as_predict_fn,
    calibrate_null,
    null_models_needed,
)
from edgeshield.ownership._table_envelope import TableEnvelope
from edgeshield.ownership._triggers import (
    Envelope,
    SensorEnvelope,
    TriggerSet,
    derive_anchors,
    derive_triggers,
    envelope_from_dict,
    fit_envelope,
    rule_failure,
)
from edgeshield.ownership._verify import OwnershipResult, queries_needed, verify_ownership

__all__ = [
    "KEY_BYTES",
    "RHO_FLOOR",
    "CommitmentOpening",
    "CommitmentReceipt",
    "CommitmentStore",
    "EmbedConfig",
    "Envelope",
    "EvidencePaths",
    "Fingerprint",
    "HmacDrbg",
    "LedgerCommitmentStore",
    "LocalCommitmentLog",
    "NullBound",
    "NullDistribution",
    "NullModelKind",
    "OwnershipEvidence",
    "OwnershipResult",
    "PredictFn",
    "RegistryLike",
    "SensorEnvelope",
    "SklearnFailureModel",
    "Suspect",
    "TableEnvelope",
    "TriggerSet",
    "WaffleConfig",
    "WatermarkKey",
    "WeightsHook",
    "as_predict_fn",
    "calibrate_null",
    "commitment",
    "derive_anchors",
    "derive_triggers",
    "embed_watermark",
    "envelope_from_dict",
    "fingerprint",
    "fingerprint_auc",
    "fit_envelope",
    "match_fingerprint",
    "null_models_needed",
    "owner_salt",
    "queries_needed",
    "rule_failure",
    "train_null_model",
    "train_null_models",
    "trigger_accuracy",
    "verify_ownership",
    "waffle_hook",
    "write_evidence",
]
