"""Fixtures for the vault tests (tiny chunks: many chunks from small tensors, fast)."""

from __future__ import annotations

import pytest
from vault_helpers import World, build_world


@pytest.fixture(scope="session")
def world() -> World:
    """One owner, two devices, a sealed bundle for both and a licence for the first."""
    return build_world()
