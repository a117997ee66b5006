"""Mutation check: seeded security bugs in generated code are each caught by a test or Slither.

Each mutant removes or weakens one protection in the generated ModelLicence. It counts as
caught when a behaviour check (unauthorized callers, wrong states, reentrancy, phishing,
stale counters) reports a violation, or Slither reports a High/Medium finding for it. The
unmutated contract must pass every check, so the checks are not trivially failing.
"""

from __future__ import annotations

import re

import pytest
from ledger_kit import (
    LICENSEE,
    OWNER,
    attackers,
    check_phishing,
    check_reentrancy,
    check_unauthorized,
    check_wrong_state,
    counter,
    deploy,
    transact_error,
)

from edgeshield.ledger import (
    Chain,
    CompiledContract,
    CompilerConfig,
    ContractSpec,
    Locking,
    compile_solidity,
    generate_solidity,
    shipped_spec,
)
from edgeshield.ledger._analysis import Finding, analyse_sources

SPEC = shipped_spec("ModelLicence")
OTHER_SHIPPED = ("ModelRegistry", "FederatedRoundAudit")
UNLOCKED = SPEC.with_plugins(SPEC.plugins.model_copy(update={"locking": Locking.NONE}))


def _function(source: str, name: str) -> tuple[int, int]:
    start = source.index(f"    function {name}(")
    return start, source.index("\n    }\n", start)


def _mutate(source: str, function: str, old: str, new: str) -> str:
    start, end = _function(source, function)
    body = source[start:end]
    assert old in body, f"mutation anchor {old!r} not found in {function}"
    return source[:start] + body.replace(old, new, 1) + source[end:]


def _effects_after_interaction(source: str) -> str:
    source = _mutate(source, "withdraw", "        credits[msg.sender] = 0;\n", "")
    return _mutate(
        source,
        "withdraw",
        "if (!ok) revert TransferFailed();",
        "if (!ok) revert TransferFailed();\n        credits[msg.sender] = 0;",
    )


MUTANTS = {
    "missing-access-guard": (
        SPEC,
        lambda s: _mutate(
            s, "suspend", "if (msg.sender != owner) revert Unauthorized(msg.sender);", ""
        ),
    ),
    "missing-state-check": (
        SPEC,
        lambda s: _mutate(
            s, "suspend", "if (state != State.Active) revert InvalidState(state);", ""
        ),
    ),
    "tx-origin": (
        SPEC,
        lambda s: _mutate(s, "suspend", "msg.sender != owner", "tx.origin != owner"),
    ),
    "effects-after-interaction": (SPEC, _effects_after_interaction),
    "effects-after-interaction-unlocked": (UNLOCKED, _effects_after_interaction),
    "missing-counter-check": (
        SPEC,
        lambda s: _mutate(
            s,
            "_checkCounter",
            "if (expectedCounter != transitionCounter) {",
            "if (expectedCounter != transitionCounter && false) {",
        ),
    ),
}


def _renamed(source: str, suffix: str) -> tuple[str, str]:
    name = f"ModelLicence{suffix}"
    return name, re.sub(r"\bcontract ModelLicence\b", f"contract {name}", source)


def _sources() -> dict[str, tuple[ContractSpec, str, str]]:
    """``{mutant: (spec, contract name, source)}`` plus the unmutated original."""
    out = {}
    original = generate_solidity(SPEC)
    name = "Original"
    out["original"] = (SPEC, *_renamed(original, name))
    for index, (mutant, (spec, mutate)) in enumerate(MUTANTS.items()):
        mutated = mutate(generate_solidity(spec))
        assert mutated != generate_solidity(spec)
        out[mutant] = (spec, *_renamed(mutated, f"Mutant{index}"))
    return out


@pytest.fixture(scope="module")
def sources() -> dict[str, tuple[ContractSpec, str, str]]:
    return _sources()


@pytest.fixture(scope="module")
def slither(sources: dict[str, tuple[ContractSpec, str, str]]) -> list[Finding]:
    """One Slither run over the other shipped contracts, the original and every mutant."""
    shipped = {name: generate_solidity(shipped_spec(name)) for name in OTHER_SHIPPED}
    return analyse_sources(shipped | {name: source for _, name, source in sources.values()})


def check_stale_counter(chain: Chain, spec: ContractSpec, compiled: CompiledContract) -> list[str]:
    """A transition with an outdated counter must revert."""
    licence = deploy(chain, spec, compiled)
    licence.transact("accept", counter(licence), sender=chain.accounts[LICENSEE], value=10)
    error = transact_error(licence, "suspend", [0], sender=chain.accounts[OWNER])
    return [] if error == "StaleCounter" else [f"stale counter accepted: {error or 'succeeded'}"]


def _behaviour(
    chain: Chain,
    spec: ContractSpec,
    compiled: CompiledContract,
    compiler: CompilerConfig,
    *,
    stop_early: bool,
) -> list[str]:
    """Run the behaviour checks in turn (a mutant may stop at its first violation)."""
    reentrant, phisher = attackers(compiler)
    checks = [
        lambda: check_unauthorized(chain, spec, compiled),
        lambda: check_wrong_state(chain, spec, compiled),
        lambda: check_reentrancy(chain, spec, compiled, reentrant),
        lambda: check_phishing(chain, spec, compiled, phisher),
        lambda: check_stale_counter(chain, spec, compiled),
    ]
    violations: list[str] = []
    for check in checks:
        violations += check()
        if violations and stop_early:
            break
    return violations


@pytest.fixture(scope="module")
def compiled(
    sources: dict[str, tuple[ContractSpec, str, str]], compiler: CompilerConfig
) -> dict[str, CompiledContract]:
    """All mutants compiled in one solc run (one file, one contract each)."""
    texts = [source for _, _, source in sources.values()]
    merged = texts[0] + "".join(
        re.sub(r"^// SPDX-License-Identifier: .*$", "", text, flags=re.M) for text in texts[1:]
    )
    return {
        mutant: compile_solidity(merged, name, compiler) for mutant, (_, name, _) in sources.items()
    }


def test_original_passes_every_check(
    chain: Chain,
    compiler: CompilerConfig,
    compiled: dict[str, CompiledContract],
    sources: dict[str, tuple[ContractSpec, str, str]],
    slither: list[Finding],
) -> None:
    spec, name, _ = sources["original"]
    assert _behaviour(chain, spec, compiled["original"], compiler, stop_early=False) == []
    assert [f for f in slither if f.contract == name and f.serious] == []


def test_slither_finds_nothing_serious_in_the_shipped_contracts(slither: list[Finding]) -> None:
    serious = [f for f in slither if f.contract in OTHER_SHIPPED and f.serious]
    assert serious == []
    # The run did analyse: the licence's timed transition shows up as the expected Low finding.
    assert any(f.contract == "ModelLicenceOriginal" and f.check == "timestamp" for f in slither)


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_mutant_is_caught(
    chain: Chain,
    compiler: CompilerConfig,
    compiled: dict[str, CompiledContract],
    sources: dict[str, tuple[ContractSpec, str, str]],
    slither: list[Finding],
    mutant: str,
) -> None:
    spec, name, _ = sources[mutant]
    violations = _behaviour(chain, spec, compiled[mutant], compiler, stop_early=True)
    findings = [f"{f.check} ({f.impact})" for f in slither if f.contract == name and f.serious]
    assert violations or findings, f"mutant {mutant} survived"
