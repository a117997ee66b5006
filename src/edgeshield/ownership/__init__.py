"""Model ownership: trigger-set watermarks, fingerprints, calibrated tests and evidence."""

from __future__ import annotations

__all__: list[str] = []
