"""The guarded inference service: licences, quotas, extraction detection, output hardening."""

from __future__ import annotations

__all__: list[str] = []
