"""The end-to-end scenario that ``make demo`` runs, and its evidence report.

:func:`run_demo` tells the whole chain of custody in seven checked steps (plant data,
federated training with a watermark, the on-chain record, the sealed and licensed release, the
guarded service under attack, the ownership proof, the on-chain suspension), on generated AI4I
2020 plants or, with :attr:`DemoConfig.schema` and :attr:`DemoConfig.data`, on a file of any
dataset schema; :func:`write_report` turns the run into Markdown and HTML with plots.
"""

from __future__ import annotations

from edgeshield.demo._config import MAX_TRIGGERS, MIN_TRIGGERS, DemoConfig, PoisonKind
from edgeshield.demo._context import DemoContext, DemoState, StepRecord
from edgeshield.demo._dashboard import (
    RUN_ID_PATTERN,
    RunSummary,
    create_dashboard,
    list_runs,
    load_run,
)
from edgeshield.demo._report import REPORT_SECTIONS, ReportPaths, write_report
from edgeshield.demo._scenario import STEPS, DemoResult, run_demo
from edgeshield.demo._server import LocalServer

__all__ = [
    "MAX_TRIGGERS",
    "MIN_TRIGGERS",
    "REPORT_SECTIONS",
    "RUN_ID_PATTERN",
    "STEPS",
    "DemoConfig",
    "DemoContext",
    "DemoResult",
    "DemoState",
    "LocalServer",
    "PoisonKind",
    "ReportPaths",
    "RunSummary",
    "StepRecord",
    "create_dashboard",
    "list_runs",
    "load_run",
    "run_demo",
    "write_report",
]
