"""Licence tokens: issued, read, checked at open time; every refusal is a LicenceError."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from vault_helpers import NOW, World, fixed_clock, make_licence

from edgeshield.errors import ConfigError, LicenceError
from edgeshield.vault import (
    DeviceKey,
    LedgerRef,
    Licence,
    OwnerKey,
    issue_licence,
    open_bundle,
    read_licence,
)

ADDRESS = "0x" + "ab" * 20


def open_with(
    world: World, licence: str | Licence, *, device: DeviceKey | None = None, when: datetime = NOW
) -> None:
    open_bundle(
        world.bundle,
        device_key=world.device if device is None else device,
        owner_public_key=world.owner.public_key(),
        licence=licence,
        clock=fixed_clock(when),
    )


def test_read_licence_exposes_terms(world: World) -> None:
    token = make_licence(
        world.owner,
        world.device,
        world.model_digest,
        query_quota=25,
        ledger=LedgerRef(contract_address=ADDRESS, licence_id=7),
    )
    licence = read_licence(token, owner_public_key=world.owner.public_key())
    assert licence.device_key_id == world.device.public_key().key_id
    assert licence.model_digest == world.model_digest
    assert licence.query_quota == 25
    assert licence.ledger == LedgerRef(contract_address=ADDRESS, licence_id=7)
    assert licence.issuer_key_id == world.owner.public_key().key_id
    assert licence.not_before == NOW - timedelta(days=1)
    assert licence.expires == NOW + timedelta(days=30)
    assert licence.token == token
    assert len(licence.token_id) == 32
    open_with(world, licence)  # a Licence object is accepted too


def test_unlimited_quota_is_none(world: World) -> None:
    token = make_licence(world.owner, world.device, world.model_digest, query_quota=None)
    assert read_licence(token, owner_public_key=world.owner.public_key()).query_quota is None


def test_window_edges(world: World) -> None:
    start, end = NOW - timedelta(days=1), NOW + timedelta(days=30)
    open_with(world, world.licence, when=start)  # not_before is inclusive
    open_with(world, world.licence, when=end - timedelta(seconds=1))
    with pytest.raises(LicenceError, match="expired"):
        open_with(world, world.licence, when=end)  # expires is exclusive


def test_expired(world: World) -> None:
    with pytest.raises(LicenceError, match="expired"):
        open_with(world, world.licence, when=NOW + timedelta(days=31))


def test_not_yet_valid(world: World) -> None:
    with pytest.raises(LicenceError, match="not valid before"):
        open_with(world, world.licence, when=NOW - timedelta(days=2))


def test_wrong_device(world: World) -> None:
    token = make_licence(world.owner, DeviceKey.generate(), world.model_digest)
    with pytest.raises(LicenceError, match="another device"):
        open_with(world, token)


def test_replayed_for_another_device(world: World) -> None:
    # other_device is a genuine recipient of the bundle but presents device's licence.
    with pytest.raises(LicenceError, match="another device"):
        open_with(world, world.licence, device=world.other_device)


def test_wrong_model(world: World) -> None:
    token = make_licence(world.owner, world.device, "0" * 64)
    with pytest.raises(LicenceError, match="another model"):
        open_with(world, token)


def test_forged_by_another_owner(world: World) -> None:
    token = make_licence(OwnerKey.generate(), world.device, world.model_digest)
    with pytest.raises(LicenceError, match="not the owner's"):
        open_with(world, token)


def test_edited_payload_breaks_signature(world: World) -> None:
    prefix, _body, signature = world.licence.split(".")
    other = make_licence(world.owner, world.device, world.model_digest, query_quota=10**6)
    forged = ".".join([prefix, other.split(".")[1], signature])
    with pytest.raises(LicenceError, match="not the owner's"):
        open_with(world, forged)


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "ESL1.a.b", "ESL2.x.y", "ESL1.!!!.AAAA", "ESL1..", "ESL1.a.b.c", "x" * 9000],
)
def test_malformed_tokens(world: World, token: str) -> None:
    with pytest.raises(LicenceError):
        read_licence(token, owner_public_key=world.owner.public_key())


def test_signed_but_malformed_payload_is_refused(world: World) -> None:
    import base64

    from edgeshield.vault._licence import LICENCE_CONTEXT

    body = b'{"v":2}'
    signature = world.owner.sign(LICENCE_CONTEXT + body)
    encode = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=").decode()  # noqa: E731
    token = f"ESL1.{encode(body)}.{encode(signature)}"
    with pytest.raises(LicenceError, match="malformed"):
        read_licence(token, owner_public_key=world.owner.public_key())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"digest": "abc"}, "model_digest"),
        ({"digest": "A" * 64}, "model_digest"),
        ({"expires": NOW - timedelta(days=2)}, "after not_before"),
        ({"not_before": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"query_quota": 0}, "query_quota"),
        ({"query_quota": 1.5}, "query_quota"),
    ],
)
def test_issue_rejects_bad_arguments(
    world: World, overrides: dict[str, object], message: str
) -> None:
    digest = str(overrides.pop("digest", world.model_digest))
    with pytest.raises(ConfigError, match=message):
        make_licence(world.owner, world.device, digest, **overrides)


@pytest.mark.parametrize(
    ("address", "licence_id", "message"),
    [
        ("0x1234", 1, "contract_address"),
        ("ab" * 21, 1, "contract_address"),
        (ADDRESS, -1, "licence_id"),
        (ADDRESS, True, "licence_id"),
    ],
)
def test_ledger_ref_validation(address: str, licence_id: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LedgerRef(contract_address=address, licence_id=licence_id)


def test_naive_clock_is_config_error(world: World) -> None:
    with pytest.raises(ConfigError, match="timezone-aware"):
        open_with(world, world.licence, when=datetime(2026, 3, 1))


def test_issue_licence_is_usable_without_a_bundle() -> None:
    owner, device = OwnerKey.generate(), DeviceKey.generate()
    token = issue_licence(
        owner,
        device=device.public_key(),
        model_digest="f" * 64,
        not_before=NOW,
        expires=NOW + timedelta(hours=1),
    )
    licence = read_licence(token, owner_public_key=owner.public_key())
    licence.check(device=device.public_key(), model_digest="f" * 64, clock=fixed_clock())
