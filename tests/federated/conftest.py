"""Fixtures of the federated tests: a plant roster of freshly generated SuperNode keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edgeshield.federated import PlantRoster, generate_supernode_keys


@pytest.fixture
def make_roster(tmp_path: Path) -> Callable[[int], PlantRoster]:
    """``make_roster(n)``: a roster of ``n`` plants (``plant-1``...) with fresh keys."""

    def make(plants: int) -> PlantRoster:
        roster = PlantRoster()
        for i in range(1, plants + 1):
            _, public = generate_supernode_keys(tmp_path / "roster-keys", f"plant-{i}")
            roster = roster.with_plant(f"plant-{i}", public.read_bytes())
        return roster

    return make
