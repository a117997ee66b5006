"""Start-up: the service opens only a bundle sealed for this device with a live licence."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from guard_kit import NOW, SECRET, Kit, fixed_clock
from pydantic import ValidationError

from edgeshield.errors import GuardError, IntegrityError, KeyMismatchError, LicenceError
from edgeshield.guard import (
    GuardSettings,
    card_from_metadata,
    card_metadata,
    open_classifier,
    seal_classifier,
)
from edgeshield.usecase import (
    load_schema,
)
from edgeshield.vault import DeviceKey, OwnerKey, inspect_bundle, issue_licence


def _open(kit: Kit, **overrides: object):  # type: ignore[no-untyped-def]
    arguments: dict[str, object] = {
        "device_key": kit.device,
        "owner_public_key": kit.owner.public_key(),
        "licence": kit.licence(),
        "clock": fixed_clock(),
    }
    arguments.update(overrides)
    bundle = arguments.pop("bundle", kit.bundle)
    return open_classifier(bundle, **arguments)  # type: ignore[arg-type]


def test_opens_the_same_classifier(kit: Kit) -> None:
    model = _open(kit)
    frame = kit.frames["plant-3"]
    assert np.allclose(model.classifier.predict_proba(frame), kit.classifier.predict_proba(frame))
    assert model.classifier.threshold == kit.classifier.threshold
    assert model.licence.query_quota == 100_000
    assert model.model_digest == kit.digest


def test_card_metadata_round_trip(kit: Kit) -> None:
    card = kit.classifier.card()
    meta = card_metadata(card)
    assert all(len(v) <= 4096 for v in meta.values())
    assert card_from_metadata(meta) == card
    assert card_from_metadata({}) is None


def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 1
    return bytes(out)


@pytest.mark.parametrize(
    ("case", "cause"),
    [
        ("other device", KeyMismatchError),
        ("licence for other device", LicenceError),
        ("expired licence", LicenceError),
        ("forged licence", LicenceError),
        ("tampered bundle", IntegrityError),
        ("other owner", LicenceError),
    ],
)
def test_refuses_to_start(kit: Kit, case: str, cause: type[Exception]) -> None:
    other = DeviceKey.generate()
    overrides: dict[str, object] = {
        "other device": {"device_key": other},
        "licence for other device": {
            "licence": issue_licence(
                kit.owner,
                device=other.public_key(),
                model_digest=kit.digest,
                not_before=NOW - timedelta(days=1),
                expires=NOW + timedelta(days=1),
            )
        },
        "expired licence": {"clock": fixed_clock(NOW + timedelta(days=60))},
        "forged licence": {"licence": kit.licence()[:-4] + "AAAA"},
        "tampered bundle": {"bundle": _flip(kit.bundle, len(kit.bundle) // 2)},
        "other owner": {"owner_public_key": OwnerKey.generate().public_key()},
    }[case]
    with pytest.raises(GuardError, match="guard cannot start") as info:
        _open(kit, **overrides)
    assert isinstance(info.value.__cause__, cause)


def test_bundle_without_card_needs_one(kit: Kit) -> None:
    from edgeshield.vault import seal

    state = {k: v.detach().contiguous() for k, v in kit.classifier.model.state_dict().items()}
    bare = seal(
        state, owner_key=kit.owner, recipients=[kit.device.public_key()], model_id="bare",
        clock=fixed_clock(),
    )  # fmt: skip

    licence = issue_licence(
        kit.owner,
        device=kit.device.public_key(),
        model_digest=inspect_bundle(bare).model_digest,
        not_before=NOW - timedelta(days=1),
        expires=NOW + timedelta(days=1),
    )
    with pytest.raises(GuardError, match="no model card"):
        _open(kit, bundle=bare, licence=licence)
    model = _open(kit, bundle=bare, licence=licence, card=kit.classifier.card())
    assert model.model_id == "bare"


def test_sealed_card_is_signed(kit: Kit) -> None:
    bundle = seal_classifier(
        kit.classifier,
        owner_key=kit.owner,
        recipients=[kit.device.public_key()],
        model_id="m",
        clock=fixed_clock(),
    )
    # The card sits in the signed header: editing one character breaks the signature.
    at = bundle.find(b"edgeshield.model_card.0") + 40
    with pytest.raises(GuardError) as info:
        _open(kit, bundle=_flip(bundle, at))
    assert isinstance(info.value.__cause__, IntegrityError)


def _settings_env(tmp_path: Path, secret: str) -> dict[str, str]:
    return {
        "bundle": str(tmp_path / "b"),
        "device_key": str(tmp_path / "d"),
        "owner_public_key": str(tmp_path / "o"),
        "licence": str(tmp_path / "l"),
        "clients": str(tmp_path / "c"),
        "watermark_secret": secret,
    }


@pytest.mark.parametrize("secret", ["changethis", "short", "x" * 10])
def test_settings_reject_default_secrets(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ValidationError, match="watermark_secret"):
        GuardSettings(**_settings_env(tmp_path, secret))  # type: ignore[arg-type]


def test_settings_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in _settings_env(tmp_path, SECRET.decode()).items():
        monkeypatch.setenv(f"EDGESHIELD_GUARD_{name.upper()}", value)
    monkeypatch.setenv("EDGESHIELD_GUARD_ALARM_ACTION", "block")
    settings = GuardSettings()  # type: ignore[call-arg]
    assert settings.guard_config().alarm_action.value == "block"
    assert "guard-test" not in repr(settings)


def test_refuses_a_given_card_whose_schema_differs_from_the_signed_one(
    kit: Kit, tmp_path: Path
) -> None:
    (tmp_path / "de.yaml").write_text("extends: ai4i2020\ncsv: {separator: ';'}\n")
    variant = load_schema(tmp_path / "de.yaml")
    card = kit.classifier.card()
    card.update(dataset_schema=variant.as_dict(), dataset_schema_sha256=variant.digest)
    with pytest.raises(GuardError, match="differs from the one the bundle's signed card"):
        _open(kit, card=card)
