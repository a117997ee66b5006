"""State shared by the demo's steps, and the record each step leaves for the report."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeshield.demo._config import DemoConfig
from edgeshield.errors import DemoError


def demo_secret(seed: int, purpose: str) -> bytes:
    """A 32-byte secret derived from the demo's seed, so that a demo run is reproducible.

    Demo only: the watermark key and the API-watermark secret decide which triggers and which
    answers are marked, hence the figures; a production deployment draws them with
    :mod:`secrets` (``WatermarkKey.generate()``, ``GuardSettings`` refuses weak secrets).
    """
    return hashlib.sha256(f"edgeshield-demo/{purpose}/{seed}".encode()).digest()


__all__ = ["DemoContext", "Progress", "StepRecord", "demo_secret", "expect"]

Progress = Callable[[str, float], None]
"""Called with a step description and the fraction of the demo done."""


@dataclass
class StepRecord:
    """One step of the story: what it showed, in one line, and the figures behind it.

    ``gas`` is the gas the run's own accounts spent on chain during the step (``None`` when
    it was not measured), so that the report can state each protection's price in gas.
    """

    key: str
    title: str
    outcome: str
    seconds: float
    figures: dict[str, Any] = field(default_factory=dict)
    gas: int | None = None


@dataclass
class DemoContext:
    """What the steps hand on to each other (keys, chain, model, service, results)."""

    config: DemoConfig
    run_dir: Path
    progress: Progress
    steps: list[StepRecord] = field(default_factory=list)
    artifacts: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        """An artifact an earlier step produced; a clear error if that step did not run."""
        if name not in self.artifacts:
            raise DemoError(f"internal: no {name!r} from an earlier step")
        return self.artifacts[name]


def expect(condition: bool, step: str, message: str) -> None:
    """Stop the demo with a clear message when a step's outcome is not the one it must be."""
    if not condition:
        raise DemoError(f"step '{step}' failed: {message}")
