"""Attacks that measure every EdgeShield defence."""

from __future__ import annotations

__all__: list[str] = []
