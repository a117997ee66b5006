"""The end-to-end scenario that ``make demo`` runs, and its report."""

from __future__ import annotations

__all__: list[str] = []
