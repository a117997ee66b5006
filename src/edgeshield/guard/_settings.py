"""Service settings from the environment (``EDGESHIELD_GUARD_*``), only at the service edge.

Why: the deployment (systemd unit, container) configures the service without code; defaults
that would be insecure (a missing or well-known watermark secret) are refused.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from edgeshield.guard._prada import PradaConfig
from edgeshield.guard._service import AlarmAction, GuardConfig

__all__ = ["GuardSettings"]

_WEAK = frozenset({"changethis", "changeme", "secret", "password", "default", "test"})


class GuardSettings(BaseSettings):
    """Everything ``edgeshield guard serve`` needs; read from ``EDGESHIELD_GUARD_*`` variables.

    ``operator_token`` (at least 32 characters) opens the operator surfaces (metrics, health
    details, OpenAPI); without it they stay closed. ``rpc_url`` and ``device_address`` (this
    gateway's account on the ledger) turn on the ledger gate for a licence with a ledger
    reference; such a licence is refused without them.
    """

    model_config = SettingsConfigDict(env_prefix="EDGESHIELD_GUARD_", frozen=True, extra="forbid")

    bundle: Path
    device_key: Path
    owner_public_key: Path
    licence: Path
    clients: Path
    card: Path | None = None
    device_key_passphrase: SecretStr | None = None
    database_url: str = "sqlite:///guard-state.db"
    watermark_secret: SecretStr
    watermark_rate: float = Field(default=0.005, ge=0.0, le=0.005)
    max_batch: int = Field(default=256, ge=1, le=1024)
    max_body_bytes: int = Field(default=1_000_000, ge=1024, le=64_000_000)
    body_timeout_s: float = Field(default=10.0, gt=0.0, le=600.0, allow_inf_nan=False)
    operator_token: SecretStr | None = None
    rpc_url: str | None = None
    device_address: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$")
    ledger_ttl_s: float = Field(default=1.0, ge=0.0, le=3600.0, allow_inf_nan=False)
    alarm_action: AlarmAction = AlarmAction.THROTTLE
    throttle_factor: float = Field(default=0.1, gt=0.0, le=1.0, allow_inf_nan=False)
    # The library's defaults, so that the served detector is the measured one (the served
    # delta was 0.9 while the library, the demo and the benchmark's report said 0.95).
    prada_delta: float = Field(default=PradaConfig.delta, gt=0.0, lt=1.0, allow_inf_nan=False)
    prada_min_distances: int = Field(default=PradaConfig.min_distances, ge=3, le=5000)
    prada_window: int = Field(default=PradaConfig.window, ge=3, le=5000)

    @field_validator("watermark_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret.strip().lower() in _WEAK or len(secret) < 32:
            raise ValueError(
                "watermark_secret must be a random string of at least 32 characters "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value

    @field_validator("operator_token")
    @classmethod
    def _strong_operator_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            token = value.get_secret_value()
            if token.strip().lower() in _WEAK or len(token) < 32:
                raise ValueError("operator_token must be a random string of at least 32 characters")
        return value

    def guard_config(self) -> GuardConfig:
        """The library configuration these settings describe."""
        return GuardConfig(
            max_batch=self.max_batch,
            alarm_action=self.alarm_action,
            throttle_factor=self.throttle_factor,
            prada=PradaConfig(
                delta=self.prada_delta,
                min_distances=self.prada_min_distances,
                window=self.prada_window,
            ),
            watermark_rate=self.watermark_rate,
        )
