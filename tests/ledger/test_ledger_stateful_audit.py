"""Stateful property test: FederatedRoundAudit on py-evm agrees with its Python reference model."""

from __future__ import annotations

import pytest
from ledger_machine import build_machine

from edgeshield.ledger import Chain, CompilerConfig, compiled_for, shipped_spec

SPEC = shipped_spec("FederatedRoundAudit")


@pytest.fixture(scope="module")
def machine(chain: Chain, compiler: CompilerConfig) -> type:
    compiled = compiled_for(SPEC, compiler)
    return build_machine(SPEC, lambda: compiled, lambda: chain)


def test_contract_agrees_with_reference_model(machine: type) -> None:
    machine.TestCase().runTest()
