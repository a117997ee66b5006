"""Owner-signed licence tokens: which device may open which model, when, how often.

A licence is what turns "this device holds the key" into "this device may use the model
now". The token is compact text (``ESL1.<payload>.<signature>``, base64url) so it travels in
files, HTTP headers and ledger events; the payload is canonical JSON signed with the owner's
Ed25519 key. Time is always read from an injectable clock, as in pyca's
``Fernet.decrypt_at_time``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edgeshield.errors import ConfigError, LicenceError
from edgeshield.vault._format import canonical_json, loads_canonical
from edgeshield.vault._keys import DevicePublicKey, OwnerKey, OwnerPublicKey

Clock = Callable[[], datetime]
"""A zero-argument callable returning the current time as an aware ``datetime``."""

TOKEN_PREFIX = "ESL1"  # noqa: S105 - a format tag, not a secret
LICENCE_CONTEXT = b"edgeshield/vault/v1/licence\n"
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{32}")
_MAX_TOKEN = 8192
_MAX_TIME = 1 << 40  # Unix seconds, about the year 36812: the token's window bound
MAX_QUOTA = (1 << 63) - 1  # what the guard's SQL counters hold
_MAX_LEDGER_ID = (1 << 256) - 1  # a uint256 licence id


def system_clock() -> datetime:
    """Return the current UTC time (the default clock)."""
    return datetime.now(UTC)


def _timestamp(value: datetime, name: str) -> int:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ConfigError(f"{name} must be a timezone-aware datetime")
    try:
        return int(value.timestamp())
    except (OverflowError, ValueError, OSError) as exc:
        raise ConfigError(f"{name} is out of range") from exc


@dataclass(frozen=True, kw_only=True)
class LedgerRef:
    """Where the licence's live state is kept on chain.

    Parameters
    ----------
    contract_address : str
        The licence contract, ``0x`` and 40 hex digits.
    licence_id : int
        The licence's id inside that contract (non-negative).
    """

    contract_address: str
    licence_id: int

    def __post_init__(self) -> None:
        if not isinstance(self.contract_address, str) or not _ADDRESS.fullmatch(
            self.contract_address
        ):
            raise ConfigError("contract_address must be 0x followed by 40 hex digits")
        if type(self.licence_id) is not int or not 0 <= self.licence_id <= _MAX_LEDGER_ID:
            raise ConfigError("licence_id must be a non-negative integer (uint256)")


@dataclass(frozen=True, kw_only=True)
class Licence:
    """A decoded, signature-checked licence.

    Parameters
    ----------
    device_key_id : str
        Fingerprint of the device public key the licence is for.
    model_digest : str
        Digest of the model payload (``Header.model_digest``, shown by ``inspect``).
    not_before, expires : datetime
        Validity window (UTC); valid when ``not_before <= now < expires``.
    issuer_key_id : str
        Fingerprint of the owner key that signed it.
    query_quota : int or None
        Queries the device may serve, enforced by the guard service; None is unlimited.
    ledger : LedgerRef or None
        On-chain licence state, if the ledger manages this licence.
    token : str
        The signed token this licence was read from.
    """

    device_key_id: str
    model_digest: str
    not_before: datetime
    expires: datetime
    issuer_key_id: str
    query_quota: int | None
    ledger: LedgerRef | None
    token: str

    @property
    def token_id(self) -> str:
        """A stable id for this token (SHA-256 of it, 32 hex digits), e.g. for quota books."""
        return hashlib.sha256(self.token.encode("ascii")).hexdigest()[:32]

    def check(
        self, *, device: DevicePublicKey, model_digest: str, clock: Clock = system_clock
    ) -> None:
        """Raise :class:`LicenceError` unless this licence lets ``device`` use the model now.

        Parameters
        ----------
        device : DevicePublicKey
            The device that wants to open the model.
        model_digest : str
            The digest of the model being opened.
        clock : Clock
            Source of the current time.
        """
        if device.key_id != self.device_key_id:
            raise LicenceError("licence is for another device")
        if model_digest != self.model_digest:
            raise LicenceError("licence is for another model")
        now = _timestamp(clock(), "clock()")
        if now < int(self.not_before.timestamp()):
            raise LicenceError(f"licence is not valid before {self.not_before.isoformat()}")
        if now >= int(self.expires.timestamp()):
            raise LicenceError(f"licence expired at {self.expires.isoformat()}")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64encode(data) != text:
        raise ValueError("non-canonical base64url")
    return data


def issue_licence(
    owner_key: OwnerKey,
    *,
    device: DevicePublicKey,
    model_digest: str,
    not_before: datetime,
    expires: datetime,
    query_quota: int | None = None,
    ledger: LedgerRef | None = None,
) -> str:
    """Issue a licence token letting ``device`` open the model ``model_digest``.

    Parameters
    ----------
    owner_key : OwnerKey
        The owner's signing key (the one the bundle was sealed with).
    device : DevicePublicKey
        The device the licence is for.
    model_digest : str
        The model's digest (64 hex digits), from ``inspect_bundle(...).model_digest``.
    not_before, expires : datetime
        Timezone-aware validity window; ``expires`` must be after ``not_before``.
    query_quota : int or None
        Optional positive number of queries, for the guard service to enforce.
    ledger : LedgerRef or None
        Optional on-chain licence reference.

    Returns
    -------
    str
        The signed token.
    """
    if not isinstance(model_digest, str) or not _DIGEST.fullmatch(model_digest):
        raise ConfigError("model_digest must be 64 lowercase hex digits")
    start = _timestamp(not_before, "not_before")
    end = _timestamp(expires, "expires")
    if not 0 <= start < end < _MAX_TIME:
        raise ConfigError(
            "the validity window must start after 1970 and expires must come after "
            "not_before (by at least one second)"
        )
    if query_quota is not None and (
        type(query_quota) is not int or not 0 < query_quota <= MAX_QUOTA
    ):
        raise ConfigError(f"query_quota must be an integer in [1, {MAX_QUOTA}] or None")
    payload: dict[str, Any] = {
        "device_key_id": device.key_id,
        "expires": end,
        "issuer_key_id": owner_key.public_key().key_id,
        "ledger": None
        if ledger is None
        else {"contract_address": ledger.contract_address, "licence_id": ledger.licence_id},
        "model_digest": model_digest,
        "not_before": start,
        "query_quota": query_quota,
        "v": 1,
    }
    body = canonical_json(payload)
    signature = owner_key.sign(LICENCE_CONTEXT + body)
    return f"{TOKEN_PREFIX}.{_b64encode(body)}.{_b64encode(signature)}"


def _decode(payload: dict[str, Any], token: str) -> Licence:
    keys = {
        "device_key_id",
        "expires",
        "issuer_key_id",
        "ledger",
        "model_digest",
        "not_before",
        "query_quota",
        "v",
    }
    if set(payload) != keys or payload["v"] != 1:
        raise ValueError("unexpected licence fields")
    for name in ("device_key_id", "issuer_key_id"):
        if not isinstance(payload[name], str) or not _KEY_ID.fullmatch(payload[name]):
            raise ValueError(f"bad {name}")
    if not isinstance(payload["model_digest"], str) or not _DIGEST.fullmatch(
        payload["model_digest"]
    ):
        raise ValueError("bad model digest")
    times = [payload["not_before"], payload["expires"]]
    if any(type(t) is not int or not 0 <= t < _MAX_TIME for t in times):
        raise ValueError("bad validity window")
    quota = payload["query_quota"]
    if quota is not None and (type(quota) is not int or not 0 < quota <= MAX_QUOTA):
        raise ValueError("bad quota")
    ledger_raw = payload["ledger"]
    ledger = None
    if ledger_raw is not None:
        if not isinstance(ledger_raw, dict) or set(ledger_raw) != {
            "contract_address",
            "licence_id",
        }:
            raise ValueError("bad ledger reference")
        try:
            ledger = LedgerRef(**ledger_raw)
        except ConfigError as exc:
            raise ValueError("bad ledger reference") from exc
    return Licence(
        device_key_id=payload["device_key_id"],
        model_digest=payload["model_digest"],
        not_before=datetime.fromtimestamp(times[0], UTC),
        expires=datetime.fromtimestamp(times[1], UTC),
        issuer_key_id=payload["issuer_key_id"],
        query_quota=quota,
        ledger=ledger,
        token=token,
    )


def read_licence(token: str, *, owner_public_key: OwnerPublicKey) -> Licence:
    """Check a token's signature and return the licence it carries.

    Raises :class:`LicenceError` if the token is malformed or not signed by the owner. The
    validity window, device and model are checked by :meth:`Licence.check`.
    """
    if not isinstance(token, str) or len(token) > _MAX_TOKEN:
        raise LicenceError("licence token is malformed")
    parts = token.strip().split(".")
    try:
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            raise ValueError("bad framing")
        body = _b64decode(parts[1])
        signature = _b64decode(parts[2])
    except (ValueError, binascii.Error) as exc:
        raise LicenceError("licence token is malformed") from exc
    if len(signature) != 64 or not owner_public_key.verify_signature(
        signature, LICENCE_CONTEXT + body
    ):
        raise LicenceError("licence signature is not the owner's")
    try:
        return _decode(loads_canonical(body), token.strip())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise LicenceError("licence token is malformed") from exc
