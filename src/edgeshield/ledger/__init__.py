"""Contracts generated from finite-state-machine specs, compiled and run on an EVM."""

from __future__ import annotations

__all__: list[str] = []
