"""Sealed model bundles: encrypted, signed, bound to a device and a licence."""

from __future__ import annotations

__all__: list[str] = []
