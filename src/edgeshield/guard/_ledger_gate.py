"""The on-chain side of a licence: the service asks the ModelLicence contract before serving.

A signed licence token proves what the owner granted when it was issued; the contract says
whether that grant is still live (not suspended, revoked or expired). The gate caches the
contract's answer for a short time so that a chain round trip is not paid on every request,
and fails closed when the chain cannot be reached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from edgeshield.errors import ConfigError

__all__ = ["LedgerLicenceGate", "LicenceGate", "LicenceStatus"]

LicenceGate = Callable[[], str | None]
"""Returns ``None`` while serving is allowed, else the reason it is not."""


class LicenceStatus(Protocol):
    """What the gate needs of a licence contract client (``ModelLicenceClient`` has it)."""

    @property
    def address(self) -> str:
        """Contract address."""

    def is_usable(self) -> bool:
        """Whether the licence is active, unpaused and not expired."""


class LedgerLicenceGate:
    """Allow serving only while the on-chain licence is usable.

    Parameters
    ----------
    licence
        The licence contract client.
    ttl_s
        How long an answer is reused; a suspension takes effect within this time.
    clock
        Monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        licence: LicenceStatus,
        *,
        ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s < 0:
            raise ConfigError("ttl_s must be non-negative")
        self._licence = licence
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._reason: str | None = None

    def _ask(self) -> str | None:
        try:
            usable = self._licence.is_usable()
        except Exception as exc:  # fail closed on any chain failure, whatever raised it
            return f"cannot reach the ledger to check licence {self._licence.address}: {exc}"
        if usable:
            return None
        return f"licence {self._licence.address} is not active on the ledger"

    def __call__(self) -> str | None:
        with self._lock:
            now = self._clock()
            if self._checked_at is None or now - self._checked_at >= self._ttl:
                self._reason = self._ask()
                self._checked_at = now
            return self._reason
