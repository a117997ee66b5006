"""Federated training across plants on Flower: SecAgg+, differential privacy, robust aggregation."""

from __future__ import annotations

__all__: list[str] = []
