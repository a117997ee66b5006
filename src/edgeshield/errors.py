"""The EdgeShield exception tree.

Every error the library raises on purpose derives from :class:`EdgeShieldError`, so a caller
(the CLI, the guard service) can catch one class and turn it into a clear message. Errors
about bad arguments also derive from :class:`ValueError`. Security checks fail closed and
uniformly: every tamper case of a sealed bundle raises the same :class:`IntegrityError`.

::

    EdgeShieldError
    ├── ConfigError (ValueError)        bad option, argument or configuration value
    ├── DataError                       data that cannot be used as plant data
    │   └── SchemaError (ValueError)    a table or CSV without the expected columns
    ├── StorageError                    a database or file that cannot be opened or written
    ├── ModelError                      weights or model card missing, inconsistent or unusable
    ├── VaultError                      sealed bundles, keys and licences
    │   ├── IntegrityError              any tamper: bit flip, reorder, truncation, bad signature
    │   ├── KeyMismatchError            the bundle is not sealed for this device key
    │   ├── RollbackError               an authentic bundle that is older or another model
    │   └── LicenceError                licence token invalid, expired, or for another device/model
    ├── LedgerError                     FSM specs, contract generation and chain access
    │   ├── SpecError (ValueError)      a contract spec that does not validate
    │   ├── CompilationError            solc rejected the generated source
    │   ├── ChainError                  the chain cannot be reached or refused a transaction
    │   └── ContractRevertError         a call reverted; the decoded reason is in the message
    ├── FederatedError                  a federated run that must not end silently
    │   ├── AggregationError            SecAgg+ could not reconstruct, robust precondition failed
    │   ├── UntrustedAppError           a Flower App not signed by the vendor's key (any tamper)
    │   └── PlantPolicyError            a server request weaker than the plant's policy
    ├── OwnershipError                  watermark keys, verification and evidence
    ├── GuardError                      the guarded inference service
    │   └── RequestDeniedError          a request refused (401/403/413/429); carries the status
    └── DemoError                       a demonstrator step did not produce its expected outcome
"""

from __future__ import annotations

import re

__all__ = [
    "AggregationError",
    "ChainError",
    "CompilationError",
    "ConfigError",
    "ContractRevertError",
    "DataError",
    "DemoError",
    "EdgeShieldError",
    "FederatedError",
    "GuardError",
    "IntegrityError",
    "KeyMismatchError",
    "LedgerError",
    "LicenceError",
    "ModelError",
    "OwnershipError",
    "PlantPolicyError",
    "RequestDeniedError",
    "RollbackError",
    "SchemaError",
    "SpecError",
    "StorageError",
    "UntrustedAppError",
    "VaultError",
    "redact_urls",
]

_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s'\"]+@")


def redact_urls(text: str) -> str:
    """Replace the user and password of every URL in ``text`` with ``***``.

    Database URLs carry credentials, and messages travel (a plant's error to the server, a
    CLI error to a log), so every message that may quote a URL is redacted first.
    """
    return _CREDENTIALS.sub(r"\1***@", text)


class EdgeShieldError(Exception):
    """Root of every error EdgeShield raises on purpose."""


class ConfigError(EdgeShieldError, ValueError):
    """An option, argument or configuration value is invalid."""


class DataError(EdgeShieldError):
    """Data cannot be used as plant sensor data."""


class SchemaError(DataError, ValueError):
    """A table or CSV file lacks the expected columns or has unusable values."""


class StorageError(EdgeShieldError):
    """A database or file cannot be opened, read or written."""


class ModelError(EdgeShieldError):
    """Model weights or the model card are missing, inconsistent or unusable."""


class VaultError(EdgeShieldError):
    """Base class for sealed-bundle, key and licence errors."""


class IntegrityError(VaultError):
    """A bundle failed an integrity check; which check failed is deliberately not said."""


class KeyMismatchError(VaultError):
    """The bundle is not sealed for the given device key."""


class RollbackError(VaultError):
    """An authentic bundle that is not the one asked for: older, or another model.

    Raised below the caller's minimum bundle version (a rollback) or for a model other than
    the expected digest (a substitution); the header is public, so the message says which.
    """


class LicenceError(VaultError):
    """A licence token is invalid, not yet valid, expired, or for another device or model."""


class LedgerError(EdgeShieldError):
    """Base class for contract specs, generation, compilation and chain access."""


class SpecError(LedgerError, ValueError):
    """A contract spec does not validate."""


class CompilationError(LedgerError):
    """The Solidity compiler rejected generated source."""


class ChainError(LedgerError):
    """The chain cannot be reached, or it refused a transaction for a non-revert reason."""


class ContractRevertError(LedgerError):
    """A contract call reverted; the message carries the decoded reason.

    ``error_name`` is the decoded custom error (``"Unauthorized"``, ``"Panic"``, ``"Revert"``
    for empty revert data) and ``error_args`` its decoded arguments, for callers that branch
    on the reason rather than parse the message.
    """

    def __init__(
        self, message: str, *, error_name: str = "", error_args: tuple[object, ...] = ()
    ) -> None:
        super().__init__(message)
        self.error_name = error_name
        self.error_args = error_args


class FederatedError(EdgeShieldError):
    """A federated run hit a condition that must not pass silently."""


class AggregationError(FederatedError):
    """Aggregation failed: SecAgg+ could not reconstruct, or a robust precondition failed."""


class UntrustedAppError(FederatedError):
    """A Flower App whose signature does not verify under the vendor's key (one error for all)."""


class PlantPolicyError(FederatedError):
    """A plant refused a server instruction weaker than its policy (SecAgg+, DP floor)."""


class OwnershipError(EdgeShieldError):
    """Watermark keys, ownership verification or evidence failed."""


class GuardError(EdgeShieldError):
    """The guarded inference service cannot start or serve."""


class RequestDeniedError(GuardError):
    """The guard refused a request; ``status_code`` is the HTTP status to answer with.

    ``headers`` carries e.g. ``Retry-After`` for 429 and ``WWW-Authenticate`` for 401.
    """

    def __init__(
        self, message: str, *, status_code: int, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.headers = dict(headers or {})


class DemoError(EdgeShieldError):
    """A demonstrator step did not produce the outcome it must; the message names the step."""
