"""Fixtures of the demo tests: a whole run's step records, built by ``demo_kit``."""

from __future__ import annotations

import pytest
from demo_kit import make_steps

from edgeshield.demo import StepRecord


@pytest.fixture
def full_steps() -> list[StepRecord]:
    """The seven steps of the issue-20 run."""
    return make_steps()
