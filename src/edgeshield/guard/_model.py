"""Load the failure classifier from a sealed bundle, bound to this device and a live licence.

Why: the guard must refuse to serve a model it cannot prove it may serve. The model card (the
encoder, threshold and architecture that turn weights into a classifier) travels in the
bundle's signed public metadata, so it is authenticated together with the weights.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeshield.errors import GuardError, ModelError, RollbackError, StorageError, VaultError
from edgeshield.usecase import FailureClassifier, classifier_from_parts, default_schema
from edgeshield.vault import (
    Clock,
    DeviceKey,
    DevicePublicKey,
    Licence,
    OwnerKey,
    OwnerPublicKey,
    SealOptions,
    open_bundle,
    read_licence,
    seal,
    system_clock,
    verify_bundle,
)

__all__ = [
    "CARD_METADATA_PREFIX",
    "GuardedModel",
    "card_from_metadata",
    "card_metadata",
    "open_classifier",
    "seal_classifier",
]

CARD_METADATA_PREFIX = "edgeshield.model_card."
"""Metadata keys ``edgeshield.model_card.0``, ``.1``, ... hold the zlib+base64 model card."""

_CHUNK = 4000


def card_metadata(card: Mapping[str, Any]) -> dict[str, str]:
    """Encode a model card as bundle metadata entries (each within the vault's 4096 limit)."""
    text = base64.b64encode(zlib.compress(json.dumps(card, sort_keys=True).encode(), 9)).decode()
    return {
        f"{CARD_METADATA_PREFIX}{i}": text[start : start + _CHUNK]
        for i, start in enumerate(range(0, len(text), _CHUNK))
    }


def card_from_metadata(metadata: Mapping[str, str]) -> dict[str, Any] | None:
    """Decode the model card from bundle metadata; ``None`` when the bundle carries none.

    Raises
    ------
    ModelError
        The entries exist but do not decode to a JSON object.
    """
    parts: list[str] = []
    while f"{CARD_METADATA_PREFIX}{len(parts)}" in metadata:
        parts.append(metadata[f"{CARD_METADATA_PREFIX}{len(parts)}"])
    if not parts:
        return None
    try:
        card = json.loads(zlib.decompress(base64.b64decode("".join(parts), validate=True)))
    except (ValueError, zlib.error) as exc:
        raise ModelError("the model card in the bundle metadata is corrupt") from exc
    if not isinstance(card, dict):
        raise ModelError("the model card in the bundle metadata is not a JSON object")
    return card


def seal_classifier(
    classifier: FailureClassifier,
    *,
    owner_key: OwnerKey,
    recipients: Sequence[DevicePublicKey],
    model_id: str,
    metadata: Mapping[str, str] | None = None,
    options: SealOptions | None = None,
    clock: Clock = system_clock,
) -> bytes:
    """Seal a classifier's weights with its model card in the signed metadata.

    Why: one file then holds everything the guard needs, and the card cannot be swapped
    without breaking the owner's signature.
    """
    state = {k: v.detach().contiguous() for k, v in classifier.model.state_dict().items()}
    meta = dict(metadata or {})
    meta.update(card_metadata(classifier.card()))
    return seal(
        state,
        owner_key=owner_key,
        recipients=recipients,
        model_id=model_id,
        metadata=meta,
        options=options,
        clock=clock,
    )


def _check_schema(chosen: Mapping[str, Any], signed: Mapping[str, Any] | None) -> None:
    """Refuse a card given beside a bundle whose dataset schema differs from the signed card's.

    Why: the request model, its ranges and the watermark's cells come from the card's schema; a
    replacement card must not change how requests are read.
    """
    ai4i = default_schema().digest
    if signed is not None and chosen is not signed:
        theirs = chosen.get("dataset_schema_sha256", ai4i)
        if theirs != signed.get("dataset_schema_sha256", ai4i):
            raise GuardError(
                "guard cannot start: the given model card's dataset schema differs from the one "
                "the bundle's signed card declares"
            )


@dataclass(frozen=True, kw_only=True)
class GuardedModel:
    """A classifier opened from a sealed bundle, with the licence that allowed it."""

    classifier: FailureClassifier
    licence: Licence
    device: DevicePublicKey
    model_id: str
    model_digest: str


def open_classifier(
    bundle: bytes | str | os.PathLike[str],
    *,
    device_key: DeviceKey,
    owner_public_key: OwnerPublicKey,
    licence: str,
    card: Mapping[str, Any] | None = None,
    clock: Clock = system_clock,
) -> GuardedModel:
    """Verify, decrypt and rebuild the classifier; refuse without a valid licence.

    Why: the service starts only from a bundle sealed for this device with a licence signed by
    the owner, for this model, valid now.

    Parameters
    ----------
    bundle
        The sealed bundle file or its bytes.
    device_key, owner_public_key
        This device's private key and the owner's verification key.
    licence
        The licence token (required even if the bundle would open without one: it carries
        the query quota).
    card
        A model card to use instead of the one in the bundle metadata (for bundles sealed by
        ``edgeshield vault seal`` from a bare safetensors file; such a card is not signed).
    clock
        Source of the current time for the licence window.

    Raises
    ------
    GuardError
        Any reason to refuse: a vault error (integrity, wrong device, licence) is the cause.
    """
    source = bundle if isinstance(bundle, bytes) else Path(bundle)  # streamed from a path
    try:
        parsed = read_licence(licence.strip(), owner_public_key=owner_public_key)
        state = open_bundle(
            source,
            device_key=device_key,
            owner_public_key=owner_public_key,
            licence=parsed,
            clock=clock,
            expected_model_digest=parsed.model_digest,
        )
        info = verify_bundle(
            source, owner_public_key=owner_public_key
        )  # the card: signed, same model
        if info.model_digest != parsed.model_digest:
            raise RollbackError("the bundle changed while the guard was opening it")
    except (VaultError, StorageError) as exc:
        raise GuardError(f"guard cannot start: {exc}") from exc
    signed = card_from_metadata(info.metadata)
    chosen = dict(card) if card is not None else signed
    if chosen is None:
        raise GuardError(
            "guard cannot start: the bundle carries no model card; seal it with "
            "seal_classifier or pass the model card file"
        )
    try:
        classifier = classifier_from_parts({k: v.clone() for k, v in state.items()}, chosen)
    except ModelError as exc:
        raise GuardError(f"guard cannot start: {exc}") from exc
    _check_schema(chosen, signed)
    return GuardedModel(
        classifier=classifier,
        licence=parsed,
        device=device_key.public_key(),
        model_id=info.model_id,
        model_digest=info.model_digest,
    )
