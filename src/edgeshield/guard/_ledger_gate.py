"""The on-chain side of a licence: the service asks the ModelLicence contract before serving.

A signed licence token proves what the owner granted when it was issued; the contract says
whether that grant is still live (not suspended, paused, revoked or expired) and still for this
gateway and this model (``rebindDevice`` moves it to another device; a contract for another
model digest is not this licence). The gate caches the contract's answer for a short time so
that a chain round trip is not paid on every request, and fails closed when the chain cannot
be reached. :func:`gate_from_licence` builds it from the licence token's ledger reference and
refuses a reference that does not resolve to a live ModelLicence for this device and model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from edgeshield.errors import ConfigError, GuardError

if TYPE_CHECKING:
    from edgeshield.ledger import Chain
    from edgeshield.vault import Licence

__all__ = ["LedgerLicenceGate", "LicenceGate", "LicenceStatus", "gate_from_licence"]

LicenceGate = Callable[[], str | None]
"""Returns ``None`` while serving is allowed, else the reason it is not."""


class LicenceStatus(Protocol):
    """What the gate needs of a licence contract client (``ModelLicenceClient`` has it)."""

    @property
    def address(self) -> str:
        """Contract address."""

    @property
    def device(self) -> str:
        """The device account the licence is bound to."""

    @property
    def model_digest(self) -> bytes:
        """Digest of the licensed model (32 bytes)."""

    def is_usable(self) -> bool:
        """Whether the licence is active, unpaused and not expired."""


class LedgerLicenceGate:
    """Allow serving only while the on-chain licence is usable, for this device and model.

    Parameters
    ----------
    licence
        The licence contract client.
    device
        This gateway's account on the ledger (``0x`` and 40 hex digits); after a
        ``rebindDevice`` to another account the gate refuses.
    model_digest
        The digest of the model served (32 bytes, or 64 hex digits, as in the licence token).
    ttl_s
        How long an answer is reused; a suspension takes effect within this time.
    clock
        Monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        licence: LicenceStatus,
        *,
        device: str,
        model_digest: bytes | str,
        ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not ttl_s >= 0:
            raise ConfigError("ttl_s must be non-negative")
        if not (len(device) == 42 and device.startswith("0x")):
            raise ConfigError(f"device must be a 0x address, got {device!r}")
        try:
            digest = (
                model_digest if isinstance(model_digest, bytes) else bytes.fromhex(model_digest)
            )
        except ValueError as exc:
            raise ConfigError("model_digest must be 32 bytes or 64 hex digits") from exc
        if len(digest) != 32:
            raise ConfigError("model_digest must be 32 bytes or 64 hex digits")
        self._device = device.lower()
        self._digest = digest
        self._licence = licence
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._reason: str | None = None

    def _ask(self) -> str | None:
        address = self._licence.address
        try:
            usable = self._licence.is_usable()
            device = self._licence.device
            digest = self._licence.model_digest
        except Exception as exc:  # fail closed on any chain failure, whatever raised it
            return f"cannot reach the ledger to check licence {address}: {exc}"
        if not usable:
            return f"licence {address} is not active on the ledger"
        if device.lower() != self._device:
            return f"licence {address} is bound to another device on the ledger"
        if digest != self._digest:
            return f"licence {address} is for another model on the ledger"
        return None

    def __call__(self) -> str | None:
        with self._lock:
            now = self._clock()
            if self._checked_at is None or now - self._checked_at >= self._ttl:
                self._reason = self._ask()
                self._checked_at = now
            return self._reason


def gate_from_licence(
    licence: Licence,
    chain: Chain,
    *,
    device: str,
    ttl_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> LedgerLicenceGate:
    """The gate for ``licence``'s ledger reference, checked once before serving.

    Parameters
    ----------
    licence
        The signed licence; its ``ledger`` reference names the ModelLicence contract.
    chain
        The chain holding the contract (embedded, or ``Chain.connect(rpc_url)``).
    device
        This gateway's account on the ledger.
    ttl_s, clock
        See :class:`LedgerLicenceGate`.

    Raises
    ------
    GuardError
        The licence has no ledger reference, the reference does not resolve to a ModelLicence
        contract, or the contract does not allow this device to serve this model now.
    """
    from edgeshield.errors import LedgerError
    from edgeshield.ledger import ModelLicenceClient

    ref = licence.ledger
    if ref is None:
        raise GuardError("guard cannot start: the licence has no ledger reference")
    if ref.licence_id != 0:
        raise GuardError(
            f"guard cannot start: ledger reference {ref.contract_address}#{ref.licence_id} "
            "does not resolve (a ModelLicence contract holds licence 0 only)"
        )
    try:
        contract = ModelLicenceClient.attach(chain, ref.contract_address)
        contract.state()  # a contract of another kind answers no licence state
    except (LedgerError, ConfigError) as exc:
        raise GuardError(
            f"guard cannot start: ledger reference {ref.contract_address} does not resolve: {exc}"
        ) from exc
    except Exception as exc:  # a foreign contract can fail in any way web3 knows
        raise GuardError(
            f"guard cannot start: ledger reference {ref.contract_address} is not a "
            f"ModelLicence contract ({type(exc).__name__})"
        ) from exc
    gate = LedgerLicenceGate(
        contract, device=device, model_digest=licence.model_digest, ttl_s=ttl_s, clock=clock
    )
    reason = gate()
    if reason is not None:
        raise GuardError(f"guard cannot start: {reason}")
    return gate
