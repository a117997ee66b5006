"""Fixtures of the guard tests: one small sealed model per session, services under tmp_path."""

from __future__ import annotations

import pytest
from guard_kit import Kit, build_kit


@pytest.fixture(scope="session")
def kit() -> Kit:
    """A trained classifier sealed for one device, and the plant data it came from."""
    return build_kit()
