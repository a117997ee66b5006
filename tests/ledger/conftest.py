"""Shared fixtures for the ledger tests: one compiler cache and one embedded chain per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeshield.ledger import Chain, CompilerConfig, ContractSpec, shipped_spec

SHIPPED = ("ModelRegistry", "ModelLicence", "FederatedRoundAudit")


@pytest.fixture(scope="session")
def compiler(tmp_path_factory: pytest.TempPathFactory) -> CompilerConfig:
    """Compiler settings with the artifact cache under the run's temporary directory.

    Under pytest-xdist the workers share one cache (the parent of their base temp dirs), so
    each contract is compiled once per run rather than once per worker.
    """
    base: Path = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return CompilerConfig(cache_dir=shared / "edgeshield-solc-cache")


@pytest.fixture(scope="session")
def chain() -> Chain:
    """One embedded py-evm chain per test session (contracts are deployed fresh per test)."""
    return Chain.embedded()


@pytest.fixture(scope="session")
def specs() -> dict[str, ContractSpec]:
    """The three shipped specs, by contract name."""
    return {name: shipped_spec(name) for name in SHIPPED}
