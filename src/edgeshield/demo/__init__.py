"""The end-to-end scenario that ``make demo`` runs, and its report."""

from __future__ import annotations

from edgeshield.demo._report import write_report
from edgeshield.demo._scenario import DemoConfig, DemoResult, run_demo

__all__ = ["DemoConfig", "DemoResult", "run_demo", "write_report"]
